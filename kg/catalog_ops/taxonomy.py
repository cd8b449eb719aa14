"""Brands, categories and attribute values: create, rename, merge, move, delete.

Ids are stable: a rename changes the ``name`` (or ``key``/``value``) property, never the
id, so links from outside (saved filters, logs) keep working. Look-ups by name go through
the index, so a renamed entity is found by its new name.
"""

from __future__ import annotations

from dataclasses import dataclass

from kg.catalog_ops.context import Context, EditResult
from kg.catalog_ops.index import CatalogIndex
from kg.schema import (
    Entity,
    EntityKind,
    EntityWrite,
    JsonValue,
    Relation,
    RelationType,
    WriteBatch,
    brand_id,
    slug,
)
from kg.validation import CatalogError, Code, check_category_parent, raise_issues

__all__ = ["AttributeOps", "BrandOps", "CategoryOps", "Named"]


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
    entity_id: str
    name: str
    version: int
    products: int
    parent: str | None = None
    path: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, JsonValue]:
        out: dict[str, JsonValue] = {
            "entity_id": self.entity_id,
            "name": self.name,
            "version": self.version,
            "products": self.products,
        }
        if self.entity_id.startswith("category:"):
            out["parent"] = self.parent
            out["path"] = list(self.path)
        return out


class BrandOps:
    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx

    @staticmethod
    def _id(bid: str) -> str:
        return bid if bid.startswith("brand:") else f"brand:{bid}"

    def list(self) -> list[Named]:
        with self._ctx.editing() as idx:
            brands = self._ctx.store.get_many(idx.ids_of(EntityKind.BRAND))
            return [
                Named(
                    b.id,
                    idx.names.get(b.id, ""),
                    b.version,
                    len(idx.sources(b.id, RelationType.HAS_BRAND)),
                )
                for b in sorted(brands.values(), key=lambda e: e.id)
            ]

    def create(self, name: object, *, actor: str) -> EditResult:
        text = _name(name, "name", None)
        with self._ctx.editing() as idx:
            self._unique(idx, text, None)
            bid = self._ctx.fresh_id(brand_id(text))
            upsert = self._ctx.created(bid, EntityKind.BRAND, {"name": text})
            revision = self._ctx.write(WriteBatch(upserts=(upsert,)), actor=actor, creates=[bid])
            return self._ctx.result(bid, revision)

    def rename(self, bid: str, name: object, *, expected_version: int, actor: str) -> EditResult:
        bid = self._id(bid)
        text = _name(name, "name", bid)
        with self._ctx.editing() as idx:
            entity = self._ctx.entity(bid, EntityKind.BRAND)
            self._ctx.check_version(entity, expected_version)
            self._unique(idx, text, bid)
            if entity.properties.get("name") == text:
                return self._ctx.unchanged(entity, "same name")
            props = {**entity.properties, "name": text}
            revision = self._ctx.write(
                WriteBatch(upserts=(self._ctx.bumped(entity, props),)), actor=actor
            )
            return self._ctx.result(bid, revision)

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
        wid, lid = self._id(winner), self._id(loser)
        _distinct(wid, lid)
        with self._ctx.editing() as idx:
            w = self._ctx.entity(wid, EntityKind.BRAND)
            lo = self._ctx.entity(lid, EntityKind.BRAND)
            batch = _merge_batch(
                self._ctx,
                idx,
                w,
                lo,
                RelationType.HAS_BRAND,
                winner_expected=expected_version,
                loser_expected=loser_expected_version,
            )
            return self._ctx.result(wid, self._ctx.write(batch, actor=actor))

    def delete(self, bid: str, *, expected_version: int, actor: str) -> EditResult:
        bid = self._id(bid)
        with self._ctx.editing() as idx:
            entity = self._ctx.entity(bid, EntityKind.BRAND)
            self._ctx.check_version(entity, expected_version)
            users = idx.sources(bid, RelationType.HAS_BRAND)
            if users:
                raise _in_use(bid, "products", len(users))
            revision = self._ctx.write(self._ctx.deletion(entity, []), actor=actor)
            return EditResult(bid, None, revision)

    @staticmethod
    def _unique(idx: CatalogIndex, name: str, own: str | None) -> None:
        holder = idx.brand_named(name)
        if holder is not None and holder != own:
            raise CatalogError.one(
                Code.ALREADY_EXISTS,
                f"brand {name!r} exists already ({holder}); merge instead",
                entity_id=holder,
                field="name",
                rule="unique_name",
            )


def _distinct(winner: str, loser: str) -> None:
    if winner == loser:
        raise CatalogError.one(
            Code.INVALID_VALUE,
            "cannot merge an entity into itself",
            entity_id=loser,
            field="source",
            rule="distinct",
        )


class CategoryOps:
    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx

    @staticmethod
    def _id(cid: str) -> str:
        return cid if cid.startswith("category:") else f"category:{cid}"

    def list(self) -> list[Named]:
        with self._ctx.editing() as idx:
            found = self._ctx.store.get_many(idx.ids_of(EntityKind.CATEGORY))
            return [
                Named(
                    c.id,
                    idx.names.get(c.id, ""),
                    c.version,
                    len(idx.sources(c.id, RelationType.IN_CATEGORY)),
                    idx.parent(c.id),
                    idx.category_path(c.id),
                )
                for c in sorted(found.values(), key=lambda e: e.id)
            ]

    def create(self, name: object, *, parent: str | None = None, actor: str) -> EditResult:
        text = _name(name, "name", None)
        with self._ctx.editing() as idx:
            pid = self._id(parent) if parent else None
            if pid is not None and not idx.exists(pid):
                raise CatalogError.one(
                    Code.UNKNOWN_ENTITY,
                    f"parent category {pid!r} does not exist",
                    entity_id=pid,
                    field="parent",
                    rule="relation_targets_exist",
                )
            path = (*idx.category_path(pid), text) if pid else (text,)
            holder = idx.category_at(path)
            if holder is not None:
                raise CatalogError.one(
                    Code.ALREADY_EXISTS,
                    f"category {' / '.join(path)!r} exists already ({holder})",
                    entity_id=holder,
                    field="name",
                    rule="unique_name",
                )
            base = f"{pid}/{slug(text)}" if pid else f"category:{slug(text)}"
            cid = self._ctx.fresh_id(base)
            upsert = self._ctx.created(cid, EntityKind.CATEGORY, {"name": text, "depth": len(path)})
            relate = (Relation(cid, RelationType.SUBCATEGORY_OF, pid),) if pid else ()
            revision = self._ctx.write(
                WriteBatch(upserts=(upsert,), relate=relate), actor=actor, creates=[cid]
            )
            return self._ctx.result(cid, revision)

    def update(
        self,
        cid: str,
        *,
        expected_version: int,
        actor: str,
        name: object = None,
        parent: str | None = None,
        move: bool = False,
    ) -> EditResult:
        """Rename (``name``) and/or move (``move=True``: under ``parent``, ``None`` = to
        the top). A move may not create a cycle; the depths below it follow."""
        cid = self._id(cid)
        with self._ctx.editing() as idx:
            entity = self._ctx.entity(cid, EntityKind.CATEGORY)
            self._ctx.check_version(entity, expected_version)
            props: dict[str, JsonValue] = dict(entity.properties)
            old_parent = idx.parent(cid)
            new_parent = (self._id(parent) if parent else None) if move else old_parent
            if name is not None:
                props["name"] = _name(name, "name", cid)
            relate: list[Relation] = []
            unrelate: list[Relation] = []
            depth_moves = 0
            if new_parent != old_parent:
                if new_parent is not None and not idx.exists(new_parent):
                    raise CatalogError.one(
                        Code.UNKNOWN_ENTITY,
                        f"parent category {new_parent!r} does not exist",
                        entity_id=new_parent,
                        field="parent",
                        rule="relation_targets_exist",
                    )
                raise_issues(check_category_parent(cid, new_parent, idx.parents()))
                if old_parent is not None:
                    unrelate.append(Relation(cid, RelationType.SUBCATEGORY_OF, old_parent))
                if new_parent is not None:
                    relate.append(Relation(cid, RelationType.SUBCATEGORY_OF, new_parent))
                depth = len(idx.category_path(new_parent)) + 1 if new_parent else 1
                props["depth"] = depth
                depth_moves = depth - len(idx.category_path(cid))
            text = props.get("name")
            path = (*idx.category_path(new_parent), str(text)) if new_parent else (str(text),)
            holder = idx.category_at(path)
            if holder is not None and holder != cid:
                raise CatalogError.one(
                    Code.ALREADY_EXISTS,
                    f"category {' / '.join(path)!r} exists already ({holder})",
                    entity_id=holder,
                    field="name",
                    rule="unique_name",
                )
            if props == dict(entity.properties) and not relate and not unrelate:
                return self._ctx.unchanged(entity, "no change")
            upserts = [self._ctx.bumped(entity, props)]
            if depth_moves:
                below = self._ctx.store.get_many(idx.descendants(cid))
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
            return self._ctx.result(cid, self._ctx.write(batch, actor=actor))

    def delete(self, cid: str, *, expected_version: int, actor: str) -> EditResult:
        """Delete an empty category (no products, no subcategories)."""
        cid = self._id(cid)
        with self._ctx.editing() as idx:
            entity = self._ctx.entity(cid, EntityKind.CATEGORY)
            self._ctx.check_version(entity, expected_version)
            products = idx.sources(cid, RelationType.IN_CATEGORY)
            if products:
                raise CatalogError.one(
                    Code.ORPHAN_PRODUCT,
                    f"deleting {cid!r} would leave {len(products)} products without a "
                    f"category (e.g. {sorted(products)[0]}); move them first",
                    entity_id=cid,
                    field="id",
                    rule="product_has_category",
                )
            children = idx.sources(cid, RelationType.SUBCATEGORY_OF)
            if children:
                raise _in_use(cid, "subcategories", len(children))
            batch = self._ctx.deletion(entity, idx.relations_of(cid))
            return EditResult(cid, None, self._ctx.write(batch, actor=actor))


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
