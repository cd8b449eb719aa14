"""Time each ranker's scoring of one query's candidates (the budget: 200 candidates in
<= 2 ms), and the explanation of a 10-hit page, on a built home's live index.

    python benchmarks/ranker_latency.py --home /tmp/kg-demo [--queries 100]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np

from app.engine import Engine
from app.settings import Settings

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--candidates", type=int, default=200)
    args = parser.parse_args()
    engine = Engine(Settings(home=args.home))
    service, manifest = engine.service()
    sets = []
    for query in engine.judged()[: args.queries]:
        c = service.candidates(query.text)
        if len(c) >= args.candidates:
            sets.append(c.take(np.arange(args.candidates)))
    report: dict[str, object] = {
        "index": manifest.version,
        "candidate_sets": len(sets),
        "candidates": args.candidates,
    }
    for name in manifest.rankers:
        ranker = engine.make_ranker(name)
        for c in sets[:5]:
            ranker.score(c)  # warm up
        score_ms, explain_ms = [], []
        for c in sets:
            started = time.perf_counter()
            scores = ranker.score(c)
            score_ms.append((time.perf_counter() - started) * 1000)
            page = np.argsort(-scores)[:10]
            started = time.perf_counter()
            ranker.explain(c, page)
            explain_ms.append((time.perf_counter() - started) * 1000)
        report[name] = {
            "score_p50_ms": round(statistics.median(score_ms), 3),
            "score_p99_ms": round(float(np.quantile(score_ms, 0.99)), 3),
            "explain_page_p50_ms": round(statistics.median(explain_ms), 3),
        }
    out = ROOT / "benchmarks" / "results" / "ranker-latency.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
