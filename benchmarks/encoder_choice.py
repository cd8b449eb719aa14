"""Would a larger sentence model help search, and what would it cost? Train and valid only.

Compares the packaged MiniLM (all-MiniLM-L6-v2, 6 layers, 384-d) with another
mean-pooled sentence model in a local directory (``--model-dir``; e.g. all-mpnet-base-v2,
12 layers, 768-d), on one home, in one run:

1. the dense signal alone (cosine over the whole catalogue, top 10) on the train and
   valid queries, per query kind;
2. the cost: one query at a time through the torch runtime, p50 and p95 over the same
   queries, the two models alternated query by query;
3. with ``--reindex``: two copies of the home, each reindexed with one model and every
   ranker retrained, as ``kgsearch reindex --retrain`` does, then NDCG@10 per kind on
   the valid split.

The test split is read by none of them.

    python benchmarks/encoder_choice.py --home /tmp/home5k \\
        --model-dir /path/to/all-mpnet-base-v2 --reindex [--out report.json]

Results and the decision taken on them: docs/results.md ("Issue 16", a larger encoder).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from encoder_adaptation import (  # noqa: E402
    dense_alone,
    finish,
    rankers_on_copies,
    train_and_valid,
)
from reindex_times import commit, dirty, machine  # noqa: E402

from search.encoder import MiniLMEncoder  # noqa: E402


def query_latency(
    encoders: dict[str, MiniLMEncoder], texts: list[str], rounds: int
) -> dict[str, dict[str, float]]:
    """Milliseconds to encode one query, per encoder, the encoders alternated query by
    query so that both see the same load."""
    for encoder in encoders.values():
        encoder.encode(texts[:8])  # load and warm up
    times: dict[str, list[float]] = {name: [] for name in encoders}
    for _ in range(rounds):
        for text in texts:
            for name, encoder in encoders.items():
                start = time.perf_counter()
                encoder.encode([text])
                times[name].append((time.perf_counter() - start) * 1000)
    return {
        name: {
            "p50_ms": round(statistics.median(ms), 2),
            "p95_ms": round(statistics.quantiles(ms, n=20)[18], 2),
            "n": len(ms),
        }
        for name, ms in times.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument("--model-dir", type=Path, required=True, help="a sentence model")
    parser.add_argument("--name", help="the model's name (default: the directory's)")
    parser.add_argument("--rounds", type=int, default=2, help="latency rounds over queries")
    parser.add_argument("--reindex", action="store_true", help="also report the rankers")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    try:  # encoders are immutable, and a model loads once per process: one pair serves all
        candidate = MiniLMEncoder(model_dir=args.model_dir)
    except ValueError as exc:
        parser.error(str(exc))
    encoders = {"packaged": MiniLMEncoder(), "candidate": candidate}
    name = args.name or args.model_dir.name

    version, docs, queries = train_and_valid(args.home)
    report: dict[str, Any] = {
        "machine": machine(),
        "commit": commit(),
        "dirty": dirty(),
        "home": str(args.home),
        "index": version,
        "products": len(docs),
        "queries_train_valid": len(queries),
        "candidate": name,
    }
    report["dense_alone"] = {k: dense_alone(e, docs, queries) for k, e in encoders.items()}
    print(json.dumps(report["dense_alone"]), flush=True)
    report["query_encode_torch"] = query_latency(encoders, [q.text for q in queries], args.rounds)
    print(json.dumps(report["query_encode_torch"]), flush=True)
    if args.reindex:
        report |= rankers_on_copies(args.home, encoders)
    finish(report, args.out)


if __name__ == "__main__":
    main()
