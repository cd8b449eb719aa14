"""``/catalog/aliases`` and ``kgsearch catalog aliases``: edits with validation, audit and
undo, and an alias reaching search (linking, keyword expansion) without a reindex."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from catalog.support import Keys
from click.testing import Result
from conftest import SMALL_PRODUCTS
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from app.cli import app as cli_app
from app.engine import Engine
from app.settings import Settings
from ingest.formats import write_products

SOFAS = "category:furniture/living-room/sofas"
OAKHAVEN = "brand:oakhaven"


def _h(keys: Keys) -> dict[str, str]:
    return {"X-API-Key": keys.editor}


def _version(client: TestClient, keys: Keys, eid: str) -> int:
    response = client.get(f"/catalog/aliases/{eid}", headers=_h(keys))
    assert response.status_code == 200, response.text
    return int(response.json()["version"])


def _search(client: TestClient, q: str) -> dict[str, Any]:
    response = client.get("/search", params={"q": q, "k": "20", "ranker": "bm25"})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_an_alias_is_searchable_at_once_and_undone(
    client: TestClient, keys: Keys, engine: Engine
) -> None:
    # "davenport": no product says it, so neither linking nor keywords find sofas yet.
    before = _search(client, "davenport")
    assert SOFAS not in {e["entity_id"] for e in before["entities"]}
    assert not any(h["product_class"] == "Sofas" for h in before["hits"][:3])
    revision = engine.graph.revision
    response = client.post(
        f"/catalog/aliases/{SOFAS}",
        json={"alias": "Davenport", "expected_version": _version(client, keys, SOFAS)},
        headers=_h(keys),
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["searchable"] is True
    assert body["synced_products"] == 0  # an alias re-encodes no product
    after = _search(client, "davenport")
    linked = {e["entity_id"]: e["confidence"] for e in after["entities"]}
    assert 0 < linked[SOFAS] < 1.0  # below an exact name match
    top = after["hits"][:2]
    assert top and all(h["product_class"] == "Sofas" for h in top)
    assert top[0]["signals"]["bm25"] > 0  # the keyword query was expanded with "sofa"
    # Audited, and undone like any edit.
    audit = client.get("/catalog/audit", params={"entity_id": SOFAS}, headers=_h(keys)).json()
    assert audit["items"][0]["op"] == "update"
    undo = client.post(f"/catalog/undo/{revision + 1}", headers=_h(keys))
    assert undo.status_code == 200, undo.text
    assert client.get(f"/catalog/aliases/{SOFAS}", headers=_h(keys)).json()["aliases"] == []
    again = _search(client, "davenport")
    assert SOFAS not in {e["entity_id"] for e in again["entities"]}


def test_alias_errors_are_409_and_422_naming_the_entities(client: TestClient, keys: Keys) -> None:
    h = _h(keys)
    taken = client.post(
        f"/catalog/aliases/{OAKHAVEN}",
        json={"alias": "birchley", "expected_version": _version(client, keys, OAKHAVEN)},
        headers=h,
    )
    assert taken.status_code == 409, taken.text
    error = taken.json()["error"]
    assert error["code"] == "alias_taken"
    assert OAKHAVEN in error["message"] and "brand:birchley" in error["message"]
    own = client.put(
        f"/catalog/aliases/{OAKHAVEN}",
        json={"aliases": ["OAKHAVEN"], "expected_version": _version(client, keys, OAKHAVEN)},
        headers=h,
    )
    assert own.status_code == 422 and own.json()["error"]["code"] == "invalid_value"
    stale = client.post(
        f"/catalog/aliases/{OAKHAVEN}", json={"alias": "oak", "expected_version": 0}, headers=h
    )
    assert stale.status_code == 409 and stale.json()["error"]["code"] == "version_conflict"
    product = client.post(
        "/catalog/aliases/product:S1", json={"alias": "x", "expected_version": 1}, headers=h
    )
    assert product.status_code == 422, product.text
    missing = client.get("/catalog/aliases/brand:nope", headers=h)
    assert missing.status_code == 404
    viewer = client.post(
        f"/catalog/aliases/{OAKHAVEN}",
        json={"alias": "oh", "expected_version": 1},
        headers={"X-API-Key": keys.viewer},
    )
    assert viewer.status_code == 403


def test_put_replaces_delete_removes_and_list_shows(client: TestClient, keys: Keys) -> None:
    h = _h(keys)
    v = _version(client, keys, OAKHAVEN)
    put = client.put(
        f"/catalog/aliases/{OAKHAVEN}",
        json={"aliases": ["Oak Haven", "oakhaven home"], "expected_version": v},
        headers=h,
    )
    assert put.status_code == 200, put.text
    listed = client.get("/catalog/aliases", headers=h).json()["items"]
    assert {"entity_id": OAKHAVEN, "aliases": ["oak haven", "oakhaven home"]}.items() <= next(
        i for i in listed if i["entity_id"] == OAKHAVEN
    ).items()
    gone = client.delete(
        f"/catalog/aliases/{OAKHAVEN}",
        params={"alias": "oak haven", "expected_version": v + 1},
        headers=h,
    )
    assert gone.status_code == 200, gone.text
    assert client.get(f"/catalog/aliases/{OAKHAVEN}", headers=h).json()["aliases"] == [
        "oakhaven home"
    ]


def test_cli_aliases_add_show_set_and_refuse(tmp_path: Path) -> None:
    write_products(tmp_path / "small.csv", SMALL_PRODUCTS)
    engine = Engine(Settings(home=tmp_path))
    engine.import_catalogue(tmp_path / "small.csv")
    runner = CliRunner()

    def run(*args: str) -> Result:
        return runner.invoke(
            cli_app, ["--home", str(tmp_path), "--quiet", "catalog", "--user", "cli-ana", *args]
        )

    eid = "attr:color=gray"
    added = run("aliases", "add", eid, "Slate Grey", "--json")
    assert added.exit_code == 0, added.output
    assert json.loads(added.stdout)["written"] is True
    shown = run("aliases", "show", eid, "--json")
    assert json.loads(shown.stdout)["aliases"] == ["slate grey"]
    assert engine.graph.resolve_alias("slate  GREY") == [eid]
    last = list(engine.graph.changes(entity_id=eid))[-1]
    assert last.actor == "cli-ana"
    assert eid in run("aliases", "list").stdout
    refused = run("aliases", "add", "attr:color=blue", "slate grey")
    assert refused.exit_code == 2
    assert "alias_taken" in refused.stderr and eid in refused.stderr
    stale = run("aliases", "add", eid, "ash", "--expected-version", "1")
    assert stale.exit_code == 2 and "version_conflict" in stale.stderr
    cleared = run("aliases", "set", eid)
    assert cleared.exit_code == 0, cleared.output
    assert engine.graph.resolve_alias("slate grey") == []
    engine.close()
