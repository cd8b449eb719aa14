"""Merchandising rules as operations: create, update, delete, preview, publish, audit and
undo, shared by ``/merchandising/rules`` and ``kgsearch rules``.

A rule's record holds its ``draft`` (what the merchandiser edits) and its ``published``
copy (what search applies, or none yet). Every write goes through the rule store's
versioned change log (:mod:`kg.rule_store`), so the audit and undo work as they do for
catalog edits: undo is itself a new, logged change, refused when the rule changed since.
Names are resolved to graph ids before anything is stored; search then sees published
rules at its next sync (:func:`refresh_rules`), without a reindex.
"""

from __future__ import annotations

import copy
import threading
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from kg.rule_store import RuleChange, RuleConflict, RuleRecord, RuleStore, UnknownRule
from kg.schema import (
    EntityKind,
    JsonValue,
    RelationType,
    attribute_id,
    kind_of,
)
from kg.store import GraphStore

if TYPE_CHECKING:
    from app.engine import Engine
    from app.settings import Settings
    from search.rules import RuleSet, RuleSpec
    from search.service import SearchService

__all__ = [
    "RuleError",
    "RuleOps",
    "open_rule_store",
    "refresh_rules",
]

#: How many of the most frequent logged queries a preview replays.
LOGGED_QUERIES = 200
#: How many of the newest events a preview reads its logged queries from.
LOGGED_WINDOW = 50_000


class RuleError(Exception):
    """A refused rule operation: ``status`` is the HTTP status, ``code`` stable."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None) -> None:
        self.status, self.code, self.field = status, code, field
        super().__init__(message)


def open_rule_store(settings: Settings) -> RuleStore:
    """The rule store beside the settings' graph backend: a SQLite file in the home, or
    the Neo4j namespace the graph lives in."""
    if settings.graph_backend == "neo4j":
        from kg.rule_store import Neo4jRuleStore

        password = settings.neo4j_password.get_secret_value() if settings.neo4j_password else None
        return Neo4jRuleStore(
            uri=settings.neo4j_uri,
            namespace=settings.neo4j_namespace,
            user=settings.neo4j_user,
            password=password,
            timeout_s=settings.backend_timeout_s,
        )
    from kg.rule_store import SQLiteRuleStore

    return SQLiteRuleStore(path=settings.data_dir / "rules.sqlite")


def refresh_rules(engine: Engine, service: SearchService) -> None:
    """Give ``service`` the published rules when they (or the graph they name) changed."""
    from search.rules import compile_rules

    store = engine.rule_store
    stamp = (store.revision, engine.graph.revision)
    if service.rules.revision != stamp:
        service.rules = compile_rules(store.rules(), engine.graph, revision=stamp)


# -- resolving what a merchandiser typed to graph ids --------------------------------------


def _fold(text: str) -> str:
    return " ".join(text.casefold().split())


class _Resolver:
    """Names, paths and ids of brands, categories and attribute values, read once per
    operation from the graph; every miss is a 422 naming what was not found."""

    def __init__(self, graph: GraphStore) -> None:
        self.graph = graph
        self._names: dict[EntityKind, dict[str, list[str]]] = {}
        self._paths: dict[str, str] | None = None

    def _by_name(self, kind: EntityKind) -> dict[str, list[str]]:
        if kind not in self._names:
            found: dict[str, list[str]] = {}
            for entity in self.graph.entities(kind):
                props = entity.properties
                if kind is EntityKind.ATTRIBUTE_VALUE:
                    name = f"{props.get('key', '')}={props.get('value', '')}"
                else:
                    name = str(props.get("name", ""))
                found.setdefault(_fold(name), []).append(entity.id)
            self._names[kind] = found
        return self._names[kind]

    def _category_paths(self) -> dict[str, str]:
        """Folded ``Furniture/Sofas`` -> id, for every category."""
        if self._paths is None:
            names = {
                e.id: str(e.properties.get("name", ""))
                for e in self.graph.entities(EntityKind.CATEGORY)
            }
            parent = {r.source: r.target for r in self.graph.relations(RelationType.SUBCATEGORY_OF)}
            paths: dict[str, str] = {}
            for cid in names:
                chain, seen, node = [], set(), cid
                while node in names and node not in seen:
                    seen.add(node)
                    chain.append(names[node])
                    node = parent.get(node, "")
                paths[_fold("/".join(reversed(chain)))] = cid
            self._paths = paths
        return self._paths

    def entity(self, kind: EntityKind, text: str, field: str) -> str:
        """The id of the ``kind`` entity ``text`` names (an id, a name, a category path
        ``Furniture/Sofas`` or ``>``-separated, an attribute ``key=value``)."""
        label = "attribute value" if kind is EntityKind.ATTRIBUTE_VALUE else kind.value.lower()
        text = text.strip()
        try:
            as_id = kind_of(text)
        except ValueError:
            as_id = None
        if as_id is not None:
            if as_id is not kind:
                raise RuleError(
                    422, "wrong_kind", f"{field}: {text!r} is a {as_id}, not a {label}", field
                )
            if self.graph.get(text) is None:
                raise RuleError(422, "unknown_entity", f"{field}: unknown {label} {text!r}", field)
            return text
        if kind is EntityKind.CATEGORY and ("/" in text or ">" in text):
            path = "/".join(p.strip() for p in text.replace(">", "/").split("/"))
            found = self._category_paths().get(_fold(path))
            if found is None:
                raise RuleError(
                    422, "unknown_entity", f"{field}: unknown category path {text!r}", field
                )
            return found
        if kind is EntityKind.ATTRIBUTE_VALUE:
            key, sep, value = text.partition("=")
            if not sep:
                raise RuleError(
                    422,
                    "invalid_rule",
                    f"{field}: {text!r} is not key=value (e.g. color=blue)",
                    field,
                )
            text = f"{key.strip()}={value.strip()}"
            fallback = attribute_id(key, value)
            if self.graph.get(fallback) is not None and not self._by_name(kind).get(_fold(text)):
                return fallback
        ids = self._by_name(kind).get(_fold(text), [])
        if not ids:
            raise RuleError(422, "unknown_entity", f"{field}: unknown {label} {text!r}", field)
        if len(ids) > 1:
            raise RuleError(
                422,
                "ambiguous_name",
                f"{field}: {text!r} names {len(ids)} {label}s ({', '.join(sorted(ids)[:5])}); "
                "give the id or the full path instead",
                field,
            )
        return ids[0]

    def any_entity(self, text: str, field: str) -> str:
        """A brand, category or attribute value, by id or by name (in that order)."""
        try:
            kind = kind_of(text.strip())
        except ValueError:
            kind = None
        if kind is not None:
            return self.entity(kind, text, field)
        for kind in (EntityKind.BRAND, EntityKind.CATEGORY, EntityKind.ATTRIBUTE_VALUE):
            if kind is EntityKind.ATTRIBUTE_VALUE and "=" not in text:
                continue
            try:
                return self.entity(kind, text, field)
            except RuleError as exc:
                if exc.code != "unknown_entity":
                    raise
        raise RuleError(
            422, "unknown_entity", f"{field}: no brand, category or attribute value {text!r}", field
        )

    def product(self, text: str) -> str:
        pid = text.strip().removeprefix("product:")
        if self.graph.get(f"product:{pid}") is None:
            raise RuleError(422, "unknown_entity", f"product: unknown product {text!r}", "product")
        return pid


def resolve(spec: RuleSpec, graph: GraphStore) -> RuleSpec:
    """``spec`` with every entity it names replaced by its graph id; a 422 for an unknown
    brand, category, attribute value, relation or product."""
    from search.rules import PRODUCT_RELATIONS, Condition, RelationCondition, Scope

    names = _Resolver(graph)
    update: dict[str, Any] = {}
    if spec.product is not None:
        update["product"] = names.product(spec.product)
    if spec.when is not None:
        when = spec.when
        relations: list[RelationCondition] = []
        for i, rel in enumerate(when.relations):
            field = f"when.relations[{i}].type"
            try:
                rtype = RelationType(rel.type.strip().upper())
            except ValueError:
                known = ", ".join(sorted(t.value for t in PRODUCT_RELATIONS))
                raise RuleError(
                    422,
                    "unknown_relation",
                    f"{field}: unknown relation {rel.type!r} (known: {known})",
                    field,
                ) from None
            target_kind = PRODUCT_RELATIONS.get(rtype)
            if target_kind is None:
                raise RuleError(
                    422,
                    "unknown_relation",
                    f"{field}: relation {rtype.value} does not start at a product",
                    field,
                )
            target = names.entity(target_kind, rel.target, f"when.relations[{i}].target")
            relations.append(RelationCondition(type=rtype.value, target=target))
        update["when"] = Condition(
            brand=names.entity(EntityKind.BRAND, when.brand, "when.brand") if when.brand else None,
            category=names.entity(EntityKind.CATEGORY, when.category, "when.category")
            if when.category
            else None,
            attribute=names.entity(EntityKind.ATTRIBUTE_VALUE, when.attribute, "when.attribute")
            if when.attribute
            else None,
            relations=tuple(relations),
        )
    if spec.scope.kind == "entity":
        update["scope"] = Scope(
            kind="entity", value=names.any_entity(spec.scope.value or "", "scope.value")
        )
    elif spec.scope.kind == "category":
        cid = names.entity(EntityKind.CATEGORY, spec.scope.value or "", "scope.value")
        update["scope"] = Scope(kind="category", value=cid)
    return spec.model_copy(update=update)


# -- the operations ------------------------------------------------------------------------


def _dump(spec: RuleSpec) -> dict[str, JsonValue]:
    out: dict[str, JsonValue] = spec.model_dump(mode="json", exclude_none=True)
    return out


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass(frozen=True, slots=True)
class Preview:
    rule_id: int
    judged_queries: int
    judged_in_scope: int
    ndcg_before: float | None
    ndcg_after: float | None
    changed_judged: list[dict[str, Any]]
    logged_queries: int
    changed_logged: list[dict[str, Any]]

    @property
    def ndcg_delta(self) -> float:
        if self.ndcg_before is None or self.ndcg_after is None:
            return 0.0
        return self.ndcg_after - self.ndcg_before

    def as_dict(self) -> dict[str, Any]:
        return {
            "rule_id": self.rule_id,
            "judged_queries": self.judged_queries,
            "judged_in_scope": self.judged_in_scope,
            "ndcg_at_10_before": self.ndcg_before,
            "ndcg_at_10_after": self.ndcg_after,
            "ndcg_at_10_delta": round(self.ndcg_delta, 6),
            "changed_judged": self.changed_judged,
            "logged_queries": self.logged_queries,
            "changed_logged": self.changed_logged,
        }


def record_dict(record: RuleRecord) -> dict[str, Any]:
    """A rule as the API and CLI show it, with its state and its words."""
    body = record.body
    draft, published = body.get("draft"), body.get("published")
    state = "draft" if published is None else ("published" if published == draft else "changed")
    return {
        "id": record.id,
        "version": record.version,
        "state": state,
        "draft": draft,
        "published": published,
        "published_at": body.get("published_at"),
        "published_by": body.get("published_by"),
    }


def change_dict(change: RuleChange) -> dict[str, Any]:
    return {
        "seq": change.seq,
        "at": change.at,
        "actor": change.actor,
        "op": change.op,
        "rule_id": change.rule_id,
        "note": change.note,
        "before": change.before,
        "after": change.after,
    }


class RuleOps:
    """The rule operations over an engine's rule store, graph and live search."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._baseline: tuple[tuple[object, ...], dict[str, float | None]] | None = None
        self._lock = threading.Lock()
        # A slot check and its write under one lock: two requests of this process cannot
        # both take a slot (another process, the CLI beside a server, is not serialised).
        self._writing = threading.RLock()

    @property
    def store(self) -> RuleStore:
        return self.engine.rule_store

    # -- reads ------------------------------------------------------------------------------

    def get(self, rule_id: int) -> RuleRecord:
        record = self.store.get(rule_id) if 1 <= rule_id < 2**63 else None
        if record is None:
            raise RuleError(
                404, "not_found", f"no rule #{rule_id}; list the rules to see their ids", "rule_id"
            )
        return record

    def page(self, *, limit: int = 50, offset: int = 0) -> tuple[list[RuleRecord], int]:
        """A page of rules by id, and how many there are."""
        if not 1 <= limit <= 1000 or offset < 0:
            raise RuleError(
                422, "invalid_parameter", "limit must be 1-1000 and offset >= 0", "limit"
            )
        rules = self.store.rules()
        return rules[offset : offset + limit], len(rules)

    def audit(
        self, *, rule_id: int | None = None, limit: int = 50, offset: int = 0
    ) -> tuple[list[RuleChange], bool]:
        if rule_id is not None and not 1 <= rule_id < 2**63:
            return [], False  # no such rule, and beyond what the store's integers hold
        changes = list(reversed(self.store.changes(rule_id=rule_id)))
        return changes[offset : offset + limit], len(changes) > offset + limit

    # -- writes -----------------------------------------------------------------------------

    def _check_slot(self, spec: RuleSpec, rule_id: int | None) -> None:
        """409 when another rule's pin (draft or published) holds the same slot for the
        same scope at an overlapping time."""
        from search.rules import draft_of, published_of

        slot = spec.slot()
        if slot is None:
            return
        for other in self.store.rules():
            if other.id == rule_id:
                continue
            for held in (draft_of(other.body), published_of(other.body)):
                if held is not None and held.slot() == slot and held.overlaps_in_time(spec):
                    kind, value, position = slot
                    raise RuleError(
                        409,
                        "slot_taken",
                        f"position {position} for {kind} {value!r} is held by rule #{other.id} "
                        f"(pin {held.product}); change or delete that rule first",
                        "position",
                    )

    def create(self, spec: RuleSpec, *, actor: str) -> RuleRecord:
        spec = resolve(spec, self.engine.graph)
        with self._writing:
            self._check_slot(spec, None)
            return self.store.put(
                None, {"draft": _dump(spec), "published": None}, expected_version=None, actor=actor
            )

    def update(
        self, rule_id: int, spec: RuleSpec, *, expected_version: int, actor: str
    ) -> RuleRecord:
        current = self.get(rule_id)
        spec = resolve(spec, self.engine.graph)
        with self._writing:
            self._check_slot(spec, rule_id)
            body = {**current.body, "draft": _dump(spec)}
            return self._put(rule_id, body, expected_version, actor)

    def delete(self, rule_id: int, *, expected_version: int | None, actor: str) -> None:
        self.get(rule_id)
        self._delete(rule_id, expected_version, actor)
        self._sync()

    def _delete(self, rule_id: int, expected: int | None, actor: str, note: str = "") -> None:
        try:
            self.store.delete(rule_id, expected_version=expected, actor=actor, note=note)
        except RuleConflict as exc:
            raise RuleError(409, "version_conflict", str(exc), "expected_version") from None
        except UnknownRule as exc:
            raise RuleError(404, "not_found", str(exc), "rule_id") from None

    def _put(
        self,
        rule_id: int,
        body: Mapping[str, JsonValue],
        expected: int | None,
        actor: str,
        note: str = "",
    ) -> RuleRecord:
        try:
            record = self.store.put(
                rule_id, body, expected_version=expected, actor=actor, note=note
            )
        except RuleConflict as exc:
            raise RuleError(409, "version_conflict", str(exc), "expected_version") from None
        except UnknownRule as exc:
            raise RuleError(404, "not_found", str(exc), "rule_id") from None
        return record

    def publish(
        self, rule_id: int, *, actor: str, force: bool = False, expected_version: int | None = None
    ) -> tuple[RuleRecord, Preview]:
        """Publish the draft: search applies it from the next sync. Refused (409) when the
        preview's judged NDCG@10 falls by more than the settings' margin, unless ``force``."""
        record = self.get(rule_id)
        preview = self.preview(rule_id)
        margin = self.engine.settings.rules_ndcg_margin
        if -preview.ndcg_delta > margin and not force:
            raise RuleError(
                409,
                "ndcg_drop",
                f"rule #{rule_id} lowers NDCG@10 on the {preview.judged_queries} judged queries "
                f"by {-preview.ndcg_delta:.4f} ({preview.ndcg_before} -> {preview.ndcg_after}), "
                f"more than the margin {margin}; publish with force to do it anyway",
                "force",
            )
        body = {
            **record.body,
            "published": record.body["draft"],
            "published_at": _now(),
            "published_by": actor,
        }
        note = "publish" + (f" (forced; NDCG@10 {preview.ndcg_delta:+.4f})" if force else "")
        published = self._put(rule_id, body, expected_version or record.version, actor, note)
        self._sync()
        return published, preview

    def undo(self, seq: int, *, actor: str) -> RuleRecord | None:
        """Revert change ``seq`` with a new change: a creation is deleted, an update or a
        publish gets the body from before, a deletion is restored under its id."""
        # Bounded by the newest change first: a huge id is simply not in the log (and never
        # reaches a store whose integers are 64-bit).
        change = (
            next((c for c in self.store.changes(since=seq - 1) if c.seq == seq), None)
            if 1 <= seq <= self.store.revision
            else None
        )
        if change is None:
            raise RuleError(404, "not_found", f"no rule change #{seq} in the log", "change_id")
        later = self.store.changes(since=seq, rule_id=change.rule_id)
        if later:
            raise RuleError(
                409,
                "not_undoable",
                f"rule #{change.rule_id} changed since change #{seq} (#{later[0].seq}: "
                f"{later[0].op} by {later[0].actor}); undo the later change first",
                "change_id",
            )
        note = f"undo #{seq}"
        if change.op == "create":
            self._delete(change.rule_id, self.get(change.rule_id).version, actor, note)
            self._sync()
            return None
        assert change.before is not None
        from search.rules import draft_of, published_of

        with self._writing:
            for spec in (draft_of(change.before), published_of(change.before)):
                if spec is not None:
                    self._check_slot(spec, change.rule_id)
            version = 0 if change.op == "delete" else self.get(change.rule_id).version
            restored = self._put(change.rule_id, change.before, version, actor, note)
        self._sync()
        return restored

    def _sync(self) -> None:
        """Make the write reach search now (a later search's sync would, too)."""
        from ingest.versions import NoIndexError

        try:
            service, _ = self.engine.service()
        except NoIndexError:
            return
        refresh_rules(self.engine, service)

    # -- preview ----------------------------------------------------------------------------

    def preview(self, rule_id: int) -> Preview:
        """What publishing the draft would change: judged and logged queries whose top 10
        moves, and NDCG@10 over the judged queries before and after."""
        from ranker.metrics import ndcg_at_k
        from search.rules import compile_rules

        record = self.get(rule_id)
        engine = self.engine
        service, manifest = engine.service()
        refresh_rules(engine, service)
        before = service.rules
        trial = {**record.body, "published": record.body["draft"]}
        records = [r for r in self.store.rules() if r.id != rule_id]
        records.append(RuleRecord(rule_id, record.version, trial))
        after = compile_rules(records, engine.graph)
        touched = compile_rules([r for r in records if r.id == rule_id], engine.graph)
        if record.body.get("published") is not None:
            touched = compile_rules([record, records[-1]], engine.graph)  # old and new scope
        now = datetime.now(UTC).timestamp()

        def in_scope(query: str) -> bool:
            qgraph = service.graph.understand(query) if service.graph is not None else None
            return bool(touched.active(query, qgraph, None, now))

        judged = engine.judged()
        scoped_judged = [q for q in judged if in_scope(q.text)]
        baseline = self._judged_baseline(service, before, manifest.version, judged)
        changed_judged: list[dict[str, Any]] = []
        after_ndcg = dict(baseline)
        for q in scoped_judged:
            old = _top(service, before, q.text)
            new = _top(service, after, q.text)
            after_ndcg[q.query_id] = ndcg_at_k(new, q.grades, 10)
            if old != new:
                changed_judged.append(
                    {
                        "query": q.text,
                        "query_id": q.query_id,
                        "before": old,
                        "after": new,
                        "ndcg_at_10_before": baseline.get(q.query_id),
                        "ndcg_at_10_after": after_ndcg[q.query_id],
                    }
                )
        logged = self._logged_queries()
        changed_logged: list[dict[str, Any]] = []
        for text, count in logged:
            if not in_scope(text):
                continue
            old, new = _top(service, before, text), _top(service, after, text)
            if old != new:
                changed_logged.append({"query": text, "count": count, "before": old, "after": new})
        return Preview(
            rule_id=rule_id,
            judged_queries=len(judged),
            judged_in_scope=len(scoped_judged),
            ndcg_before=_mean(baseline.values()),
            ndcg_after=_mean(after_ndcg.values()),
            changed_judged=changed_judged,
            logged_queries=len(logged),
            changed_logged=changed_logged,
        )

    def _judged_baseline(
        self, service: SearchService, rules: RuleSet, version: str, judged: Sequence[Any]
    ) -> dict[str, float | None]:
        """NDCG@10 of every judged query under the published rules; kept while the index
        version, its catalogue and the rules stay the same (a preview replays only the
        queries a rule can touch)."""
        from ranker.metrics import ndcg_at_k

        key = (id(service), version, rules.revision, len(judged))  # (rules, graph) revisions
        with self._lock:
            if self._baseline is not None and self._baseline[0] == key:
                return self._baseline[1]
        scores = {q.query_id: ndcg_at_k(_top(service, rules, q.text), q.grades, 10) for q in judged}
        with self._lock:
            self._baseline = (key, scores)
        return scores

    def _logged_queries(self) -> list[tuple[str, int]]:
        """The most frequent queries of the newest logged events."""
        events = self.engine.events
        newest = events.revision()
        counts = Counter(
            " ".join(e.query.split())
            for e in events.read(after=max(0, newest - LOGGED_WINDOW))
            if e.query
        )
        return counts.most_common(LOGGED_QUERIES)


def _top(service: SearchService, rules: RuleSet, query: str) -> list[str]:
    """The top 10 product ids for ``query`` under ``rules`` (a shallow copy of the service
    carries them, so live searches never see a trial rule set)."""
    trial = copy.copy(service)
    trial.rules = rules
    return [h.product_id for h in trial.search(query, k=10).hits]


def _mean(values: Any) -> float | None:
    present = [v for v in values if v is not None]
    return round(sum(present) / len(present), 6) if present else None
