"""What published merchandising rules add to a search, in-process, on a built home.

Fifty rules are drawn from the home's own catalogue (seeded): 10 boosts and 10 buries by
brand everywhere, 10 hides by attribute value scoped to a category, 10 category-scoped
boosts, and 10 pins for judged queries; most of them take every query. They are compiled
in memory (nothing is written to the home's rule store) and handed to a shallow copy of
the live search service, so the same service answers every query once with no rules and
once with the fifty, interleaved, ``--repeats`` times over the judged queries. Reported:
p50/p95 of whole searches with and without rules, of their per-query difference, and of
the rules stage alone (``RuleSet.apply`` and the reorder, on each query's real candidates;
per query the least of ``--stage-repeats`` runs, so that on a shared, loaded machine the
figure is the stage's own cost rather than the time it waited for a core).

    python benchmarks/rules_overhead.py --home /tmp/home5k [--repeats 3] [--out FILE]
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import random
import time
from pathlib import Path
from typing import Any

import numpy as np

from app.engine import Engine
from app.settings import Settings
from kg.rule_store import RuleRecord
from kg.schema import EntityKind, RelationType
from search.rules import RuleSet, RuleSpec, compile_rules

ROOT = Path(__file__).resolve().parents[1]


def _record(rule_id: int, **spec: Any) -> RuleRecord:
    body = RuleSpec.model_validate(spec).model_dump(mode="json", exclude_none=True)
    return RuleRecord(rule_id, 1, {"draft": body, "published": body})


def fifty_rules(engine: Engine, queries: list[str], seed: int = 7) -> list[RuleRecord]:
    rng = random.Random(seed)
    graph = engine.graph
    brands = sorted(e.id for e in graph.entities(EntityKind.BRAND))
    values = sorted(e.id for e in graph.entities(EntityKind.ATTRIBUTE_VALUE))
    parents = {r.target for r in graph.relations(RelationType.SUBCATEGORY_OF)}
    categories = sorted(parents)
    products = sorted(e.id.removeprefix("product:") for e in graph.entities(EntityKind.PRODUCT))
    records: list[RuleRecord] = []
    for _ in range(10):
        records.append(
            _record(
                len(records) + 1, action="boost", factor=1.2, when={"brand": rng.choice(brands)}
            )
        )
    for _ in range(10):
        records.append(
            _record(len(records) + 1, action="bury", factor=0.8, when={"brand": rng.choice(brands)})
        )
    for _ in range(10):
        records.append(
            _record(
                len(records) + 1,
                action="hide",
                when={"attribute": rng.choice(values)},
                scope={"kind": "category", "value": rng.choice(categories)},
            )
        )
    for _ in range(10):
        records.append(
            _record(
                len(records) + 1,
                action="boost",
                factor=1.5,
                when={"category": rng.choice(categories)},
            )
        )
    for query in rng.sample(queries, min(10, len(queries))):
        records.append(
            _record(
                len(records) + 1,
                action="pin",
                product=rng.choice(products),
                position=rng.randint(1, 5),
                scope={"kind": "exact", "value": query},
            )
        )
    return records


def _pct(values: list[float], q: float) -> float:
    return round(float(np.percentile(values, q)), 3)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--stage-repeats",
        type=int,
        default=15,
        help="runs of the rules stage per query (least kept)",
    )
    parser.add_argument(
        "--out", type=Path, default=ROOT / "benchmarks" / "results" / "rules-overhead.json"
    )
    args = parser.parse_args()

    engine = Engine(Settings(home=args.home))
    service, manifest = engine.service()
    queries = [q.text for q in engine.judged()]
    if not queries:
        raise SystemExit(f"{args.home} has no judged queries: build it with `kgsearch demo`")
    records = fifty_rules(engine, queries)
    rules = compile_rules(records, engine.graph, revision=(-1, -1))
    plain, ruled = copy.copy(service), copy.copy(service)
    plain.rules, ruled.rules = RuleSet(), rules
    for query in queries[:5]:  # warm: encoder, rankers, the rule set's product matches
        plain.search(query)
        ruled.search(query)

    without: list[float] = []
    with_rules: list[float] = []
    stage: list[float] = []
    active: list[int] = []
    for _ in range(args.repeats):
        for query in queries:
            for target, times in ((plain, without), (ruled, with_rules)):
                started = time.perf_counter()
                target.search(query, k=10)
                times.append((time.perf_counter() - started) * 1000)
            candidates = service.candidates(query)
            qgraph = service.graph.understand(query) if service.graph is not None else None
            scores = service.ranker.score(candidates)
            order = np.argsort(-scores, kind="stable")
            runs = []
            for _ in range(args.stage_repeats):  # the least of several: this stage's own cost
                started = time.perf_counter()
                applied = rules.apply(
                    query, qgraph, None, candidates.product_ids, scores, service.documents
                )
                applied.reorder(order)
                runs.append((time.perf_counter() - started) * 1000)
            stage.append(min(runs))
            active.append(len(rules.active(query, qgraph, None, time.time())))
    diff = [b - a for a, b in zip(without, with_rules, strict=True)]
    report = {
        "home": str(args.home),
        "index_version": manifest.version,
        "products": manifest.products,
        "queries": len(queries),
        "repeats": args.repeats,
        "rules": len(rules),
        "active_rules_per_query_mean": round(float(np.mean(active)), 1),
        "search_ms_without_rules": {"p50": _pct(without, 50), "p95": _pct(without, 95)},
        "search_ms_with_50_rules": {"p50": _pct(with_rules, 50), "p95": _pct(with_rules, 95)},
        "p50_difference_ms": round(_pct(with_rules, 50) - _pct(without, 50), 3),
        "per_query_difference_ms": {"p50": _pct(diff, 50), "p95": _pct(diff, 95)},
        "rules_stage_ms": {"p50": _pct(stage, 50), "p95": _pct(stage, 95), "max": _pct(stage, 100)},
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "cpus": os.cpu_count(),
    }
    engine.close()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
