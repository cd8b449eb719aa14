"""The CLI, run in-process through typer's runner against real engines on temp homes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import SMALL_PRODUCTS
from typer.testing import CliRunner

from app.cli import app
from app.engine import Engine
from ingest.formats import write_products

runner = CliRunner()


def run(home: Path, *args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["--home", str(home), "--quiet", *args])
    return result.exit_code, result.stdout, result.stderr


def test_help_lists_the_commands() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("demo", "search", "evaluate", "generate", "serve", "reindex", "import"):
        assert command in result.stdout


def test_search_json(small_engine: Engine) -> None:
    code, out, _ = run(small_engine.home, "search", "velvet sofa", "--k", "2", "--json")
    assert code == 0
    body = json.loads(out)
    assert {"query", "took_ms", "facets", "hits"} <= set(body)
    assert len(body["hits"]) == 2
    assert {"product_id", "name", "score", "signals"} <= set(body["hits"][0])
    assert body["hits"][0]["product_id"] == "S1"


def test_search_says_what_it_corrected_and_exact_turns_it_off(small_engine: Engine) -> None:
    code, out, _ = run(small_engine.home, "search", "velvet sfoa", "--k", "2", "--json")
    assert code == 0 and json.loads(out)["corrected_query"] == "velvet sofa"
    code, out, _ = run(small_engine.home, "search", "velvet sfoa", "--json", "--exact")
    assert code == 0 and json.loads(out)["corrected_query"] is None
    code, out, _ = run(small_engine.home, "search", "velvet sfoa", "--k", "2")
    assert code == 0 and "searched for 'velvet sofa'" in " ".join(out.split())


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["search", "   "], "empty"),
        (["search", "sofa", "--k", "0"], "k must be"),
        (["search", "sofa", "--ranker", "magic"], "unknown ranker"),
        (["evaluate", "--split", "nope"], "no judg"),
    ],
)
def test_bad_input_exits_2_with_a_message(
    small_engine: Engine, args: list[str], message: str
) -> None:
    code, _, err = run(small_engine.home, *args)
    assert code in (1, 2)
    assert message in err
    if args[0] == "search":
        assert code == 2


def test_search_without_an_index_says_how_to_build_one(tmp_path: Path) -> None:
    code, _, err = run(tmp_path, "search", "sofa")
    assert code == 1
    assert "kgsearch reindex" in err


def test_import_reindex_rollback(tmp_path: Path) -> None:
    write_products(tmp_path / "good.csv", SMALL_PRODUCTS[:4])
    code, out, _ = run(tmp_path, "import", str(tmp_path / "good.csv"))
    assert code == 0 and json.loads(out)["imported"] == 4
    code, out, _ = run(tmp_path, "reindex")
    assert code == 0 and json.loads(out)["live"] == "v0001"

    write_products(tmp_path / "more.csv", SMALL_PRODUCTS[4:])
    run(tmp_path, "import", str(tmp_path / "more.csv"))
    assert json.loads(run(tmp_path, "reindex")[1])["products"] == len(SMALL_PRODUCTS)
    assert json.loads(run(tmp_path, "search", "rug", "--json")[1])["index_version"] == "v0002"

    code, out, _ = run(tmp_path, "reindex", "--rollback")
    assert code == 0 and json.loads(out)["live"] == "v0001"
    body = json.loads(run(tmp_path, "search", "rug", "--json")[1])
    assert body["index_version"] == "v0001"
    # The graph stays the source of truth: the rolled-back version catches up on the
    # products imported after it was built, from the change log.
    assert "R1" in {h["product_id"] for h in body["hits"]}


def test_invalid_catalogue_imports_nothing_unless_asked(tmp_path: Path) -> None:
    write_products(tmp_path / "p.csv", SMALL_PRODUCTS[:3])
    bad = tmp_path / "p.csv"
    lines = bad.read_text().splitlines()
    lines.append(lines[1])  # duplicate product id
    lines.append("X9\t\tSofas\t\t\t\t\t\t\t\t")  # empty name
    bad.write_text("\n".join(lines) + "\n")

    code, _, err = run(tmp_path, "import", str(bad))
    assert code == 2
    assert "line 5" in err and "duplicate" in err
    assert "line 6" in err and "product_name" in err
    assert "nothing was imported" in err
    assert json.loads(run(tmp_path, "status")[1])["graph_revision"] == 0

    code, out, err = run(tmp_path, "import", str(bad), "--skip-invalid")
    assert code == 0
    assert json.loads(out)["imported"] == 3 and json.loads(out)["skipped"] == 2
    assert "skipped line 5" in err


def test_import_missing_file(tmp_path: Path) -> None:
    code, _, err = run(tmp_path, "import", str(tmp_path / "nope.csv"))
    assert code == 2 and "does not exist" in err
