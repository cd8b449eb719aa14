"""Named entities (brands, categories: one :class:`NamedOps` per declared kind) and
attribute values: create, rename, merge, move, delete.

Ids are stable: a rename changes the ``name`` (or ``key``/``value``) property, never the
id, so links from outside (saved filters, logs) keep working. Look-ups by name go through
the index, so a renamed entity is found by its new name.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from catalogue.context import Context, EditResult
from catalogue.index import CatalogIndex
from catalogue.kinds import EntityKindSpec
from catalogue.validation import CatalogError, Code, check_category_parent, raise_issues
from kg.schema import (
    Entity,
    EntityKind,
    EntityWrite,
    JsonValue,
    Relation,
    RelationType,
    WriteBatch,
    slug,
)

__all__ = ["AttributeOps", "Named", "NamedOps"]


def _name(value: object, fld: str, eid: str | None) -> str:
    if not isinstance(value, str) or not value.strip():
        raise CatalogError.one(
            Code.MISSING_FIELD if value is None or value == "" else Code.INVALID_VALUE,
            f"{fld} must be non-empty text",
            entity_id=eid,
            field=fld,
            rule="required",
        )
    text = value.strip()
    if len(text) > 200 or any(ord(c) < 32 for c in text):
        raise CatalogError.one(
            Code.INVALID_VALUE,
            f"{fld} must be at most 200 characters without control characters",
            entity_id=eid,
            field=fld,
            rule="length",
        )
    return text


def _in_use(eid: str, what: str, count: int) -> CatalogError:
    return CatalogError.one(
        Code.IN_USE,
        f"{eid!r} still has {count} {what}; merge it into another or move them first",
        entity_id=eid,
        field="id",
        rule="not_in_use",
    )


def _relink(
    idx: CatalogIndex, loser: str, winner: str, rtype: RelationType
) -> tuple[list[Relation], list[Relation]]:
    """Relations to move from ``loser`` to ``winner`` (relate, unrelate)."""
    relate, unrelate = [], []
    for source in sorted(idx.sources(loser, rtype)):
        unrelate.append(Relation(source, rtype, loser))
        if winner not in idx.targets(source, rtype):
            relate.append(Relation(source, rtype, winner))
    return relate, unrelate


def _merge_batch(
    ctx: Context,
    idx: CatalogIndex,
    winner: Entity,
    loser: Entity,
    rtype: RelationType,
    *,
    winner_expected: int,
    loser_expected: int,
) -> WriteBatch:
    ctx.check_version(winner, winner_expected)
    ctx.check_version(loser, loser_expected, field="source_expected_version")
    relate, unrelate = _relink(idx, loser.id, winner.id, rtype)
    gone = ctx.deletion(loser, idx.relations_of(loser.id))
    return WriteBatch(
        upserts=(ctx.bumped(winner, winner.properties), *gone.upserts),
        deletes=gone.deletes,
        relate=tuple(relate),
        unrelate=tuple(unrelate),
    )


@dataclass(frozen=True, slots=True)
class Named:
    """A named entity as an editor sees it; ``parent`` and ``path`` for one in a tree."""

    entity_id: str
    name: str
    version: int
    products: int
    parent: str | None = None
    path: tuple[str, ...] = ()
    in_tree: bool = False

    def as_dict(self) -> dict[str, JsonValue]:
        out: dict[str, JsonValue] = {
            "entity_id": self.entity_id,
            "name": self.name,
            "version": self.version,
            "products": self.products,
        }
        if self.in_tree:
            out["parent"] = self.parent
            out["path"] = list(self.path)
        return out


def _distinct(winner: str, loser: str) -> None:
    if winner == loser:
        raise CatalogError.one(
            Code.INVALID_VALUE,
            "cannot merge an entity into itself",
            entity_id=loser,
            field="source",
            rule="distinct",
        )


class NamedOps:
    """List, create, rename, move, merge and delete the entities of one named kind, as
    its :class:`~catalogue.kinds.EntityKindSpec` declares it (``ops.brands``,
    ``ops.categories``)."""

    def __init__(self, ctx: Context, spec: EntityKindSpec) -> None:
        self._ctx = ctx
        self.spec = spec

    def _id(self, eid: str) -> str:
        """``oakhaven`` or ``brand:oakhaven`` -> ``brand:oakhaven``."""
        return eid if eid.startswith(self.spec.prefix) else f"{self.spec.prefix}{eid}"

    def _view(self, idx: CatalogIndex, entity: Entity) -> Named:
        tree = self.spec.tree
        return Named(
            entity.id,
            idx.names.get(entity.id, ""),
            entity.version,
            len(idx.sources(entity.id, self.spec.products)),
            idx.parent(entity.id) if tree else None,
            idx.category_path(entity.id) if tree else (),
            in_tree=tree,
        )

    def list(self) -> list[Named]:
        with self._ctx.editing() as idx:
            found = self._ctx.store.get_many(idx.ids_of(self.spec.kind))
            return [self._view(idx, e) for e in sorted(found.values(), key=lambda e: e.id)]

    def get(self, eid: str) -> Named:
        eid = self._id(eid)
        with self._ctx.editing() as idx:
            return self._view(idx, self._ctx.entity(eid, self.spec.kind))

    def create(self, name: object, *, parent: str | None = None, actor: str) -> EditResult:
        """A new entity named ``name`` (in a tree: under ``parent``, else at the top)."""
        spec = self.spec
        text = _name(name, "name", None)
        with self._ctx.editing() as idx:
            pid = self._parent(idx, parent)
            path = (*idx.category_path(pid), text) if pid else (text,)
            self._unique(idx, path, None)
            eid = self._ctx.fresh_id(f"{pid}/{slug(text)}" if pid else spec.prefix + slug(text))
            props: dict[str, JsonValue] = {"name": text}
            if spec.tree:
                props["depth"] = len(path)
            relate = (Relation(eid, spec.parent, pid),) if pid and spec.parent else ()
            upsert = self._ctx.created(eid, spec.kind, props)
            revision = self._ctx.write(
                WriteBatch(upserts=(upsert,), relate=relate), actor=actor, creates=[eid]
            )
            return self._ctx.result(eid, revision)

    def rename(self, eid: str, name: object, *, expected_version: int, actor: str) -> EditResult:
        """Give the entity a new name; its id stays."""
        text = _name(name, "name", self._id(eid))
        result = self.update(eid, expected_version=expected_version, actor=actor, name=text)
        return result if result.written else replace(result, notes=("same name",))

    def update(
        self,
        eid: str,
        *,
        expected_version: int,
        actor: str,
        name: object = None,
        parent: str | None = None,
        move: bool = False,
    ) -> EditResult:
        """Rename (``name``) and/or move (``move=True``: under ``parent``, ``None`` = to
        the top). A move may not create a cycle; the depths below it follow."""
        eid = self._id(eid)
        spec = self.spec
        with self._ctx.editing() as idx:
            entity = self._ctx.entity(eid, spec.kind)
            self._ctx.check_version(entity, expected_version)
            props: dict[str, JsonValue] = dict(entity.properties)
            if name is not None:
                props["name"] = _name(name, "name", eid)
            old_parent = idx.parent(eid) if spec.tree else None
            new_parent = self._parent(idx, parent, move=old_parent) if move else old_parent
            relate: list[Relation] = []
            unrelate: list[Relation] = []
            depth_moves = 0
            if new_parent != old_parent and spec.parent is not None:
                raise_issues(check_category_parent(eid, new_parent, idx.parents()))
                if old_parent is not None:
                    unrelate.append(Relation(eid, spec.parent, old_parent))
                if new_parent is not None:
                    relate.append(Relation(eid, spec.parent, new_parent))
                depth = len(idx.category_path(new_parent)) + 1 if new_parent else 1
                props["depth"] = depth
                depth_moves = depth - len(idx.category_path(eid))
            text = str(props.get("name"))
            self._unique(
                idx, (*idx.category_path(new_parent), text) if new_parent else (text,), eid
            )
            if props == dict(entity.properties) and not relate and not unrelate:
                return self._ctx.unchanged(entity, "no change")
            upserts = [self._ctx.bumped(entity, props)]
            if depth_moves:
                below = self._ctx.store.get_many(idx.descendants(eid))
                for child in below.values():
                    old = child.properties.get("depth")
                    if isinstance(old, int):
                        upserts.append(
                            self._ctx.bumped(
                                child, {**child.properties, "depth": old + depth_moves}
                            )
                        )
            batch = WriteBatch(
                upserts=tuple(upserts), relate=tuple(relate), unrelate=tuple(unrelate)
            )
            return self._ctx.result(eid, self._ctx.write(batch, actor=actor))

    def merge(
        self,
        winner: str,
        loser: str,
        *,
        expected_version: int,
        loser_expected_version: int,
        actor: str,
    ) -> EditResult:
        """Re-link the loser's products to the winner and delete the loser."""
        spec = self.spec
        if not spec.mergeable:
            raise CatalogError.one(
                Code.INVALID_VALUE,
                f"{spec.path} do not merge",
                entity_id=winner,
                field="source",
                rule="mergeable",
            )
        wid, lid = self._id(winner), self._id(loser)
        _distinct(wid, lid)
        with self._ctx.editing() as idx:
            w = self._ctx.entity(wid, spec.kind)
            lo = self._ctx.entity(lid, spec.kind)
            batch = _merge_batch(
                self._ctx,
                idx,
                w,
                lo,
                spec.products,
                winner_expected=expected_version,
                loser_expected=loser_expected_version,
            )
            return self._ctx.result(wid, self._ctx.write(batch, actor=actor))

    def delete(self, eid: str, *, expected_version: int, actor: str) -> EditResult:
        """Delete an entity no product uses (in a tree: without children either)."""
        spec = self.spec
        eid = self._id(eid)
        with self._ctx.editing() as idx:
            entity = self._ctx.entity(eid, spec.kind)
            self._ctx.check_version(entity, expected_version)
            users = idx.sources(eid, spec.products)
            if users and spec.required:
                raise CatalogError.one(
                    Code.ORPHAN_PRODUCT,
                    f"deleting {eid!r} would leave {len(users)} products without a "
                    f"{spec.label} (e.g. {sorted(users)[0]}); move them first",
                    entity_id=eid,
                    field="id",
                    rule=f"product_has_{spec.label}",
                )
            if users:
                raise _in_use(eid, "products", len(users))
            children = idx.sources(eid, spec.parent) if spec.parent else set()
            if children:
                raise _in_use(eid, f"sub{spec.path}", len(children))
            batch = self._ctx.deletion(entity, idx.relations_of(eid))
            return EditResult(eid, None, self._ctx.write(batch, actor=actor))

    # -- checks ---------------------------------------------------------------------------

    def _parent(
        self, idx: CatalogIndex, parent: str | None, *, move: str | None = None
    ) -> str | None:
        """The parent id ``parent`` names (``None``: the top); it must exist unless it is
        the current one (``move``)."""
        if not parent:
            return None
        label = self.spec.label
        if not self.spec.tree:
            raise CatalogError.one(
                Code.INVALID_VALUE,
                f"a {label} has no parent",
                field="parent",
                rule="no_parent",
            )
        pid = self._id(parent)
        if pid != move and not idx.exists(pid):
            raise CatalogError.one(
                Code.UNKNOWN_ENTITY,
                f"parent {label} {pid!r} does not exist",
                entity_id=pid,
                field="parent",
                rule="relation_targets_exist",
            )
        return pid

    def _unique(self, idx: CatalogIndex, path: tuple[str, ...], own: str | None) -> None:
        holder = idx.named(self.spec.kind, path)
        if holder is not None and holder != own:
            merge = "; merge instead" if self.spec.mergeable else ""
            raise CatalogError.one(
                Code.ALREADY_EXISTS,
                f"{self.spec.label} {' / '.join(path)!r} exists already ({holder}){merge}",
                entity_id=holder,
                field="name",
                rule="unique_name",
            )
        aliased = [e for e in self._ctx.store.resolve_alias(path[-1]) if e != own]
        if aliased:  # the name would make a query word lead to two entities
            raise CatalogError.one(
                Code.ALIAS_TAKEN,
                f"{self.spec.label} name {path[-1]!r} is an alias of {aliased[0]}; remove "
                "the alias there first",
                entity_id=aliased[0],
                field="name",
                rule="alias_unique",
            )


class AttributeOps:
    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx

    def keys(self) -> dict[str, dict[str, JsonValue]]:
        """Every attribute key: its values (id, value, products) and the classes using it."""
        with self._ctx.editing() as idx:
            values: dict[str, list[JsonValue]] = {}
            classes: dict[str, set[str]] = {}
            for aid, (key, value) in sorted(idx.attribute.items()):
                users = idx.sources(aid, RelationType.HAS_ATTRIBUTE)
                values.setdefault(key, []).append(
                    {"entity_id": aid, "value": value, "products": len(users)}
                )
                classes.setdefault(key, set()).update(idx.product_class.get(p, "") for p in users)
            out: dict[str, dict[str, JsonValue]] = {}
            for key in sorted(values):
                used_by: list[JsonValue] = []
                used_by.extend(sorted(classes[key]))
                out[key] = {"values": values[key], "classes": used_by}
            return out

    def allowed_keys(self, product_class: str) -> list[str]:
        with self._ctx.editing() as idx:
            return sorted(idx.allowed_keys(product_class))

    def rename_value(
        self, aid: str, value: object, *, expected_version: int, actor: str
    ) -> EditResult:
        """Give an attribute value a new spelling; if that value exists, merge instead."""
        text = _name(value, "value", aid)
        with self._ctx.editing() as idx:
            entity = self._ctx.entity(aid, EntityKind.ATTRIBUTE_VALUE)
            self._ctx.check_version(entity, expected_version)
            key = idx.attribute[aid][0]
            holder = idx.attribute_value(key, text)
            if holder is not None and holder != aid:
                raise CatalogError.one(
                    Code.ALREADY_EXISTS,
                    f"{key}={text!r} exists already ({holder}); merge {aid} into it",
                    entity_id=holder,
                    field="value",
                    rule="unique_value",
                )
            if entity.properties.get("value") == text:
                return self._ctx.unchanged(entity, "same value")
            props = {**entity.properties, "value": text}
            batch = WriteBatch(upserts=(self._ctx.bumped(entity, props),))
            return self._ctx.result(aid, self._ctx.write(batch, actor=actor))

    def merge_values(
        self,
        winner: str,
        loser: str,
        *,
        expected_version: int,
        loser_expected_version: int,
        actor: str,
    ) -> EditResult:
        """Merge duplicate values of one key (``grey`` into ``gray``): re-link the loser's
        products to the winner, delete the loser."""
        _distinct(winner, loser)
        with self._ctx.editing() as idx:
            w = self._ctx.entity(winner, EntityKind.ATTRIBUTE_VALUE)
            lo = self._ctx.entity(loser, EntityKind.ATTRIBUTE_VALUE)
            wkey, lkey = idx.attribute[winner][0], idx.attribute[loser][0]
            if wkey.casefold() != lkey.casefold():
                raise CatalogError.one(
                    Code.INVALID_VALUE,
                    f"{loser} is a {lkey!r} value and {winner} a {wkey!r} one; only values "
                    "of one key merge (rename the key to merge keys)",
                    entity_id=loser,
                    field="source",
                    rule="same_key",
                )
            batch = _merge_batch(
                self._ctx,
                idx,
                w,
                lo,
                RelationType.HAS_ATTRIBUTE,
                winner_expected=expected_version,
                loser_expected=loser_expected_version,
            )
            return self._ctx.result(winner, self._ctx.write(batch, actor=actor))

    def rename_key(self, old: object, new: object, *, actor: str) -> EditResult:
        """Rename an attribute key everywhere, in one batch. Where ``new`` already has the
        same value, the two values merge; a product that had both keys keeps its ``new``
        value. A bulk edit: it names no version (each value's is checked as read)."""
        old_key = _name(old, "key", None)
        new_key = _name(new, "new_key", None)
        if old_key == new_key:
            raise CatalogError.one(
                Code.INVALID_VALUE, "the new key is the old one", field="new_key", rule="distinct"
            )
        with self._ctx.editing() as idx:
            olds = [a for a in idx.values_of_key(old_key) if idx.attribute[a][0] != new_key]
            if not olds:
                raise CatalogError.one(
                    Code.NOT_FOUND,
                    f"no attribute values have the key {old_key!r}",
                    field="key",
                    rule="exists",
                )
            entities = self._ctx.store.get_many(olds)
            upserts: list[EntityWrite] = []
            deletes: list[str] = []
            relate: list[Relation] = []
            unrelate: list[Relation] = []
            notes: list[str] = []
            for aid in olds:
                entity = entities[aid]
                value = idx.attribute[aid][1]
                target = idx.attribute_value(new_key, value)
                if target is None or target == aid or target in olds:
                    props = {**entity.properties, "key": new_key}
                    upserts.append(self._ctx.bumped(entity, props))
                    continue
                moves, drops = _relink(idx, aid, target, RelationType.HAS_ATTRIBUTE)
                relate += moves
                unrelate += drops
                gone = self._ctx.deletion(entity, idx.relations_of(aid))
                upserts += gone.upserts
                deletes += gone.deletes
                notes.append(f"{aid} merged into {target}")
            for pid in sorted(
                {p for a in olds for p in idx.sources(a, RelationType.HAS_ATTRIBUTE)}
            ):
                has_new = [k for k in idx.attributes_of(pid) if k.casefold() == new_key.casefold()]
                if has_new:
                    for aid in olds:
                        rel = Relation(pid, RelationType.HAS_ATTRIBUTE, aid)
                        if aid in idx.targets(pid, RelationType.HAS_ATTRIBUTE):
                            unrelate.append(rel)
                    relate = [r for r in relate if r.source != pid]
                    notes.append(f"{pid} had both keys; kept its {new_key!r} value")
            batch = WriteBatch(
                upserts=tuple(upserts),
                deletes=tuple(deletes),
                relate=tuple(dict.fromkeys(relate)),
                unrelate=tuple(dict.fromkeys(unrelate)),
            )
            revision = self._ctx.write(batch, actor=actor)
            return EditResult(f"key:{new_key}", None, revision, tuple(notes))
