"""The dense top-k through the PCA shortlist against the exact scan, on a built home.

``search.vector.NumpyVectorIndex`` searches a saved index of at least ``SHORTLIST_FROM``
rows through a shortlist (see its docstring). This measures, in one process and one run,
what that changes, with the real queries (WANDS, 480) encoded by the home's encoder:

1. the dense source alone (``search(vector, k=recall_k)``): the share of the exact top k
   and of the exact top 10 the shortlist finds, and p50 / p99 of each way, interleaved
   round by round;
2. the whole search (``SearchService.search(query, k=10)``, the home's default ranker):
   how many first pages are identical, and p50 / p99 of each way, interleaved;
3. the dense source under three wide filters of the home's own catalogue (its largest
   top-level category, price at most the median, rating at least 4): the same share of
   the exact filtered top k found, and p50 / p99 of each way.

A home whose live version has no projection saved (built before it existed, or smaller
than the threshold) gets one fitted in memory; nothing in the home is written.

    python benchmarks/dense_shortlist.py --home /tmp/h50k [--rounds 4] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from reindex_times import commit, dirty, machine  # noqa: E402
from search_latency import WANDS_QUERIES, load_queries, summary  # noqa: E402

from app.engine import Engine  # noqa: E402
from app.settings import Settings  # noqa: E402
from search.filters import Filters  # noqa: E402
from search.vector import NumpyVectorIndex  # noqa: E402


def interleaved(
    ways: dict[str, Callable[[int], object]], n: int, rounds: int
) -> dict[str, dict[str, float]]:
    """Time ``ways[name](i)`` for i < n, the ways alternating round by round (the first
    way first in even rounds, last in odd ones), so a machine that speeds up or slows
    down during the run weighs on both."""
    times: dict[str, list[float]] = {name: [] for name in ways}
    for r in range(rounds):
        order = list(ways) if r % 2 == 0 else list(reversed(ways))
        for name in order:
            call = ways[name]
            for i in range(n):
                started = time.perf_counter()
                call(i)
                times[name].append((time.perf_counter() - started) * 1000)
    return {name: summary(ms) for name, ms in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--home", type=Path, required=True, help="a built kgsearch home")
    parser.add_argument("--queries", type=Path, default=WANDS_QUERIES)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument(
        "--out", type=Path, default=ROOT / "benchmarks" / "results" / "dense-shortlist.json"
    )
    args = parser.parse_args()

    load = os.getloadavg()[0]
    engine = Engine(Settings(home=args.home))
    service, manifest = engine.service()
    vectors = service.vectors
    if not isinstance(vectors, NumpyVectorIndex):
        raise SystemExit(f"{args.home}: the dense source is {type(vectors).__name__}, not embedded")
    saved = vectors.shortlisted
    if not saved:
        started = time.perf_counter()
        vectors.fit_shortlist()
        print(f"projection fitted in memory in {time.perf_counter() - started:.1f} s")
    short_rows, all_rows = vectors._data, vectors.exact()._data
    queries = load_queries(args.queries)
    encoded = np.asarray(service.encoder.encode(queries), dtype=np.float32)
    k = service.recall_k

    def use(shortlist: bool) -> None:
        vectors._data = short_rows if shortlist else all_rows

    def dense(
        shortlist: bool, allowed: frozenset[str] | None = None
    ) -> Callable[[int], list[tuple[str, float]]]:
        def call(i: int) -> list[tuple[str, float]]:
            use(shortlist)
            return vectors.search(encoded[i], k=k, allowed=allowed)

        return call

    def compared(allowed: frozenset[str] | None = None) -> dict[str, Any]:
        """What the shortlist finds of the exact top k (and top 10), then both timed."""
        found, top10 = [], []
        shortlisted, scanned = dense(True, allowed), dense(False, allowed)
        for i in range(len(queries)):
            got = [p for p, _ in shortlisted(i)]
            want = [p for p, _ in scanned(i)]
            found.append(len(set(got) & set(want)) / max(1, len(want)))
            top10.append(len(set(got[:10]) & set(want[:10])) / max(1, len(want[:10])))
        return {
            "recall@k_vs_exact": round(statistics.mean(found), 4),
            "min_recall@k": round(min(found), 3),
            "top10_vs_exact": round(statistics.mean(top10), 4),
            **interleaved({"exact": scanned, "shortlist": shortlisted}, len(queries), args.rounds),
        }

    unfiltered = compared()

    documents = list(service.documents.values())
    top_category = max(
        {d.category_path[0] for d in documents if d.category_path},
        key=lambda c: sum(1 for d in documents if d.category_path[:1] == (c,)),
    )
    prices = sorted(d.price for d in documents if d.price is not None)
    wide = {
        f"category {top_category}": Filters(category=frozenset({top_category})),
        f"price <= {prices[len(prices) // 2]:g}": Filters(price_max=prices[len(prices) // 2]),
        "rating >= 4": Filters(rating_min=4.0),
    }
    filtered: dict[str, Any] = {}
    for label, spec in wide.items():
        allowed = service.filters.allowed(spec)
        filtered[label] = {"allowed": len(allowed), **compared(allowed)}

    for query in queries[:50]:  # warm-up
        service.search(query, k=10)
    same = 0
    for query in queries:
        use(True)
        a = [h.product_id for h in service.search(query, k=10).hits]
        use(False)
        b = [h.product_id for h in service.search(query, k=10).hits]
        same += a == b

    def full(shortlist: bool) -> Callable[[int], object]:
        def call(i: int) -> object:
            use(shortlist)
            return service.search(queries[i], k=10)

        return call

    search_times = interleaved(
        {"exact": full(False), "shortlist": full(True)}, len(queries), args.rounds
    )
    use(True)

    report: dict[str, Any] = {
        "home": str(args.home),
        "version": manifest.version,
        "products": vectors.count(),
        "projection": "saved with the version" if saved else "fitted in memory for this run",
        "queries": len(queries),
        "recall_k": k,
        "dense": unfiltered,
        "search": {"identical_first_pages": same, **search_times},
        "dense_filtered": filtered,
        "rounds": args.rounds,
        "machine": machine(),
        "load_before": round(load, 2),
        "commit": commit(),
        "uncommitted_changes": dirty(),
        "when": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    engine.close()


if __name__ == "__main__":
    main()
