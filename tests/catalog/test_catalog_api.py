"""The /catalog and /admin routes: roles on every route, edits visible in search within
2 s, concurrent editors, atomic imports, audit and undo, catch-up after a restart."""

from __future__ import annotations

import hashlib
import re
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest
from catalog.support import ADMIN_KEY, Keys, build_engine, make_keys
from conftest import SMALL_PRODUCTS
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from app.api import create_app
from app.auth import Require, Role
from app.catalog_api import admin_router, router
from app.engine import Engine
from app.settings import Settings
from catalogue.ops import CatalogOps
from ingest.formats import write_products
from kg.schema import EntityKind
from search.encoder import MiniLMEncoder

SAMPLE = {
    "product_id": "S1",
    "brand_id": "brand:oakhaven",
    "category_id": "category:furniture",
    "attribute_id": "attr:color=blue",
    "change_id": "1",
    "key_id": "0123456789ab",
    "entity_id": "brand:oakhaven",
}


def _routes() -> list[Any]:
    params = []
    for route in [*router.routes, *admin_router.routes]:
        assert isinstance(route, APIRoute)
        checks = [d.call for d in route.dependant.dependencies if isinstance(d.call, Require)]
        assert len(checks) == 1, f"{route.path} does not check the caller's role"
        path = re.sub(r"\{(\w+)(?::path)?\}", lambda m: SAMPLE[m.group(1)], route.path)
        for method in sorted(route.methods):
            params.append(pytest.param(method, path, checks[0].roles, id=f"{method} {route.path}"))
    return params


ROUTES = _routes()


def editor(keys: Keys) -> dict[str, str]:
    return {"X-API-Key": keys.editor}


def error_of(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == code
    assert {"code", "message", "field"} <= set(body["error"])
    return body["error"]  # type: ignore[no-any-return]


def version_of(client: TestClient, keys: Keys, pid: str) -> int:
    response = client.get(f"/catalog/products/{pid}", headers=editor(keys))
    assert response.status_code == 200, response.text
    return int(response.json()["version"])


def search_ids(client: TestClient, q: str, *filters: str) -> list[str]:
    """Hits for ``q``; a bare name query is ranked by keyword (bm25), so the check is the
    index's, whatever the tuned default ranker makes of a made-up name."""
    params = [("q", q), ("k", "20"), *(("filter", f) for f in filters)]
    if not filters:
        params.append(("ranker", "bm25"))
    response = client.get("/search", params=params)
    assert response.status_code == 200, response.text
    return [h["product_id"] for h in response.json()["hits"]]


# -- roles ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("method", "path", "admitted"), ROUTES)
def test_every_route_wants_a_key_with_a_role_it_admits(
    client: TestClient,
    keys: Keys,
    engine: Engine,
    method: str,
    path: str,
    admitted: frozenset[Role],
) -> None:
    revision = engine.graph.revision
    error_of(client.request(method, path), 401, "missing_api_key")
    # A key id of its own per route: failed attempts are throttled per key id.
    key_id = hashlib.sha256(f"{method} {path}".encode()).hexdigest()[:12]
    bad = {"X-API-Key": f"kgs_{key_id}_not-a-real-secret"}
    error_of(client.request(method, path, headers=bad), 401, "invalid_api_key")
    wrong = [role for role in Role if role not in admitted]
    assert wrong, "every protected route turns some role away"
    for role in wrong:
        response = client.request(method, path, headers={"X-API-Key": keys.of(role)})
        assert role.value in error_of(response, 403, "forbidden")["message"]
    assert engine.graph.revision == revision  # nothing was written


def test_editors_and_admins_edit_viewers_do_not(client: TestClient, keys: Keys) -> None:
    for key in (keys.editor, keys.admin, keys.bootstrap):
        assert client.get("/catalog/products/S1", headers={"X-API-Key": key}).status_code == 200
    assert client.get("/search", params={"q": "sofa"}).status_code == 200  # public for now


def test_admin_creates_lists_and_revokes_keys(client: TestClient, keys: Keys) -> None:
    admin = {"X-API-Key": keys.bootstrap}
    made = client.post("/admin/keys", json={"user": "dana", "role": "editor"}, headers=admin)
    assert made.status_code == 201
    key = made.json()["key"]
    assert client.get("/catalog/products", headers={"X-API-Key": key}).status_code == 200
    listed = client.get("/admin/keys", headers=admin).json()["items"]
    assert all("scrypt" not in k and "salt" not in k for k in listed)
    assert key not in str(listed)
    revoked = client.delete(f"/admin/keys/{made.json()['key_id']}", headers=admin)
    assert revoked.status_code == 200
    error_of(client.get("/catalog/products", headers={"X-API-Key": key}), 401, "invalid_api_key")
    bad_role = client.post("/admin/keys", json={"user": "x", "role": "root"}, headers=admin)
    error_of(bad_role, 422, "invalid_parameter")


def test_a_key_for_a_user_name_with_control_characters_is_a_422_not_a_crash(
    client: TestClient, keys: Keys
) -> None:
    # Found by the fuzz test: the key store refused the name with a ValueError (a 500).
    admin = {"X-API-Key": keys.bootstrap}
    before = len(client.get("/admin/keys", headers=admin).json()["items"])
    for user in ("dana\rx", "a\x18b", "   "):
        made = client.post("/admin/keys", json={"user": user, "role": "viewer"}, headers=admin)
        assert error_of(made, 422, "invalid_parameter")["field"] == "user"
    assert len(client.get("/admin/keys", headers=admin).json()["items"]) == before


# -- edits ----------------------------------------------------------------------------------


def test_an_edit_is_searchable_by_its_new_attribute_at_once(client: TestClient, keys: Keys) -> None:
    assert "C1" in search_ids(client, "chair", "color:blue")
    version = version_of(client, keys, "C1")
    response = client.patch(
        "/catalog/products/C1",
        json={
            "expected_version": version,
            "name": "Saffron wingback chair",
            "attributes": {"color": "saffron"},
        },
        headers=editor(keys),
    )
    assert response.status_code == 200, response.text
    assert response.json()["searchable"] is True
    assert "C1" in search_ids(client, "chair", "color:saffron")
    assert "C1" not in search_ids(client, "chair", "color:blue")
    assert search_ids(client, "saffron wingback")[0] == "C1"
    # How fast: benchmarks/edits.py (edit-to-searchable p50/p95), not a timed unit test.
    body = response.json()["product"]
    assert body["version"] == version + 1 and body["attributes"]["color"] == "saffron"


def test_a_stale_version_is_a_409(client: TestClient, keys: Keys) -> None:
    version = version_of(client, keys, "S3")
    ok = client.patch(
        "/catalog/products/S3",
        json={"expected_version": version, "price": 1450},
        headers=editor(keys),
    )
    assert ok.status_code == 200
    stale = client.patch(
        "/catalog/products/S3",
        json={"expected_version": version, "price": 1},
        headers=editor(keys),
    )
    err = error_of(stale, 409, "version_conflict")
    assert err["field"] == "expected_version" and err["entity_id"] == "product:S3"
    missing = client.patch("/catalog/products/S3", json={"price": 1}, headers=editor(keys))
    assert error_of(missing, 422, "missing_field")["field"] == "expected_version"


@pytest.mark.parametrize(
    ("body", "status", "code", "field"),
    [
        ({"price": -1}, 422, "invalid_value", "price"),
        ({"name": ""}, 422, "invalid_value", "name"),
        ({"attributes": {"wattage": "60"}}, 422, "unknown_attribute_key", "attributes.wattage"),
        ({"brand": "Nobody Inc"}, 422, "unknown_entity", "brand"),
        ({"category": None}, 422, "orphan_product", "category"),
        ({"sku": "1"}, 422, "unknown_field", "sku"),
        # unbounded counts once broke every search recalling the product (float overflow)
        ({"rating_count": 10**401}, 422, "invalid_value", "rating_count"),
        ({"review_count": 10**10}, 422, "invalid_value", "review_count"),
    ],
)
def test_rule_violations_are_json_with_codes(
    client: TestClient, keys: Keys, body: dict[str, Any], status: int, code: str, field: str
) -> None:
    version = version_of(client, keys, "T2")
    response = client.patch(
        "/catalog/products/T2", json={"expected_version": version, **body}, headers=editor(keys)
    )
    err = error_of(response, status, code)
    assert err["field"] == field and err["entity_id"] == "product:T2"
    assert err["issues"][0]["rule"]


def test_unknown_product_is_a_404(client: TestClient, keys: Keys) -> None:
    error_of(client.get("/catalog/products/NOPE", headers=editor(keys)), 404, "not_found")


def test_concurrent_editors_exactly_one_wins(live_url: str, keys: Keys, engine: Engine) -> None:
    products_before = engine.graph.count(EntityKind.PRODUCT)
    with httpx.Client(base_url=live_url, headers=editor(keys), timeout=30) as c:
        version = c.get("/catalog/products/T1").json()["version"]
    barrier = threading.Barrier(8)
    outcomes: dict[int, httpx.Response] = {}

    def patch(n: int) -> None:
        with httpx.Client(base_url=live_url, headers=editor(keys), timeout=30) as c:
            barrier.wait()
            outcomes[n] = c.patch(
                "/catalog/products/T1", json={"expected_version": version, "price": 700 + n}
            )

    threads = [threading.Thread(target=patch, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    statuses = sorted(r.status_code for r in outcomes.values())
    assert statuses == [200] + [409] * 7
    winner = next(n for n, r in outcomes.items() if r.status_code == 200)
    with httpx.Client(base_url=live_url, headers=editor(keys), timeout=30) as c:
        final = c.get("/catalog/products/T1").json()
        assert final["version"] == version + 1 and final["price"] == 700 + winner  # no lost update
        new = {
            "product_id": "Z9",
            "name": "Zigzag stool",
            "product_class": "Accent Chairs",
            "category": "category:furniture/living-room/accent-chairs",
        }

        def create(n: int) -> None:
            barrier.wait()
            outcomes[n] = httpx.post(
                f"{live_url}/catalog/products", json=new, headers=editor(keys), timeout=30
            )

        outcomes.clear()
        threads = [threading.Thread(target=create, args=(n,)) for n in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert sorted(r.status_code for r in outcomes.values()) == [201] + [409] * 7
    assert engine.graph.count(EntityKind.PRODUCT) == products_before + 1  # no duplicates


def test_every_catalog_write_route_works(client: TestClient, keys: Keys) -> None:
    h = editor(keys)
    brand = client.post("/catalog/brands", json={"name": "Fjordline"}, headers=h)
    assert brand.status_code == 201, brand.text
    bid = brand.json()["entity_id"]
    renamed = client.patch(
        f"/catalog/brands/{bid}", json={"name": "Fjordline Co", "expected_version": 1}, headers=h
    )
    assert renamed.status_code == 200 and renamed.json()["version"] == 2
    other = client.post("/catalog/brands", json={"name": "Fjord Line"}, headers=h).json()
    merged = client.post(
        f"/catalog/brands/{bid}/merge",
        json={"source": other["entity_id"], "expected_version": 2, "source_expected_version": 1},
        headers=h,
    )
    assert merged.status_code == 200, merged.text
    assert client.delete(f"/catalog/brands/{bid}?expected_version=3", headers=h).status_code == 200
    names = [b["name"] for b in client.get("/catalog/brands", headers=h).json()["items"]]
    assert "Fjordline Co" not in names and "Oakhaven" in names

    cat = client.post(
        "/catalog/categories", json={"name": "Ottomans", "parent": "category:furniture"}, headers=h
    )
    assert cat.status_code == 201
    cid = cat.json()["entity_id"]
    moved = client.patch(
        f"/catalog/categories/{cid}",
        json={"expected_version": 1, "parent": "category:furniture/living-room", "name": "Poufs"},
        headers=h,
    )
    assert moved.status_code == 200, moved.text
    cycle = client.patch(
        "/catalog/categories/category:furniture",
        json={"expected_version": 1, "parent": cid},
        headers=h,
    )
    error_of(cycle, 422, "category_cycle")
    gone = client.delete(f"/catalog/categories/{cid}?expected_version=2", headers=h)
    assert gone.status_code == 200, gone.text
    error_of(
        client.delete(
            "/catalog/categories/category:furniture/bedroom/beds?expected_version=1", headers=h
        ),
        422,
        "orphan_product",
    )

    listed = client.get("/catalog/attributes", params={"product_class": "Beds"}, headers=h).json()
    assert {"color", "material", "size"} <= set(listed["allowed_keys"])
    assert "finish" in listed["keys"]
    key = client.post(
        "/catalog/attributes/keys/rename",
        json={"key": "finish", "new_key": "metal finish"},
        headers=h,
    )
    assert key.status_code == 200, key.text
    value = client.patch(
        "/catalog/attributes/attr:finish=brass",
        json={"value": "aged brass", "expected_version": 2},
        headers=h,
    )
    assert value.status_code == 200, value.text
    lamp = client.get("/catalog/products/L1", headers=h).json()
    assert lamp["attributes"] == {"metal finish": "aged brass"}
    assert "L1" in search_ids(client, "lamp", "metal finish:aged brass")

    rel = {
        "source": "product:N1",
        "type": "HAS_BRAND",
        "target": "brand:birchley",
        "expected_version": version_of(client, keys, "N1"),
    }
    assert client.post("/catalog/relations", json=rel, headers=h).status_code == 200
    assert client.get("/catalog/products/N1", headers=h).json()["brand"] == "Birchley"
    params = {**rel, "expected_version": rel["expected_version"] + 1}
    assert client.delete("/catalog/relations", params=params, headers=h).status_code == 200
    assert client.get("/catalog/products/N1", headers=h).json()["brand"] is None
    bad = client.post("/catalog/relations", json={**rel, "type": "LIKES"}, headers=h)
    error_of(bad, 422, "invalid_relation")

    created = client.post(
        "/catalog/products",
        json={
            "product_id": "B3",
            "name": "Canopy bed",
            "product_class": "Beds",
            "category": "Furniture / Bedroom / Beds",
            "brand": "Birchley",
            "attributes": {"size": "queen"},
        },
        headers=h,
    )
    assert created.status_code == 201, created.text
    assert search_ids(client, "canopy bed")[0] == "B3"
    merge = client.post(
        "/catalog/products/B1/merge",
        json={
            "source": "B3",
            "expected_version": version_of(client, keys, "B1"),
            "source_expected_version": 1,
        },
        headers=h,
    )
    assert merge.status_code == 200, merge.text
    error_of(client.get("/catalog/products/B3", headers=h), 404, "not_found")
    deleted = client.delete(
        f"/catalog/products/B1?expected_version={version_of(client, keys, 'B1')}", headers=h
    )
    assert deleted.status_code == 200 and deleted.json()["version"] is None
    assert "B1" not in search_ids(client, "platform bed frame")


# -- import ---------------------------------------------------------------------------------


def _tsv(tmp_path: Path, price: float) -> bytes:
    rows = [
        p.model_copy(update={"price": price}) if p.product_id == "R1" else p
        for p in SMALL_PRODUCTS
        if p.product_id not in ("B1", "B3")
    ]
    write_products(tmp_path / "p.csv", rows)
    return (tmp_path / "p.csv").read_bytes()


def test_import_dry_run_multipart_then_json(
    client: TestClient, keys: Keys, engine: Engine, tmp_path: Path
) -> None:
    revision = engine.graph.revision
    response = client.post(
        "/catalog/import",
        params={"dry_run": "true"},
        files={"file": ("product.csv", _tsv(tmp_path, 222.0), "text/tab-separated-values")},
        headers=editor(keys),
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["dry_run"] is True and body["written"] is False
    changed = {c["product_id"]: c["fields"] for c in body["changed"]}
    assert {"field": "price", "before": 259.0, "after": 222.0} in changed["R1"]
    assert engine.graph.revision == revision

    write_products(tmp_path / "two.csv", SMALL_PRODUCTS[:2])
    refused = client.post(
        "/catalog/import",
        params={"mode": "replace"},
        content=(tmp_path / "two.csv").read_bytes(),
        headers={**editor(keys), "Content-Type": "text/tab-separated-values"},
    )
    assert "delete" in error_of(refused, 409, "delete_limit")["message"]
    assert engine.graph.revision == revision

    new = {
        "product_id": "R9",
        "name": "Jute runner rug",
        "product_class": "Area Rugs",
        "category_path": ["Rugs", "Area Rugs"],
        "features": {"color": "natural"},
    }
    bad = {"product_id": "R10", "name": "Bad rug", "price": "cheap"}
    invalid = client.post("/catalog/import", json={"products": [new, bad]}, headers=editor(keys))
    err = error_of(invalid, 422, "invalid_value")
    assert any(i.get("line") == 2 and i["field"] == "price" for i in err["issues"])
    assert engine.graph.revision == revision
    written = client.post(
        "/catalog/import",
        params={"skip_invalid": "true"},
        json={"products": [new, bad]},
        headers=editor(keys),
    )
    assert written.status_code == 200, written.text
    assert written.json()["added"] == ["R9"] and written.json()["searchable"] is True
    assert search_ids(client, "jute runner")[0] == "R9"


# -- audit and undo -------------------------------------------------------------------------


def test_audit_pages_and_undo(client: TestClient, keys: Keys) -> None:
    h = editor(keys)
    version = version_of(client, keys, "N1")
    for price in (111, 112, 113):
        r = client.patch(
            "/catalog/products/N1", json={"expected_version": version, "price": price}, headers=h
        )
        version = r.json()["version"]
    page = client.get("/catalog/audit", params={"entity_id": "N1", "limit": 2}, headers=h).json()
    assert [i["diff"]["price"]["after"] for i in page["items"]] == [113, 112]
    assert page["has_more"] and page["next_offset"] == 2
    mine = client.get("/catalog/audit", params={"actor": "editor-user", "limit": 5}, headers=h)
    assert {i["actor"] for i in mine.json()["items"]} == {"editor-user"}
    latest = page["items"][0]["seq"]
    undone = client.post(f"/catalog/undo/{latest}", headers=h)
    assert undone.status_code == 200, undone.text
    assert client.get("/catalog/products/N1", headers=h).json()["price"] == 112
    again = client.post(f"/catalog/undo/{page['items'][1]['seq']}", headers=h)
    error_of(again, 409, "version_conflict")  # N1 changed since (the undo itself)
    error_of(client.post("/catalog/undo/999999", headers=h), 404, "not_found")
    # beyond SQLite's 64-bit integers: still just "not in the log"
    error_of(client.post(f"/catalog/undo/{10**23}", headers=h), 404, "not_found")
    last = client.get("/catalog/audit", params={"limit": 1}, headers=h).json()["items"][0]
    assert last["actor"] == "editor-user" and last["entity_id"] == "product:N1"


# -- restart ----------------------------------------------------------------------------------


def test_indexes_catch_up_from_the_change_log_after_a_restart(
    tmp_path: Path, encoder: MiniLMEncoder
) -> None:
    engine = build_engine(tmp_path, encoder)
    keys = make_keys(engine)
    with TestClient(create_app(engine)) as client:
        version = version_of(client, keys, "L1")
        r = client.patch(
            "/catalog/products/L1",
            json={"expected_version": version, "name": "Brass banker lamp"},
            headers=editor(keys),
        )
        assert r.status_code == 200
    # An edit no server saw (as the CLI makes them): only the change log has it.
    ops = CatalogOps(store=engine.graph)
    ops.products.update("R1", {"name": "Zebra shag rug"}, expected_version=1, actor="cli")
    engine.close()

    restarted = Engine(Settings(home=tmp_path, admin_api_key=ADMIN_KEY), encoder=encoder)
    with TestClient(create_app(restarted)) as client:
        assert search_ids(client, "banker lamp")[0] == "L1"
        assert search_ids(client, "zebra rug")[0] == "R1"
    restarted.close()


def test_a_json_body_python_cannot_parse_is_a_400_not_a_500(client: TestClient, keys: Keys) -> None:
    # Python refuses integers of more than 4,300 digits (a ValueError, not a JSON error).
    body = b'{"product_id": "HUGE1", "name": "x", "rating_count": ' + b"1" * 5_001 + b"}"
    response = client.post(
        "/catalog/products",
        content=body,
        headers={**editor(keys), "content-type": "application/json"},
    )
    error_of(response, 400, "malformed_body")


def test_unknown_routes_and_methods_answer_in_the_error_shape(client: TestClient) -> None:
    error_of(client.get("/no/such/route"), 404, "no_such_route")
    error_of(client.delete("/health"), 405, "method_not_allowed")
