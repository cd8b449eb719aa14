"""Score fusion: per-row normalisation and what "no opinion" (NaN) becomes."""

from __future__ import annotations

import numpy as np
import pytest

from recommend.models.fused import fuse_scores, normalise_rows

NAN = np.nan


def test_zscore_rows_and_nan_becomes_the_rows_lowest() -> None:
    out = normalise_rows(np.array([[1.0, 2.0, 3.0, NAN]]), "zscore")
    s = np.sqrt(2 / 3)
    np.testing.assert_allclose(out, [[-1 / s, 0.0, 1 / s, -1 / s]])


def test_rank_normalisation() -> None:
    out = normalise_rows(np.array([[0.5, 9.0, NAN, 1.0]]), "rank")
    np.testing.assert_allclose(out, [[1 / 3, 1.0, 1 / 3, 2 / 3]])


def test_a_row_without_any_opinion_stays_nan() -> None:
    assert np.isnan(normalise_rows(np.array([[NAN, NAN]]), "zscore")).all()


def test_fusion_weights_and_items_nobody_scores() -> None:
    a = np.array([[1.0, 2.0, 3.0, NAN]])
    b = np.array([[3.0, 2.0, 1.0, NAN]])
    fused = fuse_scores({"a": a, "b": b}, {"a": 2.0, "b": 1.0})
    assert np.argmax(fused[0, :3]) == 2
    assert np.isnan(fused[0, 3])
    same = fuse_scores({"a": a, "b": b}, {"a": 1.0, "b": 0.0})
    np.testing.assert_allclose(same[0, :3], normalise_rows(a, "zscore")[0, :3])


def test_fusion_needs_a_weight_and_the_scores() -> None:
    with pytest.raises(ValueError, match="nonzero weight"):
        fuse_scores({"a": np.zeros((1, 2))}, {"a": 0.0})
    with pytest.raises(ValueError, match="no scores"):
        fuse_scores({}, {"a": 1.0})
