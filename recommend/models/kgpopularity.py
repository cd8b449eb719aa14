"""Graph-neighbour popularity: how popular an item's knowledge-graph neighbours are.

An item's score is the similarity-weighted mean popularity (interaction count) of the
*other* items it shares graph neighbours with (similarity as in
:class:`~recommend.models.kgneighbour.KGNeighbour`). It needs no interaction on the item
itself, so it is a popularity prior for cold items ("artists like this one are listened
to a lot"), the same for every user. An item that shares no neighbour with an item that
has interactions is NaN (no opinion).
"""

from __future__ import annotations

from typing import Any, ClassVar, Self

import numpy as np

from recommend.base import Interactions, ItemGraph
from recommend.models._common import (
    WEIGHTINGS,
    ItemPrior,
    Weighting,
    check_choice,
    weighted,
)
from recommend.models.kgneighbour import SIMILARITIES, Similarity, item_features, similarity

__all__ = ["KGPopularity"]


class KGPopularity(ItemPrior):
    """``score(i) = sum_j sim(i, j) pop(j) / sum_j sim(i, j)`` over items ``j != i``."""

    name: ClassVar[str] = "kgpopularity"

    def __init__(
        self, *, similarity: Similarity = "cosine_idf", weighting: Weighting = "binary"
    ) -> None:
        self.similarity: Similarity = check_choice("similarity", similarity, SIMILARITIES)  # type: ignore[assignment]
        self.weighting: Weighting = check_choice("weighting", weighting, WEIGHTINGS)  # type: ignore[assignment]
        self._scores: np.ndarray | None = None

    def fit(self, interactions: Interactions, *, graph: ItemGraph | None = None) -> Self:
        if graph is None:
            raise ValueError(f"{self.name!r} needs the item graph: fit(..., graph=ItemGraph)")
        popularity = np.asarray(
            weighted(interactions.matrix, self.weighting).sum(axis=0), dtype=np.float64
        ).ravel()
        similar = similarity(item_features(interactions.items, graph), self.similarity).tolil()
        similar.setdiag(0.0)
        similar = similar.tocsr()
        warm = (popularity > 0).astype(np.float64)
        support = similar @ warm  # similarity mass of neighbours that have interactions
        with np.errstate(divide="ignore", invalid="ignore"):
            scores = (similar @ popularity) / np.asarray(similar.sum(axis=1)).ravel()
        scores[~(support > 0)] = np.nan
        self._scores = scores
        return self

    def params(self) -> dict[str, Any]:
        return {"similarity": self.similarity, "weighting": self.weighting}
