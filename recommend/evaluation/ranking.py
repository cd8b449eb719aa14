"""Scoring many users at once, ranking all unseen (or candidate) items, per-user metrics,
and tuning a model's hyperparameters on a held-out split."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from recommend.base import Interactions, ItemGraph, Recommender, Scores
from recommend.evaluation.metrics import ndcg_at_k, recall_at_k

__all__ = ["RankingResult", "RankingTask", "expand_grid", "tune"]

_BATCH = 512
K = 20


@dataclass(frozen=True)
class RankingResult:
    users: np.ndarray
    recall: np.ndarray
    ndcg: np.ndarray
    coverage: float

    def summary(self) -> dict[str, float]:
        return {
            "recall@20": float(self.recall.mean()),
            "ndcg@20": float(self.ndcg.mean()),
            "coverage@20": self.coverage,
            "users": float(len(self.users)),
        }


@dataclass(frozen=True)
class RankingTask:
    """Rank for each user in ``held`` every item not seen in ``train`` (restricted to
    ``candidates`` when given) and compare the top ``k`` with the held-out items."""

    train: Interactions
    held: Mapping[int, set[int]]
    candidates: np.ndarray | None = None
    k: int = K

    @property
    def users(self) -> np.ndarray:
        return np.array(sorted(self.held), dtype=np.int64)

    def scores(self, model: Recommender) -> Scores:
        users = self.users
        return np.vstack(
            [
                model.user_scores(users[s : s + _BATCH].tolist())
                for s in range(0, len(users), _BATCH)
            ]
        )

    def evaluate(self, scores: Scores) -> RankingResult:
        """Metrics of a ``(len(users), n_items)`` score matrix. NaN (no opinion) ranks below
        every score; seen items and non-candidates are never ranked; ties: lower column."""
        users = self.users
        key = np.where(np.isnan(scores), -np.inf, scores)
        excluded = np.zeros(key.shape, dtype=bool)
        seen = self.train.matrix[users].tocoo()
        excluded[seen.row, seen.col] = True
        if self.candidates is not None:
            outside = np.ones(key.shape[1], dtype=bool)
            outside[self.candidates] = False
            excluded[:, outside] = True
        recall, ndcg, shown = [], [], set()
        for row, user in enumerate(users):
            allowed = np.flatnonzero(~excluded[row])
            values = key[row, allowed]
            k = min(self.k, len(allowed))
            part = np.argpartition(-values, k - 1)[:k] if k < len(allowed) else np.arange(k)
            best = allowed[part][np.lexsort((allowed[part], -values[part]))].tolist()
            relevant = self.held[int(user)]
            recall.append(recall_at_k(best, relevant, self.k))
            ndcg.append(ndcg_at_k(best, relevant, self.k))
            shown.update(best)
        n_items = len(self.candidates) if self.candidates is not None else key.shape[1]
        return RankingResult(users, np.array(recall), np.array(ndcg), len(shown) / n_items)

    def run(self, model: Recommender) -> RankingResult:
        return self.evaluate(self.scores(model))


def expand_grid(grid: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    """Every combination of a small hyperparameter grid, in a stable order."""
    keys = list(grid)
    return [dict(zip(keys, values, strict=True)) for values in itertools.product(*grid.values())]


def tune(
    build: Callable[[dict[str, Any]], Recommender],
    grid: Mapping[str, Sequence[Any]],
    *,
    fit_on: Interactions,
    graph: ItemGraph | None,
    score: Callable[[Recommender], float],
) -> tuple[dict[str, Any], list[dict[str, Any]], Recommender]:
    """Fit one model per grid point on ``fit_on``; the params with the best ``score`` (a
    validation metric; ties: the first point), every trial, and the best fitted model."""
    trials: list[dict[str, Any]] = []
    best: tuple[float, dict[str, Any], Recommender] | None = None
    for params in expand_grid(grid):
        model = build(params).fit(fit_on, graph=graph)
        value = score(model)
        trials.append({"params": params, "validation": value})
        if best is None or value > best[0]:
            best = (value, params, model)
    assert best is not None
    return best[1], trials, best[2]
