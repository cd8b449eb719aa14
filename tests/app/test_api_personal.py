"""/search?user=... and `kgsearch search --user`: id form checked, unknown users are not
personalised and the response says so."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from app.api import create_app
from app.cli import app as cli
from app.engine import Engine


@pytest.fixture(scope="module")
def client(small_engine: Engine) -> Iterator[TestClient]:
    with TestClient(create_app(small_engine)) as c:
        yield c


@pytest.mark.parametrize("user", ["-starts-with-dash", "has space", "x" * 129, "a/b"])
def test_a_user_id_of_the_wrong_form_is_422(client: TestClient, user: str) -> None:
    response = client.get("/search", params={"q": "velvet sofa", "user": user})
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "invalid_parameter" and error["field"] == "user"


def test_an_unknown_user_gets_todays_ranking_and_a_note(client: TestClient) -> None:
    plain = client.get("/search", params={"q": "velvet sofa"}).json()
    mine = client.get("/search", params={"q": "velvet sofa", "user": "U0042"}).json()
    assert mine["user"] == "U0042" and mine["personalised"] is False
    assert plain["user"] is None and plain["personalised"] is False
    assert [h["product_id"] for h in mine["hits"]] == [h["product_id"] for h in plain["hits"]]
    assert [h["score"] for h in mine["hits"]] == [h["score"] for h in plain["hits"]]
    assert any("U0042" in n and "not personalised" in n for n in mine["notes"])


def test_brand_cap_is_checked_and_applied(client: TestClient) -> None:
    assert client.get("/search", params={"q": "sofa", "brand_cap": 0}).status_code == 422
    # three brands in the small catalogue: a page of 3 has each once
    body = client.get("/search", params={"q": "sofa", "k": 3, "brand_cap": 1}).json()
    assert sorted(h["brand"] for h in body["hits"]) == ["Birchley", "Marlow & Finch", "Oakhaven"]


def test_cli_search_user(small_engine: Engine) -> None:
    runner = CliRunner()
    home = ["--home", str(small_engine.home), "--quiet"]
    bad = runner.invoke(cli, [*home, "search", "velvet sofa", "--user", "bad id"])
    assert bad.exit_code == 2 and "not a user id" in bad.stderr
    ok = runner.invoke(cli, [*home, "search", "velvet sofa", "--user", "U7", "--json"])
    assert ok.exit_code == 0
    body = json.loads(ok.stdout)
    assert body["user"] == "U7" and body["personalised"] is False
