"""``/merchandising/rules`` over the 12 hand-written products, with a few judged queries
written beside them: roles, bad input (404, 409, 422), publish reaching search without a
reindex, the NDCG margin and ``force``, the audit and undo."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from catalog.support import Keys, build_engine, make_keys
from fastapi.testclient import TestClient

from app.api import create_app
from app.auth import Role
from app.engine import Engine
from search.encoder import MiniLMEncoder

QUERIES = (
    "query_id\tquery\tquery_class\tkind\tsplit\n"
    "Q1\tvelvet sofa\tSofas\tattribute\ttest\n"
    "Q2\taccent chair\tAccent Chairs\tcategory\ttest\n"
)
LABELS = (
    "id\tquery_id\tproduct_id\tlabel\n"
    "0\tQ1\tS1\tExact\n1\tQ1\tS2\tPartial\n2\tQ1\tS3\tPartial\n"
    "3\tQ2\tC1\tExact\n4\tQ2\tC2\tExact\n"
)
URL = "/merchandising/rules"


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory, encoder: MiniLMEncoder) -> Iterator[Engine]:
    built = build_engine(tmp_path_factory.mktemp("rules-home"), encoder)
    built.catalogue_dir.mkdir(parents=True, exist_ok=True)
    (built.catalogue_dir / "query.csv").write_text(QUERIES, encoding="utf-8")
    (built.catalogue_dir / "label.csv").write_text(LABELS, encoding="utf-8")
    yield built
    built.close()


@pytest.fixture(scope="module")
def keys(engine: Engine) -> Keys:
    return make_keys(engine)


@pytest.fixture(scope="module")
def client(engine: Engine) -> Iterator[TestClient]:
    with TestClient(create_app(engine)) as c:
        yield c


@pytest.fixture
def merch(keys: Keys) -> dict[str, str]:
    return {"X-API-Key": keys.merchandiser}


@pytest.fixture(autouse=True)
def no_rules_left(engine: Engine) -> Iterator[None]:
    yield
    for rule in engine.rule_store.rules():
        engine.rule_store.delete(rule.id, expected_version=None, actor="cleanup")


def _create(client: TestClient, headers: dict[str, str], **rule: Any) -> dict[str, Any]:
    response = client.post(URL, json=rule, headers=headers)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def _top(client: TestClient, query: str) -> list[str]:
    response = client.get("/search", params={"q": query, "k": 5})
    assert response.status_code == 200, response.text
    return [h["product_id"] for h in response.json()["hits"]]


@pytest.mark.parametrize("role", [Role.VIEWER, Role.EDITOR, Role.STOREFRONT])
def test_only_merchandisers_and_admins_may_touch_rules(
    client: TestClient, keys: Keys, role: Role
) -> None:
    refused = client.get(URL, headers={"X-API-Key": keys.of(role)})
    assert refused.status_code == 403
    assert "merchandiser" in refused.json()["error"]["message"]
    assert client.get(URL).status_code == 401
    for allowed in (Role.MERCHANDISER, Role.ADMIN):
        assert client.get(URL, headers={"X-API-Key": keys.of(allowed)}).status_code == 200


def test_create_resolves_names_to_graph_ids_as_a_draft(
    client: TestClient, merch: dict[str, str]
) -> None:
    body = _create(
        client,
        merch,
        action="boost",
        factor=1.2,
        when={"brand": "oakhaven", "category": "Furniture > Living Room > Sofas"},
        scope={"kind": "category", "value": "Living Room"},
    )
    assert body["state"] == "draft" and body["version"] == 1 and body["published"] is None
    assert body["draft"]["when"] == {
        "brand": "brand:oakhaven",
        "category": "category:furniture/living-room/sofas",
        "relations": [],
    }
    assert body["draft"]["scope"] == {"kind": "category", "value": "category:furniture/living-room"}
    got = client.get(f"{URL}/{body['id']}", headers=merch)
    assert got.status_code == 200 and got.json() == body


@pytest.mark.parametrize(
    ("rule", "named"),
    [
        ({"action": "hide", "when": {"brand": "Oakhavn"}}, "'Oakhavn'"),
        ({"action": "hide", "when": {"category": "Sofaz"}}, "'Sofaz'"),
        ({"action": "hide", "when": {"attribute": "color=plaid"}}, "'color=plaid'"),
        (
            {"action": "hide", "when": {"relations": [{"type": "IN_COLLECTION", "target": "x"}]}},
            "'IN_COLLECTION'",
        ),
        (
            {"action": "hide", "when": {"relations": [{"type": "SUBCATEGORY_OF", "target": "x"}]}},
            "SUBCATEGORY_OF does not start at a product",
        ),
        (
            {
                "action": "pin",
                "product": "P404",
                "position": 1,
                "scope": {"kind": "exact", "value": "x"},
            },
            "'P404'",
        ),
        ({"action": "hide", "when": {"brand": "category:furniture"}}, "not a brand"),
        ({"action": "boost", "factor": 0.5, "when": {"brand": "Oakhaven"}}, "above 1"),
    ],
)
def test_a_rule_naming_what_does_not_exist_is_422_naming_it(
    client: TestClient, merch: dict[str, str], rule: dict[str, Any], named: str
) -> None:
    response = client.post(URL, json=rule, headers=merch)
    assert response.status_code == 422, response.text
    assert named in response.json()["error"]["message"]


def test_missing_rules_are_404(client: TestClient, merch: dict[str, str]) -> None:
    for method, path in (("get", "/4040"), ("post", "/4040/publish"), ("post", "/4040/preview")):
        response = client.request(method, f"{URL}{path}", headers=merch)
        assert response.status_code == 404, (path, response.text)
        assert response.json()["error"]["code"] == "not_found"
    assert client.delete(f"{URL}/4040", headers=merch).status_code == 404
    assert client.post(f"{URL}/undo/999999", headers=merch).status_code == 404
    huge = 10**30  # beyond a 64-bit integer: not found, not a crash
    assert client.get(f"{URL}/{huge}", headers=merch).status_code == 404
    assert client.post(f"{URL}/undo/{huge}", headers=merch).status_code == 404
    log = client.get(f"{URL}/audit", params={"rule_id": huge}, headers=merch)
    assert log.status_code == 200 and log.json()["items"] == []  # no such rule: no changes


def test_update_checks_the_version_read(client: TestClient, merch: dict[str, str]) -> None:
    rule = _create(client, merch, action="hide", when={"brand": "Birchley"})
    new = {"action": "bury", "factor": 0.5, "when": {"brand": "Birchley"}}
    ok = client.put(f"{URL}/{rule['id']}", json={"expected_version": 1, "rule": new}, headers=merch)
    assert ok.status_code == 200 and ok.json()["version"] == 2
    stale = client.put(
        f"{URL}/{rule['id']}",
        json={"expected_version": 1, "rule": new | {"factor": 0.4}},
        headers=merch,
    )
    assert stale.status_code == 409
    assert "version 2, not 1" in stale.json()["error"]["message"]


def test_overlapping_pins_are_409_naming_the_rule_that_holds_the_slot(
    client: TestClient, merch: dict[str, str]
) -> None:
    scope = {"kind": "exact", "value": "velvet sofa"}
    first = _create(client, merch, action="pin", product="S3", position=1, scope=scope)
    clash = client.post(
        URL,
        json={
            "action": "pin",
            "product": "S2",
            "position": 1,
            "scope": {"kind": "exact", "value": "Velvet  Sofa"},
        },
        headers=merch,
    )
    assert clash.status_code == 409
    assert f"held by rule #{first['id']}" in clash.json()["error"]["message"]
    other_slot = client.post(
        URL, json={"action": "pin", "product": "S2", "position": 2, "scope": scope}, headers=merch
    )
    assert other_slot.status_code == 201
    later = client.post(
        URL,
        json={
            "action": "pin",
            "product": "S2",
            "position": 1,
            "scope": scope,
            "starts_at": "2099-01-01T00:00:00Z",
        },
        headers=merch,
    )
    assert later.status_code == 409  # the first pin has no end


def test_published_rules_reach_search_without_a_reindex(
    client: TestClient, merch: dict[str, str], engine: Engine
) -> None:
    version = engine.versions.live_path().name
    before = _top(client, "accent chair")
    assert "C1" in before
    seen = client.get("/search", params={"q": "accent chair"}).json()
    total_before = seen["total"]
    oakhaven_before = {f["value"]: f["count"] for f in seen["facets"]["brand"]}["Oakhaven"]
    assert oakhaven_before >= 1
    hide = _create(
        client,
        merch,
        action="hide",
        when={"brand": "Oakhaven"},
        scope={"kind": "contains", "value": "chair"},
    )
    assert "C1" in _top(client, "accent chair")  # a draft changes nothing
    published = client.post(f"{URL}/{hide['id']}/publish", json={"force": True}, headers=merch)
    assert published.status_code == 200, published.text
    assert published.json()["state"] == "published"
    assert "C1" not in _top(client, "accent chair")
    assert "S1" in _top(client, "velvet sofa")  # out of the rule's scope
    body = client.get("/search", params={"q": "accent chair"}).json()
    assert "Oakhaven" not in {f["value"] for f in body["facets"]["brand"]}
    assert body["total"] == total_before - oakhaven_before  # hidden ones are not counted
    assert engine.versions.live_path().name == version


def test_hits_carry_the_rule_as_a_named_worded_contribution(
    client: TestClient, merch: dict[str, str]
) -> None:
    boost = _create(
        client, merch, action="boost", factor=1.5, when={"brand": "Birchley", "category": "Sofas"}
    )
    client.post(
        f"{URL}/{boost['id']}/publish", json={"force": True}, headers=merch
    ).raise_for_status()
    body = client.get("/search", params={"q": "sofa", "k": 5, "explain": "true"}).json()
    key = f"rule:{boost['id']}"
    assert body["rules"][key] == f"rule #{boost['id']}: boost Birchley in Sofas ×1.5"
    hit = next(h for h in body["hits"] if h["product_id"] == "S2")
    assert hit["contributions"][key] != 0.0
    others = [h for h in body["hits"] if h["product_id"] != "S2"]
    assert all(h["contributions"].get(key, 0.0) == 0.0 for h in others)


def test_a_pin_takes_its_slot(client: TestClient, merch: dict[str, str]) -> None:
    assert _top(client, "velvet sofa")[0] != "S3"
    pin = _create(
        client,
        merch,
        action="pin",
        product="S3",
        position=1,
        scope={"kind": "exact", "value": "velvet sofa"},
    )
    client.post(
        f"{URL}/{pin['id']}/publish", json={"force": True}, headers=merch
    ).raise_for_status()
    assert _top(client, "velvet sofa")[0] == "S3"


def test_a_pin_places_a_product_no_source_recalled_but_not_past_filters(
    client: TestClient, merch: dict[str, str], engine: Engine
) -> None:
    query = "quantum physics textbook"  # about nothing in the catalogue
    service, _ = engine.service()
    recalled = set(service.candidates(query).product_ids)
    outsiders = sorted(set(service.documents) - recalled)  # the query finds them by no source
    assert outsiders, recalled
    outsider = outsiders[0]
    pin = _create(
        client,
        merch,
        action="pin",
        product=outsider,
        position=2,
        scope={"kind": "exact", "value": query},
    )
    client.post(
        f"{URL}/{pin['id']}/publish", json={"force": True}, headers=merch
    ).raise_for_status()
    top = _top(client, query)
    assert outsider in top and top.index(outsider) == min(1, len(top) - 1)
    brand = service.documents[outsider].brand
    other = next(d.brand for d in service.documents.values() if d.brand and d.brand != brand)
    filtered = client.get("/search", params={"q": query, "filter": f"brand:{other}"}).json()
    assert outsider not in [h["product_id"] for h in filtered["hits"]]
    assert any(f"pins {outsider}" in note for note in filtered["notes"])


def test_preview_and_the_ndcg_margin(client: TestClient, merch: dict[str, str]) -> None:
    bury = _create(
        client,
        merch,
        action="hide",
        when={"brand": "Oakhaven"},
        scope={"kind": "exact", "value": "velvet sofa"},
    )
    preview = client.post(f"{URL}/{bury['id']}/preview", headers=merch)
    assert preview.status_code == 200
    seen = preview.json()
    assert seen["judged_queries"] == 2 and seen["judged_in_scope"] == 1
    assert seen["ndcg_at_10_after"] < seen["ndcg_at_10_before"]
    assert [c["query"] for c in seen["changed_judged"]] == ["velvet sofa"]
    assert "S1" not in seen["changed_judged"][0]["after"]
    refused = client.post(f"{URL}/{bury['id']}/publish", headers=merch)
    assert refused.status_code == 409
    message = refused.json()["error"]["message"]
    assert f"{-seen['ndcg_at_10_delta']:.4f}" in message and "force" in message
    assert client.get(f"{URL}/{bury['id']}", headers=merch).json()["state"] == "draft"
    forced = client.post(f"{URL}/{bury['id']}/publish", json={"force": True}, headers=merch)
    assert forced.status_code == 200
    assert "S1" not in _top(client, "velvet sofa")


def test_audit_and_undo(client: TestClient, merch: dict[str, str], keys: Keys) -> None:
    hide = _create(
        client,
        merch,
        action="hide",
        when={"brand": "Oakhaven"},
        scope={"kind": "exact", "value": "velvet sofa"},
    )
    client.post(
        f"{URL}/{hide['id']}/publish", json={"force": True}, headers=merch
    ).raise_for_status()
    assert "S1" not in _top(client, "velvet sofa")
    log = client.get(f"{URL}/audit", params={"rule_id": hide["id"]}, headers=merch).json()["items"]
    assert [c["op"] for c in log] == ["update", "create"]
    assert log[0]["note"].startswith("publish") and log[0]["actor"] == "merchandiser-user"
    undone = client.post(f"{URL}/undo/{log[0]['seq']}", headers=merch)
    assert undone.status_code == 200
    assert undone.json()["rule"]["state"] == "draft"
    assert "S1" in _top(client, "velvet sofa")
    again = client.post(f"{URL}/undo/{log[0]['seq']}", headers=merch)
    assert again.status_code == 409  # the rule changed since (by the undo itself)
    deleted = client.delete(f"{URL}/{hide['id']}", headers=merch)
    assert deleted.status_code == 200
    assert client.get(f"{URL}/{hide['id']}", headers=merch).status_code == 404
    delete_seq = client.get(f"{URL}/audit", headers=merch).json()["items"][0]["seq"]
    restored = client.post(f"{URL}/undo/{delete_seq}", headers=merch)
    assert restored.status_code == 200 and restored.json()["rule"]["id"] == hide["id"]


def test_list_pages(client: TestClient, merch: dict[str, str]) -> None:
    made = [
        _create(client, merch, action="hide", when={"brand": "Oakhaven"})["id"] for _ in range(3)
    ]
    first = client.get(URL, params={"limit": 2}, headers=merch).json()
    assert [r["id"] for r in first["items"]] == made[:2]
    assert first["total"] == 3 and first["has_more"] and first["next_offset"] == 2
    rest = client.get(URL, params={"limit": 2, "offset": 2}, headers=merch).json()
    assert [r["id"] for r in rest["items"]] == made[2:] and not rest["has_more"]


def test_search_keeps_the_published_copy_while_a_new_draft_waits(
    client: TestClient, merch: dict[str, str]
) -> None:
    scope = {"kind": "exact", "value": "accent chair"}
    hide = _create(client, merch, action="hide", when={"brand": "Oakhaven"}, scope=scope)
    client.post(
        f"{URL}/{hide['id']}/publish", json={"force": True}, headers=merch
    ).raise_for_status()
    draft = {"action": "hide", "when": {"brand": "Birchley"}, "scope": scope}
    changed = client.put(
        f"{URL}/{hide['id']}", json={"expected_version": 2, "rule": draft}, headers=merch
    )
    assert changed.status_code == 200 and changed.json()["state"] == "changed"
    top = _top(client, "accent chair")
    assert "C1" not in top and "C2" in top  # still the published copy: Oakhaven hidden
    client.post(
        f"{URL}/{hide['id']}/publish", json={"force": True}, headers=merch
    ).raise_for_status()
    top = _top(client, "accent chair")
    assert "C1" in top and "C2" not in top
