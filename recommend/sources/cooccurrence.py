"""Item-item co-occurrence: products viewed in the same session ("co-view") and bought by
the same shoppers ("co-purchase"), counted in the event log.

Score of ``j`` for ``i``: ``coview[i, j] + purchase_weight * copurchase[i, j]``, damped by
``sqrt(popularity of j)`` so that a bestseller does not co-occur with everything. For a
shopper: the sum over their items, each weighted by how strongly they engaged with it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from recommend.interactions import ShopBehaviour
from recommend.sources.base import ItemSpace, Mask, Profile, Proposals, SourceInputs, top

if TYPE_CHECKING:
    from scipy.sparse import csr_matrix

__all__ = ["CooccurrenceSource"]


class CooccurrenceSource:
    name: ClassVar[str] = "cooccurrence"

    def __init__(
        self, *, space: ItemSpace, behaviour: ShopBehaviour, purchase_weight: float = 3.0
    ) -> None:
        if not purchase_weight >= 0:
            raise ValueError(f"purchase_weight must be >= 0, got {purchase_weight}")
        self.space = space
        self.behaviour = behaviour
        behaviour.coview.sort_indices()
        behaviour.copurchase.sort_indices()
        combined = (behaviour.coview + behaviour.copurchase * purchase_weight).tocsr()
        combined.setdiag(0)
        combined.eliminate_zeros()
        damp = np.sqrt(np.maximum(behaviour.coview.diagonal(), 1.0))
        from scipy.sparse import diags

        self.matrix = (combined @ diags(1.0 / damp)).tocsr()

    @classmethod
    def build(cls, inputs: SourceInputs, *, purchase_weight: float = 3.0) -> CooccurrenceSource:
        return cls(space=inputs.space, behaviour=inputs.behaviour, purchase_weight=purchase_weight)

    def _row(self, weights: dict[int, float]) -> np.ndarray | None:
        if not weights:
            return None
        rows = list(weights)
        block = self.matrix[rows]
        if not block.nnz:
            return None
        coefficients = np.array([weights[r] for r in rows])
        return np.asarray(block.T @ coefficients, dtype=np.float64).ravel()

    def _proposals(
        self, weights: dict[int, float], n: int, allowed: Mask | None, drop: Sequence[int]
    ) -> Proposals:
        scores = self._row(weights)
        if scores is None:
            return {}
        scores[scores <= 0] = -np.inf  # never co-occurred: no opinion
        return top(scores, n, allowed, drop=drop)

    def similar(self, item: str, *, n: int, allowed: Mask | None) -> Proposals:
        position = self.space.index.get(item)
        if position is None:
            return {}
        return self._proposals({position: 1.0}, n, allowed, (position,))

    def for_user(self, profile: Profile, *, n: int, allowed: Mask | None) -> Proposals:
        weights = dict(zip(profile.items, profile.weights, strict=True))
        if profile.context is not None:
            weights[profile.context] = weights.get(profile.context, 0.0) + max(
                [1.0, *weights.values()]
            )
        return self._proposals(weights, n, allowed, ())

    def counts(self, anchor: int, item: int) -> tuple[int, int]:
        """(sessions that viewed both, shoppers who bought both)."""
        b = self.behaviour
        return int(_at(b.coview, anchor, item)), int(_at(b.copurchase, anchor, item))

    def describe(self, anchors: Sequence[int], item: int) -> str | None:
        b = self.behaviour
        anchors = anchors[:20]
        # both counts are X^T X (symmetric): the item's own row holds every anchor's count
        views, buys = _row_at(b.coview, item, anchors), _row_at(b.copurchase, item, anchors)
        best: tuple[int, int, int] | None = None
        for anchor, viewed, bought in zip(anchors, views.tolist(), buys.tolist(), strict=True):
            if anchor == item:
                continue
            if (bought, viewed) > ((best[1], best[0]) if best else (0, 0)):
                best = (int(viewed), int(bought), anchor)
        if best is None:
            return None
        viewed, bought, _ = best
        if bought:
            return f"bought together by {bought} shopper{'s' if bought != 1 else ''}"
        return f"viewed together in {viewed} session{'s' if viewed != 1 else ''}"


def _row_at(matrix: csr_matrix, row: int, cols: Sequence[int]) -> np.ndarray:
    """``matrix[row, cols]`` of a CSR matrix with sorted indices, in one search."""
    start, stop = matrix.indptr[row], matrix.indptr[row + 1]
    indices = matrix.indices[start:stop]
    wanted = np.asarray(cols, dtype=indices.dtype)
    where = np.searchsorted(indices, wanted)
    found = where < len(indices)
    found[found] = indices[where[found]] == wanted[found]
    out = np.zeros(len(wanted), dtype=np.float64)
    out[found] = matrix.data[start + where[found]]
    return out


def _at(matrix: csr_matrix, row: int, col: int) -> float:
    """``matrix[row, col]`` of a CSR matrix with sorted indices, without SciPy's slow
    element indexing."""
    start, stop = matrix.indptr[row], matrix.indptr[row + 1]
    where = start + int(np.searchsorted(matrix.indices[start:stop], col))
    return float(matrix.data[where]) if where < stop and matrix.indices[where] == col else 0.0
