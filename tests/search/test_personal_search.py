"""Personalised search on the tiny catalogue: user features, the personal stage over the
learned ranker, its explanation, training from a simulated log, and brand exposure."""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from conftest import TINY

from app.engine import Engine
from ingest.events import Event
from ingest.formats import read_products
from ingest.personal_training import LoggedSession, search_sessions, train_personal_model
from ingest.records import ProductRecord
from kg.documents import ProductDocument
from kg.schema import attribute_id
from ranker.ab import assigner
from ranker.exposure import FAIRNESS_MARGIN, exposure_report
from ranker.personal import PersonalModel
from search.personal import ShopperProfile, build_profile
from search.personal_signals import personal_signals
from search.service import SearchService, tie_order
from synthetic.behaviour import SimulatorConfig, simulate
from synthetic.personal_eval import PageRanker, simulate_history, simulate_personal_ab

SEED = 5


@dataclass(frozen=True)
class Ev:
    type: str
    product_id: str
    ts: float
    user_id: str | None = "U1"
    session_id: str | None = "S1"


def _doc(
    pid: str, brand: str, path: tuple[str, ...], attrs: dict[str, str], price: float | None
) -> ProductDocument:
    return ProductDocument(
        product_id=pid,
        name=pid,
        product_class=path[-1],
        category_path=path,
        brand=brand,
        attributes=attrs,
        price=price,
    )


DOCS = {
    d.product_id: d
    for d in [
        _doc("SOFA", "Oakhaven", ("Furniture", "Sofas"), {"material": "Velvet"}, 400.0),
        _doc("SOFA2", "Oakhaven", ("Furniture", "Sofas"), {"material": "Linen"}, 100.0),
        _doc("CHAIR", "Brightly", ("Furniture", "Chairs"), {"material": "Velvet"}, 150.0),
        _doc("LAMP", "Lumen", ("Lighting", "Lamps"), {"finish": "Brass"}, None),
    ]
}


def test_a_favourite_brand_product_gets_the_affinity() -> None:
    events = [
        Ev("purchase", "SOFA", 1_000.0),
        Ev("click", "SOFA2", 1_100.0),
        Ev("click", "CHAIR", 1_200.0),
    ]
    profile = build_profile("U1", events, DOCS)
    ids = ["SOFA", "SOFA2", "CHAIR", "LAMP"]
    s = personal_signals(ids, DOCS, profile)
    assert s["personal_brand"].tolist() == [1.0, 1.0, pytest.approx(1 / 6, rel=1e-3), 0.0]
    assert s["personal_category"][0] == 1.0  # Furniture, the top of every engaged path
    assert s["personal_category"][3] == 0.0
    velvet = profile.attributes[attribute_id("material", "Velvet")]
    assert s["personal_attribute"][2] == pytest.approx(velvet) and velvet == 1.0
    assert s["personal_seen"].tolist() == [1.0, 1.0, 1.0, 0.0]
    assert s["personal_bought"].tolist() == [1.0, 0.0, 0.0, 0.0]
    assert profile.price_center is not None and profile.price_spread is not None
    expected = abs(math.log(100.0) - profile.price_center) / profile.price_spread
    assert s["personal_price_fit"][1] == pytest.approx(min(4.0, expected))
    assert s["personal_price_gap"][1] == pytest.approx(-s["personal_price_fit"][1])  # cheaper
    assert s["personal_price_fit"][3] == 0.0  # no price: no penalty


# -- on the tiny catalogue -------------------------------------------------------------------


@pytest.fixture(scope="module")
def products() -> dict[str, ProductRecord]:
    return {p.product_id: p for p in read_products(TINY / "product.csv").records}


@pytest.fixture(scope="module")
def log(tiny_engine: Engine, products: dict[str, ProductRecord]) -> list[Event]:
    """Simulated shoppers (strong brand preference, 30% randomised pages) on the live
    ranking; the log's sessions are the training data."""
    service, _ = tiny_engine.service()
    pages: dict[str, list[str]] = {}

    def ranking(text: str) -> list[str]:
        if text not in pages:
            pages[text] = [h.product_id for h in service.search(text, k=10).hits]
        return pages[text]

    config = SimulatorConfig(
        users=40,
        sessions_per_user=12,
        shuffle_fraction=0.3,
        preference_strength=1.5,
        seed=SEED,
    )
    queries = [q for q in tiny_engine.judged() if q.grades]
    return simulate(
        queries=queries,
        products=products,
        rankings={"live": ranking},
        assign=lambda _: "live",
        config=config,
    )


@pytest.fixture(scope="module")
def personal(tiny_engine: Engine, log: list[Event]) -> tuple[SearchService, PersonalModel]:
    """A service over the live tiny index with a personal model trained on the log's
    clicks (on 480 tiny sessions the carts, the default label, are too few to be sure of
    the sign of every weight)."""
    service, manifest = tiny_engine.service()
    model = train_personal_model(service, log, ranker_name=manifest.default_ranker, label="click")
    twin = SearchService(
        keyword=service.keyword,
        vectors=service.vectors,
        encoder=service.encoder,
        analyzer=service.analyzer,
        documents=list(service.documents.values()),
        ranker=service.ranker,
        recall_k=service.recall_k,
        dense_min_score=service.dense_min_score,
        graph=service.graph,
        personal=model,
    )
    return twin, model


def profiles_of(log: list[Event], documents: Mapping[str, ProductDocument]) -> dict[str, Any]:
    by_user: dict[str, list[Event]] = defaultdict(list)
    for e in log:
        by_user[e.user_id].append(e)
    return {u: build_profile(u, items, documents) for u, items in by_user.items()}


QUERIES = ("velvet sofa", "brass lamp", "area rug", "dining table", "bed")


def test_without_a_user_the_ranking_is_exactly_todays(
    tiny_engine: Engine, personal: tuple[SearchService, PersonalModel], log: list[Event]
) -> None:
    today, _ = tiny_engine.service()
    twin, _ = personal
    some_user = next(iter(profiles_of(log, twin.documents).values()))
    assert not some_user.empty
    for query in QUERIES:
        before = today.search(query, k=20)
        candidates = today.candidates(query)
        scores = today.ranker.score(candidates)
        order = [candidates.product_ids[i] for i in tie_order(candidates, scores)[:20]]
        for result in (
            twin.search(query, k=20, explain=True),
            twin.search(query, k=20, profile=None, explain=True),
            twin.search(query, k=20, profile=ShopperProfile.blank("nobody"), explain=True),
        ):
            assert [h.product_id for h in result.hits] == [h.product_id for h in before.hits]
            assert [h.score for h in result.hits] == [h.score for h in before.hits]
            assert [h.product_id for h in result.hits] == order
            assert not result.personalised
            assert not any(k.startswith("personal_") for k in result.hits[0].contributions)
        assert twin.search(query, profile=some_user).personalised
    blank = twin.search("sofa", profile=ShopperProfile.blank("nobody"))
    assert any("not personalised" in n for n in blank.notes)


def test_the_trained_model_rewards_the_shoppers_favourite_brands(
    personal: tuple[SearchService, PersonalModel],
) -> None:
    _, model = personal
    assert model.weights["personal_brand"] > 0.0
    assert model.meta["positives"] > 100 and model.meta["base_coefficient"] > 0
    assert model.meta["label"] == "click"


def test_the_personal_part_is_its_own_contribution_and_the_parts_sum_to_the_score(
    personal: tuple[SearchService, PersonalModel],
) -> None:
    twin, model = personal
    base = twin.search("sofa", k=10)
    brand = base.hits[-1].brand  # a brand the base ranking puts low
    assert brand is not None
    fan = ShopperProfile(
        user_id="fan",
        brands={brand: 1.0},
        categories={},
        attributes={},
        price_center=None,
        price_spread=None,
        recent=(),
        seen=frozenset(),
        bought=frozenset(),
        events=3,
        updated=1.0,
    )
    mine = twin.search("sofa", k=10, profile=fan, explain=True)
    assert mine.personalised
    for hit in mine.hits:
        parts = hit.contributions
        assert set(model.weights) <= set(parts)
        assert sum(parts.values()) == pytest.approx(hit.score, abs=1e-6)
        expected = model.weights["personal_brand"] if hit.brand == brand else 0.0
        assert parts["personal_brand"] == pytest.approx(expected)
        assert hit.signals["personal_brand"] == (1.0 if hit.brand == brand else 0.0)
    rank = {h.product_id: h.rank for h in mine.hits}
    moved = base.hits[-1].product_id
    assert rank.get(moved, 99) < base.hits[-1].rank  # the fan's brand moved up


def test_a_ranker_other_than_the_trained_one_is_not_personalised(
    tiny_engine: Engine, personal: tuple[SearchService, PersonalModel], log: list[Event]
) -> None:
    twin, _ = personal
    profile = next(iter(profiles_of(log, twin.documents).values()))
    result = twin.search("sofa", profile=profile, ranker=tiny_engine.make_ranker("rrf"))
    assert not result.personalised
    assert any("trained over the default ranker" in n for n in result.notes)


def test_page_ranker_ranks_as_the_service_does(
    personal: tuple[SearchService, PersonalModel], log: list[Event]
) -> None:
    twin, model = personal
    pages = PageRanker(twin, model)
    profiles = profiles_of(log, twin.documents)
    for user in list(profiles)[:3]:
        for query in QUERIES[:3]:
            served = [h.product_id for h in twin.search(query, profile=profiles[user]).hits]
            assert pages.ranked(query, profiles[user]) == served


def test_profiles_for_training_use_only_earlier_events(log: list[Event]) -> None:
    from ingest.personal_training import profiles_before

    sessions = search_sessions(log)
    docs = {e.product_id: _doc(e.product_id, "B", ("C",), {}, None) for e in log}
    profiles = profiles_before(sessions, log, docs)
    first: dict[str, LoggedSession] = {}
    for s in sessions:
        first.setdefault(s.user_id, s)
        assert profiles[s.session_id].updated < s.start or profiles[s.session_id].empty
    assert all(profiles[s.session_id].empty for s in first.values())


def test_brand_cap_limits_each_brand_on_the_page(tiny_engine: Engine) -> None:
    service, _ = tiny_engine.service()
    plain = Counter(h.brand for h in service.search("bed", k=20).hits if h.brand)
    assert max(plain.values()) > 2  # without the cap one brand has more than 2 places
    capped = service.search("bed", k=20, brand_cap=2)
    assert len(capped.hits) == 20
    assert max(Counter(h.brand for h in capped.hits if h.brand).values()) <= 2


def test_personalised_ranking_keeps_brand_exposure_within_the_margin(
    tiny_engine: Engine, products: dict[str, ProductRecord]
) -> None:
    """The demo's shoppers (the simulator's default preference strength), a personal model
    trained on their log, then new sessions of the same shoppers, half personalised."""
    service, manifest = tiny_engine.service()
    queries = [q for q in tiny_engine.judged() if q.grades]
    pages = PageRanker(service, None)
    history = simulate_history(
        pages,
        queries=queries,
        products=products,
        config=SimulatorConfig(users=60, sessions_per_user=15, shuffle_fraction=0.2, seed=SEED),
    )
    pages.model = train_personal_model(service, history, ranker_name=manifest.default_ranker)
    profiles = profiles_of(history, service.documents)
    ab = SimulatorConfig(users=60, sessions_per_user=15, seed=SEED, start_ts=2e9)
    brands = {p: d.brand for p, d in service.documents.items()}

    def gini_of(pages: PageRanker) -> dict[str, float]:
        events = simulate_personal_ab(
            pages,
            queries=queries,
            products=products,
            profiles=profiles,
            assign=assigner(experiment="personal", variants={"control": 0.5, "personal": 0.5}),
            config=ab,
        )
        return {v.variant: v.gini for v in exposure_report(events, brands).variants}

    gini = gini_of(pages)
    assert set(gini) == {"control", "personal"}
    assert gini["personal"] - gini["control"] <= FAIRNESS_MARGIN
    capped = PageRanker(service, pages.model, brand_cap=1)
    capped.cache.update(pages.cache)
    assert gini_of(capped)["personal"] < gini["personal"]  # the cap spreads exposure


def test_a_version_serves_the_personal_model_saved_in_it(
    tiny_engine: Engine, log: list[Event], tmp_path: Path
) -> None:
    from ingest.serving import PERSONAL_DIR, load_personal

    service, manifest = tiny_engine.service()
    ranker = manifest.default_ranker
    model = train_personal_model(service, log, ranker_name=ranker, save_to=tmp_path)
    assert (tmp_path / PERSONAL_DIR / "model.json").exists()
    loaded = load_personal(tmp_path, ranker)
    assert loaded is not None and loaded.weights == model.weights
    assert load_personal(tmp_path, "rrf") is None  # trained over another ranker
    saved = tmp_path / PERSONAL_DIR / "model.json"
    saved.write_text(saved.read_text().replace("personal_bought", "bought"))
    assert load_personal(tmp_path, ranker) is None  # another schema: not served, not fatal
