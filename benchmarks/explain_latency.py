"""``explain`` latency on a demo home: how long a merchandiser waits for an explanation.

In process, over the live index of ``--home`` (any built demo; it is only read), with its
default ranker (LambdaMART on a demo built with judgments) and its graph store. For
``--queries`` of the home's judged queries (seeded draw; any split, nothing is tuned),
three explanations each, timed one by one after a warm-up:

- ``shown``: the query's top hit (recall trace, worded contributions, graph paths);
- ``ranking``: the hit at rank 15 ("why not on the first page", with the gap lines);
- ``recall``: a product drawn from the catalogue, usually not recalled ("why not at all",
  which looks up its keyword and dense rank beyond recall).

Each query's plain search (``k=10``) is timed beside them, and every call's process CPU
time is kept too (``cpu_p50_ms``): on a shared machine the wall clock mostly measures the
queue for a core, and the ratio to search and the CPU time say more than it alone.

Reports p50 / p95 / max per kind and overall, the machine's load, and writes
benchmarks/results/explain-latency.json. The goal (issue 15) is p50 <= 50 ms.

    python benchmarks/explain_latency.py --home /tmp/kg-demo [--queries 60]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import time
from pathlib import Path
from typing import Any

from app.engine import Engine
from app.settings import Settings
from ingest.formats import read_queries
from search.explain import explain

ROOT = Path(__file__).resolve().parents[1]
KINDS = ("shown", "ranking", "recall")


def _summary(ms: list[float]) -> dict[str, float]:
    ordered = sorted(ms)
    return {
        "n": len(ordered),
        "p50_ms": round(statistics.median(ordered), 2),
        "p95_ms": round(ordered[max(0, int(0.95 * len(ordered)) - 1)], 2),
        "max_ms": round(ordered[-1], 2),
    }


def _cpu_p50(ms: list[float]) -> float:
    return round(statistics.median(ms), 2) if ms else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument("--queries", type=int, default=60)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument(
        "--out", type=Path, default=ROOT / "benchmarks/results/explain-latency.json"
    )
    args = parser.parse_args()

    engine = Engine(Settings(home=args.home))
    service, manifest = engine.service()
    rng = random.Random(args.seed)
    queries = [q.query for q in read_queries(args.home / "catalogue" / "query.csv").records]
    drawn = rng.sample(queries, min(args.queries, len(queries)))
    products = sorted(service.documents)
    store = engine.graph
    explain(service, drawn[0], products[0], store=store)  # warm: encoder, graph cache

    timings: dict[str, list[float]] = {kind: [] for kind in KINDS}
    searches: list[float] = []
    cpu: dict[str, list[float]] = {kind: [] for kind in (*KINDS, "search")}
    stages: dict[str, dict[str, int]] = {kind: {} for kind in KINDS}
    for query in drawn:
        hits = service.search(query, k=15).hits
        started, cpu_started = time.perf_counter(), time.process_time()
        service.search(query, k=10)
        searches.append((time.perf_counter() - started) * 1000)
        cpu["search"].append((time.process_time() - cpu_started) * 1000)
        targets = {
            "shown": hits[0].product_id if hits else None,
            "ranking": hits[14].product_id if len(hits) >= 15 else None,
            "recall": rng.choice(products),
        }
        for kind, pid in targets.items():
            if pid is None:
                continue
            started, cpu_started = time.perf_counter(), time.process_time()
            x = explain(service, query, pid, store=store)
            timings[kind].append((time.perf_counter() - started) * 1000)
            cpu[kind].append((time.process_time() - cpu_started) * 1000)
            stages[kind][x.stage] = stages[kind].get(x.stage, 0) + 1
    every = [t for ts in timings.values() for t in ts]
    result: dict[str, Any] = {
        "home": str(args.home),
        "products": manifest.products,
        "ranker": service.ranker.name,
        "graph_store": type(store).__name__,
        "queries": len(drawn),
        "all": {**_summary(every), "cpu_p50_ms": _cpu_p50([t for k in KINDS for t in cpu[k]])},
        "search_k10": {**_summary(searches), "cpu_p50_ms": _cpu_p50(cpu["search"])},
        **{
            kind: {**_summary(ts), "cpu_p50_ms": _cpu_p50(cpu[kind]), "stages": stages[kind]}
            for kind, ts in timings.items()
            if ts
        },
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
    }
    engine.close()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
