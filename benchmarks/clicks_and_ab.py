"""Two experiments on a built demo home (``kgsearch demo --size demo``):

1. Click-trained vs label-trained LambdaMART. Simulated shoppers (position bias
   (1/k)^eta, brand/price preferences, 20% randomised pages) browse rrf rankings of the
   train and valid queries; eta is estimated by EM, clicks are turned into graded
   labels by inverse propensity weighting (and, for comparison, by raw CTR); LambdaMART
   trains on those and is evaluated on the test split's true labels beside the
   label-trained one.
2. A simulated A/B test, lambdamart vs rrf, users bucketed 50/50 by hash, on test
   queries; the report goes to docs/ab-report.md.

    python benchmarks/clicks_and_ab.py --home /tmp/kg-demo [--users 300]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Sequence
from functools import cache
from pathlib import Path

from app.engine import Engine
from app.settings import Settings
from ingest.events import write_events
from ingest.formats import read_products
from ingest.rankers import collect_runs
from ranker.ab import ab_report, assigner
from ranker.clicks import click_grades, click_judgments, click_through_rates, estimate_propensities
from ranker.evaluation import JudgedQuery, evaluate
from ranker.features import DEFAULT_FEATURES, FeatureSchema
from ranker.fusion import Ranker
from ranker.lambdamart import train_lambdamart
from synthetic.behaviour import SimulatorConfig, simulate

ROOT = Path(__file__).resolve().parents[1]


def ranking(engine: Engine, name: str) -> Callable[[str], Sequence[str]]:
    service, _ = engine.service()
    ranker = engine.make_ranker(name)

    @cache
    def ranked(query: str) -> tuple[str, ...]:
        return tuple(h.product_id for h in service.search(query, k=10, ranker=ranker).hits)

    return ranked


def naive_judgments(events: list, min_impressions: int = 10) -> list[JudgedQuery]:  # type: ignore[type-arg]
    """Grades from raw click-through rates (no bias correction), for comparison."""
    ctr = click_through_rates(events)
    shown: dict[str, dict[str, int]] = {}
    texts: dict[str, str] = {}
    for e in events:
        if e.type == "impression":
            shown.setdefault(e.query_id, {}).setdefault(e.product_id, 0)
            shown[e.query_id][e.product_id] += 1
            texts[e.query_id] = e.query
    out = []
    for qid, rates in ctr.items():
        kept = {p: r for p, r in rates.items() if shown.get(qid, {}).get(p, 0) >= min_impressions}
        out.append(JudgedQuery(qid, texts[qid], click_grades({qid: kept})[qid]))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument("--users", type=int, default=300)
    parser.add_argument("--sessions", type=int, default=20, help="sessions per user")
    args = parser.parse_args()
    started = time.perf_counter()
    engine = Engine(Settings(home=args.home))
    service, manifest = engine.service()
    judged = engine.judged()
    split = {
        s: [q for q in judged if q.split == s and q.grades] for s in ("train", "valid", "test")
    }
    products = {
        p.product_id: p for p in read_products(engine.catalogue_dir / "product.csv").records
    }
    rrf = ranking(engine, "rrf")
    config = SimulatorConfig(
        users=args.users, sessions_per_user=args.sessions, shuffle_fraction=0.2, seed=7
    )
    logs = {
        s: simulate(
            queries=split[s],
            products=products,
            rankings={"rrf": rrf},
            assign=lambda _: "rrf",
            config=config,
        )
        for s in ("train", "valid")
    }
    propensities = estimate_propensities([*logs["train"], *logs["valid"]])
    print(f"estimated eta {propensities.eta:.3f} (simulated 1.0)", file=sys.stderr)

    def runs(queries: list[JudgedQuery]) -> list[tuple]:  # type: ignore[type-arg]
        return [(c, q.grades) for q, c in collect_runs(service, queries)]

    schema = FeatureSchema(DEFAULT_FEATURES)
    trained: dict[str, Ranker] = {"lambdamart (labels)": engine.make_ranker("lambdamart")}
    for label, make in (
        ("lambdamart (clicks, IPW)", lambda ev: click_judgments(ev, propensities)),
        ("lambdamart (clicks, naive CTR)", naive_judgments),
    ):
        tr, va = runs(make(logs["train"])), runs(make(logs["valid"]))
        trained[label] = train_lambdamart(tr, va, schema=schema)
    trained["rrf"] = engine.make_ranker("rrf")
    test_runs = collect_runs(service, split["test"])
    table = {name: s.as_dict() for name, s in evaluate(test_runs, trained).items()}

    assign = assigner(experiment="lambdamart-vs-rrf", variants={"rrf": 0.5, "lambdamart": 0.5})
    ab_events = simulate(
        queries=split["test"],
        products=products,
        rankings={"rrf": rrf, "lambdamart": ranking(engine, "lambdamart")},
        assign=assign,
        config=SimulatorConfig(users=args.users, sessions_per_user=args.sessions, seed=11),
    )
    events_path = args.home / "ab-events.jsonl"
    write_events(events_path, ab_events)
    report = ab_report(ab_events, control="rrf", bootstrap=1000, seed=3)
    (ROOT / "docs" / "ab-report.md").write_text(
        "# Simulated A/B test: lambdamart vs rrf\n\n"
        f"Made by `python benchmarks/clicks_and_ab.py --home <demo home> --users {args.users} "
        f"--sessions {args.sessions}` on index {manifest.version} of the demo catalogue "
        f"(5k products); {len(split['test'])} test-split queries; events in "
        "`<home>/ab-events.jsonl`; `kgsearch ab-report` prints the same from the events.\n\n"
        + report.to_markdown()
        + "\n"
    )
    result = {
        "index": manifest.version,
        "eta_estimated": round(propensities.eta, 3),
        "test_split": table,
        "ab": report.as_dict(),
        "seconds": round(time.perf_counter() - started, 1),
    }
    out = ROOT / "benchmarks" / "results" / "clicks-and-ab.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: result[k] for k in ("eta_estimated", "test_split", "seconds")}, indent=2))


if __name__ == "__main__":
    main()
