"""Metrics on cases small enough to compute by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from recommend.evaluation.metrics import (
    auc,
    best_f1_threshold,
    f1,
    ndcg_at_k,
    paired_test,
    recall_at_k,
    top_k,
)


def test_top_k_orders_excludes_seen_and_puts_nan_last() -> None:
    scores = np.array([0.1, np.nan, 0.9, 0.5, 0.9, -5.0])
    assert top_k(scores, 3).tolist() == [2, 4, 3]  # tie 2/4: lower column first
    assert top_k(scores, 3, exclude=[2]).tolist() == [4, 3, 0]
    assert top_k(scores, 6).tolist()[-1] == 1


def test_recall_at_k() -> None:
    assert recall_at_k([5, 1, 7, 2], {1, 2, 9}, 2) == pytest.approx(1 / 3)
    assert recall_at_k([5, 1, 7, 2], {1, 2, 9}, 4) == pytest.approx(2 / 3)
    with pytest.raises(ValueError):
        recall_at_k([1], set(), 1)


def test_ndcg_at_k() -> None:
    # hits at ranks 2 and 4 of 3 relevant: (1/log2 3 + 1/log2 5) / (1 + 1/log2 3 + 1/2)
    expected = (1 / math.log2(3) + 1 / math.log2(5)) / (1 + 1 / math.log2(3) + 0.5)
    assert ndcg_at_k([5, 1, 7, 2], {1, 2, 9}, 4) == pytest.approx(expected)
    assert ndcg_at_k([1, 2], {1, 2}, 2) == pytest.approx(1.0)
    assert ndcg_at_k([3, 4], {1}, 2) == 0.0


def test_auc_counts_ties_half() -> None:
    assert auc([1, 0, 1, 0], [0.9, 0.1, 0.8, 0.2]) == 1.0
    assert auc([1, 0], [0.5, 0.5]) == 0.5
    # positives 0.8, 0.3; negatives 0.5, 0.1 -> pairs won: 0.8>0.5, 0.8>0.1, 0.3>0.1 = 3/4
    assert auc([1, 1, 0, 0], [0.8, 0.3, 0.5, 0.1]) == pytest.approx(0.75)
    with pytest.raises(ValueError, match="NaN"):
        auc([1, 0], [np.nan, 0.1])


def test_f1_and_the_validation_threshold() -> None:
    # tp=1, fp=1, fn=1 -> precision 1/2, recall 1/2
    assert f1([1, 0, 1, 0], [1, 1, 0, 0]) == pytest.approx(0.5)
    assert f1([1, 0], [0, 0]) == 0.0
    labels, scores = [1, 1, 0, 1, 0], [0.9, 0.8, 0.7, 0.6, 0.1]
    threshold = best_f1_threshold(labels, scores)
    assert threshold == 0.6  # predict the first four: tp 3, fp 1 -> F1 6/7
    assert f1(labels, np.array(scores) >= threshold) == pytest.approx(6 / 7)


def test_paired_test() -> None:
    better = paired_test([1.0] * 30, [0.0] * 30)
    assert better["p_value"] < 1e-5 and better["wins"] == 30
    same = paired_test([0.5, 0.2], [0.5, 0.2])
    assert same["p_value"] == 1.0 and same["mean_diff"] == 0.0
