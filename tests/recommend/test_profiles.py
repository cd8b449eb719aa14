"""Live shopper profiles: from the event store to profiles and the graph's user edges."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import SMALL_PRODUCTS

from catalogue.ops import CatalogOps
from ingest.event_store import SQLiteEventStore
from ingest.events import ShopEvent
from kg.documents import ProductDocument, product_documents
from kg.schema import attribute_id, brand_id, category_id, product_id
from kg.sqlite_store import SQLiteGraphStore
from recommend.profiles import ProfileService

T0 = 1_750_000_000.0
SOFAS = ("Furniture", "Living Room", "Sofas")


@pytest.fixture
def graph(tmp_path: Path) -> Iterator[SQLiteGraphStore]:
    store = SQLiteGraphStore(path=tmp_path / "graph.sqlite")
    CatalogOps(store=store).imports.run(SMALL_PRODUCTS, actor="seed")
    yield store
    store.close()


@pytest.fixture
def documents(graph: SQLiteGraphStore) -> dict[str, ProductDocument]:
    return {d.product_id: d for d in product_documents(graph)}


@pytest.fixture
def events(tmp_path: Path) -> Iterator[SQLiteEventStore]:
    store = SQLiteEventStore(path=tmp_path / "events.sqlite")
    yield store
    store.close()


@pytest.fixture
def service(
    events: SQLiteEventStore, documents: dict[str, ProductDocument], graph: SQLiteGraphStore
) -> ProfileService:
    return ProfileService(events=events, documents=documents, graph=graph)


def ev(type: str, product: str, ts: float, **who: Any) -> ShopEvent:
    who = who or {"user_id": "U1", "session_id": "S1"}
    return ShopEvent(type=type, product_id=product, ts=ts, **who)  # type: ignore[arg-type]


def test_a_velvet_oakhaven_sofa_purchase_reaches_the_profile_and_the_graph(
    service: ProfileService, events: SQLiteEventStore, graph: SQLiteGraphStore
) -> None:
    revision = graph.revision
    events.append([ev("click", "L1", T0), ev("purchase", "S1", T0 + 60)])
    assert service.refresh() == {"U1"}
    profile = service.profile("U1")
    assert profile.brands["Oakhaven"] == 1.0
    # every level of the path: Furniture holds both products, Sofas the purchase (5 of 6)
    assert profile.categories["Furniture"] == 1.0
    assert profile.categories["Sofas"] == pytest.approx(5 / 6, rel=1e-4)
    assert profile.attributes[attribute_id("material", "velvet")] == 1.0
    assert profile.bought == {"S1"} and profile.recent == ("S1", "L1")
    edges = graph.user_profile("U1")
    assert edges[brand_id("Oakhaven")] == 1.0
    assert edges[category_id(SOFAS)] == pytest.approx(5 / 6, rel=1e-4)
    assert edges[attribute_id("material", "velvet")] == 1.0
    assert edges[product_id("S1")] == 1.0
    assert 0 < edges[brand_id("Marlow & Finch")] < 1.0
    assert graph.revision == revision  # a profile is not a catalogue edit
    assert "often buys Oakhaven (1.00)" in service.describe("U1")


def test_only_new_events_are_read_and_only_their_shoppers_rebuilt(
    service: ProfileService, events: SQLiteEventStore, graph: SQLiteGraphStore
) -> None:
    events.append([ev("click", "S1", T0), ev("click", "B1", T0, user_id="U2")])
    assert service.refresh() == {"U1", "U2"}
    assert service.refresh() == set()  # nothing new: nothing rebuilt
    u2 = service.profile("U2")
    events.append([ev("purchase", "T1", T0 + 10)])
    assert service.refresh() == {"U1"}
    assert service.seq == events.revision()
    assert service.profile("U2") is u2
    assert service.profile("U1").brands == pytest.approx(
        {"Marlow & Finch": 1.0, "Oakhaven": 0.2}, rel=1e-4
    )
    assert graph.user_profile("U1")[brand_id("Marlow & Finch")] == 1.0


def test_a_fresh_service_rebuilds_every_profile_from_the_store(
    events: SQLiteEventStore, documents: dict[str, ProductDocument], graph: SQLiteGraphStore
) -> None:
    events.append([ev("view", "C1", T0), ev("click", "B2", T0, user_id="U2")])
    events.append([ev("add_to_cart", "B2", T0 + 5, user_id="U2")])
    fresh = ProfileService(events=events, documents=documents, graph=graph, page=1)
    assert fresh.refresh() == {"U1", "U2"}  # paged one event at a time
    assert fresh.profile("U2").events == 2
    assert graph.users() == ["U1", "U2"]


def test_unknown_shoppers_impressions_and_unknown_products(
    service: ProfileService, events: SQLiteEventStore, graph: SQLiteGraphStore
) -> None:
    assert service.profile("nobody").empty
    with pytest.raises(ValueError, match="user id"):
        service.profile("has space")
    events.append([ev("impression", "S1", T0), ev("click", "GONE", T0)])
    service.refresh()
    assert service.profile("U1").empty
    assert graph.users() == []  # nothing to write for a profile without evidence


def test_sessions_and_the_live_history_after_a_fit(
    service: ProfileService, events: SQLiteEventStore
) -> None:
    events.append(
        [
            ev("view", "S1", T0, session_id="anon"),
            ev("click", "C1", T0 + 1, session_id="anon"),
            ev("impression", "T1", T0 + 2, session_id="anon"),
            ev("view", "S1", T0 + 3, session_id="anon"),
        ]
    )
    assert service.session_items("anon") == [("S1", 1.0), ("C1", 1.0)]
    assert service.session_items("other") == []
    fitted = events.revision()
    assert service.live_history("U1", after=fitted).items == ()
    events.append([ev("add_to_cart", "T2", T0 + 9), ev("purchase", "T2", T0 + 10)])
    live = service.live_history("U1", after=fitted)
    assert live.items == (("T2", 8.0),) and live.bought == {"T2"}


def test_beliefs_come_with_the_events_behind_them(
    service: ProfileService, events: SQLiteEventStore
) -> None:
    events.append([ev("view", "C1", T0), ev("purchase", "S1", T0 + 60), ev("click", "L1", T0 + 90)])
    beliefs = {b.text: b for b in service.beliefs("U1", evidence=1)}
    oakhaven = beliefs["often buys Oakhaven (1.00)"]
    assert oakhaven.total_events == 2
    assert [(e.type, e.product_id) for e in oakhaven.events] == [("purchase", "S1")]
    velvet = next(b for b in beliefs.values() if b.kind == "attribute" and b.label == "velvet")
    assert {e.product_id for e in velvet.events} <= {"S1", "C1"}
    price = next(b for b in beliefs.values() if b.kind == "price")
    assert price.total_events == 3
    assert service.beliefs("nobody") == []


def test_forget_erases_the_cache_and_the_graph(
    service: ProfileService, events: SQLiteEventStore, graph: SQLiteGraphStore
) -> None:
    events.append([ev("click", "S1", T0), ev("click", "S2", T0, user_id="U2")])
    service.refresh()
    assert service.cached("U1") and graph.user_profile("U1")
    events.erase_user("U1")
    assert service.forget("U1") is True
    assert not service.cached("U1") and graph.user_profile("U1") == {}
    assert graph.users() == ["U2"]
    assert service.profile("U1").empty
    assert service.forget("U1") is False


def test_an_erasure_by_someone_else_is_noticed_at_the_next_refresh(
    events: SQLiteEventStore, documents: dict[str, ProductDocument], graph: SQLiteGraphStore
) -> None:
    erased: list[str] = []
    service = ProfileService(
        events=events, documents=documents, graph=graph, on_erased=erased.append
    )
    events.append([ev("click", "S1", T0, user_id=u) for u in ("U1", "U2", "U3")])
    service.refresh()
    events.erase_user("U1")  # another process: the service is not told
    assert service.refresh() == set()
    assert erased == ["U1"] and not service.cached("U1") and graph.users() == ["U2", "U3"]
    assert service.refresh() == set() and erased == ["U1"]  # checked once per revision
    events.erase_user("U2")
    events.append([ev("view", "C1", T0 + 1, user_id="U3")])  # the revision catches up...
    assert service.refresh() == {"U3"}
    assert erased == ["U1", "U2"] and graph.users() == ["U3"]  # ...but the gap shows
