"""Recommendation quality on the shop catalogue: the simulated behaviour log of a demo home
(``kgsearch demo``) cut at a time quantile, the service fitted on the earlier 80 % of
events, judged on the later 20 %. Nothing is tuned on the test part: the learned fusion
and the tuned weights come from the earlier 80 % only (``recommend.fusion.train_fusion``:
sources fitted on its first 75 %, i.e. 60 % of the log, training lists from the rest).

Fusions compared (same sources, same candidates): **fixed** weights
(``recommend.service.DEFAULT_WEIGHTS``), **tuned** weights (coordinate ascent on the
training lists' Recall@20) and **learned** (LambdaMART).

- **for you**: shoppers with history before the cut and engagements (click, cart,
  purchase) after it; the later engaged products are relevant; products bought before
  the cut are never shown (nor counted).
- **similar**: sessions after the cut with two or more engaged products; the first one is
  the page, the session's other products are relevant.

Baselines in the same run: popularity (time-decayed, the ``popularity`` model) and ALS
(``implicit``, the collaborative source's model alone). Recall@20, NDCG@20, and for the
lists shown: intra-list similarity (MiniLM cosine) and brand exposure (Gini over brands).
Paired tests (Wilcoxon over cases' Recall@20): tuned and learned vs fixed, learned vs
tuned, and the best fusion vs the best baseline. ``why_for_you`` measures how much a
shopper's history says about their later engagements in this log. Writes
benchmarks/results/recs-shop-<products>.json.

    python benchmarks/recs_shop.py --home /tmp/kg-demo
"""

from __future__ import annotations

import argparse
import json
import time
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from app.engine import Engine
from app.settings import Settings
from ingest.events import read_events
from recommend.evaluation.metrics import ndcg_at_k, paired_test, recall_at_k, top_k
from recommend.fusion import LearnedFusion, train_fusion
from recommend.interactions import split_by_time
from recommend.live import from_search
from recommend.models import make_recommender
from recommend.service import DEFAULT_WEIGHTS, RecommendationService

ROOT = Path(__file__).resolve().parents[1]
K = 20
ENGAGED = {"click", "add_to_cart", "purchase"}


def gini(counts: Sequence[int]) -> float:
    values = np.sort(np.asarray(counts, dtype=np.float64))
    if not len(values) or values.sum() == 0:
        return float("nan")
    n = len(values)
    return float((2 * np.arange(1, n + 1) - n - 1) @ values / (n * values.sum()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument("--test-fraction", type=float, default=0.2)
    args = parser.parse_args()
    engine = Engine(Settings(home=args.home))
    search, _ = engine.service()
    events = list(read_events(engine.events_path).records)
    train, test = split_by_time(events, test_fraction=args.test_fraction)
    started = time.perf_counter()
    model = train_fusion(train, lambda earlier: from_search(search, engine.graph, earlier))
    train_s = time.perf_counter() - started
    started = time.perf_counter()
    recs = from_search(search, engine.graph, train)
    build_s = time.perf_counter() - started
    tuned: dict[Any, Mapping[str, float]] = {**DEFAULT_WEIGHTS, **model.weights}
    modes: dict[str, tuple[LearnedFusion | None, Mapping[Any, Mapping[str, float]]]] = {
        "fixed weights": (None, DEFAULT_WEIGHTS),
        "tuned weights": (None, tuned),
        "learned": (model, tuned),  # tuned weights where the model has no booster
    }

    def mode(name: str) -> RecommendationService:
        recs.fusion, recs.weights = modes[name]
        return recs

    def for_you_by(name: str) -> Callable[[str, list[int]], list[int]]:
        return lambda user, _: [index[i.product_id] for i in mode(name).for_user(user, k=K).items]

    def similar_by(name: str) -> Callable[[str, list[int]], list[int]]:
        return lambda _, page: [
            index[i.product_id] for i in mode(name).similar(space.items[page[0]], k=K).items
        ]

    space, behaviour = recs.space, recs.behaviour
    index = space.index
    popularity = make_recommender("popularity", weighting="raw", half_life_days=7.0)
    popularity.fit(behaviour.interactions)
    pop_row = popularity.user_scores([0])[0]
    als = recs.sources["collaborative"].model  # type: ignore[attr-defined]

    systems_user: dict[str, Callable[[str, list[int]], list[int]]] = {
        "popularity": lambda user, bought: list(top_k(pop_row, K, exclude=bought)),
        "als": lambda user, bought: list(
            top_k(als.user_scores([behaviour.interactions.user_index[user]])[0], K, exclude=bought)
        ),
        **{name: for_you_by(name) for name in modes},
    }
    later: dict[str, set[int]] = defaultdict(set)
    for e in test:
        if e.type in ENGAGED and e.product_id in index:
            later[e.user_id].add(index[e.product_id])
    user_rows = {}
    for user, relevant in sorted(later.items()):
        if user not in behaviour.interactions.user_index:
            continue
        bought = sorted(behaviour.bought(user))
        relevant = relevant - set(bought)
        if relevant:
            user_rows[user] = (bought, relevant)
    for_you = evaluate(systems_user, user_rows, recs)

    sessions: dict[str, list[tuple[float, int]]] = defaultdict(list)
    for e in test:
        if e.type in ENGAGED and e.product_id in index:
            sessions[e.session_id].append((e.ts, index[e.product_id]))
    page_rows = {}
    for session, seen in sorted(sessions.items()):
        ordered = list(dict.fromkeys(i for _, i in sorted(seen)))
        if len(ordered) >= 2:
            page_rows[session] = (ordered[0], set(ordered[1:]))

    def als_similar(seed: int) -> list[int]:
        row = als.item_scores([seed])[0]
        if np.isnan(row).all():
            return []
        return list(top_k(row, K, exclude=[seed]))

    # similar: the "context" of a case is [the page's product]
    systems_item: dict[str, Callable[[str, list[int]], list[int]]] = {
        "popularity": lambda _, page: list(top_k(pop_row, K, exclude=page)),
        "als": lambda _, page: als_similar(page[0]),
        **{name: similar_by(name) for name in modes},
    }
    similar = evaluate(
        systems_item, {key: ([seed], rel) for key, (seed, rel) in page_rows.items()}, recs
    )
    cold_seeds = sum(behaviour.is_cold(seed) for seed, _ in page_rows.values())
    result = {
        "home": str(args.home),
        "products": len(space),
        "events": {"train": len(train), "test": len(test)},
        "build_s": round(build_s, 2),
        "fusion_train_s": round(train_s, 2),
        "weights": {
            "fixed": {k: dict(v) for k, v in DEFAULT_WEIGHTS.items()},
            "tuned": model.weights,
        },
        "learned_fusion": model.meta["situations_report"],
        "for_you": for_you,
        "why_for_you": history_signal(recs, user_rows),
        "similar": {**similar, "cold_pages": cold_seeds},
        "unavailable": recs.unavailable,
    }
    out = ROOT / "benchmarks" / "results" / f"recs-shop-{len(space)}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


def evaluate(
    systems: dict[str, Callable[[str, list[int]], list[int]]],
    rows: dict[str, tuple[list[int], set[int]]],
    recs: RecommendationService,
) -> dict[str, object]:
    per: dict[str, dict[str, list[float]]] = {}
    exposure: dict[str, dict[str, int]] = {}
    ils: dict[str, list[float]] = {}
    content = recs.sources.get("content")
    for name, system in systems.items():
        recall, ndcg = [], []
        brands: dict[str, int] = defaultdict(int)
        sims: list[float] = []
        for key, (context, relevant) in rows.items():
            ranked = system(key, context)
            recall.append(recall_at_k(ranked, relevant, K))
            ndcg.append(ndcg_at_k(ranked, relevant, K))
            for i in ranked:
                brands[recs.space.documents[recs.space.items[i]].brand or "-"] += 1
            if content is not None and len(ranked) > 1:
                vectors = np.array([content.vector_of(recs.space.items[i]) for i in ranked])  # type: ignore[attr-defined]
                matrix = vectors @ vectors.T
                n = len(ranked)
                sims.append(float((matrix.sum() - np.trace(matrix)) / (n * (n - 1))))
        per[name] = {"recall": recall, "ndcg": ndcg}
        exposure[name] = dict(brands)
        ils[name] = sims
    table = {
        name: {
            "recall@20": round(float(np.mean(v["recall"])), 4),
            "ndcg@20": round(float(np.mean(v["ndcg"])), 4),
            "intra_list_similarity": round(float(np.mean(ils[name])), 4) if ils[name] else None,
            "brand_gini": round(gini(list(exposure[name].values())), 4),
        }
        for name, v in per.items()
    }
    fusions = ("fixed weights", "tuned weights", "learned")
    best = max((n for n in per if n not in fusions), key=lambda n: np.mean(per[n]["recall"]))
    best_fusion = max(fusions, key=lambda n: np.mean(per[n]["recall"]))
    pairs = [
        ("tuned weights", "fixed weights"),
        ("learned", "fixed weights"),
        ("learned", "tuned weights"),
        (best_fusion, best),
    ]
    tests = {f"{a} vs {b}": paired_test(per[a]["recall"], per[b]["recall"]) for a, b in pairs}
    return {"cases": len(rows), "systems": table, "paired_recall@20": tests}


def history_signal(
    recs: RecommendationService, rows: dict[str, tuple[list[int], set[int]]]
) -> dict[str, float]:
    """Share of the later engaged products whose brand / leaf category the shopper engaged
    with before the cut, beside the share expected of a random catalogue product (the
    chance level), and the share that are the same products again."""
    docs = [recs.space.documents[p] for p in recs.space.items]
    brand = [d.brand for d in docs]
    leaf = [d.category_path[-1] if d.category_path else None for d in docs]
    found: dict[str, list[float]] = {
        "brand": [],
        "category": [],
        "chance_brand": [],
        "chance_category": [],
        "same": [],
    }
    for user, (_, relevant) in rows.items():
        history = [i for i, _ in recs.behaviour.user_items(user)]
        brands = {brand[i] for i in history} - {None}
        cats = {leaf[i] for i in history} - {None}
        found["brand"].append(_mean([brand[i] in brands for i in relevant]))
        found["category"].append(_mean([leaf[i] in cats for i in relevant]))
        found["chance_brand"].append(_mean([b in brands for b in brand]))
        found["chance_category"].append(_mean([c in cats for c in leaf]))
        found["same"].append(_mean([i in set(history) for i in relevant]))
    return {k: round(float(np.mean(v)), 4) for k, v in found.items()}


def _mean(flags: Sequence[bool]) -> float:
    return float(np.mean(flags)) if len(flags) else 0.0


if __name__ == "__main__":
    main()
