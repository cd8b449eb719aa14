"""Knowledge-graph signals at query time: entity links, exact graph matches, KG-embedding
scores, and graph-expanded recall.

Only one-hop facts are used on the query path (a product's brand, category path and
attribute values, materialised in its document at index time); embeddings are looked up,
never trained, here.
"""

from __future__ import annotations

import copy
import sys
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

from kg.documents import ProductDocument
from kg.schema import EntityKind, RelationType, attribute_id, brand_id, category_id, product_id
from search.linking import EntityLink, EntityLinker

__all__ = ["GRAPH_SIGNALS", "EntityEmbeddings", "GraphSignals", "QueryGraph"]

Array = npt.NDArray[np.float64]

#: Signals this module adds to every candidate set (0 where a signal does not apply;
#: the ``link_*`` and ``kge_available`` flags say when that is the case).
GRAPH_SIGNALS = (
    "link_brand",
    "link_category",
    "link_attribute",
    "match_brand",
    "match_category",
    "match_attribute",
    "contradict_attribute",
    "kge_available",
    "kge_brand",
    "kge_category",
    "kge_attribute",
    "kge_similarity",
    "from_graph",
)

_RELATION = {
    EntityKind.BRAND: RelationType.HAS_BRAND,
    EntityKind.CATEGORY: RelationType.IN_CATEGORY,
    EntityKind.ATTRIBUTE_VALUE: RelationType.HAS_ATTRIBUTE,
}
_SUFFIX = {
    EntityKind.BRAND: "brand",
    EntityKind.CATEGORY: "category",
    EntityKind.ATTRIBUTE_VALUE: "attribute",
}


_ATTR = "attr:"


def _attribute_key(entity_id: str) -> str:
    """``attr:color=blue`` -> ``color`` (the slug of the key, as the id writes it)."""
    return entity_id[len(_ATTR) :].partition("=")[0]


class EntityEmbeddings(Protocol):
    """What query time needs of a trained KG-embedding artefact (see :mod:`kg.kge`)."""

    @property
    def entity_ids(self) -> Sequence[str]:
        """The graph ids of the embedded entities."""
        ...

    def has(self, entity_id: str) -> bool: ...

    def score(
        self, heads: Sequence[str], relation: str, tails: Sequence[str]
    ) -> npt.NDArray[np.floating]: ...

    def similarity(self, entities: Sequence[str], other: str) -> npt.NDArray[np.floating]: ...


@dataclass(frozen=True, slots=True)
class QueryGraph:
    """What the graph knows about one query."""

    links: tuple[EntityLink, ...]

    def of_kind(self, kind: EntityKind) -> list[EntityLink]:
        return [link for link in self.links if link.kind is kind]


def _rank01(values: Array, present: npt.NDArray[np.bool_]) -> Array:
    """Rank-normalise the present values into (0, 1] (1 = best); absent ones get 0."""
    out = np.zeros_like(values)
    idx = np.flatnonzero(present)
    if idx.size:
        order = np.argsort(np.argsort(values[idx], kind="stable"), kind="stable")
        out[idx] = (order + 1) / idx.size
    return out


class GraphSignals:
    def __init__(
        self,
        *,
        linker: EntityLinker,
        documents: Mapping[str, ProductDocument],
        embeddings: EntityEmbeddings | None = None,
        expand_k: int = 100,
        min_confidence: float = 0.6,
    ) -> None:
        if expand_k < 0:
            raise ValueError("expand_k must be >= 0")
        self.linker, self.embeddings = linker, embeddings
        self.expand_k, self.min_confidence = expand_k, min_confidence
        self._popularity: dict[str, int] = {}
        self._facts: dict[str, frozenset[str]] = {}
        #: Per product, the attribute keys it has a value of (``color``, ``material``),
        #: derived once from its facts: what a query's attribute can contradict.
        self._attr_keys: dict[str, frozenset[str]] = {}
        self._postings: dict[str, set[str]] = defaultdict(set)
        #: An entity's products as arrays (ids, popularity), most popular first and ties
        #: by id: expansion's order for one link. Built when first asked for, dropped
        #: when an edit touches the entity.
        self._ranked: dict[str, tuple[npt.NDArray[np.str_], npt.NDArray[np.int64]]] = {}
        #: Linked id -> the id ``embeddings`` knows the entity by, where a rename split
        #: them (see :meth:`set_renamed`).
        self._embedded_ids: Mapping[str, str] = {}
        self.update(list(documents.values()), ())

    def update(self, upserts: Sequence[ProductDocument], deletes: Sequence[str]) -> None:
        """Follow catalog edits: re-derive the facts of changed products, learn new names."""
        for pid in [*deletes, *(d.product_id for d in upserts)]:
            self._popularity.pop(pid, None)
            self._attr_keys.pop(pid, None)
            for entity in self._facts.pop(pid, frozenset()):
                self._postings[entity].discard(pid)
                self._ranked.pop(entity, None)
        for doc in upserts:
            self._popularity[doc.product_id] = doc.rating_count
            facts = self._doc_entities(doc)
            self._facts[doc.product_id] = facts
            self._attr_keys[doc.product_id] = frozenset(
                _attribute_key(e) for e in facts if e.startswith(_ATTR)
            )
            for entity in facts:
                self._postings[entity].add(doc.product_id)
                self._ranked.pop(entity, None)
        if upserts:
            self.linker.add_documents(upserts)

    def updated(self, upserts: Sequence[ProductDocument], deletes: Sequence[str]) -> GraphSignals:
        """A copy with the edits applied, leaving these facts as they were, so a search
        holding them keeps one consistent view. Only the postings the edits touch are
        copied; the linker is shared (it only learns names, and expansion goes through
        the copy's postings)."""
        touched = {e for d in upserts for e in self._doc_entities(d)}
        for pid in [*deletes, *(d.product_id for d in upserts)]:
            touched.update(self._facts.get(pid, ()))
        new = copy.copy(self)
        # dict.copy(), not dict(): dict() copies entry by entry once a dict has holes
        # (an edit's pops leave them), 2-3 ms for 50k products; copy() clones the table.
        new._popularity = self._popularity.copy()
        new._facts = self._facts.copy()
        new._attr_keys = self._attr_keys.copy()
        new._postings = defaultdict(set, self._postings)
        new._ranked = {e: r for e, r in self._ranked.items() if e not in touched}
        for entity in touched:
            new._postings[entity] = set(self._postings.get(entity, ()))
        new.update(upserts, deletes)
        return new

    @staticmethod
    def _doc_entities(doc: ProductDocument) -> frozenset[str]:
        ids = {category_id(doc.category_path[:d]) for d in range(1, len(doc.category_path) + 1)}
        if doc.brand:
            ids.add(brand_id(doc.brand))
        ids.update(attribute_id(k, v) for k, v in doc.attributes.items())
        # Interned: the products of one brand or value share one string for its id, not
        # one each (half a million strings at 50k products).
        return frozenset(sys.intern(e) for e in ids)

    def products_of(self, entity_id: str) -> set[str]:
        """Products whose facts include ``entity_id`` (a brand, any category level, a value)."""
        return set(self._postings.get(entity_id, ()))

    def understand(self, query: str) -> QueryGraph:
        links = [link for link in self.linker.link(query) if link.confidence >= self.min_confidence]
        return QueryGraph(tuple(links))

    def expand(self, graph: QueryGraph, allowed: frozenset[str] | None) -> list[str]:
        """Products one hop from the linked entities, best covered first: by the sum of
        the confidences of the links they have, then by popularity, then by id."""
        if not graph.links or self.expand_k == 0:
            return []
        ranked = [self._ranked_products(link.entity_id) for link in graph.links]
        ids = np.concatenate([r[0] for r in ranked])
        popularity = np.concatenate([r[1] for r in ranked])
        confidence = np.repeat(
            [link.confidence for link in graph.links], [len(r[0]) for r in ranked]
        )
        if allowed is not None:
            keep = np.fromiter((p in allowed for p in ids.tolist()), dtype=bool, count=len(ids))
            ids, popularity, confidence = ids[keep], popularity[keep], confidence[keep]
        if len(ranked) == 1:  # one link: one score, so its own order is the answer
            return ids[: self.expand_k].tolist()  # type: ignore[no-any-return]
        unique, first, inverse = np.unique(ids, return_index=True, return_inverse=True)
        # Summed in link order per product, as a running total would.
        score = np.bincount(inverse, weights=confidence, minlength=len(unique))
        order = np.lexsort((unique, -popularity[first], -score))[: self.expand_k]
        return unique[order].tolist()  # type: ignore[no-any-return]

    def _ranked_products(
        self, entity_id: str
    ) -> tuple[npt.NDArray[np.str_], npt.NDArray[np.int64]]:
        ranked = self._ranked.get(entity_id)
        if ranked is None:
            popularity = self._popularity
            pids = sorted(
                self._postings.get(entity_id, ()), key=lambda p: (-popularity.get(p, 0), p)
            )
            ranked = (
                np.array(pids, dtype=np.str_),
                np.array([popularity.get(p, 0) for p in pids], dtype=np.int64),
            )
            self._ranked[entity_id] = ranked
        return ranked

    def paths(self, pid: str, graph: QueryGraph) -> tuple[tuple[str, ...], ...]:
        """One-hop facts linking the product to the query's entities (for explanations)."""
        facts = self._facts.get(pid, frozenset())
        return tuple(
            (product_id(pid), _RELATION[link.kind].value, link.entity_id)
            for link in graph.links
            if link.entity_id in facts
        )

    def signals(
        self, ids: Sequence[str], graph: QueryGraph, expanded: set[str]
    ) -> dict[str, Array]:
        n = len(ids)
        out: dict[str, Array] = {name: np.zeros(n) for name in GRAPH_SIGNALS}
        out["from_graph"] = np.array([pid in expanded for pid in ids], dtype=np.float64)
        heads = [product_id(p) for p in ids]
        embeddings = self.embeddings
        usable = embeddings is not None and any(embeddings.has(h) for h in heads)
        for kind, suffix in _SUFFIX.items():
            links = graph.of_kind(kind)
            if not links:
                continue
            out[f"link_{suffix}"][:] = 1.0
            total = sum(link.confidence for link in links)
            match = np.zeros(n)
            for i, pid in enumerate(ids):
                facts = self._facts.get(pid, frozenset())
                hit = [link.confidence for link in links if link.entity_id in facts]
                if hit:
                    match[i] = sum(hit) / total if kind is EntityKind.ATTRIBUTE_VALUE else max(hit)
            out[f"match_{suffix}"] = match
            if kind is EntityKind.ATTRIBUTE_VALUE:
                out["contradict_attribute"] = self._contradictions(ids, links)
            if usable and embeddings is not None:
                self._kge(out, suffix, kind, heads, links, embeddings)
        out["kge_available"][:] = 1.0 if usable and graph.links else 0.0
        return out

    def _contradictions(self, ids: Sequence[str], links: Sequence[EntityLink]) -> Array:
        """Per product, the confidence-weighted share of the query's attribute spans it
        contradicts: it has a value of the span's attribute key, but not the linked one
        (the query says blue, the product is green). A span linking several values
        ("white": a colour and a finish) is contradicted only if none of them is the
        product's. Not a missing match: a product without a colour contradicts nothing."""
        spans: dict[str, list[EntityLink]] = defaultdict(list)
        for link in links:
            spans[link.span].append(link)
        weights = {span: max(x.confidence for x in group) for span, group in spans.items()}
        total = sum(weights.values())
        out = np.zeros(len(ids))
        if total <= 0:
            return out
        keys = {span: {_attribute_key(x.entity_id) for x in group} for span, group in spans.items()}
        for i, pid in enumerate(ids):
            facts = self._facts.get(pid, frozenset())
            has = self._attr_keys.get(pid, frozenset())
            out[i] = sum(
                weights[span]
                for span, group in spans.items()
                if keys[span] & has and not any(x.entity_id in facts for x in group)
            )
        return out / total

    def set_aliases(self, aliases: Mapping[str, Sequence[str]]) -> None:
        """The catalogue's aliases (entity id -> folded aliases) for linking and query
        expansion; the linker is shared by every snapshot of these facts."""
        self.linker.set_aliases(aliases)

    def set_renamed(self, renamed: Mapping[str, str]) -> None:
        """The entities renamed since they were made (search id -> graph id; see
        ``kg.documents.renamed_ids``). The linker names entities by ids derived from their
        current names; the KG embeddings key them by graph id, which a rename keeps, so
        the ``kge_*`` signals look a renamed entity up by its graph id."""
        self._embedded_ids = dict(renamed)

    def expand_tokens(self, tokens: Sequence[str]) -> list[str]:
        """Query tokens with the names of the entities their alias spans stand for."""
        return self.linker.expand_tokens(tokens)

    def _kge(
        self,
        out: dict[str, Array],
        suffix: str,
        kind: EntityKind,
        heads: list[str],
        links: list[EntityLink],
        embeddings: EntityEmbeddings,
    ) -> None:
        present = np.array([embeddings.has(h) for h in heads])
        embedded = self._embedded_ids
        known = [(link, embedded.get(link.entity_id, link.entity_id)) for link in links]
        known = [(link, tail) for link, tail in known if embeddings.has(tail)]
        if not known or not present.any():
            return
        idx = np.flatnonzero(present)
        rows = [heads[i] for i in idx]
        best = np.full(len(heads), -np.inf)
        sim = out["kge_similarity"]
        for link, tail in known:
            tails = [tail] * len(rows)
            scores = np.asarray(embeddings.score(rows, _RELATION[kind].value, tails), dtype=float)
            best[idx] = np.maximum(best[idx], scores)
            cos = np.asarray(embeddings.similarity(rows, tail), dtype=float)
            sim[idx] = np.maximum(sim[idx], link.confidence * cos)
        out[f"kge_{suffix}"] = _rank01(best, present)
