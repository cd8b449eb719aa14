"""Merchandising rules: what a rule says, and how the published ones steer a search.

A rule **pins** a product at a position, or **boosts**, **buries** or **hides** the
products that meet graph conditions (a brand, a category and everything below it, an
attribute value, any typed relation from a product to an entity). It is scoped to queries
(exact text, text contained as whole words, a linked entity) or to a category (the query
links to it or below it, or a filter names it), or applies everywhere, between optional
start and end times.

Rules act after the ranker and the personal stage, each as its own contribution
(``rule:<id>``), so an explanation shows what a rule did to a hit:

- boost / bury by ``factor``: the score moves by ``(factor - 1) * |score|`` (scores of a
  learned ranker can be negative, so a plain product would bury a boosted negative score);
- hide: the product leaves the results;
- pin: the product takes its slot (if the query recalled it: a pin does not bypass the
  shopper's filters; a note says when a pinned product was not among the candidates).

The application layer resolves the names a merchandiser types into graph ids and checks
them against the catalogue; :func:`compile_rules` turns the stored, published rules into a
:class:`RuleSet` the search service applies per request.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from kg.documents import ProductDocument, category_path
from kg.rule_store import RuleRecord
from kg.schema import (
    EntityKind,
    JsonValue,
    RelationType,
    attribute_id,
    brand_id,
    category_id,
    kind_of,
)
from kg.store import GraphStore
from search.filters import Filters
from search.graph_signals import QueryGraph

__all__ = [
    "NO_RULES",
    "PRODUCT_RELATIONS",
    "Applied",
    "Condition",
    "RelationCondition",
    "RuleSet",
    "RuleSpec",
    "Scope",
    "compile_rules",
    "draft_of",
    "published_of",
    "rule_key",
    "worded",
]

log = logging.getLogger(__name__)

Action = Literal["pin", "boost", "bury", "hide"]
ScopeKind = Literal["all", "exact", "contains", "entity", "category"]

#: The relations a rule condition may follow from a product, and the kind each reaches.
PRODUCT_RELATIONS: Mapping[RelationType, EntityKind] = {
    RelationType.HAS_BRAND: EntityKind.BRAND,
    RelationType.IN_CATEGORY: EntityKind.CATEGORY,
    RelationType.HAS_ATTRIBUTE: EntityKind.ATTRIBUTE_VALUE,
}

MAX_FACTOR = 10.0
MAX_POSITION = 100


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RelationCondition(_Strict):
    type: str = Field(description="A relation from a product, e.g. HAS_ATTRIBUTE.")
    target: str = Field(min_length=1, max_length=300, description="The entity, by id or name.")


class Condition(_Strict):
    """All the given parts must hold for a product to match."""

    brand: str | None = Field(default=None, min_length=1, max_length=300)
    category: str | None = Field(
        default=None, min_length=1, max_length=300, description="This category or below it."
    )
    attribute: str | None = Field(
        default=None, min_length=3, max_length=300, description="key=value, or an attr: id."
    )
    relations: tuple[RelationCondition, ...] = Field(default=(), max_length=10)

    def parts(self) -> list[tuple[str, str]]:
        """(relation type, target as written) for every part, in a fixed order."""
        out: list[tuple[str, str]] = []
        if self.brand is not None:
            out.append((RelationType.HAS_BRAND.value, self.brand))
        if self.category is not None:
            out.append((RelationType.IN_CATEGORY.value, self.category))
        if self.attribute is not None:
            out.append((RelationType.HAS_ATTRIBUTE.value, self.attribute))
        out += [(r.type, r.target) for r in self.relations]
        return out


class Scope(_Strict):
    kind: ScopeKind = "all"
    value: str | None = Field(
        default=None,
        min_length=1,
        max_length=1_000,
        description="The query text (exact, contains), the entity (entity) or category.",
    )

    @model_validator(mode="after")
    def _value_when_needed(self) -> Scope:
        if self.kind == "all" and self.value is not None:
            raise ValueError("scope 'all' takes no value")
        if self.kind != "all" and (self.value is None or not self.value.strip()):
            raise ValueError(f"scope {self.kind!r} needs a value")
        return self


class RuleSpec(_Strict):
    """What a merchandiser writes. Names (``Oakhaven``, ``Sofas``, ``color=blue``) or ids
    (``brand:oakhaven``) both do; the application resolves them to ids before storing."""

    name: str = Field(default="", max_length=200, description="A note for people.")
    action: Action
    factor: float | None = Field(
        default=None, gt=0, le=MAX_FACTOR, description="boost: > 1; bury: < 1."
    )
    product: str | None = Field(default=None, min_length=1, max_length=200)
    position: int | None = Field(default=None, ge=1, le=MAX_POSITION)
    when: Condition | None = None
    scope: Scope = Scope()
    starts_at: datetime | None = None
    ends_at: datetime | None = None

    @model_validator(mode="after")
    def _consistent(self) -> RuleSpec:
        if self.action == "pin":
            if self.product is None or self.position is None:
                raise ValueError("a pin needs product and position")
            if self.when is not None or self.factor is not None:
                raise ValueError("a pin takes no condition (when) and no factor")
            if self.scope.kind == "all":
                raise ValueError("a pin needs a scope: the query (or entity, category) it is for")
        else:
            if self.product is not None or self.position is not None:
                raise ValueError(f"{self.action} takes no product/position (that is a pin)")
            if self.when is None or not self.when.parts():
                raise ValueError(f"{self.action} needs a condition (when): brand, category...")
        if self.action == "boost" and (self.factor is None or self.factor <= 1):
            raise ValueError("boost needs a factor above 1 (e.g. 1.2)")
        if self.action == "bury" and (self.factor is None or self.factor >= 1):
            raise ValueError("bury needs a factor below 1 (e.g. 0.8)")
        if self.action == "hide" and self.factor is not None:
            raise ValueError("hide takes no factor")
        for moment in (self.starts_at, self.ends_at):
            if moment is not None and moment.tzinfo is None:
                raise ValueError("starts_at/ends_at need a time zone (e.g. 2026-12-01T00:00Z)")
        if self.starts_at and self.ends_at and self.starts_at >= self.ends_at:
            raise ValueError("starts_at must be before ends_at")
        return self

    def slot(self) -> tuple[str, str, int] | None:
        """What a pin occupies: (scope kind, folded scope value, position)."""
        if self.action != "pin" or self.position is None:
            return None
        return self.scope.kind, _normal(self.scope.value or ""), self.position

    def overlaps_in_time(self, other: RuleSpec) -> bool:
        start = max(_epoch(self.starts_at, -np.inf), _epoch(other.starts_at, -np.inf))
        end = min(_epoch(self.ends_at, np.inf), _epoch(other.ends_at, np.inf))
        return start < end


# -- the stored record: a draft and the published copy ------------------------------------


def draft_of(body: Mapping[str, JsonValue]) -> RuleSpec:
    return RuleSpec.model_validate(body["draft"])


def published_of(body: Mapping[str, JsonValue]) -> RuleSpec | None:
    published = body.get("published")
    return None if published is None else RuleSpec.model_validate(published)


def rule_key(rule_id: int) -> str:
    """The contribution name of a rule in a hit's explanation."""
    return f"rule:{rule_id}"


def worded(label: str, value: float) -> str:
    """``rule #12: boost Oakhaven in Sofas ×1.2`` and +0.05 -> ``... ×1.2 (+0.05)``."""
    return f"{label} ({value:+.2f})"


def _normal(text: str) -> str:
    return " ".join(text.casefold().split())


def _epoch(moment: datetime | None, default: float) -> float:
    return moment.timestamp() if moment is not None else default


# -- compiled rules and their application --------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Rule:
    id: int
    action: Action
    factor: float
    product: str | None  # pins: the bare product id (P000163)
    position: int
    facts: frozenset[str]  # the ids (as documents derive them) a product must have
    scope: ScopeKind
    scope_text: str  # exact, contains: the folded query text
    scope_fact: str  # entity, category: the id as documents and the linker derive it
    scope_name: str  # category: its name, as a filter names it (folded)
    start: float
    end: float
    label: str

    def in_scope(self, query: str, linked: set[str], filtered: set[str]) -> bool:
        if self.scope == "all":
            return True
        if self.scope == "exact":
            return query == self.scope_text
        if self.scope == "contains":
            return f" {self.scope_text} " in f" {query} "
        if self.scope == "entity":
            return self.scope_fact in linked
        prefix = self.scope_fact + "/"
        return (
            any(e == self.scope_fact or e.startswith(prefix) for e in linked)
            or self.scope_name in filtered
        )


def document_facts(doc: ProductDocument) -> frozenset[str]:
    """The entity ids a product's document stands for: its brand, every level of its
    category path, its attribute values (the ids the linker and graph signals use)."""
    ids = {category_id(doc.category_path[:d]) for d in range(1, len(doc.category_path) + 1)}
    if doc.brand:
        ids.add(brand_id(doc.brand))
    ids.update(attribute_id(k, v) for k, v in doc.attributes.items())
    return frozenset(ids)


@dataclass(slots=True)
class Applied:
    """What the active rules did to one request: the new scores, the rows hidden and
    pinned, each rule's contribution per candidate row, and notes for the response."""

    scores: np.ndarray
    hidden: set[int] = field(default_factory=set)
    hidden_by: dict[int, str] = field(default_factory=dict)  # row -> the first hiding rule's key
    pins: list[tuple[int, int, int]] = field(default_factory=list)  # (position, rule id, row)
    parts: dict[str, np.ndarray] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def reorder(self, order: np.ndarray) -> np.ndarray:
        """``order`` without hidden rows, with pinned rows moved to their slots (the lower
        rule id holds a slot two live pins want)."""
        if not self.hidden and not self.pins:
            return order
        slots: dict[int, int] = {}  # 0-based place -> row
        for position, _, row in sorted(self.pins):
            if row in slots.values():
                continue
            place = position - 1
            while place in slots:  # held by a lower rule id: the next free place
                place += 1
            slots[place] = row
        pinned = set(slots.values())
        rest = [int(r) for r in order if int(r) not in self.hidden and int(r) not in pinned]
        out: list[int] = []
        fill = iter(rest)
        for place in range(len(rest) + len(slots)):
            if place in slots:
                out.append(slots.pop(place))
            else:
                out.extend(itertools.islice(fill, 1))
        out += [slots[p] for p in sorted(slots)]  # pinned beyond the end: last, in order
        return np.array(out, dtype=np.intp)

    def kept(self, ids: Sequence[str]) -> list[str]:
        """``ids`` without the hidden ones (what totals and facets count)."""
        if not self.hidden:
            return list(ids)
        return [p for i, p in enumerate(ids) if i not in self.hidden]

    def explain(self, page: np.ndarray) -> dict[str, np.ndarray]:
        """Each applied rule's contribution on the page's rows (as rankers explain)."""
        return {key: values[page] for key, values in self.parts.items()}


@dataclass(frozen=True, slots=True)
class _Matches:
    """Products by place in one snapshot of documents, and per rule with a condition a
    mask over those places (one more, always False, for an id the documents lack)."""

    index: Mapping[str, int]
    masks: Mapping[int, np.ndarray]


class RuleSet:
    """Published rules, compiled for matching. Immutable but for a cache of which products
    meet each condition, rebuilt when the documents it was built on are swapped."""

    def __init__(self, rules: Sequence[_Rule] = (), *, revision: tuple[int, int] = (0, 0)):
        self.rules = tuple(sorted(rules, key=lambda r: r.id))
        self.revision = revision  # (rule store revision, graph revision) compiled from
        self._wanted = frozenset(f for r in self.rules for f in r.facts)
        self._lock = threading.Lock()
        self._matched: tuple[Mapping[str, ProductDocument], _Matches] | None = None

    def __len__(self) -> int:
        return len(self.rules)

    def labels(self) -> dict[str, str]:
        return {rule_key(r.id): r.label for r in self.rules}

    def _matches(self, documents: Mapping[str, ProductDocument]) -> _Matches:
        """Which products meet each rule's condition, for this snapshot of documents."""
        cached = self._matched
        if cached is not None and cached[0] is documents:
            return cached[1]
        with self._lock:
            cached = self._matched
            if cached is not None and cached[0] is documents:
                return cached[1]
            index = {pid: i for i, pid in enumerate(documents)}
            postings: dict[str, list[int]] = {f: [] for f in self._wanted}
            for pid, doc in documents.items():
                for fact in document_facts(doc) & self._wanted:
                    postings[fact].append(index[pid])
            masks: dict[int, np.ndarray] = {}
            for rule in self.rules:
                if rule.facts:
                    mask = np.ones(len(index) + 1, dtype=bool)
                    mask[-1] = False  # where a product the documents lack is looked up
                    for fact in rule.facts:
                        has = np.zeros(len(index) + 1, dtype=bool)
                        has[postings[fact]] = True
                        mask &= has
                    masks[rule.id] = mask
            matches = _Matches(index, masks)
            self._matched = (documents, matches)
            return matches

    def active(
        self, query: str, qgraph: QueryGraph | None, filters: Filters | None, now: float
    ) -> list[_Rule]:
        """The rules live at ``now`` whose scope takes this request."""
        text = _normal(query)
        linked = {link.entity_id for link in qgraph.links} if qgraph is not None else set()
        named = {_normal(c) for c in filters.category} if filters is not None else set()
        return [r for r in self.rules if r.start <= now < r.end and r.in_scope(text, linked, named)]

    def pinned(
        self,
        query: str,
        qgraph: QueryGraph | None,
        filters: Filters | None,
        *,
        now: float | None = None,
    ) -> list[str]:
        """The products the live pins for this request place, lower rule id first. Recall
        adds them to the candidates: a pin names its product, so no source has to find it
        (the caller still keeps out what the shopper's filters exclude)."""
        active = self.active(query, qgraph, filters, time.time() if now is None else now)
        return [r.product for r in active if r.action == "pin" and r.product]

    def apply(
        self,
        query: str,
        qgraph: QueryGraph | None,
        filters: Filters | None,
        ids: Sequence[str],
        scores: np.ndarray,
        documents: Mapping[str, ProductDocument],
        *,
        now: float | None = None,
    ) -> Applied:
        """Apply the rules that take this request, in rule id order, to ``scores`` (one
        per candidate in ``ids``); the input array is left as it was."""
        active = self.active(query, qgraph, filters, time.time() if now is None else now)
        if not active:
            return Applied(scores)
        out = Applied(scores.astype(np.float64, copy=True))
        where = np.empty(0, np.intp)  # each candidate's place in the documents
        matches = _Matches({}, {})
        if any(r.facts for r in active):
            matches = self._matches(documents)
            missing = len(matches.index)
            where = np.fromiter((matches.index.get(p, missing) for p in ids), np.intp, len(ids))
        row_of = {pid: i for i, pid in enumerate(ids)} if any(r.product for r in active) else {}
        for rule in active:
            key = rule_key(rule.id)
            if rule.action == "pin":
                row = row_of.get(rule.product or "")
                if row is None:
                    out.notes.append(
                        f"rule #{rule.id} pins {rule.product} but it is not among this "
                        "query's candidates (not recalled, or filtered out)"
                    )
                    continue
                out.pins.append((rule.position, rule.id, row))
                out.parts[key] = np.zeros(len(ids))
                out.labels[key] = rule.label
                continue
            at = np.flatnonzero(matches.masks[rule.id][where])
            if not at.size:
                continue
            out.labels[key] = rule.label
            if rule.action == "hide":
                out.hidden.update(at.tolist())
                for row in at.tolist():
                    out.hidden_by.setdefault(row, key)
                continue
            delta = np.zeros(len(ids))
            delta[at] = (rule.factor - 1.0) * np.abs(out.scores[at])
            out.scores[at] += delta[at]
            out.parts[key] = delta
        return out


NO_RULES = RuleSet()


# -- compiling stored rules against the graph ----------------------------------------------


@dataclass(frozen=True, slots=True)
class _Named:
    fact: str  # the id documents derive for the entity
    name: str  # how people call it


def _named(graph: GraphStore, eid: str, cache: dict[str, _Named]) -> _Named:
    """How documents and the linker name an entity (ids derived from names, so a renamed
    brand still matches its products), and its display name; a missing entity (deleted
    since the rule was written) keeps its id and matches nothing."""
    if eid in cache:
        return cache[eid]
    entity = graph.get(eid)
    kind = kind_of(eid)
    if entity is None:
        named = _Named(eid, eid)
    elif kind is EntityKind.BRAND:
        name = str(entity.properties.get("name", ""))
        named = _Named(brand_id(name), name)
    elif kind is EntityKind.CATEGORY:
        path = category_path(graph, eid)
        named = _Named(category_id(path), path[-1] if path else eid)
    elif kind is EntityKind.ATTRIBUTE_VALUE:
        key, value = str(entity.properties.get("key", "")), str(entity.properties.get("value", ""))
        named = _Named(attribute_id(key, value), f"{key} {value}")
    else:
        named = _Named(eid, str(entity.properties.get("name", eid)))
    cache[eid] = named
    return named


def _scope_words(spec: RuleSpec, names: Mapping[str, _Named]) -> str:
    scope = spec.scope
    if scope.kind == "exact":
        return f" for '{scope.value}'"
    if scope.kind == "contains":
        return f" for queries with '{scope.value}'"
    if scope.kind == "entity":
        return f" for queries about {names[scope.value or ''].name}"
    if scope.kind == "category":
        return f" in {names[scope.value or ''].name} searches"
    return ""


def _label(rule_id: int, spec: RuleSpec, names: Mapping[str, _Named], product: str) -> str:
    head = f"rule #{rule_id}: {spec.action}"
    scope = _scope_words(spec, names)
    if spec.action == "pin":
        return f"{head} {product} at {spec.position}{scope}"
    parts = spec.when.parts() if spec.when else []
    words = [
        f"in {names[t].name}" if r == RelationType.IN_CATEGORY.value else names[t].name
        for r, t in parts
    ]
    factor = f" ×{spec.factor:g}" if spec.factor is not None else ""
    return f"{head} {' '.join(words)}{factor}{scope}"


def compile_rules(
    records: Sequence[RuleRecord], graph: GraphStore, *, revision: tuple[int, int] = (0, 0)
) -> RuleSet:
    """The published rules of ``records`` (stored with resolved ids), ready to apply."""
    cache: dict[str, _Named] = {}
    compiled: list[_Rule] = []
    for record in records:
        try:
            spec = published_of(record.body)
        except ValidationError as exc:  # one bad record must not stop every search's sync
            log.error("rule #%d is not a valid rule and is not applied: %s", record.id, exc)
            continue
        if spec is None:
            continue
        parts = spec.when.parts() if spec.when else []
        for _, target in parts:
            _named(graph, target, cache)
        scope_fact = scope_name = ""
        if spec.scope.kind in ("entity", "category"):
            scoped = _named(graph, spec.scope.value or "", cache)
            scope_fact, scope_name = scoped.fact, _normal(scoped.name)
        product = ""
        if spec.product is not None:
            entity = graph.get(f"product:{spec.product}")
            name = entity.properties.get("name") if entity is not None else None
            product = f"{name} ({spec.product})" if isinstance(name, str) else spec.product
        compiled.append(
            _Rule(
                id=record.id,
                action=spec.action,
                factor=spec.factor or 1.0,
                product=spec.product,
                position=spec.position or 0,
                facts=frozenset(cache[t].fact for _, t in parts),
                scope=spec.scope.kind,
                scope_text=_normal(spec.scope.value or "")
                if spec.scope.kind in ("exact", "contains")
                else "",
                scope_fact=scope_fact,
                scope_name=scope_name,
                start=_epoch(spec.starts_at, -np.inf),
                end=_epoch(spec.ends_at, np.inf),
                label=_label(record.id, spec, cache, product),
            )
        )
    return RuleSet(compiled, revision=revision)
