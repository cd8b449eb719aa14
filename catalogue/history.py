"""The audit log (the store's change log, filtered and paged) and undo.

``undo(seq)`` reverts the whole edit change ``seq`` belongs to (every change of one
store write shares :attr:`~kg.schema.Change.batch`), in one atomic write that is itself a
new, logged edit. An edit of one change is reverted as follows; a larger edit (a price
and a brand, a category move, a delete with the relations it recorded) is reverted by the
same rules applied to each entity's state before the edit and each relation it touched,
refused as a whole if any entity it touched changed since:

- create -> delete (refused if the entity changed since, or is still in use);
- update -> the properties from before (refused if the entity changed since);
- delete -> the entity again, with the relations its deletion recorded;
- relate <-> unrelate (refused if the relation changed since).

Old names and aliases written back are checked again (another entity may hold them now).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from catalogue.aliases import alias_issues
from catalogue.context import EDIT_MARK, RELATIONS_MARK, Context, EditResult, public
from catalogue.index import CatalogIndex
from catalogue.relations import RelationOps
from catalogue.validation import CatalogError, Code, check_product_record
from ingest.records import ProductRecord
from kg.schema import (
    ALIASES,
    Change,
    EntityKind,
    EntityWrite,
    JsonValue,
    Relation,
    RelationType,
    WriteBatch,
    kind_of,
)

__all__ = ["AuditEntry", "History"]

#: The product properties :class:`ProductRecord` validates (others are bookkeeping).
_PRODUCT_RECORD_FIELDS = frozenset(ProductRecord.model_fields)

#: Relations a source may have one of (per attribute key for HAS_ATTRIBUTE).
FUNCTIONAL = (RelationType.HAS_BRAND, RelationType.IN_CATEGORY, RelationType.SUBCATEGORY_OF)


@dataclass(frozen=True, slots=True)
class AuditEntry:
    change: Change

    def as_dict(self) -> dict[str, JsonValue]:
        c = self.change
        before = public(c.before) if c.before else None
        after = public(c.after) if c.after else None
        diff: dict[str, JsonValue] = {}
        if c.op == "update" and before is not None and after is not None:
            for key in sorted(set(before) | set(after)):
                if before.get(key) != after.get(key):
                    diff[key] = {"before": before.get(key), "after": after.get(key)}
        return {
            "seq": c.seq,
            "at": c.at,
            "actor": c.actor,
            "op": c.op,
            "entity_id": c.entity_id,
            "before": before,
            "after": after,
            "diff": diff,
            "edit": c.batch,
        }


def _not_undoable(change: Change, why: str) -> CatalogError:
    return CatalogError.one(
        Code.NOT_UNDOABLE,
        f"change #{change.seq} ({change.op} {change.entity_id}) cannot be undone: {why}",
        entity_id=change.entity_id,
        field="change_id",
        rule="undo",
    )


def _changed_since(change: Change, later: Change) -> CatalogError:
    return CatalogError.one(
        Code.VERSION_CONFLICT,
        f"{change.entity_id!r} changed since change #{change.seq} (#{later.seq}: "
        f"{later.op} by {later.actor}); undo the later change first",
        entity_id=change.entity_id,
        field="change_id",
        rule="optimistic_concurrency",
    )


def _relation_of(change: Change) -> Relation:
    body = change.after if change.op == "relate" else change.before
    assert body is not None
    return Relation(change.entity_id, RelationType(str(body["type"])), str(body["target"]))


def _saved_parent(saved: JsonValue, eid: str) -> str | None:
    """The parent a deleted category had, from the relations its deletion recorded."""
    for item in saved if isinstance(saved, list) else []:
        if (
            isinstance(item, list)
            and len(item) == 3
            and item[0] == eid
            and item[1] == RelationType.SUBCATEGORY_OF.value
        ):
            return str(item[2])
    return None


def _check_restorable(
    idx: CatalogIndex,
    eid: str,
    props: Mapping[str, JsonValue],
    *,
    parent: str | None = None,
) -> None:
    """The rules an edit would apply, applied to the old values an undo writes back: the
    catalogue may have changed since (a second brand took the old name), so what was valid
    then may not be now. ``parent``: a deleted category's parent (a live one's is read)."""
    kind = kind_of(eid)
    if kind is EntityKind.PRODUCT:
        check_product_record(
            {k: v for k, v in public(props).items() if k in _PRODUCT_RECORD_FIELDS},
            entity_id=eid,
        )
        return
    name = props.get("key") if kind is EntityKind.ATTRIBUTE_VALUE else props.get("name")
    if kind is EntityKind.ATTRIBUTE_VALUE:
        holder = idx.attribute_value(str(name), str(props.get("value")))
        what = f"attribute value {name}={props.get('value')!r}"
    else:
        if kind is EntityKind.CATEGORY:
            parent = idx.parent(eid) if idx.exists(eid) else parent
            path = (*idx.category_path(parent), str(name)) if parent else (str(name),)
        else:
            path = (str(name),)
        holder = idx.named(kind, path)
        what = f"{kind.value.lower()} {' / '.join(path)!r}"
    if holder is not None and holder != eid:
        raise CatalogError.one(
            Code.ALREADY_EXISTS,
            f"cannot undo: {what} is taken by {holder} since; rename or merge that first",
            entity_id=holder,
            field="change_id",
            rule="unique_name",
        )


def _check_aliases(
    ctx: Context, idx: CatalogIndex, eid: str, props: Mapping[str, JsonValue]
) -> None:
    """The alias rules, applied to the aliases an undo writes back (another entity may
    have taken one of them since)."""
    saved = props.get(ALIASES)
    if kind_of(eid) is EntityKind.PRODUCT or not isinstance(saved, list) or not saved:
        return
    wanted = [a for a in saved if isinstance(a, str)]
    issues = alias_issues(idx, ctx.store.aliases(), eid, wanted, field="change_id")
    if issues:
        first = issues[0]
        raise CatalogError.one(
            first.code,
            f"cannot undo: {first.message}",
            entity_id=first.entity_id,
            field="change_id",
            rule=first.rule,
        )


class History:
    def __init__(self, ctx: Context, relations: RelationOps) -> None:
        self._ctx = ctx
        self._relations = relations

    # -- audit ----------------------------------------------------------------------------

    def audit(
        self,
        *,
        entity_id: str | None = None,
        actor: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> tuple[list[AuditEntry], bool]:
        """Changes newest first, filtered by entity and/or actor; and whether more follow."""
        if not 1 <= limit <= 1000 or offset < 0:
            raise CatalogError.one(
                Code.INVALID_VALUE,
                "limit must be 1-1000 and offset >= 0",
                field="limit",
                rule="range",
            )
        wanted = offset + limit + 1
        found: list[Change] = []
        for change in self._newest_first(entity_id):
            if actor is None or change.actor == actor:
                found.append(change)
                if len(found) >= wanted:
                    break
        page = [AuditEntry(c) for c in found[offset : offset + limit]]
        return page, len(found) > offset + limit

    def _newest_first(self, entity_id: str | None) -> Iterator[Change]:
        store = self._ctx.store
        if entity_id is not None:
            yield from reversed(list(store.changes(entity_id=entity_id)))
            return
        upper = store.revision
        window = 256
        while upper > 0:
            lower = max(0, upper - window)
            chunk = [c for c in store.changes(since=lower) if c.seq <= upper]
            yield from reversed(chunk)
            upper, window = lower, window * 4

    def change(self, seq: int) -> Change:
        # Bounded by the newest change first: a huge id is simply not in the log (and never
        # reaches the store, whose integers are 64-bit).
        if 1 <= seq <= self._ctx.store.revision:
            for change in self._ctx.store.changes(since=seq - 1):
                if change.seq == seq:
                    return change
                break
        raise CatalogError.one(
            Code.NOT_FOUND, f"no change #{seq} in the log", field="change_id", rule="exists"
        )

    # -- undo -----------------------------------------------------------------------------

    def undo(self, seq: int, *, actor: str) -> EditResult:
        change = self.change(seq)
        edit = list(self._ctx.store.changes(since=change.batch - 1, batch=change.batch))
        if len(edit) > 1:
            return self._undo_edit(edit, actor)
        if change.op in ("create", "update", "delete"):
            return self._undo_entity(change, actor)
        relation = _relation_of(change)
        current = self._ctx.store.get(relation.source)
        if current is None:
            raise _not_undoable(change, f"{relation.source!r} no longer exists")
        with self._ctx.editing() as idx:
            present = relation.target in idx.targets(relation.source, relation.type)
        if change.op == "relate":
            if not present:
                raise _not_undoable(change, "the relation is gone already")
            return self._relations.unrelate(relation, expected_version=current.version, actor=actor)
        if present:
            raise _not_undoable(change, "the relation exists again")
        if not self._ctx.store.get(relation.target):
            raise _not_undoable(change, f"{relation.target!r} no longer exists")
        return self._relations.relate(
            relation, expected_version=current.version, actor=actor, allow_new_keys=True
        )

    def _later(self, change: Change) -> Change | None:
        for later in self._ctx.store.changes(since=change.seq, entity_id=change.entity_id):
            if later.op in ("create", "update", "delete"):
                return later
        return None

    def _undo_entity(self, change: Change, actor: str) -> EditResult:
        ctx = self._ctx
        eid = change.entity_id
        with ctx.editing() as idx:
            later = self._later(change)
            if later is not None:
                raise _changed_since(change, later)
            entity = ctx.store.get(eid)
            if change.op == "delete":
                if entity is not None:
                    raise _not_undoable(change, f"{eid!r} exists again")
                return self._recreate(change, actor)
            if entity is None:
                raise _not_undoable(change, f"{eid!r} no longer exists")
            if change.op == "update":
                assert change.before is not None
                props = {k: v for k, v in change.before.items() if k != RELATIONS_MARK}
                _check_restorable(idx, eid, props)
                _check_aliases(ctx, idx, eid, props)
                batch = WriteBatch(upserts=(ctx.bumped(entity, props),))
                return ctx.result(eid, ctx.write(batch, actor=actor))
            # create -> delete
            users = [r for r in idx.relations_of(eid) if r.target == eid]
            if users:
                raise CatalogError.one(
                    Code.IN_USE,
                    f"{eid!r} is used by {len(users)} relations (e.g. {users[0].source}); "
                    "it cannot be removed",
                    entity_id=eid,
                    field="change_id",
                    rule="not_in_use",
                )
            batch = ctx.deletion(entity, idx.relations_of(eid))
            return EditResult(eid, None, ctx.write(batch, actor=actor))

    def _recreate(self, change: Change, actor: str) -> EditResult:
        eid = change.entity_id
        upsert, relate, unrelate, notes = self._restoration(change)
        batch = WriteBatch(upserts=(upsert,), relate=tuple(relate), unrelate=tuple(unrelate))
        return self._ctx.result(eid, self._ctx.write(batch, actor=actor, creates=[eid]), notes)

    def _restoration(
        self, change: Change
    ) -> tuple[EntityWrite, list[Relation], list[Relation], list[str]]:
        """What re-creating the entity ``change`` deleted writes: the entity, the recorded
        relations that can come back, the ones they displace, and notes on those left out."""
        ctx, idx = self._ctx, self._ctx.index
        assert change.before is not None
        eid = change.entity_id
        saved = change.before.get(RELATIONS_MARK)
        props: Mapping[str, JsonValue] = {
            k: v for k, v in change.before.items() if k not in (RELATIONS_MARK, EDIT_MARK)
        }
        relate: list[Relation] = []
        unrelate: list[Relation] = []
        notes: list[str] = []
        for item in saved if isinstance(saved, list) else []:
            if not (isinstance(item, list) and len(item) == 3):
                continue
            rel = Relation(str(item[0]), RelationType(str(item[1])), str(item[2]))
            other = rel.target if rel.source == eid else rel.source
            if not idx.exists(other):
                if rel.source == eid:
                    raise _not_undoable(
                        change, f"{other!r} it was related to no longer exists; restore it first"
                    )
                notes.append(f"not restored: {rel.source} -{rel.type.value}-> {rel.target}")
                continue
            if rel.source != eid and self._taken(rel):
                notes.append(f"not restored (now taken): {rel.source} -{rel.type.value}-> {eid}")
                continue
            relate.append(rel)
            if rel.source == eid and rel.type in FUNCTIONAL:
                unrelate += [
                    Relation(eid, rel.type, t)
                    for t in idx.targets(eid, rel.type)
                    if t != rel.target
                ]
        _check_restorable(idx, eid, props, parent=_saved_parent(saved, eid))
        _check_aliases(ctx, idx, eid, props)
        upsert = EntityWrite(eid, kind_of(eid), {**props, EDIT_MARK: 1}, expected_version=0)
        return upsert, relate, unrelate, notes

    def _taken(self, rel: Relation) -> bool:
        """Would restoring ``rel`` give its source a second brand/category/parent/value?"""
        idx = self._ctx.index
        if rel.type in FUNCTIONAL:
            return bool(idx.targets(rel.source, rel.type))
        if rel.type is RelationType.HAS_ATTRIBUTE:
            key = idx.attribute.get(rel.target, ("", ""))[0].casefold()
            return any(k.casefold() == key for k in idx.attributes_of(rel.source))
        return False

    # -- undo of a multi-change edit --------------------------------------------------------

    def _undo_edit(self, edit: list[Change], actor: str) -> EditResult:
        """Revert every change of one edit in one write: each entity back to its state
        before the edit, each relation the edit added or removed the other way round."""
        ctx = self._ctx
        with ctx.editing() as idx:
            self._check_unchanged_since(edit)
            relations = _relation_changes(edit)
            added = {rel for rel, op in relations.items() if op == "relate"}
            upserts: list[EntityWrite] = []
            deletes: list[str] = []
            relate: list[Relation] = []
            unrelate: list[Relation] = []
            notes: list[str] = [
                f"reverted edit #{edit[0].batch}: changes #{edit[0].seq}-#{edit[-1].seq}"
            ]
            creates: list[str] = []
            for first, last in _entity_spans(edit).values():
                eid = first.entity_id
                entity = ctx.store.get(eid)
                if first.op == "create" and last.op == "delete":
                    continue
                if first.op == "create":
                    if entity is None:
                        raise _not_undoable(first, f"{eid!r} no longer exists")
                    users = [r for r in idx.relations_of(eid) if r.target == eid and r not in added]
                    if users:
                        raise _not_undoable(
                            first, f"{eid!r} is used by {users[0].source} since; remove that first"
                        )
                    removal = ctx.deletion(entity, idx.relations_of(eid))
                    upserts += removal.upserts
                    deletes += removal.deletes
                elif last.op == "delete":
                    if entity is not None:
                        raise _not_undoable(last, f"{eid!r} exists again")
                    upsert, back, displaced, left = self._restoration(last)
                    upserts.append(upsert)
                    relate += back
                    unrelate += displaced
                    notes += left
                    creates.append(eid)
                else:
                    if entity is None:
                        raise _not_undoable(first, f"{eid!r} no longer exists")
                    assert first.before is not None
                    props = {k: v for k, v in first.before.items() if k != RELATIONS_MARK}
                    _check_restorable(idx, eid, props)
                    _check_aliases(ctx, idx, eid, props)
                    upserts.append(ctx.bumped(entity, props))
            gone = set(deletes)
            for rel, op in relations.items():
                if rel.source in gone or rel.target in gone:
                    continue  # deleting an end removes the relation
                present = rel.target in idx.targets(rel.source, rel.type)
                if op == "relate" and present:
                    unrelate.append(rel)
                elif op == "unrelate" and not present:
                    for end in (rel.source, rel.target):
                        if not idx.exists(end) and end not in creates:
                            raise _not_undoable(
                                edit[0], f"{end!r} no longer exists; restore it first"
                            )
                    relate.append(rel)
            batch = WriteBatch(
                upserts=tuple(upserts),
                deletes=tuple(deletes),
                relate=tuple(dict.fromkeys(relate)),
                unrelate=tuple(r for r in dict.fromkeys(unrelate) if r not in relate),
            )
            revision = ctx.write(batch, actor=actor, creates=creates)
            return ctx.result(edit[0].entity_id, revision, notes)

    def _check_unchanged_since(self, edit: list[Change]) -> None:
        """Refuse the undo if any entity the edit touched changed after it."""
        last = edit[-1].seq
        for eid in dict.fromkeys(c.entity_id for c in edit):
            for later in self._ctx.store.changes(since=last, entity_id=eid):
                first = next(c for c in edit if c.entity_id == eid)
                raise _changed_since(first, later)


def _entity_spans(edit: list[Change]) -> dict[str, tuple[Change, Change]]:
    """Each entity the edit created, updated or deleted -> its first and last change."""
    spans: dict[str, tuple[Change, Change]] = {}
    for change in edit:
        if change.op in ("create", "update", "delete"):
            first = spans.get(change.entity_id, (change, change))[0]
            spans[change.entity_id] = (first, change)
    return spans


def _relation_changes(edit: list[Change]) -> dict[Relation, str]:
    """Each relation the edit related or unrelated -> its first op there, which says its
    state before the edit (absent for ``relate``, present for ``unrelate``)."""
    found: dict[Relation, str] = {}
    for change in edit:
        if change.op in ("relate", "unrelate"):
            found.setdefault(_relation_of(change), change.op)
    return found
