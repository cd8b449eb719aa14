"""KG embeddings: cosine of the products' TransE / ComplEx vectors from the live index
version's PyKEEN artefact (``kgsearch train-kge``, then ``reindex``).

Products placed in the embedding space since training (incremental placement) have vectors
too; a product without a vector gets nothing from this source. Unavailable when the live
version has no embeddings: the service says so in its notes.

"Similar" reads a precomputed :class:`~recommend.sources.neighbours.NeighbourTable` (exact
cosine neighbours); "for you" is one matrix product over the history and one over the items.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from kg.schema import product_id
from recommend.sources.base import (
    ItemSpace,
    Mask,
    Profile,
    Proposals,
    SourceInputs,
    SourceUnavailable,
    top,
)
from recommend.sources.neighbours import (
    DEFAULT_WIDTH,
    NeighbourTable,
    build_table,
    cached_table,
    product,
)
from recommend.sources.neighbours import digest as table_key

if TYPE_CHECKING:
    from kg.kge import KGEmbeddings

__all__ = ["KGESource"]


class KGESource:
    name: ClassVar[str] = "kge"

    def __init__(
        self,
        *,
        space: ItemSpace,
        embeddings: KGEmbeddings,
        neighbours: int | None = DEFAULT_WIDTH,
        tables_dir: Path | None = None,
    ) -> None:
        self.space = space
        entities = [product_id(p) for p in space.items]
        present = np.fromiter(
            (embeddings.has(e) for e in entities), dtype=bool, count=len(entities)
        )
        rows = np.zeros((len(entities), embeddings.entities.shape[1]), dtype=np.float64)
        for i in np.flatnonzero(present):
            rows[i] = embeddings.entity_vector(entities[i])
        norms = np.linalg.norm(rows, axis=1)
        present &= norms > 0
        norms[~present] = 1.0
        self.unit = rows / norms[:, None]
        self.present = present
        self._check(embeddings, entities)
        self.table = self._table(neighbours, tables_dir) if neighbours else None

    def _table(self, width: int, directory: Path | None) -> NeighbourTable:
        unit, present = self.unit, self.present

        def scores_of(rows: np.ndarray) -> np.ndarray:
            block: np.ndarray = np.asarray(unit[rows] @ unit.T)
            block[:, ~present] = -np.inf
            block[~present[rows]] = -np.inf
            return block

        key = table_key("kge", unit, present, extra=str(width))
        return cached_table(key, lambda: build_table(scores_of, len(unit), width=width), directory)

    def _check(self, embeddings: KGEmbeddings, entities: Sequence[str]) -> None:
        """The cosine of stored rows must be the artefact's own similarity."""
        found = np.flatnonzero(self.present)[:2]
        if len(found) == 2:
            a, b = (int(i) for i in found)
            expected = float(embeddings.similarity([entities[a]], entities[b])[0])
            if not np.isclose(float(self.unit[a] @ self.unit[b]), expected, atol=1e-4):
                raise SourceUnavailable(
                    f"the {embeddings.model} artefact's similarity is not the cosine of its rows"
                )

    @classmethod
    def build(cls, inputs: SourceInputs, *, neighbours: int | None = DEFAULT_WIDTH) -> KGESource:
        if inputs.kge is None:
            raise SourceUnavailable(
                "the live index has no KG embeddings (run `kgsearch train-kge`, then `reindex`)"
            )
        return cls(
            space=inputs.space,
            embeddings=inputs.kge,
            neighbours=neighbours,
            tables_dir=inputs.tables_dir,
        )

    def _scores(self, weights: dict[int, float]) -> np.ndarray | None:
        rows = np.fromiter(weights, dtype=np.int64, count=len(weights))
        coefficients = np.fromiter(weights.values(), dtype=np.float64, count=len(weights))
        keep = self.present[rows]
        if not keep.any():
            return None
        profile = product(self.unit[rows[keep]].T, coefficients[keep])
        scores = product(self.unit, profile) / max(float(np.linalg.norm(profile)), 1e-12)
        scores[~self.present] = -np.inf
        return np.asarray(scores, dtype=np.float64)

    def similar(self, item: str, *, n: int, allowed: Mask | None) -> Proposals:
        position = self.space.index.get(item)
        if position is None:
            return {}
        if self.table is not None and self.present[position]:
            found = self.table.top(position, n, allowed, drop=(position,))
            if found is not None:
                return found
        scores = self._scores({position: 1.0})
        return {} if scores is None else top(scores, n, allowed, drop=(position,))

    def for_user(self, profile: Profile, *, n: int, allowed: Mask | None) -> Proposals:
        weights = dict(zip(profile.items[:50], profile.weights[:50], strict=False))
        if profile.context is not None:
            weights[profile.context] = max([1.0, *weights.values()])
        scores = self._scores(weights) if weights else None
        return {} if scores is None else top(scores, n, allowed)

    def describe(self, anchors: Sequence[int], item: int) -> str | None:
        return None  # the graph source words shared neighbours; a cosine says little
