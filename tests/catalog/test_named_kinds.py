"""Named kinds are declarations: the operations, the API routes and the CLI commands of
brands and categories all come from :data:`catalogue.kinds.NAMED_KINDS`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import SMALL_PRODUCTS
from typer.testing import CliRunner

from app.catalog_api import router
from app.cli import app
from app.engine import Engine
from app.settings import Settings
from catalogue.kinds import BRAND, CATEGORY, NAMED_KINDS, EntityKindSpec
from catalogue.ops import CatalogOps
from catalogue.validation import CatalogError
from ingest.formats import write_products
from kg.schema import EntityKind, RelationType
from kg.sqlite_store import SQLiteGraphStore

runner = CliRunner()


def test_bad_declarations_are_refused_at_once() -> None:
    with pytest.raises(ValueError, match="do not start with"):
        EntityKindSpec(
            kind=EntityKind.BRAND, path="makers", label="maker", products=RelationType.HAS_BRAND
        )
    with pytest.raises(ValueError, match="not a named entity"):
        EntityKindSpec(
            kind=EntityKind.PRODUCT,
            path="products",
            label="product",
            products=RelationType.HAS_BRAND,
        )
    with pytest.raises(ValueError, match="do not merge"):
        EntityKindSpec(
            kind=EntityKind.CATEGORY,
            path="categories",
            label="category",
            products=RelationType.IN_CATEGORY,
            parent=RelationType.SUBCATEGORY_OF,
            mergeable=True,
        )


def test_every_declared_kind_gets_its_ops_and_routes() -> None:
    ops = CatalogOps(store=SQLiteGraphStore(path=":memory:"))
    assert ops.brands.spec is BRAND and ops.categories.spec is CATEGORY
    routes = {(m, r.path) for r in router.routes for m in getattr(r, "methods", ())}
    for spec in NAMED_KINDS:
        assert ops.named[spec.kind].spec is spec
        base = f"/catalog/{spec.path}"
        item = f"{base}/{{{spec.label}_id{':path' if spec.tree else ''}}}"
        assert {("GET", base), ("POST", base), ("PATCH", item), ("DELETE", item)} <= routes
        assert (("POST", f"{item}/merge") in routes) is spec.mergeable


def test_categories_do_not_merge_and_brands_have_no_parent() -> None:
    ops = CatalogOps(store=SQLiteGraphStore(path=":memory:"))
    ops.imports.run(SMALL_PRODUCTS, actor="seed")
    with pytest.raises(CatalogError) as merge:
        ops.categories.merge(
            "category:furniture/bedroom/beds",
            "category:furniture/bedroom/nightstands",
            expected_version=1,
            loser_expected_version=1,
            actor="ana",
        )
    assert merge.value.code == "invalid_value" and merge.value.issues[0].rule == "mergeable"
    with pytest.raises(CatalogError) as parent:
        ops.brands.create("Newco", parent="brand:oakhaven", actor="ana")
    assert parent.value.issues[0].rule == "no_parent"
    assert ops.brands.get("oakhaven").products == 4
    assert ops.categories.get("furniture/bedroom").path == ("Furniture", "Bedroom")


@pytest.fixture
def home(tmp_path: Path) -> Path:
    write_products(tmp_path / "small.csv", SMALL_PRODUCTS)
    engine = Engine(Settings(home=tmp_path))
    engine.import_catalogue(tmp_path / "small.csv")
    engine.close()
    return tmp_path


def run(home: Path, *args: str) -> tuple[int, str, str]:
    argv = ["--home", str(home), "--quiet", "catalog", "--user", "ana", *args]
    result = runner.invoke(app, argv)
    return result.exit_code, result.stdout, result.stderr


def test_the_cli_commands_of_each_kind(home: Path) -> None:
    code, out, _ = run(home, "brands", "list", "--json")
    assert code == 0 and len(json.loads(out)["items"]) == 3
    code, out, err = run(home, "brands", "create", "Oak Haven", "--json")
    assert code == 0, err
    assert json.loads(out)["entity_id"] == "brand:oak-haven"
    code, _, err = run(home, "brands", "create", "oak haven")
    assert code == 2 and "already_exists" in err
    code, out, _ = run(home, "brands", "rename", "oak-haven", "Oak Haven", "--json")
    assert code == 0 and json.loads(out)["notes"] == ["same name"]
    code, out, err = run(home, "brands", "merge", "oakhaven", "oak-haven", "--json")
    assert code == 0, err
    code, _, err = run(home, "brands", "delete", "oakhaven")
    assert code == 2 and "in_use" in err

    code, out, err = run(home, "categories", "create", "Outdoor", "--json")
    assert code == 0, err
    code, out, err = run(home, "categories", "create", "Hammocks", "--parent", "outdoor")
    assert code == 0 and "category:outdoor/hammocks" in out, err
    code, out, err = run(home, "categories", "move", "outdoor/hammocks", "--top", "--json")
    assert code == 0, err
    code, out, _ = run(home, "categories", "list", "--json")
    listed = {c["entity_id"]: c for c in json.loads(out)["items"]}
    assert listed["category:outdoor/hammocks"]["parent"] is None
    assert listed["category:outdoor/hammocks"]["path"] == ["Hammocks"]
    code, _, err = run(home, "categories", "move", "outdoor/hammocks")
    assert code == 2 and "--parent" in err
    code, _, err = run(home, "categories", "delete", "furniture/bedroom/beds")
    assert code == 2 and "orphan_product" in err
    assert run(home, "categories", "delete", "outdoor")[0] == 0
    result = runner.invoke(app, ["catalog", "categories", "--help"])
    assert "merge" not in result.stdout and "move" in result.stdout
