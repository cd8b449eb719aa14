from __future__ import annotations

import json
from pathlib import Path

import pytest

from ingest.versions import IndexVersions, Manifest, NoIndexError


def manifest(name: str) -> Manifest:
    return Manifest(
        version=name,
        created_at=Manifest.now(),
        graph_revision=1,
        products=0,
        encoder="e",
        dim=1,
        field_weights={},
        recall_k=10,
        dense_min_score=0.0,
        rankers={},
        default_ranker="rrf",
    )


def build(versions: IndexVersions) -> str:
    name = versions.next_name()
    with versions.staging(name) as where:
        (where / "manifest.json").write_text(manifest(name).model_dump_json())
    versions.activate(name)
    return name


def test_empty_root_has_no_live_index(tmp_path: Path) -> None:
    versions = IndexVersions(root=tmp_path)
    assert versions.live() is None
    with pytest.raises(NoIndexError, match="kgsearch"):
        versions.live_path()
    with pytest.raises(NoIndexError):
        versions.rollback()


def test_activate_rollback_and_history(tmp_path: Path) -> None:
    versions = IndexVersions(root=tmp_path)
    first, second = build(versions), build(versions)
    assert (first, second) == ("v0001", "v0002")
    assert versions.live() == second
    assert versions.rollback() == first
    assert versions.live() == first
    assert json.loads((tmp_path / "LIVE").read_text()) == {"live": first, "history": []}
    assert versions.manifest(second).version == second


def test_failed_build_leaves_live_serving_and_no_debris(tmp_path: Path) -> None:
    versions = IndexVersions(root=tmp_path)
    live = build(versions)
    with pytest.raises(RuntimeError, match="boom"), versions.staging(versions.next_name()) as where:
        (where / "half.bin").write_bytes(b"x")
        raise RuntimeError("boom")
    assert versions.live() == live
    assert versions.names() == [live]
    assert [p.name for p in versions.dir.iterdir()] == [live]


def test_prune_keeps_live_and_recent(tmp_path: Path) -> None:
    versions = IndexVersions(root=tmp_path)
    names = [build(versions) for _ in range(5)]
    removed = versions.prune(keep=2)
    assert removed == names[:2]
    assert versions.names() == names[2:]
    assert versions.live() == names[-1]
    assert versions.rollback() == names[-2]


def test_activate_unknown_version(tmp_path: Path) -> None:
    with pytest.raises(NoIndexError):
        IndexVersions(root=tmp_path).activate("v0042")


def test_lock_refuses_a_second_builder(tmp_path: Path) -> None:
    versions = IndexVersions(root=tmp_path)
    with versions.locked(), pytest.raises(RuntimeError, match="another reindex"), versions.locked():
        pass
