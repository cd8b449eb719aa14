"""Most popular items: the same ranking for every user (optionally time-decayed)."""

from __future__ import annotations

from typing import Any, ClassVar, Self

import numpy as np

from recommend.base import Interactions, ItemGraph
from recommend.models._common import (
    WEIGHTINGS,
    ItemPrior,
    Weighting,
    check_choice,
    check_positive,
)

__all__ = ["Popularity"]


class Popularity(ItemPrior):
    """Score = how many users interacted with the item (``weighting="binary"``), or the
    summed (``raw``) / log-damped (``log``) interaction values. With ``half_life_days`` and
    interaction times, each pair counts ``0.5 ** (age / half_life)``, age measured from the
    newest interaction in the data. An item nobody touched scores 0: that is an opinion
    (unpopular), not a missing one."""

    name: ClassVar[str] = "popularity"

    def __init__(
        self, *, weighting: Weighting = "binary", half_life_days: float | None = None
    ) -> None:
        self.weighting: Weighting = check_choice("weighting", weighting, WEIGHTINGS)  # type: ignore[assignment]
        self.half_life_days = (
            None if half_life_days is None else check_positive("half_life_days", half_life_days)
        )
        self._scores: np.ndarray | None = None

    def fit(self, interactions: Interactions, *, graph: ItemGraph | None = None) -> Self:
        from recommend.models._common import weighted

        matrix = weighted(interactions.matrix, self.weighting).tocoo()
        values = matrix.data
        if self.half_life_days is not None:
            if interactions.times is None:
                raise ValueError("half_life_days needs interaction times (Interactions.times)")
            times = interactions.times.tocsr()[matrix.row, matrix.col]
            ages = (float(interactions.times.max()) - np.asarray(times).ravel()) / 86_400.0
            values = values * 0.5 ** (ages / self.half_life_days)
        self._scores = np.bincount(matrix.col, weights=values, minlength=len(interactions.items))
        return self

    def params(self) -> dict[str, Any]:
        return {"weighting": self.weighting, "half_life_days": self.half_life_days}
