"""`kgsearch catalog ...` in-process through typer's runner, on temp homes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import SMALL_PRODUCTS
from typer.testing import CliRunner

from app.auth import KeyStore
from app.cli import app
from app.engine import Engine
from app.settings import Settings
from ingest.formats import write_products

runner = CliRunner()


@pytest.fixture
def home(tmp_path: Path) -> Path:
    write_products(tmp_path / "small.csv", SMALL_PRODUCTS)
    engine = Engine(Settings(home=tmp_path))
    engine.import_catalogue(tmp_path / "small.csv")
    engine.close()
    return tmp_path


def run(home: Path, *args: str, user: str | None = "ana") -> tuple[int, str, str]:
    who = ["--user", user] if user else []
    result = runner.invoke(app, ["--home", str(home), "--quiet", "catalog", *who, *args])
    return result.exit_code, result.stdout, result.stderr


def test_help_lists_the_commands() -> None:
    result = runner.invoke(app, ["catalog", "--help"])
    assert result.exit_code == 0
    for command in ("show", "create", "update", "delete", "merge", "import", "audit", "undo"):
        assert command in result.stdout
    assert "keys" in result.stdout


def test_show_update_audit_undo(home: Path) -> None:
    code, out, _ = run(home, "show", "S1", "--json")
    assert code == 0 and json.loads(out)["version"] == 1
    code, out, err = run(
        home,
        "update", "S1", "--expected-version", "1",
        "--set", "price=799", "--attr", "color=green", "--attr", "material=", "--json",
    )  # fmt: skip
    assert code == 0, err
    assert json.loads(out)["version"] == 2
    code, out, _ = run(home, "show", "S1", "--json")
    view = json.loads(out)
    assert view["price"] == 799 and view["attributes"] == {"color": "green"}
    code, out, _ = run(home, "audit", "--entity", "S1", "--user", "ana", "--json")
    items = json.loads(out)["items"]
    assert items and {i["actor"] for i in items} == {"ana"}
    update = next(i for i in items if i["op"] == "update")
    assert update["diff"]["price"] == {"before": 899.0, "after": 799.0}
    relate = next(i for i in items if i["op"] == "relate")
    code, out, err = run(home, "undo", str(relate["seq"]))
    assert code == 0, err
    code, out, _ = run(home, "show", "S1", "--json")
    view = json.loads(out)  # the whole edit is reverted, not only the relation undone
    assert view["attributes"] == {"color": "blue", "material": "velvet"}
    assert view["price"] == 899


def test_the_actor_comes_from_kgsearch_user(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KGSEARCH_USER", "from-env")
    code, _, err = run(home, "update", "S2", "--set", "price=1", user=None)
    assert code == 0, err
    code, out, _ = run(home, "audit", "--entity", "S2", "--limit", "1", "--json")
    assert json.loads(out)["items"][0]["actor"] == "from-env"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["update", "S1", "--expected-version", "7", "--set", "price=1"], "version_conflict"),
        (["update", "S1", "--set", "price"], "not key=value"),
        (["update", "S1"], "nothing to change"),
        (["update", "S1", "--set", "price=-3"], "invalid_value"),
        (["update", "S1", "--set", "sku=1"], "unknown_field"),
        (["update", "S1", "--attr", "wattage=60"], "allowed: color, material"),
        (["show", "NOPE"], "not_found"),
        (["create", "S1", "--set", "name=Again", "--category", "Furniture"], "already_exists"),
        (["create", "Q1", "--set", "name=Q"], "orphan_product"),
        (["relate", "product:S1", "HAS_BRAND", "brand:ghost"], "unknown_entity"),
        (["undo", "999999"], "not_found"),
        (["import", "missing.csv"], "does not exist"),
        (["keys", "create", "--role", "root", "--user", "x"], "--role must be"),
    ],
)
def test_bad_input_exits_2_with_a_message(home: Path, args: list[str], message: str) -> None:
    code, _, err = run(home, *args)
    assert code == 2
    assert message in err


def test_errors_as_json(home: Path) -> None:
    code, out, _ = run(
        home, "update", "S1", "--expected-version", "9", "--set", "price=1", "--json"
    )
    assert code == 2
    assert json.loads(out)["error"]["code"] == "version_conflict"


def test_create_merge_delete(home: Path) -> None:
    code, out, err = run(
        home,
        "create", "S9",
        "--set", "name=Cloud sofa", "--set", "product_class=Sofas",
        "--category", "Furniture / Living Room / Sofas", "--brand", "Birchley",
        "--attr", "color=white", "--json",
    )  # fmt: skip
    assert code == 0, err
    assert json.loads(out)["version"] == 1
    code, out, err = run(home, "merge", "S1", "S9", "--json")
    assert code == 0, err
    code, out, _ = run(home, "show", "S9")
    assert code == 2
    code, out, err = run(home, "delete", "S1", "--json")
    assert code == 0 and json.loads(out)["version"] is None


def test_import_dry_run_replace_and_force(home: Path) -> None:
    changed = [
        p.model_copy(update={"price": 1.0}) if p.product_id == "L1" else p
        for p in SMALL_PRODUCTS[:10]
    ]
    write_products(
        home / "new.csv", [*changed, SMALL_PRODUCTS[11].model_copy(update={"price": 1.0})]
    )
    code, out, err = run(home, "import", str(home / "new.csv"), "--dry-run")
    assert code == 0, err
    assert "'changed': 1" in out and "~ L1 price: 89.0 -> 1.0" in out
    write_products(home / "fewer.csv", SMALL_PRODUCTS[:9])
    code, _, err = run(home, "import", str(home / "fewer.csv"), "--replace")
    assert code == 2 and "delete_limit" in err
    code, out, err = run(home, "import", str(home / "fewer.csv"), "--replace", "--force", "--json")
    assert code == 0, err
    body = json.loads(out)
    assert body["written"] and body["removed"] == ["L1", "N1", "R1"]


def test_keys_create_list_revoke(home: Path) -> None:
    code, out, err = run(home, "keys", "create", "--role", "editor", "--user", "bob", "--json")
    assert code == 0, err
    made = json.loads(out)
    assert KeyStore(path=home / "api_keys.json").verify(made["key"]).user == "bob"
    code, out, _ = run(home, "keys", "list")
    assert made["key_id"] in out and made["key"] not in out
    code, out, _ = run(home, "keys", "revoke", made["key_id"])
    assert code == 0
    code, _, err = run(home, "keys", "revoke", made["key_id"])
    assert code == 2 and "no active key" in err
