from __future__ import annotations

import numpy as np
import pytest

from ranker.candidates import CandidateSet
from ranker.evaluation import JudgedQuery, evaluate
from ranker.fusion import FIXED_RANKERS, LinearRanker, RRFRanker, rank_ids, tune_linear
from ranker.registry import make_ranker


def cands(bm25: list[float], dense: list[float]) -> CandidateSet:
    ids = tuple(f"p{i}" for i in range(len(bm25)))
    return CandidateSet(ids, {"bm25": np.array(bm25), "dense": np.array(dense)})


def test_registry_names_and_unknown() -> None:
    assert set(FIXED_RANKERS) == {"bm25", "dense", "rrf", "linear"}
    with pytest.raises(ValueError, match="registered"):
        make_ranker("lambdamart-typo")
    with pytest.raises(ValueError):
        make_ranker("linear", {"alpha": 2})


@pytest.mark.parametrize("name", sorted(FIXED_RANKERS))
def test_contributions_sum_to_score(name: str) -> None:
    c = cands([3.0, 0.0, 1.5, 0.2], [0.1, 0.9, 0.5, 0.3])
    ranker = make_ranker(name)
    rows = np.array([3, 0, 2])
    total = sum(ranker.explain(c, rows).values())
    np.testing.assert_allclose(total, ranker.score(c)[rows])


def test_rrf_by_hand() -> None:
    c = cands([2.0, 0.0], [0.1, 0.9])
    scores = RRFRanker(k=60).score(c)
    # p0: keyword rank 1, dense rank 2; p1: no keyword match, dense rank 1
    assert scores[0] == pytest.approx(1 / 61 + 1 / 62)
    assert scores[1] == pytest.approx(1 / 61)


def test_missing_signal_is_an_error_not_zero() -> None:
    c = CandidateSet(("a",), {"bm25": np.array([1.0])})
    with pytest.raises(KeyError, match="dense"):
        make_ranker("dense").score(c)


def test_candidate_set_rejects_nan_and_misaligned() -> None:
    with pytest.raises(ValueError, match="NaN"):
        CandidateSet(("a",), {"bm25": np.array([np.nan])})
    with pytest.raises(ValueError, match="shape"):
        CandidateSet(("a", "b"), {"bm25": np.array([1.0])})


def test_tune_linear_finds_the_signal_that_works() -> None:
    # Dense orders the relevant product first, BM25 does not: alpha should lean to dense.
    train = [
        (cands([5.0, 1.0, 0.5], [0.2, 0.9, 0.1]), {"p1": 2}),
        (cands([4.0, 3.0, 0.5], [0.3, 0.2, 0.8]), {"p2": 2}),
    ]
    ranker, ndcg = tune_linear(train)
    assert ranker.alpha < 0.5
    assert ndcg == pytest.approx(1.0)
    assert rank_ids(ranker, train[0][0])[0] == "p1"
    with pytest.raises(ValueError):
        tune_linear([])


def test_evaluate_scores_each_system_on_the_same_candidates() -> None:
    q = JudgedQuery("q1", "text", {"p0": 2, "p1": 1})
    runs = [(q, cands([2.0, 1.0, 0.0], [0.1, 0.2, 0.9]))]
    table = evaluate(runs, {"bm25": make_ranker("bm25"), "dense": make_ranker("dense")})
    assert table["bm25"].means["ndcg@10"] == pytest.approx(1.0)
    assert table["bm25"].means["mrr"] == 1.0
    assert table["dense"].means["mrr"] == pytest.approx(1 / 3)
    assert table["dense"].counts["recall@100"] == 1
    assert LinearRanker(alpha=1.0).params() == {"alpha": 1.0}
    with pytest.raises(ValueError):
        evaluate([], {"bm25": make_ranker("bm25")})
