"""The shop's recommendations on the tiny catalogue with a simulated behaviour log: the
service (contributions, exclusions, cold start, diversity), the API and the CLI."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from app.api import create_app
from app.cli import app
from app.demo import simulate_behaviour
from app.engine import Engine
from ingest.events import read_events
from recommend.diversity import Diversity, diversify
from recommend.interactions import shop_behaviour, split_by_time
from recommend.service import RecommendationService, UnknownProduct
from search.filters import Filters

runner = CliRunner()


@pytest.fixture(scope="module")
def shop(tiny_engine: Engine) -> Engine:
    """The tiny engine with a seeded behaviour log (60 shoppers, 8 sessions each).

    A test that ran earlier may have fitted the recommendations on the log as it was
    before the seeding (a serving warm-up does); the engine would refit them in the
    background. They are refitted here, in this thread, so every test below sees the
    seeded log whatever ran first."""
    simulate_behaviour(tiny_engine, seed=3, users=60)
    background = tiny_engine.refit_in_background
    tiny_engine.refit_in_background = False
    try:
        tiny_engine.recommendations()
    finally:
        tiny_engine.refit_in_background = background
    return tiny_engine


@pytest.fixture(scope="module")
def recs(shop: Engine) -> RecommendationService:
    return shop.recommendations()


def a_buyer(recs: RecommendationService) -> str:
    purchased = recs.behaviour.purchased
    counts = np.diff(purchased.indptr)
    return recs.behaviour.interactions.users[int(np.argmax(counts))]


def a_cold_product(recs: RecommendationService) -> str:
    cold = [p for i, p in enumerate(recs.space.items) if recs.behaviour.is_cold(i)]
    assert cold, "the tiny log should leave some products untouched"
    return cold[0]


def a_warm_product(recs: RecommendationService) -> str:
    return recs.space.items[int(np.argmax(recs.behaviour.engaged))]


# -- interactions ------------------------------------------------------------------------


def test_interactions_cover_the_catalogue_and_weigh_events(shop: Engine) -> None:
    events = read_events(shop.events_path).records
    items = tuple(sorted(shop.service()[0].documents))
    behaviour = shop_behaviour(events, items, half_life_days=None)
    assert behaviour.interactions.items == items  # cold products are empty columns
    assert behaviour.counts["dropped"] == 0
    user = events[0].user_id
    mine = [e for e in events if e.user_id == user]
    expected = sum({"click": 1, "add_to_cart": 3, "purchase": 5}.get(e.type, 0) for e in mine)
    row = behaviour.interactions.user_index[user]
    assert behaviour.interactions.matrix[row].sum() == pytest.approx(expected)


def test_events_of_unknown_products_are_dropped_and_counted(shop: Engine) -> None:
    events = read_events(shop.events_path).records
    clicks = [e for e in events if e.type == "click"][:5]
    behaviour = shop_behaviour(clicks, ("P-not-there",))
    assert behaviour.counts["dropped"] == 5
    assert behaviour.interactions.matrix.nnz == 0


def test_time_split_keeps_order(shop: Engine) -> None:
    events = list(read_events(shop.events_path).records)
    train, test = split_by_time(events, test_fraction=0.2)
    assert len(train) + len(test) == len(events)
    assert max(e.ts for e in train) < min(e.ts for e in test)
    # the demo spreads sessions over a month: shoppers appear on both sides
    assert {e.user_id for e in train} & {e.user_id for e in test}


# -- the service -------------------------------------------------------------------------


def test_contributions_sum_to_the_score(recs: RecommendationService) -> None:
    results = [
        recs.similar(a_warm_product(recs), k=10),
        recs.for_user(a_buyer(recs), k=10),
        recs.for_user("U-nobody", k=10, context=a_warm_product(recs)),
    ]
    for result in results:
        assert result.items
        for item in result.items:
            assert sum(item.contributions.values()) == pytest.approx(item.score, abs=1e-9)
            assert set(item.contributions) == set(item.signals) == set(item.sources)
            assert item.reason
        scores = [i.score for i in result.items]
        assert scores == sorted(scores, reverse=True)


def test_similar_never_returns_the_product_or_excluded_ones(recs: RecommendationService) -> None:
    pid = a_warm_product(recs)
    first = recs.similar(pid, k=10)
    ids = [i.product_id for i in first.items]
    assert pid not in ids
    again = recs.similar(pid, k=10, exclude=ids[:3])
    assert not set(ids[:3]) & {i.product_id for i in again.items}


def test_similar_honours_filters(recs: RecommendationService) -> None:
    pid = a_warm_product(recs)
    brand = recs.space.documents[pid].brand
    assert brand
    result = recs.similar(pid, k=5, filters=Filters(brand=frozenset({brand})))
    assert result.items
    assert {i.brand for i in result.items} == {brand}


def test_purchased_items_are_excluded_unless_asked(recs: RecommendationService) -> None:
    user = a_buyer(recs)
    bought = {recs.space.items[i] for i in recs.behaviour.bought(user)}
    assert bought
    shown = {i.product_id for i in recs.for_user(user, k=100).items}
    assert not shown & bought
    shown = {i.product_id for i in recs.for_user(user, k=100, include_purchased=True).items}
    assert shown & bought


def test_cold_product_gets_neighbours_from_graph_and_text(recs: RecommendationService) -> None:
    pid = a_cold_product(recs)
    result = recs.similar(pid, k=5)
    assert result.cold_start
    assert result.cold_start_reason and "no interactions" in result.cold_start_reason
    assert len(result.items) == 5
    sources = {s for i in result.items for s in i.sources}
    assert sources & {"graph", "content"}
    assert "collaborative" not in sources  # the model has no opinion on a cold item
    assert any(i.paths for i in result.items)  # typed graph paths back to the product


def test_unknown_user_is_a_cold_start_with_a_reason(recs: RecommendationService) -> None:
    page = a_warm_product(recs)
    result = recs.for_user("U0042-never-seen", k=5, context=page)
    assert result.cold_start
    category = recs.space.documents[page].category_path[-1]
    assert result.cold_start_reason and category in result.cold_start_reason
    assert page not in {i.product_id for i in result.items}
    no_page = recs.for_user("U0042-never-seen", k=5)
    assert no_page.cold_start and "trending" in (no_page.cold_start_reason or "")
    assert len(no_page.items) == 5


def test_known_user_is_not_cold(recs: RecommendationService) -> None:
    result = recs.for_user(a_buyer(recs), k=5)
    assert not result.cold_start and result.cold_start_reason is None


def test_unknown_product_raises(recs: RecommendationService) -> None:
    with pytest.raises(UnknownProduct):
        recs.similar("P999999")
    with pytest.raises(UnknownProduct) as caught:
        recs.for_user("u00001", context="P999999")
    assert caught.value.field == "context"


@pytest.mark.parametrize("k", [0, 101])
def test_k_out_of_range_is_refused(recs: RecommendationService, k: int) -> None:
    with pytest.raises(ValueError, match="k must be"):
        recs.similar(a_warm_product(recs), k=k)


def test_brand_cap_is_honoured(recs: RecommendationService) -> None:
    user = a_buyer(recs)
    for result in (
        recs.for_user(user, k=20, diversity=Diversity(brand_cap=1)),
        recs.similar(a_warm_product(recs), k=20, diversity=Diversity(brand_cap=2, mmr=0.5)),
    ):
        brands = [i.brand for i in result.items if i.brand]
        cap = result.diversity.brand_cap
        assert brands and max(brands.count(b) for b in set(brands)) <= (cap or 0)


def test_mmr_reorders_towards_dissimilar_items() -> None:
    ranked = [(0, 1.0), (1, 0.99), (2, 0.5)]
    sims = np.array([[1.0, 0.99, 0.0], [0.99, 1.0, 0.0], [0.0, 0.0, 1.0]])
    plain = diversify(ranked, 2, Diversity(), brand_of=lambda _: None)
    mmr = diversify(
        ranked, 2, Diversity(mmr=0.5), brand_of=lambda _: None, similarity=lambda _: sims
    )
    assert plain == [0, 1] and mmr == [0, 2]


@pytest.mark.parametrize(("cap", "mmr"), [(0, None), (None, 1.5), (None, float("nan"))])
def test_bad_diversity_is_refused(cap: Any, mmr: Any) -> None:
    with pytest.raises(ValueError):
        Diversity(brand_cap=cap, mmr=mmr)


def test_reasons_quote_behaviour_and_graph(recs: RecommendationService) -> None:
    reasons = [i.reason for i in recs.similar(a_warm_product(recs), k=20).items]
    assert any("together" in r or "shopper" in r for r in reasons)
    assert any("same brand" in r or "both " in r for r in reasons)


# -- API -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def client(shop: Engine) -> Iterator[TestClient]:
    with TestClient(create_app(shop)) as c:
        yield c


def test_api_similar(client: TestClient, recs: RecommendationService) -> None:
    pid = a_warm_product(recs)
    response = client.get(f"/recommendations/similar/{pid}", params={"k": 4})
    assert response.status_code == 200
    body = response.json()
    assert body["kind"] == "similar" and body["subject"] == pid and len(body["items"]) == 4
    item = body["items"][0]
    assert {"sources", "contributions", "reason", "score", "paths"} <= set(item)
    assert sum(item["contributions"].values()) == pytest.approx(item["score"], abs=1e-9)


def test_api_user_cold_start_and_options(client: TestClient, recs: RecommendationService) -> None:
    page = a_warm_product(recs)
    response = client.get(
        "/recommendations/users/U0042",
        params={"k": 5, "context": page, "brand_cap": 1, "include_purchased": "true"},
    )
    assert response.status_code == 200
    body = response.json()
    assert body["cold_start"] is True and body["cold_start_reason"]
    assert body["brand_cap"] == 1
    response = client.get(f"/recommendations/users/{a_buyer(recs)}", params={"mmr": 0.7})
    assert response.status_code == 200 and response.json()["cold_start"] is False


@pytest.mark.parametrize(
    ("url", "status", "code", "field"),
    [
        ("/recommendations/similar/P999999", 404, "unknown_product", "product_id"),
        ("/recommendations/users/u00001?context=P999999", 404, "unknown_product", "context"),
        ("/recommendations/similar/{pid}?k=0", 422, "invalid_parameter", "k"),
        ("/recommendations/similar/{pid}?k=101", 422, "invalid_parameter", "k"),
        ("/recommendations/users/U1?k=500", 422, "invalid_parameter", "k"),
        ("/recommendations/similar/bad%20id!", 422, "invalid_parameter", "product_id"),
        ("/recommendations/users/bad%20user!", 422, "invalid_parameter", "user_id"),
        ("/recommendations/users/U1?context=no%20way", 422, "invalid_parameter", "context"),
        (
            "/recommendations/similar/{pid}?filter=colour_of_mood:blue",
            400,
            "unknown_filter",
            "filter",
        ),
        ("/recommendations/similar/{pid}?filter=nocolon", 400, "invalid_parameter", "filter"),
        ("/recommendations/similar/{pid}?exclude=a%20b", 400, "invalid_parameter", "exclude"),
        ("/recommendations/similar/{pid}?colour=blue", 400, "invalid_parameter", "colour"),
        ("/recommendations/users/U1?mmr=2", 422, "invalid_parameter", "mmr"),
        ("/recommendations/users/U1?brand_cap=0", 422, "invalid_parameter", "brand_cap"),
    ],
)
def test_api_bad_input(
    client: TestClient,
    recs: RecommendationService,
    url: str,
    status: int,
    code: str,
    field: str,
) -> None:
    response = client.get(url.format(pid=a_warm_product(recs)))
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code and error["field"] == field and error["message"]


# -- CLI -----------------------------------------------------------------------------------


def run(engine: Engine, *args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["--home", str(engine.home), "--quiet", *args])
    return result.exit_code, result.stdout, result.stderr


def test_cli_similar_and_user(shop: Engine, recs: RecommendationService) -> None:
    pid = a_warm_product(recs)
    code, out, _ = run(shop, "recommend", "similar", pid, "--k", "3", "--json")
    assert code == 0
    body = json.loads(out)
    assert body["subject"] == pid and len(body["items"]) == 3
    code, out, _ = run(shop, "recommend", "user", "U0042", "--context", pid, "--json")
    assert code == 0 and json.loads(out)["cold_start"] is True
    code, out, _ = run(shop, "recommend", "user", a_buyer(recs), "--brand-cap", "2")
    assert code == 0 and "for_you" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["recommend", "similar", "P999999"], "P999999"),
        (["recommend", "similar", "{pid}", "--k", "0"], "k must be"),
        (["recommend", "similar", "{pid}", "--filter", "mood:calm"], "unknown filter"),
        (["recommend", "user", "U1", "--context", "P999999"], "P999999"),
        (["recommend", "user", "U1", "--mmr", "3"], "mmr"),
    ],
)
def test_cli_bad_input_exits_2(
    shop: Engine, recs: RecommendationService, args: list[str], message: str
) -> None:
    pid = a_warm_product(recs)
    code, _, err = run(shop, *[a.format(pid=pid) for a in args])
    assert code == 2
    assert message in err


def test_an_empty_log_still_recommends(shop: Engine) -> None:
    from recommend.live import from_search

    search, _ = shop.service()
    recs = from_search(search, shop.graph, [])
    pid = recs.space.items[0]
    similar = recs.similar(pid, k=5)
    assert similar.cold_start and len(similar.items) == 5
    assert recs.for_user("u00001", k=5, context=pid).cold_start


def test_neighbour_tables_are_saved_beside_the_live_version(
    shop: Engine, recs: RecommendationService
) -> None:
    """The tables go with the live version, one row per product, for the next process to
    map (loading them is tested in test_neighbours.py)."""
    _, manifest = shop.service()
    saved = sorted((shop.versions.dir / manifest.version / "recs-tables").glob("*.ids.npy"))
    assert saved, "no neighbour table was saved with the live version"
    for ids_file in saved:
        ids = np.load(ids_file, mmap_mode="r")
        scores = np.load(ids_file.with_name(ids_file.name.replace(".ids.", ".scores.")))
        assert ids.shape == scores.shape and ids.shape[0] <= len(recs.space)
        assert ids.dtype == np.int32 and int(ids.max()) < len(recs.space)
