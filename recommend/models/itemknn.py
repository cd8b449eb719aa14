"""Item-based nearest neighbours: cosine between item columns of the interaction matrix."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Self

import numpy as np

from recommend.base import Interactions, ItemGraph, Scores
from recommend.models._common import (
    WEIGHTINGS,
    Weighting,
    check_choice,
    check_nonnegative,
    check_positive_int,
    not_fitted,
    weighted,
)

if TYPE_CHECKING:
    from scipy.sparse import csr_matrix

__all__ = ["ItemKNN", "KGItemKNN"]

_BLOCK = 1024  # item rows per block of the similarity product (bounded memory)


class ItemKNN:
    """``sim(i, j) = x_i . x_j / (|x_i| |x_j| + shrinkage)`` over the (weighted) item
    columns; each item keeps its ``neighbours`` most similar items (itself excluded), and a
    user's score for ``j`` is ``sum_i r_ui sim(i, j)`` over the items they interacted with.
    Items without interactions have no neighbours: NaN (no opinion)."""

    name: ClassVar[str] = "itemknn"

    def __init__(
        self, *, neighbours: int = 100, shrinkage: float = 10.0, weighting: Weighting = "binary"
    ) -> None:
        self.neighbours = check_positive_int("neighbours", neighbours)
        self.shrinkage = check_nonnegative("shrinkage", shrinkage)
        self.weighting: Weighting = check_choice("weighting", weighting, WEIGHTINGS)  # type: ignore[assignment]
        self._user_items: csr_matrix | None = None
        self._similar: csr_matrix | None = None
        self._cold: np.ndarray | None = None

    def fit(self, interactions: Interactions, *, graph: ItemGraph | None = None) -> Self:
        from scipy.sparse import csr_matrix, vstack

        x = weighted(interactions.matrix, self.weighting)
        described = self._describe(x, interactions, graph)
        columns = described.T.tocsr()
        norms = np.sqrt(np.asarray(columns.multiply(columns).sum(axis=1)).ravel())
        n_items = x.shape[1]
        k = min(self.neighbours, max(n_items - 1, 1))
        blocks = []
        for start in range(0, n_items, _BLOCK):
            stop = min(start + _BLOCK, n_items)
            dots = (columns[start:stop] @ described).toarray()
            with np.errstate(divide="ignore", invalid="ignore"):
                sims = dots / (norms[start:stop, None] * norms[None, :] + self.shrinkage)
            sims[~np.isfinite(sims)] = 0.0
            sims[np.arange(stop - start), np.arange(start, stop)] = 0.0
            top = np.argpartition(-sims, k - 1, axis=1)[:, :k]
            values = np.take_along_axis(sims, top, axis=1)
            rows = np.repeat(np.arange(stop - start), k)
            block = csr_matrix((values.ravel(), (rows, top.ravel())), shape=(stop - start, n_items))
            block.eliminate_zeros()
            blocks.append(block)
        self._similar = vstack(blocks).tocsr()
        self._user_items = x
        self._cold = norms == 0  # nothing describes the item: no opinion
        return self

    def _describe(
        self, x: csr_matrix, interactions: Interactions, graph: ItemGraph | None
    ) -> csr_matrix:
        """The rows that describe each item (column): its users. Plain CF."""
        return x

    def _fitted(self) -> tuple[csr_matrix, csr_matrix, np.ndarray]:
        if self._similar is None or self._user_items is None or self._cold is None:
            raise not_fitted(self.name)
        return self._user_items, self._similar, self._cold

    def user_scores(self, users: Sequence[int]) -> Scores:
        user_items, similar, cold = self._fitted()
        scores = np.asarray((user_items[list(users)] @ similar).toarray(), dtype=np.float64)
        scores[:, cold] = np.nan
        return scores

    def item_scores(self, items: Sequence[int]) -> Scores:
        _, similar, cold = self._fitted()
        rows = list(items)
        scores = np.asarray(similar[rows].toarray(), dtype=np.float64)
        scores[np.arange(len(rows)), rows] = 1.0  # the item itself: most similar
        scores[:, cold] = np.nan
        scores[cold[rows]] = np.nan
        return scores

    def params(self) -> dict[str, Any]:
        return {
            "neighbours": self.neighbours,
            "shrinkage": self.shrinkage,
            "weighting": self.weighting,
        }


class KGItemKNN(ItemKNN):
    """ItemKNN whose item vectors are the item's users *and* its knowledge-graph
    neighbours (IDF-weighted, scaled by ``graph_weight``): two items are alike when the same
    users chose them or when they share graph neighbours, which helps items with few
    interactions, and gives items without interactions an opinion through their graph
    neighbours (NaN only for an item with neither)."""

    name: ClassVar[str] = "kgitemknn"

    def __init__(
        self,
        *,
        neighbours: int = 100,
        shrinkage: float = 10.0,
        weighting: Weighting = "binary",
        graph_weight: float = 0.5,
    ) -> None:
        super().__init__(neighbours=neighbours, shrinkage=shrinkage, weighting=weighting)
        self.graph_weight = check_nonnegative("graph_weight", graph_weight)

    def _describe(
        self, x: csr_matrix, interactions: Interactions, graph: ItemGraph | None
    ) -> csr_matrix:
        from scipy.sparse import vstack

        from recommend.models.kgneighbour import item_features

        if graph is None:
            raise ValueError(f"{self.name!r} needs the item graph: fit(..., graph=ItemGraph)")
        features = item_features(interactions.items, graph)
        df = np.asarray(features.sum(axis=0), dtype=np.float64).ravel()
        idf = np.log((1 + features.shape[0]) / (1 + df)) + 1.0
        described: csr_matrix = vstack(
            [x, (features.multiply(idf[None, :]) * self.graph_weight).T.tocsr()]
        ).tocsr()
        return described

    def params(self) -> dict[str, Any]:
        return {**super().params(), "graph_weight": self.graph_weight}
