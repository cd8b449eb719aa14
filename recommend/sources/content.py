"""Content: the MiniLM product vectors the live index already holds.

For a product: its nearest neighbours by cosine. For a shopper: the neighbours of the
weighted mean of their items' vectors (the page's product counted as their heaviest).
Works for a product nobody has touched yet: it only needs the product's text.

On the embedded index (a NumPy matrix) the source keeps the vectors in item order and a
precomputed :class:`~recommend.sources.neighbours.NeighbourTable` of every product's
nearest neighbours: "similar" reads a row, "for you" is one matrix product over the
history and one over the items, and a filter is a boolean mask. On another backend
(Elasticsearch kNN) it asks the index per request, as the search path does.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import ClassVar

import numpy as np
import numpy.typing as npt

from recommend.sources.base import ItemSpace, Mask, Profile, Proposals, SourceInputs, top
from recommend.sources.neighbours import (
    DEFAULT_WIDTH,
    NeighbourTable,
    build_table,
    cached_table,
    product,
)
from recommend.sources.neighbours import digest as table_key
from search.vector import NumpyVectorIndex, VectorIndex

__all__ = ["ContentSource"]

Vector = npt.NDArray[np.float32]


class ContentSource:
    name: ClassVar[str] = "content"

    def __init__(
        self,
        *,
        space: ItemSpace,
        vectors: VectorIndex,
        vector_of: Callable[[str], Vector | None],
        neighbours: int | None = DEFAULT_WIDTH,
        tables_dir: Path | None = None,
    ) -> None:
        self.space = space
        self.vectors = vectors
        self.vector_of = vector_of
        #: the items' vectors in item order (zero rows: no vector), on the embedded index
        self.matrix: npt.NDArray[np.float32] | None = None
        self.present: Mask | None = None
        self.table: NeighbourTable | None = None
        if isinstance(vectors, NumpyVectorIndex):
            self.matrix, self.present = _gather(space, vectors)
            if neighbours:
                self.table = self._table(neighbours, tables_dir)

    @classmethod
    def build(
        cls, inputs: SourceInputs, *, neighbours: int | None = DEFAULT_WIDTH
    ) -> ContentSource:
        return cls(
            space=inputs.space,
            vectors=inputs.vectors,
            vector_of=inputs.vector_of,
            neighbours=neighbours,
            tables_dir=inputs.tables_dir,
        )

    def _table(self, width: int, directory: Path | None) -> NeighbourTable:
        matrix, present = self.matrix, self.present
        assert matrix is not None and present is not None

        def scores_of(rows: npt.NDArray[np.int64]) -> npt.NDArray[np.float32]:
            block = matrix[rows] @ matrix.T
            block[:, ~present] = -np.inf
            block[~present[rows]] = -np.inf
            return block

        key = table_key("content", matrix, extra=str(width))
        return cached_table(
            key, lambda: build_table(scores_of, len(matrix), width=width), directory
        )

    # -- scoring ---------------------------------------------------------------------------

    def _exact(
        self, vector: Vector, n: int, allowed: Mask | None, drop: Sequence[int]
    ) -> Proposals:
        assert self.matrix is not None and self.present is not None
        scores = product(self.matrix, vector)
        scores[~self.present] = -np.inf
        return top(scores, n, allowed, drop=drop)

    def _search(self, vector: Vector, n: int, allowed: Mask | None, drop: set[int]) -> Proposals:
        """Through the VectorIndex (a backend other than the embedded one)."""
        ids = None
        blocked = 0 if allowed is None else len(allowed) - int(allowed.sum())
        if allowed is not None and blocked > max(n, 64):
            # a real filter: let the index restrict its search (exact on every backend)
            ids = frozenset(self.space.items[i] for i in np.flatnonzero(allowed))
            if not ids:
                return {}
            blocked = 0
        # a few exclusions only: search a little deeper and drop them here (cheaper than a
        # set of every other product for the index to check)
        hits = self.vectors.search(vector, k=n + len(drop) + blocked, allowed=ids)
        index = self.space.index
        out: Proposals = {}
        for pid, score in hits:
            position = index.get(pid)
            if position is None or position in drop:
                continue
            if allowed is not None and not allowed[position]:
                continue
            out[position] = score
            if len(out) == n:
                break
        return out

    def similar(self, item: str, *, n: int, allowed: Mask | None) -> Proposals:
        position = self.space.index.get(item)
        if self.matrix is not None and self.present is not None and position is not None:
            if not self.present[position]:
                return {}
            if self.table is not None:
                found = self.table.top(position, n, allowed, drop=(position,))
                if found is not None:
                    return found
            return self._exact(self.matrix[position], n, allowed, (position,))
        vector = self.vector_of(item)
        if vector is None:
            return {}
        return self._search(vector, n, allowed, set() if position is None else {position})

    def for_user(self, profile: Profile, *, n: int, allowed: Mask | None) -> Proposals:
        weights = dict(zip(profile.items[:50], profile.weights[:50], strict=False))
        if profile.context is not None:
            weights[profile.context] = max([1.0, *weights.values()])
        if not weights:
            return {}
        if self.matrix is not None:
            rows = np.fromiter(weights, dtype=np.int64, count=len(weights))
            coefficients = np.fromiter(weights.values(), dtype=np.float64, count=len(weights))
            total = product(self.matrix[rows].astype(np.float64).T, coefficients)
        else:
            total = np.zeros(self.vectors.dim, dtype=np.float64)
            for position, weight in weights.items():
                vector = self.vector_of(self.space.items[position])
                if vector is not None:
                    total += weight * vector
        norm = float(np.linalg.norm(total))
        if norm == 0:
            return {}
        unit = (total / norm).astype(np.float32)
        if self.matrix is not None:
            return self._exact(unit, n, allowed, ())
        return self._search(unit, n, allowed, set())

    def _vector(self, position: int) -> Vector | None:
        if self.matrix is not None and self.present is not None:
            return self.matrix[position] if self.present[position] else None
        return self.vector_of(self.space.items[position])

    def similarity(self, a: int, b: int) -> float | None:
        va, vb = self._vector(a), self._vector(b)
        if va is None or vb is None:
            return None
        return float(np.dot(va, vb))

    def similarities(self, items: Sequence[int]) -> npt.NDArray[np.float64]:
        """The items x items cosine matrix (0 for an item without a vector)."""
        if self.matrix is not None:
            block = self.matrix[np.asarray(items, dtype=np.int64)].astype(np.float64)
        else:
            vectors = [self._vector(i) for i in items]
            dim = next((len(v) for v in vectors if v is not None), 1)
            block = np.array(
                [np.zeros(dim) if v is None else v for v in vectors], dtype=np.float64
            ).reshape(len(items), dim)
        return np.asarray(block @ block.T, dtype=np.float64)

    def describe(self, anchors: Sequence[int], item: int) -> str | None:
        if not anchors:
            return None
        best = max(
            (s for a in anchors[:5] if (s := self.similarity(a, item)) is not None), default=None
        )
        if best is None or best < 0.5:
            return None
        return "similar name and description"


def _gather(space: ItemSpace, vectors: NumpyVectorIndex) -> tuple[npt.NDArray[np.float32], Mask]:
    """The index's vectors in item order; a zero row where a product has none."""
    matrix = np.zeros((len(space), vectors.dim), dtype=np.float32)
    present = np.zeros(len(space), dtype=bool)
    for i, pid in enumerate(space.items):
        vector = vectors.vector(pid)
        if vector is not None:
            matrix[i] = vector
            present[i] = True
    return matrix, present
