"""Weighted score fusion of several recommenders (the evaluation tunes the weights on the
validation split).

Each member's scores are normalised per row (``zscore``: mean 0 and standard deviation 1
over the items it has an opinion on; ``rank``: ``1 - rank / n`` over those items, so the
best gets 1), multiplied by the member's weight and added. An item a member has no opinion
on (NaN) gets that member's lowest normalised value in the row: the member ranks it last,
never above an item it likes — and never as a silent 0. An item no member has an opinion on
stays NaN.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Literal, Self, TypeAlias

import numpy as np

from recommend.base import Interactions, ItemGraph, Recommender, Scores
from recommend.models._common import check_choice

__all__ = ["FusedRecommender", "Normalisation", "fuse_scores", "normalise_rows"]

Normalisation: TypeAlias = Literal["zscore", "rank"]
NORMALISATIONS: tuple[Normalisation, ...] = ("zscore", "rank")


def normalise_rows(scores: Scores, how: Normalisation) -> Scores:
    """Row-wise normalised copy of ``scores``; NaN (no opinion) -> the row's lowest value."""
    out = np.array(scores, dtype=np.float64)
    known = ~np.isnan(out)
    counts = known.sum(axis=1)
    if how == "zscore":
        safe = np.where(known, out, 0.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            mean = safe.sum(axis=1) / counts
            var = (np.where(known, out - mean[:, None], 0.0) ** 2).sum(axis=1) / counts
            std = np.sqrt(var)
            std[~(std > 0)] = 1.0
            out = (out - mean[:, None]) / std[:, None]
    else:
        filled = np.where(known, out, -np.inf)
        order = np.argsort(-filled, axis=1, kind="stable")
        ranks = np.empty_like(order)
        np.put_along_axis(ranks, order, np.arange(out.shape[1])[None, :], axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            out = np.where(known, 1.0 - ranks / np.maximum(counts, 1)[:, None], np.nan)
    lowest = np.where(known, out, np.inf).min(axis=1)
    lowest[~np.isfinite(lowest)] = np.nan  # a row without any opinion stays NaN
    return np.where(known, out, lowest[:, None])


def fuse_scores(
    parts: Mapping[str, Scores],
    weights: Mapping[str, float],
    how: Normalisation | None = "zscore",
) -> Scores:
    """``sum_m weights[m] * normalise_rows(parts[m])`` over members with a nonzero weight;
    NaN where no member has an opinion. ``how=None``: ``parts`` are already normalised
    (by :func:`normalise_rows`), as when many weightings of the same scores are tried."""
    used = [name for name, weight in weights.items() if weight != 0]
    if not used:
        raise ValueError("fusion needs at least one member with a nonzero weight")
    missing = set(used) - set(parts)
    if missing:
        raise ValueError(f"no scores for fusion members {sorted(missing)}")
    total: Scores | None = None
    opinion: np.ndarray | None = None
    for name in used:
        has = ~np.isnan(parts[name])
        normal = parts[name] if how is None else normalise_rows(parts[name], how)
        term = weights[name] * np.where(has, normal, 0.0)
        total = term if total is None else total + term
        opinion = has if opinion is None else opinion | has
    assert total is not None and opinion is not None
    return np.where(opinion, total, np.nan)


class FusedRecommender:
    """A weighted fusion of member recommenders (each fitted on the same data)."""

    name: ClassVar[str] = "fused"

    def __init__(
        self,
        *,
        members: Mapping[str, Recommender],
        weights: Mapping[str, float],
        normalisation: Normalisation = "zscore",
    ) -> None:
        if not members:
            raise ValueError("fused needs at least one member recommender")
        unknown = set(weights) - set(members)
        if unknown:
            raise ValueError(f"weights for unknown members {sorted(unknown)}")
        for name, weight in weights.items():
            if not isinstance(weight, int | float) or isinstance(weight, bool) or weight < 0:
                raise ValueError(f"weight of {name!r} must be a number >= 0, got {weight!r}")
        if not any(weights.values()):
            raise ValueError("fused needs at least one nonzero weight")
        self.members = dict(members)
        self.weights = {name: float(weights.get(name, 0.0)) for name in members}
        self.normalisation: Normalisation = check_choice(  # type: ignore[assignment]
            "normalisation", normalisation, NORMALISATIONS
        )
        self._fitted = False

    def fit(self, interactions: Interactions, *, graph: ItemGraph | None = None) -> Self:
        for name, member in self.members.items():
            if self.weights[name]:
                member.fit(interactions, graph=graph)
        self._fitted = True
        return self

    def _active(self) -> dict[str, Recommender]:
        if not self._fitted:
            raise RuntimeError("recommender 'fused' is not fitted: call fit() first")
        return {name: m for name, m in self.members.items() if self.weights[name]}

    def user_scores(self, users: Sequence[int]) -> Scores:
        parts = {name: m.user_scores(users) for name, m in self._active().items()}
        return fuse_scores(parts, self.weights, self.normalisation)

    def item_scores(self, items: Sequence[int]) -> Scores:
        parts = {name: m.item_scores(items) for name, m in self._active().items()}
        return fuse_scores(parts, self.weights, self.normalisation)

    def params(self) -> dict[str, Any]:
        return {
            "normalisation": self.normalisation,
            "weights": dict(self.weights),
            "members": {name: {"model": m.name, **m.params()} for name, m in self.members.items()},
        }
