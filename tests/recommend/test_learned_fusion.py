"""The learned fusion of the shop's candidate sources (LambdaMART) on the tiny catalogue
with a small simulated log: training by time, contributions, save / load, the schema check,
the weighted fallback and weight tuning."""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from app.demo import simulate_behaviour, train_recommendation_fusion
from app.engine import Engine
from ingest.events import read_events
from recommend.fusion import (
    FUSION_SCHEMA,
    ItemFacts,
    LearnedFusion,
    candidate_features,
    collect_cases,
    train_fusion,
    tune_weights,
    weighted_fusion,
)
from recommend.interactions import EventLike, split_by_time
from recommend.live import from_search, load_fusion
from recommend.service import DEFAULT_WEIGHTS, RecommendationService


@pytest.fixture(scope="module")
def shop(tiny_engine: Engine) -> Engine:
    simulate_behaviour(tiny_engine, seed=5, users=60)
    return tiny_engine


@pytest.fixture(scope="module")
def events(shop: Engine) -> list[Any]:
    return list(read_events(shop.events_path).records)


@pytest.fixture(scope="module")
def trained(shop: Engine, events: list[Any]) -> tuple[LearnedFusion, list[Sequence[EventLike]]]:
    """A model trained on the events before the 80 % cut (as the benchmark does), and
    every event list the sources were fitted on."""
    train, _ = split_by_time(events, test_fraction=0.2)
    search, _ = shop.service()
    fitted_on: list[Sequence[EventLike]] = []

    def build(earlier: Sequence[EventLike]) -> RecommendationService:
        fitted_on.append(earlier)
        return from_search(search, shop.graph, earlier)

    # A tiny log: 8 validation lists cannot tell the model from the tuned weights, so
    # keep what was trained (the comparison itself is still reported and checked below).
    model = train_fusion(
        train, build, min_lists=5, rounds=40, early_stopping=10, require_gain=False
    )
    return model, fitted_on


@pytest.fixture(scope="module")
def learned(shop: Engine, events: list[Any], trained: Any) -> RecommendationService:
    search, _ = shop.service()
    return from_search(search, shop.graph, events, fusion=trained[0])


def a_shopper(recs: RecommendationService) -> str:
    counts = np.diff(recs.behaviour.interactions.matrix.indptr)
    return recs.behaviour.interactions.users[int(np.argmax(counts))]


def test_fusion_trains_on_a_small_log(trained: Any) -> None:
    model, _ = trained
    report = model.meta["situations_report"]
    assert model.covers("for_you") and model.covers("similar"), report
    assert not model.covers("cold_user")
    for situation in ("for_you", "similar"):
        assert report[situation]["train_lists"] >= 5
        assert report[situation]["best_iteration"] >= 1
        assert 0.0 <= report[situation]["valid_recall_at_20_tuned_weights"] <= 1.0


def test_no_leakage_sources_fit_before_the_lists(events: list[Any], trained: Any) -> None:
    model, fitted_on = trained
    train, test = split_by_time(events, test_fraction=0.2)
    cut = model.meta["trained_on"]["cut_ts"]
    (earlier,) = fitted_on
    assert max(e.ts for e in earlier) < cut  # sources never see the lists' events
    assert len(earlier) + model.meta["trained_on"]["lists_from"] == len(train)
    assert model.meta["trained_on"]["events"] == len(train)
    assert cut <= max(e.ts for e in train) < min(e.ts for e in test)  # test never seen


def test_contributions_sum_to_the_learned_score(learned: RecommendationService) -> None:
    for result in (
        learned.for_user(a_shopper(learned), k=10),
        learned.similar(learned.space.items[int(np.argmax(learned.behaviour.engaged))], k=10),
    ):
        assert result.items
        assert any("learned fusion" in note for note in result.notes)
        scores = [item.score for item in result.items]
        assert scores == sorted(scores, reverse=True)
        for item in result.items:
            assert "bias" in item.contributions
            assert set(item.contributions) - {"bias"} <= set(FUSION_SCHEMA.sources)
            assert sum(item.contributions.values()) == pytest.approx(item.score, abs=1e-9)
            assert item.sources and set(item.sources) <= set(item.signals)


def test_cold_shopper_keeps_weighted_fusion(learned: RecommendationService) -> None:
    result = learned.for_user("U-nobody-knows", k=5)
    assert result.cold_start and result.items
    assert not any("learned fusion" in note for note in result.notes)
    for item in result.items:
        assert "bias" not in item.contributions


def test_fallback_to_weighted_fusion_without_a_model(
    shop: Engine, events: list[Any], learned: RecommendationService
) -> None:
    search, _ = shop.service()
    plain = from_search(search, shop.graph, events)
    assert plain.fusion is None
    user = a_shopper(plain)
    result = plain.for_user(user, k=10)
    assert not any("learned fusion" in note for note in result.notes)
    weights = DEFAULT_WEIGHTS["for_you"]
    for item in result.items:
        assert "bias" not in item.contributions
        assert sum(item.contributions.values()) == pytest.approx(item.score)
        assert set(item.contributions) <= set(weights)
    # same sources and candidates, another order: the model is what changed
    assert {i.product_id for i in result.items} != set() and learned.for_user(user, k=10).items


def test_save_load_round_trip(tmp_path: Path, trained: Any, learned: RecommendationService) -> None:
    model, _ = trained
    model.save(tmp_path / "fusion")
    loaded, why_not = load_fusion(tmp_path / "fusion")
    assert why_not is None and loaded is not None
    assert sorted(loaded.boosters) == sorted(model.boosters)
    assert loaded.meta["tuned_weights"] == model.meta["tuned_weights"]
    proposals = {
        "popularity": {0: 3.0, 1: 2.0, 2: 1.0},
        "content": {1: 0.9, 3: 0.5},
    }
    for situation in ("for_you", "similar"):
        a = model.rank(situation, proposals, (4,), learned.facts)
        b = loaded.rank(situation, proposals, (4,), learned.facts)
        assert [r[0] for r in a] == [r[0] for r in b]
        assert [r[1] for r in a] == pytest.approx([r[1] for r in b])


def test_a_model_of_another_schema_is_refused(
    tmp_path: Path, shop: Engine, events: list[Any], trained: Any
) -> None:
    directory = tmp_path / "fusion"
    trained[0].save(directory)
    meta = json.loads((directory / "meta.json").read_text())
    meta["features"] = [*meta["features"], "price_fit"]
    (directory / "meta.json").write_text(json.dumps(meta))
    loaded, why_not = load_fusion(directory)
    assert loaded is None and why_not is not None and "another feature schema" in why_not
    search, _ = shop.service()
    recs = from_search(search, shop.graph, events, fusion=directory)
    assert recs.fusion is None
    assert "another feature schema" in recs.unavailable["learned fusion"]
    assert load_fusion(tmp_path / "nothing-here") == (None, None)


def test_engine_loads_the_demo_trained_model(shop: Engine) -> None:
    summary = train_recommendation_fusion(shop, seed=5)  # what `kgsearch demo` runs
    try:
        assert (shop.recs_fusion_dir / "meta.json").exists()
        recs = shop.recommendations()
        assert isinstance(recs.fusion, LearnedFusion)
        assert sorted(recs.fusion.boosters) == summary["trained"]
        print(json.dumps(recs.fusion.meta["situations_report"]))
    finally:
        shutil.rmtree(shop.recs_fusion_dir)
    assert shop.recommendations().fusion is None


def test_candidate_features() -> None:
    facts = ItemFacts(
        brands=np.array([0, 0, 1, -1]),
        categories=np.array([5, 6, 5, 5]),
        engaged=np.array([9, 0, 3, 1]),
    )
    items, x = candidate_features({"content": {1: 0.8, 2: 0.4}, "graph": {3: 2.0}}, (0,), facts)
    names = FUSION_SCHEMA.names
    col = {n: x[:, names.index(n)] for n in names}
    assert items.tolist() == [1, 2, 3]
    np.testing.assert_allclose(col["content_score"], [1.0, 0.0, 0.0])
    np.testing.assert_allclose(col["content_rr"], [1.0, 0.5, 0.0])
    np.testing.assert_allclose(col["graph_score"], [0.0, 0.0, 1.0])  # alone: scaled to 1
    np.testing.assert_allclose(col["item_cold"], [1.0, 0.0, 0.0])
    np.testing.assert_allclose(col["item_popularity"], np.log1p([0, 3, 1]), rtol=1e-6)
    np.testing.assert_allclose(col["same_brand"], [1.0, 0.0, 0.0])  # no brand never matches
    np.testing.assert_allclose(col["same_category"], [0.0, 1.0, 1.0])


def test_weighted_fusion_parts_sum_to_the_score() -> None:
    rows = weighted_fusion({"a": {1: 2.0, 2: 1.0}, "b": {2: 5.0}}, {"a": 0.5, "b": 0.25})
    assert [r[0] for r in rows] == [1, 2]
    assert rows[1][3] == {"a": 0.0, "b": 0.25}
    assert all(sum(r[3].values()) == pytest.approx(r[1]) for r in rows)


def test_tuned_weights_never_do_worse_on_their_lists(
    shop: Engine, events: list[Any], learned: RecommendationService
) -> None:
    earlier, later = split_by_time(events, test_fraction=0.25)
    search, _ = shop.service()
    service = from_search(search, shop.graph, earlier)
    cases = [c for c in collect_cases(service, later) if c.situation == "for_you"]
    assert cases
    start = dict(DEFAULT_WEIGHTS["for_you"])
    facts = ItemFacts.of(service.space, service.behaviour)
    _, before = tune_weights(cases, facts, start, rounds=0)
    weights, after = tune_weights(cases, facts, start)
    assert after >= before
    assert set(weights) == set(FUSION_SCHEMA.sources)
