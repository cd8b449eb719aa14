"""Personalised vs non-personalised search on a built demo home (``kgsearch demo``).

1. Held-out NDCG@10. A behaviour log is simulated on the base ranking (``--users``
   shoppers with ``--sessions`` search sessions each over 30 days, 20% of the pages
   randomised; the simulator's defaults otherwise: 3 favourite brands, preference strength
   0.5; ``--from-log`` takes the home's own ``events.jsonl`` instead) and split by time:
   sessions that began before the ``--train-share`` quantile of session starts train the
   personal stage
   (each session's profile from its shopper's events before it); every later session is
   held out. For each held-out session, the base ranking and the personalised one (profile
   from the shopper's events before that session) are scored by NDCG@10 with the
   simulator's attraction of each candidate for that shopper as gain (see
   ``synthetic.personal_eval``). Paired over sessions: t-test, Wilcoxon signed-rank test,
   and a bootstrap interval of the relative lift.
2. A simulated A/B: the same shoppers (same simulator seed, so the same favourite brands
   and price sensitivities) run ``--ab-sessions`` new sessions each after the log, bucketed
   50/50 by hash into ``control`` (base ranking) and ``personal`` (personalised with the
   profile of their logged events, fixed during the test; model trained on the whole log).
   ``ranker.ab.ab_report`` gives CTR and conversion with intervals, and
   ``ranker.exposure.exposure_report`` the brand-exposure Gini of each variant.

    python benchmarks/personal_search.py --home /tmp/p5k [--users 400] [--sessions 30]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

from app.engine import Engine
from app.settings import Settings
from ingest.events import read_events, write_events
from ingest.formats import read_products
from ingest.personal_training import (
    DEFAULT_LABEL,
    click_data,
    profiles_before,
    search_sessions,
)
from ranker.ab import ab_report, assigner
from ranker.exposure import FAIRNESS_MARGIN, exposure_report
from ranker.personal import train_personal
from search.personal import build_profile
from synthetic.behaviour import SimulatorConfig, make_users
from synthetic.personal_eval import (
    PageRanker,
    heldout_ndcg,
    simulate_history,
    simulate_personal_ab,
)

ROOT = Path(__file__).resolve().parents[1]


def _bootstrap_lift(base: np.ndarray, mine: np.ndarray, resamples: int = 2000) -> list[float]:
    rng = np.random.default_rng(0)
    idx = rng.integers(0, len(base), size=(resamples, len(base)))
    lifts = mine[idx].mean(axis=1) / base[idx].mean(axis=1) - 1.0
    return [round(float(np.percentile(lifts, 2.5)), 4), round(float(np.percentile(lifts, 97.5)), 4)]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument("--users", type=int, default=400)
    parser.add_argument("--sessions", type=int, default=30, help="logged sessions per user")
    parser.add_argument("--seed", type=int, default=101, help="simulator seed")
    parser.add_argument(
        "--strength", type=float, default=0.5, help="the simulator's preference_strength"
    )
    parser.add_argument(
        "--label",
        choices=("click", "add_to_cart", "purchase"),
        default=DEFAULT_LABEL,
        help="the outcome the personal stage is trained on",
    )
    parser.add_argument(
        "--personal-brand-cap", type=int, default=None, help="per-brand cap on personalised pages"
    )
    parser.add_argument("--from-log", action="store_true", help="use <home>/events.jsonl")
    parser.add_argument("--train-share", type=float, default=0.7)
    parser.add_argument("--ab-sessions", type=int, default=20, help="A/B sessions per user")
    parser.add_argument(
        "--out", type=Path, default=ROOT / "benchmarks" / "results" / "personal-search.json"
    )
    args = parser.parse_args()
    started = time.perf_counter()
    engine = Engine(Settings(home=args.home))
    service, manifest = engine.service()
    ranker = manifest.default_ranker
    products = {
        p.product_id: p for p in read_products(engine.catalogue_dir / "product.csv").records
    }
    judged = {q.text: q for q in engine.judged() if q.grades}
    pages = PageRanker(service, None, personal_brand_cap=args.personal_brand_cap)
    t0 = time.perf_counter()
    if args.from_log:
        marker = json.loads((engine.catalogue_dir / "GENERATED.json").read_text())
        events = list(read_events(engine.events_path).records)
        users_in_log = {e.user_id for e in events}
        sim = SimulatorConfig(
            users=1 + max(int(u.lstrip("u")) for u in users_in_log), seed=marker["seed"]
        )
    else:
        sim = SimulatorConfig(
            users=args.users,
            sessions_per_user=args.sessions,
            shuffle_fraction=0.2,
            preference_strength=args.strength,
            seed=args.seed,
        )
        events = simulate_history(
            pages, queries=list(judged.values()), products=products, config=sim
        )
    history_s = time.perf_counter() - t0
    sessions = search_sessions(events)
    starts = np.array([s.start for s in sessions])
    cutoff = float(np.quantile(starts, args.train_share))
    train = [s for s in sessions if s.start < cutoff]
    held = [s for s in sessions if s.start >= cutoff]

    # 1. train on the earlier sessions only, evaluate on the later ones
    t0 = time.perf_counter()
    early = [e for e in events if e.ts < cutoff]
    data = click_data(
        service,
        service.ranker,
        train,
        profiles_before(train, early, service.documents),
        cache=pages.cache,
        label=args.label,
    )
    model = train_personal(data, base_ranker=ranker)
    train_s = time.perf_counter() - t0
    pages.model = model
    users = {u.user_id: u for u in make_users(products, sim)}  # the log's shoppers
    t0 = time.perf_counter()
    rows = heldout_ndcg(
        pages,
        held,
        profiles_before(held, events, service.documents),
        users=users,
        queries=judged,
        products=products,
        config=sim,
        oracle_scale=1.0 / float(model.meta["base_coefficient"]),
    )
    eval_s = time.perf_counter() - t0
    base = np.array([r.base for r in rows])
    mine = np.array([r.personal for r in rows])
    with_profile = np.array([r.profile_events > 0 for r in rows])
    heldout = {
        "sessions": len(rows),
        "train_sessions": len(train),
        "train_impressions": len(data.clicked),
        "train_outcomes": int(data.clicked.sum()),
        "sessions_with_profile": int(with_profile.sum()),
        "ndcg@10_base": round(float(base.mean()), 4),
        "ndcg@10_personal": round(float(mine.mean()), 4),
        "relative_lift": round(float(mine.mean() / base.mean() - 1.0), 4),
        "relative_lift_95ci": _bootstrap_lift(base, mine),
        "paired_t_p": float(stats.ttest_rel(mine, base).pvalue),
        "wilcoxon_p": float(stats.wilcoxon(mine, base).pvalue),
        "ndcg@10_oracle": round(float(np.mean([r.oracle for r in rows])), 4),
        "oracle_relative_lift": round(
            float(np.mean([r.oracle for r in rows]) / base.mean() - 1.0), 4
        ),
        "sessions_better": int((mine > base + 1e-12).sum()),
        "sessions_worse": int((mine < base - 1e-12).sum()),
        "with_profile_lift": round(
            float(mine[with_profile].mean() / base[with_profile].mean() - 1.0), 4
        ),
        "weights": {k: round(v, 4) for k, v in model.weights.items()},
        "train_seconds": round(train_s, 1),
        "eval_seconds": round(eval_s, 1),
    }
    print(json.dumps({"heldout": heldout}, indent=2))

    # 2. simulated A/B after the log, model trained on the whole log
    t0 = time.perf_counter()
    full = click_data(
        service,
        service.ranker,
        sessions,
        profiles_before(sessions, events, service.documents),
        cache=pages.cache,
        label=args.label,
    )
    pages.model = train_personal(full, base_ranker=ranker)
    end = max(e.ts for e in events)
    by_user: dict[str, list[Any]] = defaultdict(list)
    for e in events:
        by_user[e.user_id].append(e)
    profiles = {
        u: build_profile(u, items, service.documents, now=end) for u, items in by_user.items()
    }
    ab_config = SimulatorConfig(
        users=sim.users,
        sessions_per_user=args.ab_sessions,
        seed=sim.seed,  # the same shoppers
        preference_strength=sim.preference_strength,
        start_ts=end + 3600.0,
    )
    ab_events = simulate_personal_ab(
        pages,
        queries=list(judged.values()),
        products=products,
        profiles=profiles,
        assign=assigner(experiment="personal-search", variants={"control": 0.5, "personal": 0.5}),
        config=ab_config,
    )
    ab_s = time.perf_counter() - t0
    args.out.parent.mkdir(parents=True, exist_ok=True)
    log_path = args.home / "personal-ab-events.jsonl"  # for `kgsearch ab-report` / exposure
    write_events(log_path, ab_events)
    report = ab_report(ab_events, control="control", bootstrap=1000, seed=0)
    exposure = exposure_report(ab_events, {p: d.brand for p, d in service.documents.items()})
    gini = {v.variant: round(v.gini, 4) for v in exposure.variants}
    result = {
        "home": str(args.home),
        "index": manifest.version,
        "ranker": ranker,
        "products": manifest.products,
        "log": "home events.jsonl" if args.from_log else "simulated",
        "events": len(events),
        "users": sim.users,
        "sessions_per_user": sim.sessions_per_user,
        "simulator_seed": sim.seed,
        "preference_strength": sim.preference_strength,
        "personal_brand_cap": args.personal_brand_cap,
        "label": args.label,
        "history_seconds": round(history_s, 1),
        "cutoff_ts": cutoff,
        "heldout": heldout,
        "ab": {
            "sessions_per_user": args.ab_sessions,
            "report": report.as_dict(),
            "markdown": report.to_markdown(),
            "seconds": round(ab_s, 1),
            "log": str(log_path),
        },
        "exposure": {
            "gini": gini,
            "gini_increase": round(gini["personal"] - gini["control"], 4),
            "margin": FAIRNESS_MARGIN,
            "distance": {v.variant: round(v.distance, 4) for v in exposure.variants},
        },
        "seconds": round(time.perf_counter() - started, 1),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "cpus": os.cpu_count(),
    }
    args.out.write_text(json.dumps(result, indent=2))
    print(report.to_markdown())
    print(exposure.to_markdown(top=5))
    print(json.dumps({k: result[k] for k in ("exposure", "seconds", "load_average")}, indent=2))


if __name__ == "__main__":
    main()
