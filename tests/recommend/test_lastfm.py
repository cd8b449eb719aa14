"""The Last.FM KG reader: the checked-in sample, bad files, and the full data set's counts
(skipped without the data outside CI, failed in CI)."""

from __future__ import annotations

from pathlib import Path

import pytest

from recommend.datasets.lastfm import LastFMKG, load_lastfm_kg


def test_sample_reads_with_graph_entities(sample: LastFMKG) -> None:
    summary = sample.summary()
    assert summary["users"] == 150 and summary["pairs"] == 1665
    assert summary["items"] == len(sample.graph.item_entities)
    assert all(entity.startswith("e") for entity in sample.graph.item_entities.values())
    assert sample.interactions.matrix.nnz == summary["pairs"]
    assert sample.interactions.matrix.sum() == pytest.approx(sum(w for *_, w in sample.pairs))


def test_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"user_artists\.dat"):
        load_lastfm_kg(tmp_path)


def test_malformed_line_is_reported(tmp_path: Path) -> None:
    (tmp_path / "user_artists.dat").write_text("userID\tartistID\tweight\n2\t51\n")
    (tmp_path / "item_index2entity_id.txt").write_text("51\t0\n")
    (tmp_path / "kg.txt").write_text("0\tr\t1\n")
    with pytest.raises(ValueError, match=r"user_artists\.dat line 2"):
        load_lastfm_kg(tmp_path)


def test_full_data_set_counts(full_lastfm: LastFMKG) -> None:
    assert full_lastfm.summary() == {
        "users": 1872,
        "items": 3846,
        "pairs": 21173,
        "triples": 15518,
        "relations": 60,
        "entities": 9366,
    }
