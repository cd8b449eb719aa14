"""Graph-neighbour recommender: items are alike when they share neighbours in the KG.

Each item's features are the entities one hop away in the item graph (either direction;
with ``typed=True`` a feature is the pair ``(relation, entity)``). Two items' similarity is
the Jaccard index of their feature sets, or the cosine of their IDF-weighted feature vectors
(rare shared neighbours count more than "origin: United States"). A user's score for an
item is the mean similarity to the items they interacted with. It needs no interaction on
the scored item, so it ranks cold items; an item without graph neighbours is NaN.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Self, TypeAlias

import numpy as np

from recommend.base import Interactions, ItemGraph, Scores
from recommend.models._common import check_choice, not_fitted

if TYPE_CHECKING:
    from scipy.sparse import csr_matrix

__all__ = ["SIMILARITIES", "KGNeighbour", "Similarity", "item_features", "similarity"]

Similarity: TypeAlias = Literal["jaccard", "cosine_idf"]
SIMILARITIES: tuple[Similarity, ...] = ("jaccard", "cosine_idf")


def item_features(items: Sequence[str], graph: ItemGraph, *, typed: bool = False) -> csr_matrix:
    """Binary items x features matrix: which graph neighbours each item has (columns in
    first-seen order; an item without an entity, or an entity without triples, is empty)."""
    from scipy.sparse import csr_matrix

    entity_items: dict[str, list[int]] = {}
    for row, item in enumerate(items):
        entity = graph.item_entities.get(item)
        if entity is not None:
            entity_items.setdefault(entity, []).append(row)
    columns: dict[object, int] = {}
    rows: list[int] = []
    cols: list[int] = []
    for head, relation, tail in graph.triples:
        for node, other, direction in ((head, tail, ">"), (tail, head, "<")):
            for row in entity_items.get(node, ()):
                key = (relation, direction, other) if typed else other
                rows.append(row)
                cols.append(columns.setdefault(key, len(columns)))
    matrix = csr_matrix(
        (np.ones(len(rows)), (rows, cols)), shape=(len(items), max(len(columns), 1))
    )
    matrix.sum_duplicates()
    matrix.data[:] = 1.0
    return matrix


class KGNeighbour:
    """Mean graph-neighbour similarity between an item and the user's items."""

    name: ClassVar[str] = "kgneighbour"

    def __init__(self, *, similarity: Similarity = "jaccard", typed: bool = False) -> None:
        self.similarity: Similarity = check_choice("similarity", similarity, SIMILARITIES)  # type: ignore[assignment]
        if not isinstance(typed, bool):
            raise ValueError(f"typed must be a bool, got {typed!r}")
        self.typed = typed
        self._similar: csr_matrix | None = None
        self._user_items: csr_matrix | None = None
        self._featureless: np.ndarray | None = None

    def fit(self, interactions: Interactions, *, graph: ItemGraph | None = None) -> Self:
        if graph is None:
            raise ValueError(f"{self.name!r} needs the item graph: fit(..., graph=ItemGraph)")
        features = item_features(interactions.items, graph, typed=self.typed)
        self._similar = similarity(features, self.similarity)
        user_items = interactions.matrix.tocsr(copy=True)
        user_items.eliminate_zeros()
        user_items.data[:] = 1.0
        self._user_items = user_items
        self._featureless = np.diff(features.indptr) == 0
        return self

    def _fitted(self) -> tuple[csr_matrix, csr_matrix, np.ndarray]:
        if self._similar is None or self._user_items is None or self._featureless is None:
            raise not_fitted(self.name)
        return self._user_items, self._similar, self._featureless

    def user_scores(self, users: Sequence[int]) -> Scores:
        user_items, similar, featureless = self._fitted()
        rows = user_items[list(users)]
        counts = np.asarray(rows.sum(axis=1), dtype=np.float64).ravel()
        with np.errstate(divide="ignore", invalid="ignore"):
            scores = np.asarray((rows @ similar).toarray(), dtype=np.float64) / counts[:, None]
        scores[:, featureless] = np.nan
        return scores  # a user without items: 0/0 = NaN, no opinion

    def item_scores(self, items: Sequence[int]) -> Scores:
        _, similar, featureless = self._fitted()
        rows = list(items)
        scores = np.asarray(similar[rows].toarray(), dtype=np.float64)
        scores[:, featureless] = np.nan
        scores[featureless[rows]] = np.nan
        return scores

    def params(self) -> dict[str, Any]:
        return {"similarity": self.similarity, "typed": self.typed}


def similarity(features: csr_matrix, kind: Similarity) -> csr_matrix:
    """Item x item similarity over shared features (sparse: only pairs that share one)."""
    if kind == "jaccard":
        shared = (features @ features.T).tocoo()
        sizes = np.asarray(features.sum(axis=1)).ravel()
        union = sizes[shared.row] + sizes[shared.col] - shared.data
        shared.data = shared.data / union
        return shared.tocsr()
    n_items = features.shape[0]
    df = np.asarray((features > 0).sum(axis=0), dtype=np.float64).ravel()
    idf = np.log((1 + n_items) / (1 + df)) + 1.0
    weighted = features.multiply(idf[None, :]).tocsr()
    norms = np.sqrt(np.asarray(weighted.multiply(weighted).sum(axis=1)).ravel())
    norms[norms == 0] = 1.0
    from scipy.sparse import diags

    unit = diags(1.0 / norms) @ weighted
    return (unit @ unit.T).tocsr()
