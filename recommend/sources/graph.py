"""Graph: products that share typed neighbours in the product graph (brand, leaf category,
attribute values), read through the :class:`~kg.store.GraphStore` protocol, so the same
code runs on SQLite and on Neo4j (Cypher).

Each product is the IDF-weighted set of its one-hop neighbours (a rare attribute value
shared says more than "category: Furniture"); similarity is the cosine of those vectors.
The shared neighbours are the explanation ("same brand Oakhaven · both velvet") and the
typed paths ``product -HAS_BRAND-> brand <-HAS_BRAND- product``. A product added since the
source was built is looked up live (:meth:`GraphStore.neighbours`, one hop).

"Similar" reads a precomputed :class:`~recommend.sources.neighbours.NeighbourTable` (the
same cosines, computed once per build in blocks of items); "for you" is one sparse
product over the history and one over the items.
"""

from __future__ import annotations

import functools
import pathlib
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from kg.schema import EntityKind, RelationType, kind_of, product_id
from kg.store import GraphStore
from recommend.sources.base import ItemSpace, Mask, Profile, Proposals, SourceInputs, top
from recommend.sources.neighbours import DEFAULT_WIDTH, NeighbourTable, build_table, cached_table
from recommend.sources.neighbours import digest as table_key

if TYPE_CHECKING:
    from scipy.sparse import csr_matrix

__all__ = ["GraphSource", "Path"]

#: A typed two-hop path: (product, relation, entity, relation, product)
Path = tuple[str, str, str, str, str]

_RELATIONS = (RelationType.HAS_BRAND, RelationType.IN_CATEGORY, RelationType.HAS_ATTRIBUTE)
_PREFIX = "product:"
_BARE = frozenset({"yes", "no", "true", "false", "none", "other"})


class GraphSource:
    name: ClassVar[str] = "graph"

    def __init__(
        self,
        *,
        space: ItemSpace,
        graph: GraphStore,
        features: csr_matrix,
        entities: Sequence[str],
        relation_of: Mapping[str, str],
        names: Mapping[str, str],
        neighbours: int | None = DEFAULT_WIDTH,
        tables_dir: pathlib.Path | None = None,
    ) -> None:
        from scipy.sparse import diags

        self.space = space
        self.graph = graph
        self.features = features.tocsr()  # items x entities, binary
        self.entities = tuple(entities)
        self.column = {e: i for i, e in enumerate(self.entities)}
        self.relation_of = relation_of
        self.names = names
        n_items = max(features.shape[0], 1)
        df = np.asarray(self.features.sum(axis=0), dtype=np.float64).ravel()
        self.idf = np.log((1 + n_items) / (1 + df)) + 1.0
        weighted = (self.features @ diags(self.idf)).tocsr()
        norms = np.sqrt(np.asarray(weighted.multiply(weighted).sum(axis=1)).ravel())
        norms[norms == 0] = 1.0
        self.unit = (diags(1.0 / norms) @ weighted).tocsr()
        self._unit_t = self.unit.T.tocsr()
        self.table = self._table(neighbours, tables_dir) if neighbours else None
        self._overlaps = functools.lru_cache(maxsize=1024)(self._count_overlaps)

    def _table(self, width: int, directory: pathlib.Path | None) -> NeighbourTable:
        unit = self.unit

        def scores_of(rows: np.ndarray) -> np.ndarray:
            # the same sums, in the same order, as ``unit @ profile`` for one item
            profiles = np.ascontiguousarray(unit[rows].toarray().T)
            block = np.ascontiguousarray(np.asarray(unit @ profiles).T)
            block[block <= 0] = -np.inf  # shares nothing: no opinion
            return block

        key = table_key("graph", unit.indptr, unit.indices, unit.data, extra=str(width))
        return cached_table(
            key, lambda: build_table(scores_of, unit.shape[0], width=width), directory
        )

    @classmethod
    def build(cls, inputs: SourceInputs, *, neighbours: int | None = DEFAULT_WIDTH) -> GraphSource:
        return cls.from_store(
            inputs.graph, inputs.space, neighbours=neighbours, tables_dir=inputs.tables_dir
        )

    @classmethod
    def from_store(
        cls,
        graph: GraphStore,
        space: ItemSpace,
        *,
        neighbours: int | None = DEFAULT_WIDTH,
        tables_dir: pathlib.Path | None = None,
    ) -> GraphSource:
        """Read every product's brand, category and attribute relations from ``graph``."""
        from scipy.sparse import csr_matrix

        entities: dict[str, int] = {}
        relation_of: dict[str, str] = {}
        rows: list[int] = []
        cols: list[int] = []
        for relation in _RELATIONS:
            for rel in graph.relations(relation):
                row = (
                    space.index.get(rel.source[len(_PREFIX) :])
                    if rel.source.startswith(_PREFIX)
                    else None
                )
                if row is None:
                    continue
                rows.append(row)
                cols.append(entities.setdefault(rel.target, len(entities)))
                relation_of[rel.target] = str(relation)
        names: dict[str, str] = {}
        for kind in (EntityKind.BRAND, EntityKind.CATEGORY, EntityKind.ATTRIBUTE_VALUE):
            for entity in graph.entities(kind):
                if entity.id in entities:
                    names[entity.id] = _display(entity.id, entity.properties)
        features = csr_matrix(
            (np.ones(len(rows)), (rows, cols)), shape=(len(space), max(len(entities), 1))
        )
        features.sum_duplicates()
        features.data[:] = 1.0
        return cls(
            space=space,
            graph=graph,
            features=features,
            entities=list(entities) or ["-"],
            relation_of=relation_of,
            names=names,
            neighbours=neighbours,
            tables_dir=tables_dir,
        )

    # -- scoring ---------------------------------------------------------------------------

    def _live_row(self, item: str) -> np.ndarray | None:
        """The unit feature vector of a product the source was not built with."""
        from kg.store import UnknownEntity

        try:
            pairs = self.graph.neighbours(product_id(item), direction="out")
        except UnknownEntity:
            return None
        vector = np.zeros(len(self.entities))
        for _, entity in pairs:
            column = self.column.get(entity.id)
            if column is not None:
                vector[column] = self.idf[column]
        norm = float(np.linalg.norm(vector))
        return vector / norm if norm else None

    def _scores(self, weights: Mapping[int, float]) -> np.ndarray | None:
        rows = list(weights)
        block = self.unit[rows]
        if not block.nnz:
            return None
        coefficients = np.array([weights[r] for r in rows], dtype=np.float64)
        profile = np.asarray(block.T @ coefficients).ravel()
        return np.asarray(self.unit @ profile, dtype=np.float64).ravel()

    def similar(self, item: str, *, n: int, allowed: Mask | None) -> Proposals:
        position = self.space.index.get(item)
        if position is None:
            vector = self._live_row(item)
            scores = None if vector is None else np.asarray(self.unit @ vector).ravel()
        else:
            if self.table is not None:
                found = self.table.top(position, n, allowed, drop=(position,))
                if found is not None:
                    return found
            scores = self._scores({position: 1.0})
        if scores is None:
            return {}
        scores[scores <= 0] = -np.inf  # shares nothing: no opinion
        return top(scores, n, allowed, drop=() if position is None else (position,))

    def for_user(self, profile: Profile, *, n: int, allowed: Mask | None) -> Proposals:
        weights = dict(zip(profile.items[:50], profile.weights[:50], strict=False))
        if profile.context is not None:
            weights[profile.context] = weights.get(profile.context, 0.0) + max(
                [1.0, *weights.values()]
            )
        if not weights:
            return {}
        scores = self._scores(weights)
        if scores is None:
            return {}
        scores[scores <= 0] = -np.inf
        return top(scores, n, allowed)

    # -- explanations ----------------------------------------------------------------------

    def shared(self, anchor: int, item: int) -> list[str]:
        """Entities both products point to, brand first, then the rarest."""
        a = set(
            self.features.indices[self.features.indptr[anchor] : self.features.indptr[anchor + 1]]
        )
        b = self.features.indices[self.features.indptr[item] : self.features.indptr[item + 1]]
        common = [int(c) for c in b if c in a]
        order = {str(RelationType.HAS_BRAND): 0, str(RelationType.HAS_ATTRIBUTE): 1}
        common.sort(
            key=lambda c: (order.get(self.relation_of.get(self.entities[c], ""), 2), -self.idf[c])
        )
        return [self.entities[c] for c in common]

    def overlaps(self, anchors: Sequence[int], item: int) -> np.ndarray:
        """How many entities ``item`` shares with each anchor (0 with itself); the
        explanation and the paths of one item ask for the same, so the last are kept."""
        return self._overlaps(tuple(int(a) for a in anchors), int(item))

    def _count_overlaps(self, anchors: tuple[int, ...], item: int) -> np.ndarray:
        indptr, indices = self.features.indptr, self.features.indices
        mine = set(indices[indptr[item] : indptr[item + 1]].tolist())
        counts = np.zeros(len(anchors), dtype=np.int64)
        for k, anchor in enumerate(anchors):
            if anchor != item and mine:
                theirs = indices[indptr[anchor] : indptr[anchor + 1]].tolist()
                counts[k] = sum(1 for c in theirs if c in mine)
        counts.flags.writeable = False  # shared through the cache
        return counts

    def first_paths(self, anchors: Sequence[int], item: int, *, limit: int = 3) -> list[Path]:
        """The typed paths from the first anchor that shares anything with ``item``."""
        counts = self.overlaps(anchors, item)
        found = np.flatnonzero(counts)
        return self.paths(int(anchors[found[0]]), item, limit=limit) if len(found) else []

    def paths(self, anchor: int, item: int, *, limit: int = 3) -> list[Path]:
        a, b = product_id(self.space.items[anchor]), product_id(self.space.items[item])
        return [
            (a, self.relation_of[e], e, self.relation_of[e], b)
            for e in self.shared(anchor, item)[:limit]
        ]

    def phrase(self, entity: str) -> str:
        name = self.names.get(entity, entity.split(":", 1)[-1])
        if kind_of(entity) is EntityKind.BRAND:
            return f"same brand {name}"
        return f"both {name}"

    def describe(self, anchors: Sequence[int], item: int) -> str | None:
        anchors = anchors[:20]
        counts = self.overlaps(anchors, item)
        if not len(counts) or counts.max() == 0:
            return None
        best = self.shared(int(anchors[int(np.argmax(counts))]), item)  # the first most-sharing
        return " · ".join(self.phrase(e) for e in best[:2])


def _display(entity_id: str, properties: Mapping[str, object]) -> str:
    kind = kind_of(entity_id)
    if kind is EntityKind.ATTRIBUTE_VALUE:
        value = properties.get("value")
        text = str(value) if isinstance(value, str) and value else entity_id.split("=", 1)[-1]
        key = properties.get("key")
        if isinstance(key, str) and key and (text[:1].isdigit() or text.lower() in _BARE):
            return f"{key.lower()} {text}"  # "both 3" says nothing; "both seats 3" does
        return text
    name = properties.get("name")
    return str(name) if isinstance(name, str) and name else entity_id.split(":", 1)[-1]
