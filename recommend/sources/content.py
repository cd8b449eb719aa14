"""Content: the MiniLM product vectors the live index already holds.

For a product: its nearest neighbours in the index's :class:`~search.vector.VectorIndex`
(embedded NumPy or Elasticsearch kNN alike). For a shopper: the neighbours of the weighted
mean of their items' vectors (the page's product counted as their heaviest). Works for a
product nobody has touched yet: it only needs the product's text.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import ClassVar

import numpy as np
import numpy.typing as npt

from recommend.sources.base import ItemSpace, Mask, Profile, Proposals, SourceInputs
from search.vector import VectorIndex

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
    ) -> None:
        self.space = space
        self.vectors = vectors
        self.vector_of = vector_of

    @classmethod
    def build(cls, inputs: SourceInputs) -> ContentSource:
        return cls(space=inputs.space, vectors=inputs.vectors, vector_of=inputs.vector_of)

    def _search(self, vector: Vector, n: int, allowed: Mask | None, drop: set[int]) -> Proposals:
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
        vector = self.vector_of(item)
        if vector is None:
            return {}
        position = self.space.index.get(item)
        return self._search(vector, n, allowed, set() if position is None else {position})

    def for_user(self, profile: Profile, *, n: int, allowed: Mask | None) -> Proposals:
        weights = dict(zip(profile.items[:50], profile.weights[:50], strict=False))
        if profile.context is not None:
            weights[profile.context] = max([1.0, *weights.values()])
        total = np.zeros(self.vectors.dim, dtype=np.float64)
        for position, weight in weights.items():
            vector = self.vector_of(self.space.items[position])
            if vector is not None:
                total += weight * vector
        norm = float(np.linalg.norm(total))
        if norm == 0:
            return {}
        return self._search((total / norm).astype(np.float32), n, allowed, set())

    def similarity(self, a: int, b: int) -> float | None:
        va, vb = self.vector_of(self.space.items[a]), self.vector_of(self.space.items[b])
        if va is None or vb is None:
            return None
        return float(np.dot(va, vb))

    def describe(self, anchors: Sequence[int], item: int) -> str | None:
        if not anchors:
            return None
        best = max(
            (s for a in anchors[:5] if (s := self.similarity(a, item)) is not None), default=None
        )
        if best is None or best < 0.5:
            return None
        return "similar name and description"
