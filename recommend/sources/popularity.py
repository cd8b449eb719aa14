"""Popularity: what shoppers engage with most, overall, per category and lately.

Scores are the time-decayed engagement of each item (the ``recommend.models``
``popularity`` model over the shop's interactions, ``half_life_days``), so the ranking
leans to what is *trending*. On a product page and for a shopper with a page, items of the
page product's leaf category come first (its parent category next): a cold-start shopper
on a sofa page gets popular sofas, not popular lamps.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import numpy as np

from recommend.models import make_recommender
from recommend.sources.base import ItemSpace, Mask, Profile, Proposals, SourceInputs, top

__all__ = ["PopularitySource"]

_LEVEL_BONUS = (2.0, 1.0)  # leaf category, its parent


class PopularitySource:
    name: ClassVar[str] = "popularity"

    def __init__(self, *, space: ItemSpace, scores: np.ndarray, engaged: np.ndarray) -> None:
        self.space = space
        self.scores = scores
        self.engaged = engaged
        best = float(scores.max()) if len(scores) and scores.max() > 0 else 1.0
        self._unit = scores / best  # in [0, 1]
        self._paths = [space.documents[p].category_path for p in space.items]
        # one integer code per item for its leaf category and for its parent
        self._codes = [_codes([p if len(p) > up else () for p in self._paths], up) for up in (0, 1)]

    @classmethod
    def build(cls, inputs: SourceInputs, *, half_life_days: float = 7.0) -> PopularitySource:
        behaviour = inputs.behaviour
        model = make_recommender("popularity", weighting="raw", half_life_days=half_life_days)
        if behaviour.interactions.times is None or not behaviour.interactions.matrix.nnz:
            scores = np.zeros(len(inputs.space))
        else:
            model.fit(behaviour.interactions)
            scores = np.asarray(model.user_scores([0])[0], dtype=np.float64)
        return cls(space=inputs.space, scores=scores, engaged=behaviour.engaged)

    def _around(self, item: int | None) -> np.ndarray:
        """Popularity in [0, 1] plus a bonus for the item's category levels."""
        if item is None:
            return self._unit
        bonus = np.zeros(len(self._unit))
        for codes, weight in zip(self._codes, _LEVEL_BONUS, strict=True):
            if codes[item] >= 0:
                bonus = np.maximum(bonus, (codes == codes[item]) * weight)
        return self._unit + bonus

    def similar(self, item: str, *, n: int, allowed: Mask | None) -> Proposals:
        position = self.space.index.get(item)
        return top(self._around(position), n, allowed, drop=() if position is None else (position,))

    def for_user(self, profile: Profile, *, n: int, allowed: Mask | None) -> Proposals:
        return top(self._around(profile.context), n, allowed)

    def category_of(self, item: int | None) -> str | None:
        if item is None:
            return None
        path = self._paths[item]
        return path[-1] if path else None

    def describe(self, anchors: Sequence[int], item: int) -> str | None:
        shoppers = int(self.engaged[item])
        if not shoppers:
            return None
        where = self.category_of(item)
        anchor_cat = self.category_of(anchors[0]) if anchors else None
        if where and where == anchor_cat:
            return f"popular in {where} ({shoppers} shopper{'' if shoppers == 1 else 's'})"
        return f"trending ({shoppers} shopper{'' if shoppers == 1 else 's'})"


def _codes(paths: Sequence[tuple[str, ...]], up: int) -> np.ndarray:
    """Per path, an integer code of its prefix without the last ``up`` levels (-1: none)."""
    seen: dict[tuple[str, ...], int] = {}
    out = np.full(len(paths), -1, dtype=np.int64)
    for i, path in enumerate(paths):
        prefix = path[: len(path) - up]
        if prefix:
            out[i] = seen.setdefault(prefix, len(seen))
    return out
