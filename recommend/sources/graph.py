"""Graph: products that share typed neighbours in the product graph (brand, leaf category,
attribute values), read through the :class:`~kg.store.GraphStore` protocol, so the same
code runs on SQLite and on Neo4j (Cypher).

Each product is the IDF-weighted set of its one-hop neighbours (a rare attribute value
shared says more than "category: Furniture"); similarity is the cosine of those vectors.
The shared neighbours are the explanation ("same brand Oakhaven · both velvet") and the
typed paths ``product -HAS_BRAND-> brand <-HAS_BRAND- product``. A product added since the
source was built is looked up live (:meth:`GraphStore.neighbours`, one hop).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from kg.schema import EntityKind, RelationType, kind_of, product_id
from kg.store import GraphStore
from recommend.sources.base import ItemSpace, Mask, Profile, Proposals, SourceInputs, top

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

    @classmethod
    def build(cls, inputs: SourceInputs) -> GraphSource:
        return cls.from_store(inputs.graph, inputs.space)

    @classmethod
    def from_store(cls, graph: GraphStore, space: ItemSpace) -> GraphSource:
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
        best: list[str] = []
        for anchor in anchors[:20]:
            if anchor == item:
                continue
            common = self.shared(anchor, item)
            if len(common) > len(best):
                best = common
        if not best:
            return None
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
