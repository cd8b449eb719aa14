"""``POST /events`` and ``kgsearch events``: good batches, refused batches (422 / exit 2,
nothing stored), duplicates by event id, the body limits."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import SMALL_PRODUCTS
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from app.api import create_app
from app.auth import KeyStore, Role
from app.cli import app as cli
from app.demo import backfill_events
from app.engine import Engine
from app.events_api import MAX_EVENTS
from app.settings import Settings
from ingest.events import Click, Event, Purchase, parse_shop_events, write_events
from ingest.formats import write_products
from search.encoder import MiniLMEncoder


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory, encoder: MiniLMEncoder) -> Iterator[Engine]:
    """Its own small indexed home: these tests write events."""
    home = tmp_path_factory.mktemp("events-home")
    write_products(home / "small.csv", SMALL_PRODUCTS)
    engine = Engine(Settings(home=home), encoder=encoder)
    engine.import_catalogue(home / "small.csv")
    engine.reindex()
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


def ev(**fields: Any) -> dict[str, Any]:
    base = {"type": "click", "user_id": "U0042", "product_id": "S1", "ts": time.time() - 60}
    return base | fields


def test_post_events_records_them_and_counts_duplicates(client: TestClient, engine: Engine) -> None:
    before = engine.events.count()
    body = {
        "events": [
            ev(event_id="api-1"),
            ev(type="view", user_id=None, session_id="anon-1", product_id="S2"),
            ev(type="purchase", session_id="s-9", event_id="api-2", query="velvet sofa"),
        ]
    }
    response = client.post("/events", json=body)
    assert response.status_code == 200, response.text
    out = response.json()
    assert (out["accepted"], out["duplicates"], out["rejected"]) == (3, 0, [])
    assert out["revision"] == engine.events.revision()
    assert engine.events.count() == before + 3
    stored = engine.events.read(user_id="U0042")
    assert [e.event_id for e in stored[-2:]] == ["api-1", "api-2"]
    assert stored[-1].query == "velvet sofa"

    again = client.post("/events", json=body).json()
    assert (again["accepted"], again["duplicates"]) == (1, 2)  # the event without an id


def test_a_bad_event_refuses_the_batch_with_422_and_per_item_reasons(
    client: TestClient, engine: Engine
) -> None:
    before = engine.events.count()
    body: dict[str, Any] = {
        "events": [
            ev(event_id="bad-batch-1"),
            ev(product_id="NOPE"),
            ev(user_id="has space"),
            ev(ts=time.time() + 3600),
        ]
    }
    response = client.post("/events", json=body)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "events_refused"
    assert {"code", "message", "field", "rejected"} <= set(error)
    assert "3 invalid event(s) of 4" in error["message"]
    rejected = {r["index"]: r for r in error["rejected"]}
    assert sorted(rejected) == [1, 2, 3]
    assert rejected[1]["field"] == "product_id" and "NOPE" in rejected[1]["reason"]
    assert rejected[2]["field"] == "user_id"
    assert rejected[3]["field"] == "ts" and "future" in rejected[3]["reason"]
    assert engine.events.count() == before  # nothing half-applied

    body["skip_invalid"] = True
    out = client.post("/events", json=body).json()
    assert (out["accepted"], len(out["rejected"])) == (1, 3)
    assert engine.events.count() == before + 1


@pytest.mark.parametrize(
    ("payload", "status", "code"),
    [
        ({"event": []}, 422, "invalid_parameter"),
        ([ev()], 422, "invalid_parameter"),
        ({"events": [ev()], "colour": 1}, 422, "invalid_parameter"),
        ({"events": [ev()], "skip_invalid": "yes"}, 422, "invalid_parameter"),
        ({"events": [ev()], "max_age_days": -1}, 422, "invalid_parameter"),
        ({"events": []}, 422, "events_refused"),
        ({"events": [{}] * (MAX_EVENTS + 1)}, 413, "too_many_events"),
    ],
)
def test_malformed_requests_answer_in_the_error_shape(
    client: TestClient, payload: Any, status: int, code: str
) -> None:
    response = client.post("/events", json=payload)
    assert response.status_code == status
    assert response.json()["error"]["code"] == code


def test_invalid_json_and_oversized_bodies(client: TestClient) -> None:
    response = client.post(
        "/events", content=b"{nope", headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_json"
    huge = b'{"events": [' + b" " * (9 * 1024 * 1024) + b"]}"
    response = client.post("/events", content=huge)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "body_too_large"


def test_only_a_storefront_or_admin_key_may_write_events(engine: Engine) -> None:
    viewer = KeyStore(path=engine.home / "api_keys.json").create(
        user="v", role=Role.VIEWER, created_by="test"
    )
    before = engine.events.count()
    with TestClient(create_app(engine)) as anonymous:
        # refused on the header alone: a large body is never read
        response = anonymous.post("/events", content=b" " * (4 * 1024 * 1024))
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "missing_api_key"
        forbidden = anonymous.post(
            "/events", json={"events": [ev()]}, headers={"X-API-Key": viewer.key}
        )
        assert forbidden.status_code == 403
        assert "storefront" in forbidden.json()["error"]["message"]
    assert engine.events.count() == before


def test_openapi_documents_the_event_schema(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    assert "ShopEvent" in schema["components"]["schemas"]
    assert "post" in schema["paths"]["/events"]


# -- the command line ------------------------------------------------------------------------

runner = CliRunner()


def run(home: Path, *args: str) -> tuple[int, str, str]:
    result = runner.invoke(cli, ["--home", str(home), "--quiet", *args])
    return result.exit_code, result.stdout, result.stderr


def test_cli_import_refuses_a_file_with_bad_lines_then_skips_them(
    engine: Engine, tmp_path: Path
) -> None:
    old = time.time() - 2_000 * 86_400
    lines = [
        json.dumps(ev(event_id="cli-1")),
        "{broken",
        json.dumps(ev(product_id="GONE", event_id="cli-2")),
        json.dumps(ev(ts=old, event_id="cli-3")),
    ]
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join(lines) + "\n")
    before = engine.events.count()
    code, out, err = run(engine.home, "events", "import", str(path))
    assert code == 2
    assert "3 invalid event(s) of 4; nothing was recorded" in err
    assert "line 2: json" in err and "line 3: product_id" in err and "line 4: ts" in err
    assert engine.events.count() == before

    code, out, _ = run(engine.home, "events", "import", str(path), "--json")
    assert code == 2
    assert [r["line"] for r in json.loads(out)["rejected"]] == [2, 3, 4]

    code, out, _ = run(
        engine.home,
        "events",
        "import",
        str(path),
        "--skip-invalid",
        "--max-age-days",
        "3000",
        "--json",
    )
    assert code == 0, out
    report = json.loads(out)
    assert (report["accepted"], [r["line"] for r in report["rejected"]]) == (2, [2, 3])
    assert engine.events.count() == before + 2

    code, out, _ = run(engine.home, "events", "stats", "--json")
    assert code == 0
    stats = json.loads(out)
    assert stats["events"] == engine.events.count() and stats["store"] == "SQLiteEventStore"


def test_cli_import_of_a_missing_file_exits_2(engine: Engine, tmp_path: Path) -> None:
    code, _, err = run(engine.home, "events", "import", str(tmp_path / "none.jsonl"))
    assert code == 2 and "does not exist" in err


def test_the_demo_backfills_its_simulated_log_once(engine: Engine) -> None:
    """The simulated log (3 years old: older than the default max age) goes into the
    store through Engine.record_events, with ids that make a second backfill a no-op."""
    common: dict[str, Any] = {
        "session_id": "sim-s",
        "query_id": "q1",
        "query": "sofa",
        "variant": "live",
        "user_id": "SIM1",
        "product_id": "S1",
        "position": 1,
    }
    logged: list[Event] = [
        Click(ts=1_700_000_000.0, **common),
        Purchase(ts=1_700_000_100.0, **common),
    ]
    write_events(engine.events_path, logged)
    try:
        assert backfill_events(engine, seed=7) == {"accepted": 2, "duplicates": 0}
        assert backfill_events(engine, seed=7) == {"accepted": 0, "duplicates": 2}
        stored = engine.events.read(user_id="SIM1")
        assert [e.event_id for e in stored] == ["sim-7-1", "sim-7-2"]
        assert [e.type for e in stored] == ["click", "purchase"]
    finally:
        engine.events_path.unlink()


def test_exposure_report_reads_the_event_stores_impressions(engine: Engine) -> None:
    """Without a file, `exposure-report` counts the impressions the shop reported."""
    shown = [
        ev(type="impression", product_id=pid, position=n, variant="exposure-test", session_id="x")
        for n, pid in enumerate(["S1", "S1", "S2"], start=1)
    ]
    engine.record_events(parse_shop_events(shown))
    code, out, err = run(engine.home, "exposure-report", "--json")
    assert code == 0, err
    variant = next(v for v in json.loads(out)["variants"] if v["variant"] == "exposure-test")
    assert variant["impressions"] == 3
    assert sum(b["impressions"] for b in variant["brands"]) == 3


def test_training_reads_the_event_store_not_a_file(engine: Engine, tmp_path: Path) -> None:
    """An empty store is a clear error; the home's store is what personal training sees."""
    code, _, err = run(tmp_path, "train-personal")
    assert code == 2 and "the event store is empty" in err
    assert not (engine.home / "events.jsonl").exists()
    assert len(engine._logged_events()) == engine.events.count() > 0
