"""Ranking and classification metrics, per user, on plain NumPy arrays."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

__all__ = [
    "auc",
    "best_f1_threshold",
    "f1",
    "ndcg_at_k",
    "paired_test",
    "recall_at_k",
    "top_k",
]


def top_k(scores: npt.NDArray[np.float64], k: int, *, exclude: Sequence[int] = ()) -> np.ndarray:
    """The ``k`` best columns of one score row, best first. NaN (no opinion) ranks below
    every score; ``exclude`` (already-seen items) is never returned; ties keep column order."""
    row = np.where(np.isnan(scores), -np.inf, scores).astype(np.float64, copy=True)
    allowed = np.ones(len(row), dtype=bool)
    allowed[list(exclude)] = False
    candidates = np.flatnonzero(allowed)
    k = min(k, len(candidates))
    values = row[candidates]
    part = np.argpartition(-values, k - 1)[:k] if k < len(candidates) else np.arange(len(values))
    order = np.lexsort((candidates[part], -values[part]))
    return candidates[part][order]


def recall_at_k(ranked: Sequence[int], relevant: set[int], k: int) -> float:
    """Share of the relevant items found in the first ``k``."""
    if not relevant:
        raise ValueError("recall needs at least one relevant item")
    return len(set(list(ranked)[:k]) & relevant) / len(relevant)


def ndcg_at_k(ranked: Sequence[int], relevant: set[int], k: int) -> float:
    """Binary-gain NDCG: ``sum 1/log2(rank + 1)`` over hits in the first ``k``, divided by the
    ideal (all relevant items first, at most ``k`` of them)."""
    if not relevant:
        raise ValueError("NDCG needs at least one relevant item")
    gains = [
        1.0 / np.log2(rank + 2) for rank, item in enumerate(list(ranked)[:k]) if item in relevant
    ]
    ideal = sum(1.0 / np.log2(rank + 2) for rank in range(min(k, len(relevant))))
    return float(sum(gains) / ideal)


def auc(labels: npt.ArrayLike, scores: npt.ArrayLike) -> float:
    """Area under the ROC curve (Mann-Whitney, ties count half)."""
    from scipy.stats import rankdata

    y = np.asarray(labels, dtype=bool)
    s = np.asarray(scores, dtype=np.float64)
    if np.isnan(s).any():
        raise ValueError("AUC scores contain NaN: fill 'no opinion' explicitly first")
    positives, negatives = int(y.sum()), int((~y).sum())
    if positives == 0 or negatives == 0:
        raise ValueError("AUC needs both positive and negative labels")
    ranks = rankdata(s)
    return float((ranks[y].sum() - positives * (positives + 1) / 2) / (positives * negatives))


def f1(labels: npt.ArrayLike, predicted: npt.ArrayLike) -> float:
    y = np.asarray(labels, dtype=bool)
    p = np.asarray(predicted, dtype=bool)
    tp = int((y & p).sum())
    if tp == 0:
        return 0.0
    precision, recall = tp / int(p.sum()), tp / int(y.sum())
    return 2 * precision * recall / (precision + recall)


def best_f1_threshold(labels: npt.ArrayLike, scores: npt.ArrayLike) -> float:
    """The score threshold (predict positive when ``score >= threshold``) with the best F1
    on these labels — chosen on validation, applied to test."""
    y = np.asarray(labels, dtype=bool)
    s = np.asarray(scores, dtype=np.float64)
    order = np.argsort(-s, kind="stable")
    hits = np.cumsum(y[order])
    predicted = np.arange(1, len(s) + 1)
    scores_f1 = 2 * hits / (predicted + y.sum())
    return float(s[order][int(np.argmax(scores_f1))])


def paired_test(a: npt.ArrayLike, b: npt.ArrayLike) -> dict[str, float]:
    """Per-user paired comparison of ``a`` against ``b`` (same users, same order): mean
    difference, relative gain, and the two-sided Wilcoxon signed-rank p-value (pairs with
    no difference dropped, as Wilcoxon's test does)."""
    from scipy.stats import wilcoxon

    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError("paired_test needs two 1-d arrays of the same length")
    diff = x - y
    p = 1.0 if not np.any(diff) else float(wilcoxon(x, y, zero_method="wilcox").pvalue)
    return {
        "mean_diff": float(diff.mean()),
        "relative_gain": float(diff.mean() / y.mean()) if y.mean() else float("nan"),
        "wins": float((diff > 0).sum()),
        "losses": float((diff < 0).sum()),
        "p_value": p,
    }
