"""Reindex times: a full reindex (every product encoded), a reindex with no change (every
vector reused), and one after N product edits (N encoded), on a copy of a built home.

    python benchmarks/reindex_times.py --home /tmp/demo5k [--edits 100] [--work DIR]

``--home`` is a home that ``kgsearch demo`` (or ``kgsearch import``) built; it is copied to
``--work`` (default: a temp directory, removed afterwards) and never changed. The edits
append a sentence to the description of N products picked with a fixed seed, through the
graph store as the catalog API would. Prints a JSON report and writes it to
benchmarks/results/reindex-<products>.json. Run it on a quiet machine: the load average
before and after each step is part of the report.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.engine import Engine  # noqa: E402
from app.settings import Settings  # noqa: E402
from kg.schema import EntityKind, EntityWrite, WriteBatch  # noqa: E402


def machine() -> dict[str, Any]:
    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version()}


def commit() -> str:
    try:
        out = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        )
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return out.stdout.strip()


def dirty() -> bool | None:
    """Whether the tree the figures came from differs from ``commit`` (None: not a git tree)."""
    status = subprocess.run(
        ["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"],
        capture_output=True,
        text=True,
        check=False,
    )
    return bool(status.stdout.strip()) if status.returncode == 0 else None


def edit(engine: Engine, n: int, seed: int) -> list[str]:
    """Append a sentence to the description of ``n`` products; return their ids."""
    products = sorted(e.id for e in engine.graph.entities(EntityKind.PRODUCT))
    chosen = random.Random(seed).sample(products, n)
    upserts = []
    for entity_id in chosen:
        entity = engine.graph.get(entity_id)
        assert entity is not None
        text = str(entity.properties.get("description") or "")
        props = {**entity.properties, "description": f"{text} Now with a longer warranty."}
        upserts.append(EntityWrite(entity.id, entity.kind, props, expected_version=entity.version))
    engine.graph.write(WriteBatch(upserts=tuple(upserts)), actor="bench:reindex")
    return [c.removeprefix("product:") for c in chosen]


def step(engine: Engine, name: str, *, reuse: bool) -> dict[str, Any]:
    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    manifest = engine.reindex(reuse_vectors=reuse)
    wall = time.perf_counter() - started
    row = {
        "step": name,
        "wall_s": round(wall, 1),
        "encoded": manifest.vectors_encoded,
        "reused": manifest.vectors_reused,
        "seconds": {k: round(v, 1) for k, v in manifest.seconds.items()},
        "load_1min": [round(load_before, 2), round(os.getloadavg()[0], 2)],
    }
    print(json.dumps(row), file=sys.stderr)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, required=True, help="a built home (not changed)")
    parser.add_argument("--work", type=Path, default=None, help="where to copy it")
    parser.add_argument("--edits", type=int, default=100)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    if not (args.home / "graph.sqlite").exists():
        parser.error(f"{args.home} has no graph: build it with `kgsearch demo` first")
    temp = args.work is None
    work = args.work or Path(tempfile.mkdtemp(prefix="reindex-bench-")) / "home"
    if work.exists():
        parser.error(f"{work} exists: name a new directory with --work")
    shutil.copytree(args.home, work)
    try:
        engine = Engine(Settings(home=work))
        steps = [step(engine, "full", reuse=False), step(engine, "no change", reuse=True)]
        edited = edit(engine, args.edits, args.seed)
        steps.append(step(engine, f"{len(edited)} edits", reuse=True))
        manifest = engine.versions.manifest(engine.versions.live() or "")
        engine.close()
    finally:
        if temp:
            shutil.rmtree(work.parent, ignore_errors=True)
    report = {
        "benchmark": "reindex_times",
        "products": manifest.products,
        "encoder": manifest.encoder_identity,
        "commit": commit(),
        "machine": machine(),
        "encoder_threads": os.environ.get("KGSEARCH_ENCODER_THREADS", "1"),
        "steps": steps,
    }
    out = ROOT / "benchmarks" / "results" / f"reindex-{manifest.products}.json"
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
