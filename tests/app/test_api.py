from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import SMALL_PRODUCTS
from fastapi.testclient import TestClient

from app.api import create_app
from app.engine import Engine
from app.settings import Settings
from ingest.formats import write_products
from search.encoder import MiniLMEncoder


@pytest.fixture(scope="module")
def client(small_engine: Engine) -> Iterator[TestClient]:
    with TestClient(create_app(small_engine)) as c:
        yield c


def error_of(response: object) -> dict[str, str]:
    body = response.json()  # type: ignore[attr-defined]
    assert set(body) == {"error"}
    assert {"code", "message", "field"} <= set(body["error"])
    return body["error"]  # type: ignore[no-any-return]


def health_when_warm(client: TestClient, timeout_s: float = 60) -> dict[str, Any]:
    """/health once the server's warm-up is done (it starts with the app)."""
    deadline = time.monotonic() + timeout_s
    while True:
        body: dict[str, Any] = client.get("/health").json()
        if body["warm"] or time.monotonic() > deadline:
            return body
        time.sleep(0.05)


def test_health(client: TestClient) -> None:
    body = health_when_warm(client)
    assert body["status"] == "ok" and body["warm"] is True
    assert body["products"] == 12
    assert body["index_version"].startswith("v")


def test_health_says_warming_until_the_warm_up_is_done(
    small_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    release = threading.Event()
    warm_up = small_engine.warm_up

    def held_warm_up() -> float:
        assert release.wait(30), "the test never released the warm-up"
        return warm_up()

    monkeypatch.setattr(small_engine, "warm_up", held_warm_up)
    with TestClient(create_app(small_engine)) as c:
        r = c.get("/health")
        assert r.status_code == 200  # it can answer (slowly): not a 503
        body = r.json()
        assert (body["status"], body["warm"]) == ("warming", False)
        assert body["products"] == 12 and body["index_version"].startswith("v")
        release.set()
        body = health_when_warm(c)
        assert (body["status"], body["warm"]) == ("ok", True)
        assert c.app.state.warmup.error is None  # type: ignore[attr-defined]
        assert c.app.state.warmup.seconds is not None  # type: ignore[attr-defined]


def test_the_warm_up_opens_the_index_and_answers_a_query(
    tmp_path: Path, encoder: MiniLMEncoder
) -> None:
    write_products(tmp_path / "small.csv", SMALL_PRODUCTS[:4])
    built = Engine(Settings(home=tmp_path), encoder=encoder)
    built.import_catalogue(tmp_path / "small.csv")
    built.reindex()
    built.close()
    fresh = Engine(Settings(home=tmp_path), encoder=encoder)  # as a server process starts
    assert fresh._loaded is None
    with TestClient(create_app(fresh)) as c:
        assert health_when_warm(c)["status"] == "ok"
        assert fresh._loaded is not None  # the index was opened before any query came
    fresh.close()


def test_search_shape(client: TestClient) -> None:
    r = client.get("/search", params={"q": "blue velvet sofa", "k": 3})
    assert r.status_code == 200
    body = r.json()
    assert {"query", "took_ms", "facets", "hits", "total", "ranker", "degraded"} <= set(body)
    assert len(body["hits"]) == 3
    hit = body["hits"][0]
    assert hit["product_id"] == "S1"
    assert {"product_id", "name", "score", "signals", "contributions"} <= set(hit)
    assert {"bm25", "dense", "bm25_name"} <= set(hit["signals"])
    assert body["explained"] is False and hit["contributions"] == {}  # asked for below


def test_search_explain_gives_contributions_that_sum_to_the_score(client: TestClient) -> None:
    body = client.get("/search", params={"q": "blue velvet sofa", "k": 3, "explain": "true"}).json()
    assert body["explained"] is True
    for hit in body["hits"]:
        assert hit["contributions"]
        assert sum(hit["contributions"].values()) == pytest.approx(hit["score"], abs=1e-4)


def test_search_filters_ranker_and_paging(client: TestClient) -> None:
    r = client.get(
        "/search",
        params=[("q", "chair"), ("filter", "brand:Birchley"), ("ranker", "bm25"), ("k", "5")],
    )
    body = r.json()
    assert r.status_code == 200 and body["ranker"] == "bm25"
    assert {h["brand"] for h in body["hits"]} == {"Birchley"}
    page2 = client.get("/search", params={"q": "table", "k": 2, "offset": 2}).json()
    assert page2["offset"] == 2 and page2["hits"][0]["rank"] == 3


@pytest.mark.parametrize(
    ("params", "status", "field"),
    [
        ({"q": ""}, 400, "q"),
        ({"q": "   "}, 400, "q"),
        ({"q": "x" * 1001}, 400, "q"),
        ({"q": "sofa\u0007"}, 400, "q"),
        ({}, 422, "q"),
        ({"q": "sofa", "k": 0}, 422, "k"),
        ({"q": "sofa", "k": 1001}, 422, "k"),
        ({"q": "sofa", "k": "ten"}, 422, "k"),
        ({"q": "sofa", "offset": -1}, 422, "offset"),
        ({"q": "sofa", "filter": "colour:red"}, 400, "filter"),
        ({"q": "sofa", "filter": "no-colon"}, 400, "filter"),
        ({"q": "sofa", "ranker": "magic"}, 400, "ranker"),
        ({"q": "sofa", "price_min": 10, "price_max": 5}, 400, "filter"),
        ({"q": "sofa", "sort": "price"}, 400, "sort"),
    ],
)
def test_bad_requests_get_json_errors_naming_the_field(
    client: TestClient, params: dict[str, object], status: int, field: str
) -> None:
    r = client.get("/search", params=params)  # type: ignore[arg-type]
    assert r.status_code == status, r.text
    error = error_of(r)
    assert error["field"] == field
    assert error["message"]


def test_product_lookup_and_unknown_id(client: TestClient) -> None:
    assert client.get("/products/S1").json()["brand"] == "Oakhaven"
    r = client.get("/products/NOPE")
    assert r.status_code == 404
    assert error_of(r)["code"] == "unknown_entity"


def test_no_index_is_503_with_a_hint(tmp_path: Path, encoder: MiniLMEncoder) -> None:
    engine = Engine(Settings(home=tmp_path), encoder=encoder)
    with TestClient(create_app(engine)) as c:
        r = c.get("/search", params={"q": "sofa"})
        assert r.status_code == 503
        assert "kgsearch reindex" in error_of(r)["message"]
        assert c.get("/health").status_code == 503
        c.app.state.warmup.done.wait(30)  # type: ignore[attr-defined]
        assert c.get("/health").status_code == 503  # still, once the warm-up gave up


def test_openapi_documents_search(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    assert "/search" in spec["paths"]
    names = {p["name"] for p in spec["paths"]["/search"]["get"]["parameters"]}
    assert {"q", "k", "offset", "filter", "ranker"} <= names


def test_backend_down_is_503_naming_it(tmp_path: Path, encoder: MiniLMEncoder) -> None:
    """A real Neo4j client against a closed port (nothing listens on 9)."""
    settings = Settings(
        home=tmp_path, graph_backend="neo4j", neo4j_uri="bolt://127.0.0.1:9", backend_timeout_s=1
    )
    engine = Engine(settings, encoder=encoder)
    with TestClient(create_app(engine)) as c:
        r = c.get("/health")
        assert r.status_code == 503
        error = error_of(r)
        assert (error["code"], error["field"]) == ("backend_unavailable", "neo4j")
        assert "127.0.0.1:9" in error["message"]
