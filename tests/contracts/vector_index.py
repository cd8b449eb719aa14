"""The VectorIndex contract; backends provide an empty ``index`` fixture of dim 4."""

from __future__ import annotations

import numpy as np
import pytest

from search.vector import VectorIndex


def unit(*values: float) -> np.ndarray:
    v = np.array(values, dtype=np.float32)
    return v / np.linalg.norm(v)


VECTORS = {
    "A": unit(1, 0, 0, 0),
    "B": unit(1, 1, 0, 0),
    "C": unit(0, 1, 0, 0),
    "D": unit(0, 0, 1, 1),
}


class VectorIndexContract:
    @pytest.fixture
    def filled(self, index: VectorIndex) -> VectorIndex:
        index.upsert(list(VECTORS), np.stack(list(VECTORS.values())))
        return index

    def test_is_a_vector_index(self, index: VectorIndex) -> None:
        assert isinstance(index, VectorIndex)
        assert index.dim == 4
        assert index.count() == 0
        assert index.search(unit(1, 0, 0, 0), k=3) == []

    def test_search_orders_by_cosine(self, filled: VectorIndex) -> None:
        hits = filled.search(unit(1, 0.1, 0, 0), k=3)
        assert [p for p, _ in hits] == ["A", "B", "C"]
        assert hits[0][1] == pytest.approx(float(unit(1, 0.1, 0, 0) @ VECTORS["A"]), abs=1e-5)

    def test_allowed_restricts_exactly(self, filled: VectorIndex) -> None:
        hits = filled.search(unit(1, 0.5, 0.1, 0), k=10, allowed=frozenset({"C", "D"}))
        assert [p for p, _ in hits] == ["C", "D"]

    def test_scores_for_ids(self, filled: VectorIndex) -> None:
        scores = filled.scores(unit(0, 0, 1, 1), ["D", "A", "missing"])
        assert set(scores) == {"D", "A"}
        assert scores["D"] == pytest.approx(1.0, abs=1e-5)
        assert scores["A"] == pytest.approx(0.0, abs=1e-5)

    def test_upsert_replaces_delete_removes(self, filled: VectorIndex) -> None:
        filled.upsert(["A"], unit(0, 0, 0, 1)[None, :])
        assert filled.count() == 4
        assert filled.search(unit(0, 0, 0, 1), k=1)[0][0] == "A"
        filled.delete(["B", "nope"])
        assert filled.count() == 3
        assert "B" not in {p for p, _ in filled.search(unit(1, 1, 0, 0), k=10)}

    def test_rejects_bad_vectors(self, index: VectorIndex) -> None:
        with pytest.raises(ValueError, match="shape"):
            index.upsert(["A"], np.zeros((1, 3), dtype=np.float32))
        with pytest.raises(ValueError, match="NaN"):
            index.upsert(["A"], np.full((1, 4), np.nan, dtype=np.float32))
        with pytest.raises(ValueError):
            index.upsert(["A", "B"], np.zeros((1, 4), dtype=np.float32))
