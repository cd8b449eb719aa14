"""Collaborative filtering: ALS or BPR (the ``implicit`` library, through
:func:`recommend.models.make_recommender`) fitted on the shop's interactions.

For a shopper: the model's score of every item for their row. For a product: the cosine of
item factors. A shopper without history and an item nobody touched get nothing from this
source (the model has no opinion, NaN): the graph, text and popularity cover them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from recommend.base import Recommender
from recommend.interactions import ShopBehaviour
from recommend.models import make_recommender
from recommend.sources.base import ItemSpace, Mask, Profile, Proposals, SourceInputs, top
from recommend.sources.neighbours import DEFAULT_WIDTH, NeighbourTable, build_table

__all__ = ["DEFAULT_CF", "CollaborativeSource"]

#: The models' parameters for the shop's logs (few factors win on sparse data).
DEFAULT_CF: dict[str, dict[str, Any]] = {
    "als": {"factors": 16, "regularization": 0.1, "alpha": 10.0, "iterations": 15},
    "bpr": {"factors": 32, "iterations": 100},
}


class CollaborativeSource:
    name: ClassVar[str] = "collaborative"

    def __init__(
        self,
        *,
        space: ItemSpace,
        behaviour: ShopBehaviour,
        model: Recommender,
        neighbours: int | None = DEFAULT_WIDTH,
    ) -> None:
        self.space = space
        self.behaviour = behaviour
        self.model = model
        self.table: NeighbourTable | None = None
        if neighbours and not isinstance(model, _Empty):
            self.table = self._table(neighbours)

    def _table(self, width: int) -> NeighbourTable:
        """The warm items' neighbours (a cold item has none); built with every fit."""

        def scores_of(rows: np.ndarray) -> np.ndarray:
            block = np.asarray(self.model.item_scores(rows.tolist()), dtype=np.float64)
            block[np.isnan(block)] = -np.inf
            return block

        warm = np.flatnonzero(self.behaviour.engaged > 0)
        return build_table(scores_of, len(self.space), width=width, only=warm)

    @classmethod
    def build(
        cls,
        inputs: SourceInputs,
        *,
        model: str = "als",
        neighbours: int | None = DEFAULT_WIDTH,
        **params: Any,
    ) -> CollaborativeSource:
        if model not in DEFAULT_CF:
            raise ValueError(
                f"collaborative model must be one of {sorted(DEFAULT_CF)}, not {model!r}"
            )
        settings = {**DEFAULT_CF[model], "seed": inputs.seed, **params}
        recommender = make_recommender(model, **settings)
        behaviour = inputs.behaviour
        if behaviour.interactions.matrix.nnz:
            recommender.fit(behaviour.interactions)
        else:
            recommender = _Empty()  # type: ignore[assignment]
        return cls(
            space=inputs.space, behaviour=behaviour, model=recommender, neighbours=neighbours
        )

    def similar(self, item: str, *, n: int, allowed: Mask | None) -> Proposals:
        position = self.space.index.get(item)
        if position is None or self.behaviour.is_cold(position) or isinstance(self.model, _Empty):
            return {}
        if self.table is not None:
            found = self.table.top(position, n, allowed, drop=(position,))
            if found is not None:
                return found
        return top(self.model.item_scores([position])[0], n, allowed, drop=(position,))

    def for_user(self, profile: Profile, *, n: int, allowed: Mask | None) -> Proposals:
        if profile.row is None or isinstance(self.model, _Empty):
            return {}
        return top(self.model.user_scores([profile.row])[0], n, allowed)

    def describe(self, anchors: Sequence[int], item: int) -> str | None:
        shoppers = int(self.behaviour.engaged[item])
        if not shoppers:
            return None
        return f"chosen by {_shoppers(shoppers)} with similar taste"


class _Empty:
    """No interactions at all: the source proposes nothing."""


def _shoppers(n: int) -> str:
    return f"{n} shopper{'' if n == 1 else 's'}"
