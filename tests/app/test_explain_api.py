"""``GET /explain`` and ``GET /explain/compare`` over HTTP, and ``kgsearch explain``:
keys, JSON shapes, errors in the project's shape."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from catalog.support import Keys, build_engine, make_keys
from fastapi.testclient import TestClient
from httpx import Response
from typer.testing import CliRunner

from app.api import create_app
from app.auth import HEADER
from app.cli import app as cli
from app.engine import Engine
from search.encoder import MiniLMEncoder

QUERY = "blue velvet sofa"


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory, encoder: MiniLMEncoder) -> Iterator[Engine]:
    built = build_engine(tmp_path_factory.mktemp("explain-home"), encoder)
    yield built
    built.close()


@pytest.fixture(scope="module")
def keys(engine: Engine) -> Keys:
    return make_keys(engine)


@pytest.fixture(scope="module")
def client(engine: Engine) -> Iterator[TestClient]:
    with TestClient(create_app(engine)) as c:
        yield c


def get(client: TestClient, key: str | None, path: str, **params: object) -> Response:
    headers = {HEADER: key} if key else {}
    return client.get(path, params=params, headers=headers)


def test_explain_needs_a_viewer_or_merchandiser_key(client: TestClient, keys: Keys) -> None:
    assert get(client, None, "/explain", q=QUERY, product_id="S1").status_code == 401
    assert get(client, keys.editor, "/explain", q=QUERY, product_id="S1").status_code == 403
    for key in (keys.viewer, keys.merchandiser, keys.admin):
        assert get(client, key, "/explain", q=QUERY, product_id="S1").status_code == 200


def test_explain_json(client: TestClient, keys: Keys) -> None:
    r = get(client, keys.viewer, "/explain", q=QUERY, product_id="S1", k=3)
    body = r.json()
    assert body["stage"] == "shown" and body["rank"] == 1
    assert body["index_version"].startswith("v")
    assert body["keyword"]["terms"]["name"] == ["velvet", "sofa"]
    assert body["lines"] and all("says" in line and "features" in line for line in body["lines"])
    assert any(p["text"].endswith("← HAS_ATTRIBUTE — S1") for p in body["paths"])
    assert body["graph"]["linked"][0].keys() == {"entity_id", "span", "confidence"}


def test_why_not_with_a_filter(client: TestClient, keys: Keys) -> None:
    r = get(client, keys.viewer, "/explain", q=QUERY, product_id="S2", filter="brand:Oakhaven")
    body = r.json()
    assert body["stage"] == "filter" and body["filters"]["failed"] == ["brand"]


def test_compare(client: TestClient, keys: Keys) -> None:
    r = get(client, keys.merchandiser, "/explain/compare", q=QUERY, a="S1", b="C1")
    body = r.json()
    assert r.status_code == 200
    assert body["verdict"].startswith("S1 (rank 1) is above C1")
    assert body["differences"] and body["differences"][0]["gap"] > 0


@pytest.mark.parametrize(
    ("path", "params", "status", "code", "field"),
    [
        ("/explain", {"q": QUERY, "product_id": "NOPE"}, 404, "unknown_entity", "product_id"),
        ("/explain/compare", {"q": QUERY, "a": "S1", "b": "NOPE"}, 404, "unknown_entity", "b"),
        ("/explain", {"q": "   ", "product_id": "S1"}, 422, "invalid_query", "q"),
        ("/explain", {"product_id": "S1"}, 422, "invalid_parameter", "q"),
        ("/explain", {"q": QUERY, "product_id": "S1", "kk": "3"}, 400, "invalid_parameter", "kk"),
        ("/explain", {"q": QUERY, "product_id": "S1", "ranker": "magic"}, 400, None, "ranker"),
    ],
)
def test_bad_input(
    client: TestClient,
    keys: Keys,
    path: str,
    params: dict[str, str],
    status: int,
    code: str | None,
    field: str,
) -> None:
    r = get(client, keys.viewer, path, **params)
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert error["field"] == field and error["message"]
    if code:
        assert error["code"] == code


def test_cli_explain_and_compare(engine: Engine) -> None:
    runner = CliRunner()
    home = str(Path(engine.home))
    result = runner.invoke(cli, ["--home", home, "--quiet", "explain", QUERY, "C1", "-k", "1"])
    assert result.exit_code == 0, result.output
    assert "C1 'Wingback accent chair'" in result.stdout and "ranked" in result.stdout
    assert "behind the last shown hit" in result.stdout
    result = runner.invoke(
        cli, ["--home", home, "--quiet", "explain", QUERY, "S1", "--compare", "C1", "--json"]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["verdict"].startswith("S1 (rank 1) is above C1")
    result = runner.invoke(cli, ["--home", home, "--quiet", "explain", QUERY, "NOPE"])
    assert result.exit_code == 2 and "product:NOPE" in result.stderr


def test_published_rules_are_in_the_explanation(
    client: TestClient, keys: Keys, engine: Engine
) -> None:
    merch = {HEADER: keys.merchandiser}
    made = []
    try:
        for rule in (
            {"action": "boost", "factor": 1.5, "when": {"brand": "Birchley", "category": "Sofas"}},
            {
                "action": "hide",
                "when": {"brand": "Marlow & Finch"},
                "scope": {"kind": "contains", "value": "sofa"},
            },
        ):
            created = client.post("/merchandising/rules", json=rule, headers=merch)
            assert created.status_code == 201, created.text
            made.append(created.json()["id"])
            published = client.post(
                f"/merchandising/rules/{made[-1]}/publish", json={"force": True}, headers=merch
            )
            assert published.status_code == 200, published.text
        boosted = get(client, keys.viewer, "/explain", q=QUERY, product_id="S2").json()
        rule_lines = [x for x in boosted["lines"] if x["topic"] == f"rule:{made[0]}"]
        assert [x["text"] for x in rule_lines] == [f"rule #{made[0]}: boost Birchley in Sofas ×1.5"]
        assert rule_lines[0]["amount"] > 0
        hidden = get(client, keys.viewer, "/explain", q=QUERY, product_id="S3").json()
        assert hidden["stage"] == "rule" and hidden["rank"] is None
        assert "hidden by a merchandising rule" in hidden["verdict"]
        assert f"rule #{made[1]}: hide" in hidden["verdict"]
    finally:
        for rule_id in made:
            engine.rule_store.delete(rule_id, expected_version=None, actor="cleanup")
