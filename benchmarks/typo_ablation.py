"""Which typo handling to keep, decided on the valid split (the test split is not read).

On a built home's live index, the train and valid queries' candidates are collected
three ways: as typed (no correction, no fuzziness), spelling-corrected, and corrected
with fuzzy keyword matching. For each, LambdaMART is trained on train (plus misspelled
copies of the train queries, ``synthetic.typos.typo_variants``, unless ``--no-variants``)
and stopped early on valid, exactly as a reindex does; then bm25, dense, rrf and that
LambdaMART are scored on valid, overall and per query kind. For the last way it also
trains without the copies and without monotone constraints, to show what each adds.

    python benchmarks/typo_ablation.py --home /tmp/home5k [--out report.json]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from app.engine import Engine
from app.settings import Settings
from ranker.candidates import CandidateSet
from ranker.evaluation import JudgedQuery, SystemScores, evaluate
from ranker.features import DEFAULT_FEATURES, FeatureSchema
from ranker.fusion import Ranker
from ranker.lambdamart import train_lambdamart
from ranker.registry import make_ranker
from search.service import SearchService
from search.spelling import DEFAULT_EDIT_RULE
from synthetic.typos import typo_variants

Runs = list[tuple[JudgedQuery, CandidateSet]]


def collect(service: SearchService, queries: Sequence[JudgedQuery], *, exact: bool) -> Runs:
    return [(q, service.candidates(q.text, exact=exact)) for q in queries]


def variant_runs(service: SearchService, queries: Sequence[JudgedQuery], *, exact: bool) -> Runs:
    return [
        (q, service.candidates(text, exact=exact))
        for q in queries
        for text in typo_variants(q.text, q.query_id)
    ]


def scores_of(systems: dict[str, SystemScores]) -> dict[str, Any]:
    return {
        name: {"ndcg@10": round(s.means["ndcg@10"], 4), "by_kind": s.by_kind()}
        for name, s in systems.items()
    }


def run_way(
    service: SearchService,
    train: Sequence[JudgedQuery],
    valid: Sequence[JudgedQuery],
    *,
    exact: bool,
    fuzzy: bool,
    ablate: bool,
) -> dict[str, Any]:
    service.fuzzy = DEFAULT_EDIT_RULE if fuzzy else None
    started = time.perf_counter()
    tr, va = collect(service, train, exact=exact), collect(service, valid, exact=exact)
    extra = variant_runs(service, train, exact=exact)
    collected = time.perf_counter() - started
    schema = FeatureSchema(DEFAULT_FEATURES)
    pairs = [(c, q.grades) for q, c in tr]
    extra_pairs = [(c, q.grades) for q, c in extra]
    valid_pairs = [(c, q.grades) for q, c in va]
    systems: dict[str, Ranker] = {n: make_ranker(n, {}) for n in ("bm25", "dense", "rrf")}
    systems["lambdamart"] = train_lambdamart([*pairs, *extra_pairs], valid_pairs, schema=schema)
    if ablate:
        systems["lambdamart-no-variants"] = train_lambdamart(pairs, valid_pairs, schema=schema)
        systems["lambdamart-free"] = train_lambdamart(
            [*pairs, *extra_pairs], valid_pairs, schema=schema, monotone=False
        )
    report = scores_of(evaluate(va, systems))
    report["_seconds_collect"] = round(collected, 1)
    report["_train_rows"] = {"queries": len(pairs), "variants": len(extra_pairs)}
    return report


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument("--out", type=Path)
    parser.add_argument(
        "--ways",
        default="as_typed,corrected,corrected_fuzzy",
        help="comma-separated subset of as_typed, corrected, corrected_fuzzy",
    )
    args = parser.parse_args()
    ways = args.ways.split(",")
    engine = Engine(Settings(home=args.home))
    service, manifest = engine.service()
    judged = [q for q in engine.judged() if q.grades]
    train = [q for q in judged if q.split == "train"]
    valid = [q for q in judged if q.split == "valid"]
    report: dict[str, Any] = {"index": manifest.version, "train": len(train), "valid": len(valid)}
    for name, exact, fuzzy in (
        ("as_typed", True, False),
        ("corrected", False, False),
        ("corrected_fuzzy", False, True),
    ):
        if name not in ways:
            continue
        report[name] = run_way(
            service, train, valid, exact=exact, fuzzy=fuzzy, ablate=name == "corrected_fuzzy"
        )
        print(
            name,
            json.dumps({k: v["ndcg@10"] for k, v in report[name].items() if not k.startswith("_")}),
            flush=True,
        )
    report["load_average"] = [round(x, 2) for x in os.getloadavg()]
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    engine.close()


if __name__ == "__main__":
    main()
