"""What spelling correction and fuzzy keyword matching add to search latency.

Replays a home's judged queries, and a misspelled copy of each (``synthetic.typos``),
through the live ``SearchService.search`` in-process, alternating ``exact=True`` (as
typed: no correction, no fuzziness) and the default (corrected, fuzzy) on the same query
so that load on the machine hits both alike (``as_served``: corrected, and fuzzy when the
service is). Reports p50/p90 of each and the paired
per-query difference, and the corrector's own time per query.

    python benchmarks/typo_latency.py --home /tmp/home5k [--rounds 2]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path
from typing import Any

from app.engine import Engine
from app.settings import Settings
from synthetic.typos import typo_variants


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


def summary(ms: list[float]) -> dict[str, float]:
    return {
        "n": len(ms),
        "p50_ms": round(percentile(ms, 50), 2),
        "p90_ms": round(percentile(ms, 90), 2),
        "mean_ms": round(statistics.fmean(ms), 2),
    }


def measure(home: Path, rounds: int, limit: int | None = None) -> dict[str, Any]:
    engine = Engine(Settings(home=home))
    service, manifest = engine.service()
    judged = engine.judged()[:limit]
    queries = [q.text for q in judged]
    queries += [v for q in judged for v in typo_variants(q.text, q.query_id)[:1]]
    for text in queries[:20]:  # warm caches, the encoder and the corrector
        service.search(text, exact=False)
        service.search(text, exact=True)
    exact: list[float] = []
    fuzzy: list[float] = []
    spell: list[float] = []
    for r in range(rounds):
        for i, text in enumerate(queries):
            order = (True, False) if (i + r) % 2 else (False, True)
            for as_typed in order:
                started = time.perf_counter()
                service.search(text, exact=as_typed)
                (exact if as_typed else fuzzy).append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            service.spell(text)
            spell.append((time.perf_counter() - started) * 1000)
    diffs = [b - a for a, b in zip(exact, fuzzy, strict=True)]
    corrected = sum(1 for q in queries if service.spell(q).changed)
    engine.close()
    return {
        "index": manifest.version,
        "products": manifest.products,
        "queries": len(queries),
        "corrected_queries": corrected,
        "rounds": rounds,
        "exact": summary(exact),
        "fuzzy": service.fuzzy is not None,
        "as_served": summary(fuzzy),
        "added_p50_ms": round(percentile(fuzzy, 50) - percentile(exact, 50), 2),
        "paired_difference_median_ms": round(statistics.median(diffs), 2),
        "spell_only": summary(spell),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--home", type=Path, required=True, help="a built home (kgsearch demo)")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--limit", type=int, help="only the first N judged queries")
    parser.add_argument("--out", type=Path, help="also write the JSON report here")
    args = parser.parse_args()
    report = measure(args.home, args.rounds, args.limit)
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
