"""One import path: `kgsearch import` (Engine.import_catalogue), `kgsearch catalog import`
and the API all go through ImportOps, with the same checks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import SMALL_PRODUCTS, TINY
from typer.testing import CliRunner

from app.cli import app
from app.engine import Engine
from app.settings import Settings
from catalogue.imports import ImportReport
from catalogue.ops import CatalogOps
from catalogue.validation import CatalogError
from ingest.formats import write_products
from ingest.records import ProductRecord
from kg.sqlite_store import SQLiteGraphStore

runner = CliRunner()


def cli(home: Path, *args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["--home", str(home), "--quiet", *args])
    return result.exit_code, result.stdout, result.stderr


def test_a_fresh_graphs_first_import_is_not_refused_for_its_keys(tmp_path: Path) -> None:
    engine = Engine(Settings(home=tmp_path))
    report = engine.import_catalogue(TINY / "product.csv")
    assert isinstance(report, ImportReport) and report.written
    assert report.imported == len(report.added) == 200 and not report.invalid
    assert report.source == str(TINY / "product.csv")
    again = engine.import_catalogue(TINY / "product.csv")
    assert again.unchanged == 200 and not again.written and again.imported == 200
    engine.close()


def test_a_known_class_keeps_its_keys_and_a_new_class_brings_its_own() -> None:
    ops = CatalogOps(store=SQLiteGraphStore(path=":memory:"))
    ops.imports.run(SMALL_PRODUCTS, actor="seed")
    sofa = SMALL_PRODUCTS[0].model_copy(update={"product_id": "S9", "features": {"legs": "4"}})
    lamp = ProductRecord(
        product_id="F1",
        name="Arc floor lamp",
        product_class="Floor Lamps",
        category_path=("Furniture", "Lighting", "Floor Lamps"),
        features={"height": "180 cm"},
    )
    report = ops.imports.run([sofa, lamp], actor="ana", dry_run=True)
    assert report.added == ("F1",)
    assert [(i.entity_id, i.code.value) for i in report.invalid] == [
        ("product:S9", "unknown_attribute_key")
    ]
    twice = ops.imports.run([lamp, lamp], actor="ana", dry_run=True)
    assert [i.rule for i in twice.invalid] == ["unique_id"]


def test_kgsearch_import_applies_the_catalog_checks(tmp_path: Path) -> None:
    orphan = ProductRecord(product_id="X1", name="No category", product_class="Sofas")
    write_products(tmp_path / "p.csv", [*SMALL_PRODUCTS[:3], orphan])
    code, _, err = cli(tmp_path, "import", str(tmp_path / "p.csv"))
    assert code == 2
    assert "1 invalid row(s); nothing was imported" in err and "line 5: category" in err
    assert "--skip-invalid" in err
    code, out, err = cli(tmp_path, "import", str(tmp_path / "p.csv"), "--skip-invalid")
    body = json.loads(out)
    assert code == 0 and (body["imported"], body["skipped"]) == (3, 1) and body["graph_revision"]
    assert "skipped line 5: category" in err


def test_a_file_without_a_valid_product_is_refused(tmp_path: Path) -> None:
    write_products(tmp_path / "p.csv", [])
    engine = Engine(Settings(home=tmp_path))
    for skip in (False, True):
        with pytest.raises(CatalogError) as exc:
            engine.import_catalogue(tmp_path / "p.csv", skip_invalid=skip)
        assert "line 0: file: no valid product rows" in {str(i) for i in exc.value.issues}
    assert engine.graph.revision == 0
    engine.close()
