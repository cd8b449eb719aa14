"""Live profiles through the app: an event changes the next "for you" response, session
recommendations, the profile in words, and erasure leaving nothing of the shopper behind."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import SMALL_PRODUCTS
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from app.api import create_app
from app.auth import KeyStore, Role
from app.cli import app as cli
from app.engine import Engine
from app.settings import Settings
from ingest.events import ShopEvent
from ingest.formats import write_products
from kg.schema import brand_id
from search.encoder import MiniLMEncoder

ADMIN = "test-bootstrap-admin-key-0123456789"
NOW = time.time()


def shop(type: str, product: str, user: str | None, session: str, ago_s: float) -> ShopEvent:
    return ShopEvent(
        type=type,  # type: ignore[arg-type]
        user_id=user,
        session_id=session,
        product_id=product,
        ts=NOW - ago_s,
    )


#: Fitted history: shoppers who view a sofa also view the accent chairs, and so on.
HISTORY = [
    shop(t, p, f"U{u}", f"S{u}-{s}", 3_600.0 * (10 - s))
    for u in range(1, 7)
    for s, basket in enumerate((["S1", "C1", "S2"], ["B1", "N1", "L1"], ["T1", "T2"]))
    for p in basket
    for t in ("view", "click")
]


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory, encoder: MiniLMEncoder) -> Iterator[Engine]:
    home = tmp_path_factory.mktemp("users-home")
    write_products(home / "small.csv", SMALL_PRODUCTS)
    engine = Engine(Settings(home=home, admin_api_key=ADMIN), encoder=encoder)
    engine.import_catalogue(home / "small.csv")
    engine.reindex()
    engine.refit_in_background = False  # deterministic: refits happen in the request
    engine.record_events(HISTORY)
    yield engine
    engine.close()


@pytest.fixture(scope="module")
def client(engine: Engine) -> Iterator[TestClient]:
    """The shop's backend: every request carries a ``storefront`` key."""
    key = KeyStore(path=engine.home / "api_keys.json").create(
        user="shop", role=Role.STOREFRONT, created_by="test"
    )
    with TestClient(create_app(engine), headers={"X-API-Key": key.key}) as c:
        yield c


@pytest.fixture(scope="module")
def anonymous(engine: Engine) -> Iterator[TestClient]:
    with TestClient(create_app(engine)) as c:
        yield c


def for_you(client: TestClient, user: str) -> dict[str, Any]:
    response = client.get(f"/recommendations/users/{user}", params={"k": 5})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def post(client: TestClient, *events: ShopEvent) -> None:
    body = {"events": [e.model_dump(mode="json", exclude_none=True) for e in events]}
    response = client.post("/events", json=body)
    assert response.status_code == 200, response.text


def test_an_event_changes_the_next_for_you_response(client: TestClient, engine: Engine) -> None:
    cold = for_you(client, "U0900")
    assert cold["cold_start"] is True
    fitted_seq = engine._recs.seq if engine._recs else -1  # the models are not refitted per event
    post(client, shop("click", "B2", "U0900", "S900", 5.0))
    warm = for_you(client, "U0900")
    assert warm["cold_start"] is False
    assert [i["product_id"] for i in warm["items"]] != [i["product_id"] for i in cold["items"]]
    assert engine._recs is not None and engine._recs.seq == fitted_seq

    before = for_you(client, "U1")
    assert before["cold_start"] is False
    shown = before["items"][0]["product_id"]
    post(client, shop("purchase", shown, "U1", "S1-live", 1.0))
    after = for_you(client, "U1")
    assert shown not in [i["product_id"] for i in after["items"]]  # bought: left out


def test_session_recommendations_for_an_anonymous_shopper(client: TestClient) -> None:
    empty = client.get("/recommendations/sessions/anon-empty", params={"k": 3}).json()
    assert empty["cold_start"] is True and empty["kind"] == "session"
    assert "anon-empty" in empty["cold_start_reason"]
    post(client, shop("view", "S1", None, "anon-7", 30.0), shop("click", "B1", None, "anon-7", 20))
    body = client.get("/recommendations/sessions/anon-7", params={"k": 5}).json()
    assert body["cold_start"] is False and body["subject"] == "anon-7"
    ids = [i["product_id"] for i in body["items"]]
    assert ids and not {"S1", "B1"} & set(ids)  # never what the session already saw
    assert {"C1", "S2", "N1", "L1"} & set(ids)  # co-viewed with them in the history
    assert set(body["weights"]) <= {"cooccurrence", "content", "graph", "kge"}
    bad = client.get("/recommendations/sessions/has space")
    assert bad.status_code == 422


def test_the_profile_in_words_with_the_events_behind_it(client: TestClient) -> None:
    post(
        client,
        shop("view", "C1", "U0042", "S42", 300.0),
        shop("add_to_cart", "S1", "U0042", "S42", 200.0),
        shop("purchase", "S1", "U0042", "S42", 100.0),
    )
    body = client.get("/users/U0042/profile", params={"evidence": 2}).json()
    assert body["empty"] is False and body["events"] == 3
    assert "often buys Oakhaven (1.00)" in body["summary"]
    oakhaven = next(b for b in body["beliefs"] if b["kind"] == "brand")
    assert oakhaven["label"] == "Oakhaven" and oakhaven["total_events"] == 3
    assert [e["type"] for e in oakhaven["events"]] == ["purchase", "add_to_cart"]
    assert any(b["label"] == "velvet" for b in body["beliefs"])
    assert body["graph_edges"][brand_id("Oakhaven")] == 1.0
    assert body["bought"] == ["S1"] and body["recent"][0] == "S1"

    unknown = client.get("/users/U0404/profile").json()
    assert unknown["empty"] is True and unknown["beliefs"] == [] and unknown["graph_edges"] == {}
    assert client.get("/users/has%20space/profile").status_code == 422


def test_a_shoppers_data_needs_a_storefront_or_editor_key(
    client: TestClient, anonymous: TestClient, engine: Engine
) -> None:
    assert anonymous.delete("/users/U2").status_code == 401
    assert anonymous.get("/users/U2/profile").status_code == 401
    assert anonymous.post("/events", json={"events": []}).status_code == 401
    viewer = KeyStore(path=engine.home / "api_keys.json").create(
        user="v", role=Role.VIEWER, created_by="test"
    )
    assert client.delete("/users/U2", headers={"X-API-Key": viewer.key}).status_code == 403
    response = client.delete("/users/-bad-", headers={"X-API-Key": ADMIN})
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_parameter"
    assert engine.events.read(user_id="U2")  # nothing was erased


def test_erasure_leaves_nothing_of_the_shopper_and_the_next_answer_is_cold(
    client: TestClient, engine: Engine
) -> None:
    user = "U3"
    (engine.home / "events.jsonl").write_text(
        "".join(
            json.dumps({"user_id": u, "type": "click", "product_id": "S1"}) + "\n"
            for u in (user, "U4")
        )
    )
    assert for_you(client, user)["cold_start"] is False
    client.get(f"/users/{user}/profile")
    recs = engine.recommendations()
    assert user in recs.behaviour.interactions.user_index
    assert engine.graph.user_profile(user) and engine.profiles().cached(user)

    response = client.delete(f"/users/{user}", headers={"X-API-Key": ADMIN})
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["erased"] is True and report["events"] == 16 and report["log_lines"] == 1
    assert report["profile"] is True and report["recommendation_row"] is True

    # nothing left: event store, log file, graph, profile cache, served models
    assert engine.events.read(user_id=user) == []
    assert all(
        e.session_id is None or not e.session_id.startswith("S3-") for e in engine.events.read()
    )
    assert user not in (engine.home / "events.jsonl").read_text()
    assert engine.graph.user_profile(user) == {} and user not in engine.graph.users()
    assert not engine.profiles().cached(user)
    assert user not in recs.behaviour.interactions.user_index
    assert user not in recs.behaviour.interactions.users

    after = for_you(client, user)  # refits (forced by the erasure) and answers cold
    assert after["cold_start"] is True
    refitted = engine.recommendations()
    assert refitted is not recs
    assert user not in refitted.behaviour.interactions.user_index
    assert client.get(f"/users/{user}/profile").json()["empty"] is True
    again = client.delete(f"/users/{user}", headers={"X-API-Key": ADMIN}).json()
    assert again["erased"] is False


def test_cli_users_and_session(engine: Engine, client: TestClient) -> None:
    runner = CliRunner()
    home = ["--home", str(engine.home)]
    shown = runner.invoke(cli, [*home, "users", "show", "U0042", "--json"])
    assert shown.exit_code == 0, shown.output
    assert "often buys Oakhaven (1.00)" in json.loads(shown.stdout)["summary"]
    refused = runner.invoke(cli, [*home, "users", "erase", "U5"])
    assert refused.exit_code == 2 and "--yes" in refused.output
    bad = runner.invoke(cli, [*home, "users", "show", "has space"])
    assert bad.exit_code == 2 and "allowed form" in bad.output
    session = runner.invoke(cli, [*home, "recommend", "session", "anon-7", "--json"])
    assert session.exit_code == 0, session.output
    assert json.loads(session.stdout)["kind"] == "session"
    assert engine.profiles().cached("U5")
    erased = runner.invoke(cli, [*home, "users", "erase", "U5", "--yes"])
    assert erased.exit_code == 0, erased.output
    assert json.loads(erased.stdout)["events"] == 16
    assert engine.events.read(user_id="U5") == []
    assert engine.graph.user_profile("U5") == {}
    # the server (another engine in effect) notices at its next request: cold, nothing held
    assert for_you(client, "U5")["cold_start"] is True
    assert not engine.profiles().cached("U5")
    assert "U5" not in engine.recommendations().behaviour.interactions.user_index
