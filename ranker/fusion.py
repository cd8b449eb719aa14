"""Fusion rankers by registry name: ``bm25``, ``dense``, ``rrf``, ``linear``.

Each ranker scores a :class:`CandidateSet` and, for the rows a caller shows, explains
each score as per-signal contributions that sum to it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol, runtime_checkable

import numpy as np

from ranker.candidates import Array, CandidateSet, Rows
from ranker.metrics import ndcg_at_k

__all__ = [
    "FIXED_RANKERS",
    "TIE_BREAK",
    "BM25Ranker",
    "DenseRanker",
    "LinearRanker",
    "RRFRanker",
    "Ranker",
    "rank_ids",
    "tie_order",
    "tune_linear",
]


@runtime_checkable
class Ranker(Protocol):
    name: ClassVar[str]

    def score(self, candidates: CandidateSet) -> Array:
        """One score per candidate (higher is better)."""
        ...

    def explain(self, candidates: CandidateSet, rows: Rows) -> dict[str, Array]:
        """Additive parts of ``score(candidates)[rows]``, by feature or signal name."""
        ...

    def params(self) -> dict[str, Any]:
        """What is needed to rebuild this ranker (saved in the index manifest)."""
        ...


@dataclass(frozen=True)
class BM25Ranker:
    name: ClassVar[str] = "bm25"

    def score(self, candidates: CandidateSet) -> Array:
        return candidates.signal("bm25").copy()

    def explain(self, candidates: CandidateSet, rows: Rows) -> dict[str, Array]:
        return {"bm25": candidates.signal("bm25")[rows]}

    def params(self) -> dict[str, Any]:
        return {}


@dataclass(frozen=True)
class DenseRanker:
    name: ClassVar[str] = "dense"

    def score(self, candidates: CandidateSet) -> Array:
        return candidates.signal("dense").copy()

    def explain(self, candidates: CandidateSet, rows: Rows) -> dict[str, Array]:
        return {"dense": candidates.signal("dense")[rows]}

    def params(self) -> dict[str, Any]:
        return {}


def _ranks(values: Array) -> Array:
    """1-based rank of each value, highest first (ties broken by position)."""
    order = np.argsort(-values, kind="stable")
    ranks = np.empty(len(values), dtype=np.float64)
    ranks[order] = np.arange(1, len(values) + 1)
    return ranks


@dataclass(frozen=True)
class RRFRanker:
    """Reciprocal rank fusion (Cormack et al. 2009): sum of 1 / (k + rank) per list.

    A product that BM25 does not match (score 0) gets no keyword contribution."""

    k: float = 60.0
    name: ClassVar[str] = "rrf"

    def __post_init__(self) -> None:
        if self.k <= 0:
            raise ValueError("rrf k must be > 0")

    def _parts(self, candidates: CandidateSet) -> dict[str, Array]:
        bm25, dense = candidates.signal("bm25"), candidates.signal("dense")
        kw = np.where(bm25 > 0, 1.0 / (self.k + _ranks(bm25)), 0.0)
        return {"bm25": kw, "dense": 1.0 / (self.k + _ranks(dense))}

    def score(self, candidates: CandidateSet) -> Array:
        parts = self._parts(candidates)
        return parts["bm25"] + parts["dense"]

    def explain(self, candidates: CandidateSet, rows: Rows) -> dict[str, Array]:
        return {k: v[rows] for k, v in self._parts(candidates).items()}

    def params(self) -> dict[str, Any]:
        return {"k": self.k}


def _minmax(values: Array) -> Array:
    lo, hi = float(values.min(initial=0.0)), float(values.max(initial=0.0))
    return (values - lo) / (hi - lo) if hi > lo else np.zeros_like(values)


@dataclass(frozen=True)
class LinearRanker:
    """``alpha * minmax(bm25) + (1 - alpha) * minmax(dense)``, min-max within the query's
    candidates; ``alpha`` is tuned on the train split by :func:`tune_linear`."""

    alpha: float = 0.5
    name: ClassVar[str] = "linear"

    def __post_init__(self) -> None:
        if not 0.0 <= self.alpha <= 1.0:
            raise ValueError(f"linear alpha must be in [0, 1], got {self.alpha}")

    def _parts(self, candidates: CandidateSet) -> dict[str, Array]:
        return {
            "bm25": self.alpha * _minmax(candidates.signal("bm25")),
            "dense": (1.0 - self.alpha) * _minmax(candidates.signal("dense")),
        }

    def score(self, candidates: CandidateSet) -> Array:
        parts = self._parts(candidates)
        return parts["bm25"] + parts["dense"]

    def explain(self, candidates: CandidateSet, rows: Rows) -> dict[str, Array]:
        return {k: v[rows] for k, v in self._parts(candidates).items()}

    def params(self) -> dict[str, Any]:
        return {"alpha": self.alpha}


FIXED_RANKERS: Mapping[str, Callable[..., Ranker]] = {
    BM25Ranker.name: BM25Ranker,
    DenseRanker.name: DenseRanker,
    RRFRanker.name: RRFRanker,
    LinearRanker.name: LinearRanker,
}


#: How :func:`tie_order` breaks equal scores, for explanations to quote.
TIE_BREAK = "equal scores are ordered by more ratings, then by product id"


def tie_order(candidates: CandidateSet, scores: np.ndarray) -> np.ndarray:
    """Rows by score, highest first; equal scores by popularity (rating count, higher
    first), then by product id (ascending): a documented, deterministic order."""
    ids = np.array(candidates.product_ids, dtype=object)
    id_rank = np.empty(len(ids), dtype=np.intp)
    id_rank[np.argsort(ids, kind="stable")] = np.arange(len(ids))
    popularity = candidates.signals.get("popularity", np.zeros(len(ids)))
    return np.lexsort((id_rank, -popularity, -scores)).astype(np.intp)


def rank_ids(ranker: Ranker, candidates: CandidateSet) -> list[str]:
    """The candidates' ids as search orders them (:func:`tie_order`): the evaluation's
    ranking is the one shoppers see. Before, equal scores kept the order recall found
    them in, which the keyword index's segment layout decides."""
    scores = ranker.score(candidates)
    return [candidates.product_ids[i] for i in tie_order(candidates, scores)]


ALPHA_GRID: tuple[float, ...] = tuple(step / 20 for step in range(21))


def tune_linear(
    train: Sequence[tuple[CandidateSet, Mapping[str, int]]],
    *,
    grid: Sequence[float] = ALPHA_GRID,
) -> tuple[LinearRanker, float]:
    """Pick the ``alpha`` with the best mean NDCG@10 on ``train``; return it and that NDCG."""
    if not train:
        raise ValueError("tune_linear needs at least one judged training query")
    best: tuple[float, float] | None = None
    for alpha in grid:
        ranker = LinearRanker(alpha=alpha)
        values = [ndcg_at_k(rank_ids(ranker, c), g) for c, g in train]
        defined = [v for v in values if v is not None]
        if not defined:
            raise ValueError("no training query has a positive label")
        mean = sum(defined) / len(defined)
        if best is None or mean > best[1] + 1e-12:
            best = (alpha, mean)
    assert best is not None
    return LinearRanker(alpha=best[0]), best[1]
