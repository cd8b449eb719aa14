"""A reindex reuses the live version's trained rankers when nothing they learn from changed,
and trains them again when a judgment, a document or ``--retrain`` says so."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import pytest
from conftest import TINY

from app.engine import Engine
from app.settings import Settings
from ingest import ranker_reuse
from ingest.ranker_reuse import (
    changed_inputs,
    personal_fingerprint,
    training_fingerprint,
    training_inputs,
)
from ingest.versions import Manifest
from kg.schema import EntityWrite, WriteBatch
from ranker.evaluation import JudgedQuery
from search.analysis import Analyzer
from search.onnx_encoder import OnnxMiniLMEncoder


def ranker_files(engine: Engine) -> dict[str, bytes]:
    root = engine.versions.live_path() / "rankers"
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def top10(engine: Engine, queries: list[str]) -> list[list[str]]:
    service, _ = engine.service()
    return [[h.product_id for h in service.search(q, k=10).hits] for q in queries]


def change_a_label(home: Path) -> None:
    """Raise the grade of one judged pair (the file keeps its header and other rows)."""
    path = home / "catalogue" / "label.csv"
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    header = lines[0].rstrip("\n").split("\t")
    grade = header.index("label")
    row = lines[1].rstrip("\n").split("\t")
    row[grade] = "Partial" if row[grade] != "Partial" else "Exact"
    lines[1] = "\t".join(row) + "\n"
    path.write_text("".join(lines), encoding="utf-8")


def rename(engine: Engine, pid: str) -> None:
    entity = engine.graph.get(f"product:{pid}")
    assert entity is not None
    props = {**entity.properties, "name": f"{entity.properties['name']} deluxe"}
    write = EntityWrite(entity.id, entity.kind, props, expected_version=entity.version)
    engine.graph.write(WriteBatch(upserts=(write,)), actor="test")


def trained(manifest: Manifest) -> bool:
    return manifest.rankers_reused_from is None and "lambdamart" in manifest.rankers


def test_no_change_reuses_and_changes_retrain(
    tmp_path: Path, onnx_encoder: OnnxMiniLMEncoder, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Others edit the source tree while tests run: freeze the code part of the fingerprint
    # (test_code_digest_follows_the_source checks that part on its own).
    frozen = ranker_reuse.code_digest()
    monkeypatch.setattr(ranker_reuse, "code_digest", lambda: frozen)
    home = tmp_path / "home"
    shutil.copytree(TINY, home / "catalogue")
    engine = Engine(Settings(home=home), encoder=onnx_encoder)
    engine.import_catalogue(home / "catalogue" / "product.csv")
    queries = ["velvet sofa", "oak dining table", "brass lamp"]

    first = engine.reindex()
    assert trained(first) and first.training_fingerprint
    files, hits = ranker_files(engine), top10(engine, queries)

    again = engine.reindex()
    assert again.rankers_reused_from == first.version
    assert again.training_fingerprint == first.training_fingerprint
    assert again.rankers == first.rankers and again.evaluation == first.evaluation
    assert again.default_ranker == "lambdamart"
    assert ranker_files(engine) == files  # the trained models themselves, copied
    assert top10(engine, queries) == hits

    change_a_label(home)
    relabelled = engine.reindex()
    assert trained(relabelled)
    assert relabelled.training_fingerprint != first.training_fingerprint

    forced = engine.reindex(retrain=True)
    assert trained(forced)
    assert forced.training_fingerprint == relabelled.training_fingerprint
    engine.close()


def test_an_edited_document_retrains(
    tmp_path: Path, onnx_encoder: OnnxMiniLMEncoder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without judgments only ``linear`` is tuned (fast); the decision is the same one."""
    frozen = ranker_reuse.code_digest()
    monkeypatch.setattr(ranker_reuse, "code_digest", lambda: frozen)
    rows = (TINY / "product.csv").read_text(encoding="utf-8").splitlines(keepends=True)
    (tmp_path / "p.csv").write_text("".join(rows[:41]), encoding="utf-8")  # 40 products
    engine = Engine(Settings(home=tmp_path / "home"), encoder=onnx_encoder)
    engine.import_catalogue(tmp_path / "p.csv")
    first = engine.reindex()
    assert engine.reindex().rankers_reused_from == first.version
    rename(engine, "P000003")
    edited = engine.reindex()
    assert edited.rankers_reused_from is None
    assert edited.training_fingerprint not in ("", first.training_fingerprint)
    engine.close()


@pytest.fixture
def documents(tmp_path: Path) -> Path:
    path = tmp_path / "documents.jsonl"
    path.write_text('{"product_id": "P1", "name": "Blue sofa"}\n', encoding="utf-8")
    return path


def test_fingerprint_follows_each_input(documents: Path, tmp_path: Path) -> None:
    judged = [JudgedQuery("q1", "blue sofa", {"P1": 2}, split="train")]
    base = {
        "documents": documents,
        "judged": judged,
        "encoder_identity": "onnx:abc",
        "analyzer": Analyzer(),
        "settings": {"recall_k": 200},
        "kge_dir": None,
    }
    reference = training_fingerprint(**base)  # type: ignore[arg-type]
    assert reference == training_fingerprint(**base)  # type: ignore[arg-type]
    kge = tmp_path / "kge"
    kge.mkdir()
    (kge / "meta.json").write_text("{}")
    other_docs = tmp_path / "other.jsonl"
    other_docs.write_text('{"product_id": "P1", "name": "Red sofa"}\n', encoding="utf-8")
    changes = {  # argument: (new value, the input the manifest names)
        "documents": (other_docs, "documents"),
        "judged": ([replace(judged[0], grades={"P1": 1})], "judgments"),
        "encoder_identity": ("onnx:def", "encoder"),
        "analyzer": (Analyzer(stem=False), "analyzer"),
        "settings": ({"recall_k": 100}, "settings"),
        "kge_dir": (kge, "kge"),
    }
    inputs = training_inputs(**base)  # type: ignore[arg-type]
    for name, (value, input_name) in changes.items():
        changed = training_fingerprint(**{**base, name: value})  # type: ignore[arg-type]
        assert changed != reference, f"{name} left the fingerprint unchanged"
        now = training_inputs(**{**base, name: value})  # type: ignore[arg-type]
        assert changed_inputs(inputs, now) == [input_name]
    # An encoder that names no identity never matches anything (no reuse).
    assert training_fingerprint(**{**base, "encoder_identity": ""}) == ""  # type: ignore[arg-type]


def test_personal_fingerprint_follows_the_log() -> None:
    assert personal_fingerprint("abc", "lambdamart", ["e1"]) == personal_fingerprint(
        "abc", "lambdamart", ["e1"]
    )
    assert personal_fingerprint("abc", "lambdamart", ["e1"]) != personal_fingerprint(
        "abc", "lambdamart", ["e1", "e2"]
    )
    assert personal_fingerprint("", "lambdamart", ["e1"]) == ""


def test_code_digest_follows_the_source(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    (package / "__pycache__").mkdir(parents=True)
    (package / "a.py").write_text("x = 1\n")
    before = ranker_reuse._tree_digest(package, "*.py")
    (package / "__pycache__" / "a.cpython-311.pyc").write_bytes(b"compiled")
    (package / "notes.txt").write_text("not code")
    assert ranker_reuse._tree_digest(package, "*.py") == before
    (package / "a.py").write_text("x = 2\n")
    assert ranker_reuse._tree_digest(package, "*.py") != before
