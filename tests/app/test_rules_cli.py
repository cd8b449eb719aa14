"""`kgsearch rules ...` in-process through typer's runner, on one indexed small home."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import SMALL_PRODUCTS
from typer.testing import CliRunner

from app.cli import app
from app.engine import Engine
from app.settings import Settings
from ingest.formats import write_products
from search.encoder import MiniLMEncoder

runner = CliRunner()


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory, encoder: MiniLMEncoder) -> Path:
    path = tmp_path_factory.mktemp("rules-cli")
    write_products(path / "small.csv", SMALL_PRODUCTS)
    engine = Engine(Settings(home=path), encoder=encoder)
    engine.import_catalogue(path / "small.csv")
    engine.reindex()
    engine.close()
    return path


def run(home: Path, *args: str) -> tuple[int, Any, str]:
    result = runner.invoke(app, ["--home", str(home), "--quiet", "rules", "--user", "mia", *args])
    try:
        body = json.loads(result.stdout) if "--json" in args and result.stdout else result.stdout
    except json.JSONDecodeError:
        body = result.stdout
    return result.exit_code, body, result.stderr


def _hits(home: Path, query: str) -> list[str]:
    result = runner.invoke(app, ["--home", str(home), "--quiet", "search", query, "--json"])
    assert result.exit_code == 0, result.stderr
    return [h["product_id"] for h in json.loads(result.stdout)["hits"]]


def test_help_lists_the_commands() -> None:
    result = runner.invoke(app, ["rules", "--help"])
    assert result.exit_code == 0
    for command in ("list", "create", "preview", "publish", "delete", "undo", "audit"):
        assert command in result.stdout


def test_create_publish_delete_undo(home: Path) -> None:
    code, made, err = run(
        home, "create", "--action", "hide", "--brand", "Oakhaven", "--contains", "chair", "--json"
    )
    assert code == 0, err
    assert made["state"] == "draft" and made["draft"]["when"]["brand"] == "brand:oakhaven"
    rule = made["id"]
    code, listed, _ = run(home, "list")
    assert code == 0 and f"#{rule} v1 draft" in listed
    code, seen, err = run(home, "preview", str(rule), "--json")
    assert code == 0, err
    assert seen["judged_queries"] == 0  # this home has no judgments: nothing to lose
    assert "C1" in _hits(home, "accent chair")
    code, published, err = run(home, "publish", str(rule), "--json")
    assert code == 0, err
    assert published["state"] == "published"
    assert "C1" not in _hits(home, "accent chair")
    code, _, err = run(home, "delete", str(rule))
    assert code == 0, err
    assert "C1" in _hits(home, "accent chair")
    code, log, _ = run(home, "audit", "--rule", str(rule), "--json")
    assert [c["op"] for c in log["items"]] == ["delete", "update", "create"]
    assert {c["actor"] for c in log["items"]} == {"mia"}
    code, undone, err = run(home, "undo", str(log["items"][0]["seq"]), "--json")
    assert code == 0, err
    assert undone["rule"]["state"] == "published"
    assert "C1" not in _hits(home, "accent chair")
    run(home, "delete", str(rule))


def test_bad_rules_exit_2_saying_why(home: Path) -> None:
    code, _, err = run(home, "create", "--action", "hide", "--brand", "Nobrand")
    assert code == 2 and "unknown brand 'Nobrand'" in err
    code, _, err = run(
        home, "create", "--action", "boost", "--factor", "0.5", "--brand", "Oakhaven"
    )
    assert code == 2 and "above 1" in err
    code, _, err = run(
        home, "create", "--action", "hide", "--relation", "IN_COLLECTION=summer", "--json"
    )
    assert code == 2 and "unknown relation 'IN_COLLECTION'" in err
    code, _, err = run(home, "publish", "9999")
    assert code == 2 and "no rule #9999" in err
    spec = json.dumps(
        {
            "action": "pin",
            "product": "S2",
            "position": 1,
            "scope": {"kind": "exact", "value": "sofa"},
        }
    )
    code, made, err = run(home, "create", "--spec", spec, "--json")
    assert code == 0, err
    code, _, err = run(home, "create", "--spec", spec)
    assert code == 2 and f"held by rule #{made['id']}" in err
    run(home, "delete", str(made["id"]))
