"""Knowledge-graph embedding cost and quality on the generated catalogue graphs.

    python benchmarks/kge_epoch.py epochs  [--size bench] [--epochs 3] [--threads N]
    python benchmarks/kge_epoch.py quality [--sizes tiny 5000]

``epochs``: seconds per training epoch of TransE and ComplEx (each with its tuned graph
config, ``kg.kge_training.default_config(model, "graph")``) on every triple of the graph
of ``generate_catalog(size=...)``, the same scaled to 0.5M triples (the design's budget is
<= 30 s per TransE epoch per 0.5M triples), and the process's peak RSS.

``quality``: full training runs (seeded 90/5/5 split, early stopping on validation MRR)
on the tiny catalogue and a generated one; test MRR and Hits@k, filtered, realistic rank.

Both merge their section into ``benchmarks/results/kge-epoch.json`` and print it.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import resource
import statistics
import sys
import time
from importlib.metadata import version
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "kge-epoch.json"
BUDGET_SECONDS_PER_HALF_MILLION = 30.0
MODELS = ("TransE", "ComplEx")


def machine() -> dict[str, Any]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import torch

    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "torch_default_threads": torch.get_num_threads(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
        "torch": torch.__version__,
        "pykeen": version("pykeen"),
    }


def peak_rss_mib() -> float:
    """Peak resident set size of this process so far (ru_maxrss is KiB on Linux)."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def catalogue_triples(size: str | int) -> list[tuple[str, str, str]]:
    from catalogue.ops import CatalogOps
    from kg.sqlite_store import SQLiteGraphStore
    from synthetic.generator import generate_catalog

    if size == "tiny":
        from ingest.formats import read_products

        records = read_products(ROOT / "synthetic" / "data" / "tiny" / "product.csv").records
    else:
        records = generate_catalog(size=size).products  # type: ignore[arg-type]
    store = SQLiteGraphStore(path=":memory:")
    try:
        CatalogOps(store=store).imports.run(records, actor="bench")
        return list(store.triples())
    finally:
        store.close()


def time_epochs(
    triples: list[tuple[str, str, str]],
    model: str,
    epochs: int,
    threads: int,
    device: str | None = None,
) -> dict[str, Any]:
    """Train ``epochs`` epochs on all triples (no split, no evaluation) and time each, on
    ``threads`` torch threads (0: the config's own setting, as training would use) and
    ``device`` (None: the config's own, ``auto``)."""
    import numpy as np
    from pykeen.training.callbacks import TrainingCallback
    from pykeen.triples import TriplesFactory

    from kg.kge_training import (
        default_config,
        frozen_heap,
        prepare_training,
        resolve_device,
    )
    from kg.reproducible import torch_threads

    config = default_config(model, "graph")
    factory = TriplesFactory.from_labeled_triples(
        np.array(triples, dtype=str), create_inverse_triples=config.inverse_triples
    )
    where = resolve_device(device or config.device)
    _, loop = prepare_training(factory, config=config, device=where)
    marks = [time.perf_counter()]

    class Clock(TrainingCallback):
        def post_epoch(self, epoch: int, epoch_loss: float, **kwargs: Any) -> None:
            marks.append(time.perf_counter())
            print(f"  {model} epoch {epoch}: {marks[-1] - marks[-2]:.1f} s", file=sys.stderr)

    used = threads or config.threads
    # as training does: a cheap per-epoch gc.collect() in PyKEEN, and the config's threads
    with frozen_heap(), torch_threads(used):
        marks[0] = time.perf_counter()
        loop.train(
            triples_factory=factory,
            num_epochs=epochs,
            batch_size=config.batch_size,
            callbacks=[Clock()],  # type: ignore[no-untyped-call]
            use_tqdm=False,
            use_tqdm_batch=False,
        )
    per_epoch = [b - a for a, b in itertools.pairwise(marks)]
    steady = statistics.median(per_epoch[1:] if len(per_epoch) > 1 else per_epoch)
    return {
        "config": config.as_dict(),
        "device": where,
        "torch_threads": used,
        "epoch_seconds": [round(s, 2) for s in per_epoch],
        "seconds_per_epoch": round(steady, 2),
        "seconds_per_epoch_per_500k_triples": round(steady * 500_000 / len(triples), 2),
        "budget_seconds_per_500k_triples": BUDGET_SECONDS_PER_HALF_MILLION,
        "peak_rss_mib_after": peak_rss_mib(),
    }


def run_epochs(args: argparse.Namespace) -> dict[str, Any]:
    started = time.perf_counter()
    triples = catalogue_triples(args.size)
    entities = {h for h, _, _ in triples} | {t for _, _, t in triples}
    section: dict[str, Any] = {
        "size": args.size,
        "triples": len(triples),
        "entities": len(entities),
        "relations": len({r for _, r, _ in triples}),
        "generate_seconds": round(time.perf_counter() - started, 1),
        "peak_rss_mib_after_generate": peak_rss_mib(),
        "models": {},
    }
    for model in args.models:
        section["models"][model] = time_epochs(triples, model, args.epochs, args.threads)
        transe = section["models"][model]
        if model == "TransE":
            transe["within_budget"] = (
                transe["seconds_per_epoch_per_500k_triples"] <= BUDGET_SECONDS_PER_HALF_MILLION
            )
    section["peak_rss_mib"] = peak_rss_mib()
    return section


def run_quality(args: argparse.Namespace) -> dict[str, Any]:
    from kg.kge_training import default_config, train_on_triples

    section: dict[str, Any] = {}
    for size in args.sizes:
        triples = catalogue_triples(size if size in ("tiny", "demo", "bench") else int(size))
        runs: dict[str, Any] = {"triples": len(triples)}
        for model in args.models:
            config = default_config(model, "graph")
            artefact = train_on_triples(triples, config=config, graph_revision=None)
            runs[model] = {
                "config": config.as_dict(),
                "metrics": {k: round(v, 4) for k, v in artefact.metrics.items()},
            }
            m = artefact.metrics
            print(
                f"  {size} {model}: test MRR {m['test_mrr']:.3f} Hits@10 "
                f"{m['test_hits_at_10']:.3f} ({m['train_seconds']:.0f} s, "
                f"{m['epochs_run']:.0f} epochs)",
                file=sys.stderr,
            )
        section[str(size)] = runs
    section["peak_rss_mib"] = peak_rss_mib()
    return section


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    epochs = sub.add_parser("epochs", help="seconds per epoch on a generated catalogue graph")
    epochs.add_argument("--size", default="bench", help="tiny, demo, bench or a product count")
    epochs.add_argument("--epochs", type=int, default=3)
    quality = sub.add_parser("quality", help="MRR / Hits@k of full training runs")
    quality.add_argument("--sizes", nargs="+", default=["tiny", "5000"])
    epochs.add_argument("--threads", type=int, default=0, help="torch threads (0: the config's)")
    for command in (epochs, quality):
        command.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    args = parser.parse_args()
    if args.command == "epochs" and args.size not in ("tiny", "demo", "bench"):
        args.size = int(args.size)
    report = json.loads(RESULTS.read_text()) if RESULTS.is_file() else {}
    report["machine"] = machine()
    started = time.perf_counter()
    section = run_epochs(args) if args.command == "epochs" else run_quality(args)
    section["wall_seconds"] = round(time.perf_counter() - started, 1)
    section["measured_at"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    report[args.command] = section
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
