"""Recommendation protocols on Last.FM with its knowledge graph (issue 12).

    python benchmarks/recs_lastfm.py [--data-dir ../shared/data/lastfm-kg] [--seeds 0 1 2]

Runs :func:`recommend.evaluation.evaluate_recs` (top-K, KGCN's CTR protocol, item cold
start; every model tuned on validation, never on test), writes the whole result (per seed,
means, goals, tuning trials, machine and load) to ``benchmarks/results/recs-lastfm.json``
and prints the means. The same run as ``kgsearch evaluate-recs --dataset lastfm-kg``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "recs-lastfm.json"
sys.path.insert(0, str(ROOT))


def main() -> None:
    from recommend.evaluation import evaluate_recs, summary_table

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=os.environ.get("KGSEARCH_LASTFM_KG"))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--protocol", nargs="+", default=["topk", "ctr", "cold"])
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    started = time.perf_counter()

    def progress(message: str) -> None:
        print(f"[{time.perf_counter() - started:7.0f}s] {message}", file=sys.stderr, flush=True)

    result: dict[str, Any] = evaluate_recs(
        "lastfm-kg",
        data_dir=args.data_dir,
        seeds=args.seeds,
        protocols=args.protocol,
        progress=progress,
    )
    with contextlib.suppress(OSError):
        result["machine"]["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    result["runs"] = [
        {
            "protocols": list(result["per_seed"]),
            "seconds": result["seconds"],
            "machine": result["machine"],
        }
    ]
    result = merged(args.out, result)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1, default=float) + "\n")
    for row in summary_table(result):
        print("\t".join(row))
    print(json.dumps(result["goals"], indent=1, default=float))
    print(f"wrote {args.out}; this run took {result['runs'][-1]['seconds']:.0f} s")


def merged(path: Path, result: dict[str, Any]) -> dict[str, Any]:
    """A run of some protocols replaces those protocols' sections of an earlier result
    file with the same seeds and data, and keeps the others (with their own machine
    record), so protocols can be re-run one at a time."""
    if not path.is_file():
        return result
    before: dict[str, Any] = json.loads(path.read_text())
    if before.get("seeds") != result["seeds"] or before.get("data") != result["data"]:
        return result
    for key in ("means", "goals", "per_seed"):
        before[key] = {**before.get(key, {}), **result[key]}
    before["runs"] = [*before.get("runs", []), *result["runs"]]
    before.update(reference=result["reference"], machine=result["machine"])
    return before


if __name__ == "__main__":
    main()
