from __future__ import annotations

import math

import pytest

from ranker.metrics import mrr, ndcg_at_k, recall_at_k

GRADES = {"a": 2, "b": 1, "c": 0, "d": 2}


def test_ndcg_perfect_and_worst() -> None:
    assert ndcg_at_k(["a", "d", "b"], GRADES) == pytest.approx(1.0)
    assert ndcg_at_k(["c", "x", "y"], GRADES) == 0.0


def test_ndcg_by_hand() -> None:
    # ranked: b (1), a (2); ideal: a (2), d (2), b (1)
    dcg = 1 / math.log2(2) + 2 / math.log2(3)
    ideal = 2 / math.log2(2) + 2 / math.log2(3) + 1 / math.log2(4)
    assert ndcg_at_k(["b", "a"], GRADES) == pytest.approx(dcg / ideal)


def test_ndcg_cutoff_and_unjudged() -> None:
    assert ndcg_at_k(["x", "a"], GRADES, k=1) == 0.0
    assert ndcg_at_k(["a"], {"a": 0}) is None
    with pytest.raises(ValueError):
        ndcg_at_k(["a"], GRADES, k=0)


def test_recall_and_mrr_count_exact_only() -> None:
    assert recall_at_k(["b", "a"], GRADES, 100) == 0.5
    assert recall_at_k(["a", "d"], GRADES, 1) == 0.5
    assert recall_at_k(["a"], {"a": 1}, 10) is None
    assert mrr(["c", "b", "d"], GRADES) == pytest.approx(1 / 3)
    assert mrr(["c"], GRADES) == 0.0
    assert mrr(["a"], {"a": 1}) is None
