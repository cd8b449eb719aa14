"""Graph-degree popularity: items with more knowledge-graph triples first, the same for
every user. A prior that needs no interaction at all (cold items, cold users)."""

from __future__ import annotations

from collections import Counter
from typing import Any, ClassVar, Self

import numpy as np

from recommend.base import Interactions, ItemGraph
from recommend.models._common import ItemPrior

__all__ = ["KGDegree"]


class KGDegree(ItemPrior):
    """Score = number of triples the item's entity takes part in; an item without an entity
    in the graph is NaN (no opinion)."""

    name: ClassVar[str] = "kgdegree"

    def __init__(self) -> None:
        self._scores: np.ndarray | None = None

    def fit(self, interactions: Interactions, *, graph: ItemGraph | None = None) -> Self:
        if graph is None:
            raise ValueError(f"{self.name!r} needs the item graph: fit(..., graph=ItemGraph)")
        degree: Counter[str] = Counter()
        for head, _, tail in graph.triples:
            degree[head] += 1
            degree[tail] += 1
        self._scores = np.array(
            [
                float(degree[graph.item_entities[item]]) if item in graph.item_entities else np.nan
                for item in interactions.items
            ]
        )
        return self

    def params(self) -> dict[str, Any]:
        return {}
