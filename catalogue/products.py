"""Product edits: create, partial update, delete, merge, and the relation changes of a
product (brand, category, attribute values), each one atomic batch."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from catalogue.context import EDIT_MARK, Context, EditResult, public
from catalogue.fields import (
    issue,
    merge_fields,
    orphan,
    resolve_brand,
    resolve_category,
    text_of,
)
from catalogue.index import CatalogIndex
from catalogue.validation import (
    Code,
    Issue,
    check_attribute_keys,
    check_product_record,
    raise_issues,
)
from kg.schema import (
    Entity,
    EntityKind,
    EntityWrite,
    JsonValue,
    Relation,
    RelationType,
    WriteBatch,
    attribute_id,
    product_id,
)

__all__ = ["PRODUCT_FIELDS", "ProductOps", "ProductSummary", "ProductView", "as_product_id"]

#: Properties of a product an edit may set (ProductRecord's scalar fields).
SCALAR_FIELDS = (
    "name",
    "product_class",
    "description",
    "price",
    "rating_count",
    "average_rating",
    "review_count",
)
#: Fields stored as relations: a brand (name or id), a category (id or list of names),
#: attribute values ({key: value}; in an update ``null`` removes the key).
RELATION_FIELDS = ("brand", "category", "attributes")
PRODUCT_FIELDS = (*SCALAR_FIELDS, *RELATION_FIELDS)


def as_product_id(pid: str) -> str:
    """``"S1"`` or ``"product:S1"`` -> ``"product:S1"``."""
    return pid if pid.startswith("product:") else product_id(pid)


@dataclass(frozen=True, slots=True)
class ProductView:
    """A product as an editor sees it: fields, version, brand, category, attributes."""

    entity_id: str
    version: int
    fields: Mapping[str, JsonValue]
    brand: tuple[str, str] | None  # (id, name)
    category: tuple[str, tuple[str, ...]] | None  # (id, path of names)
    attributes: Mapping[str, tuple[str, str]]  # key -> (value, attribute id)
    relations: tuple[Relation, ...]

    def as_dict(self) -> dict[str, JsonValue]:
        out: dict[str, JsonValue] = {
            "entity_id": self.entity_id,
            "product_id": self.entity_id.removeprefix("product:"),
            "version": self.version,
            **{k: v for k, v in self.fields.items() if k != "product_id"},
            "brand": None,
            "brand_id": None,
            "category": None,
            "category_path": [],
            "attributes": {k: v for k, (v, _) in self.attributes.items()},
            "attribute_ids": {k: a for k, (_, a) in self.attributes.items()},
            "relations": [
                {"source": r.source, "type": r.type.value, "target": r.target}
                for r in self.relations
            ],
        }
        if self.brand is not None:
            out["brand_id"], out["brand"] = self.brand
        if self.category is not None:
            out["category"] = self.category[0]
            out["category_path"] = list(self.category[1])
        return out


@dataclass(frozen=True, slots=True)
class ProductSummary:
    product_id: str
    name: str
    product_class: str
    version: int

    def as_dict(self) -> dict[str, JsonValue]:
        return {
            "product_id": self.product_id,
            "name": self.name,
            "product_class": self.product_class,
            "version": self.version,
        }


@dataclass(slots=True)
class _Plan:
    """The state a product edit wants: properties and relations by id."""

    eid: str
    props: dict[str, JsonValue]
    brand: str | None
    category: str | None
    attrs: dict[str, str]  # key -> attribute value id
    creates: list[EntityWrite] = field(default_factory=list)


class ProductOps:
    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx

    # -- reads ----------------------------------------------------------------------------

    def get(self, pid: str) -> ProductView:
        eid = as_product_id(pid)
        with self._ctx.editing() as idx:
            entity = self._ctx.entity(eid, EntityKind.PRODUCT)
            return self._view(idx, entity)

    def _view(self, idx: CatalogIndex, entity: Entity) -> ProductView:
        brand = idx.one_target(entity.id, RelationType.HAS_BRAND)
        category = idx.one_target(entity.id, RelationType.IN_CATEGORY)
        attrs = {
            idx.attribute[aid][0]: (idx.attribute[aid][1], aid)
            for aid in idx.attributes_of(entity.id).values()
            if aid in idx.attribute
        }
        return ProductView(
            entity_id=entity.id,
            version=entity.version,
            fields=public(entity.properties),
            brand=(brand, idx.names.get(brand, "")) if brand else None,
            category=(category, idx.category_path(category)) if category else None,
            attributes=dict(sorted(attrs.items())),
            relations=tuple(idx.relations_of(entity.id)),
        )

    def browse(
        self, *, q: str = "", limit: int = 50, offset: int = 0
    ) -> tuple[int, list[ProductSummary]]:
        """Products whose id or name contains ``q`` (case-insensitive), by id; and how many."""
        if limit < 1 or offset < 0:
            raise ValueError("limit must be >= 1 and offset >= 0")
        needle = q.strip().casefold()
        found = []
        for e in self._ctx.store.entities(EntityKind.PRODUCT):
            name = e.properties.get("name")
            text = f"{e.id} {name if isinstance(name, str) else ''}".casefold()
            if needle in text:
                cls = e.properties.get("product_class")
                found.append(
                    ProductSummary(
                        e.id.removeprefix("product:"),
                        name if isinstance(name, str) else "",
                        cls if isinstance(cls, str) else "",
                        e.version,
                    )
                )
        return len(found), found[offset : offset + limit]

    # -- edits ----------------------------------------------------------------------------

    def create(
        self, fields: Mapping[str, Any], *, actor: str, allow_new_keys: bool = False
    ) -> EditResult:
        """Create a product. ``fields``: ``product_id``, ``name`` and ``category``
        (required), the other :data:`PRODUCT_FIELDS` optional. Brand and category must
        exist; attribute values are created as needed, their keys must be ones the class
        uses (unless ``allow_new_keys``)."""
        self._known_fields(fields, None, extra=("product_id",))
        raw_id = fields.get("product_id")
        if not isinstance(raw_id, str) or not raw_id.strip():
            raise issue(
                Code.MISSING_FIELD, "product_id is required", None, "product_id", "required"
            )
        eid = as_product_id(raw_id.strip())
        with self._ctx.editing() as idx:
            if idx.exists(eid):
                raise issue(
                    Code.ALREADY_EXISTS,
                    f"product {eid!r} already exists; update it instead",
                    eid,
                    "product_id",
                    "unique_id",
                )
            if fields.get("category") is None:
                raise orphan(eid)
            props: dict[str, JsonValue] = {"product_id": eid.removeprefix("product:")}
            props.update({k: fields[k] for k in SCALAR_FIELDS if k in fields})
            plan = _Plan(eid, props, None, None, {})
            self._resolve(idx, plan, fields)
            self._check(idx, plan, new_keys=list(plan.attrs), allow_new_keys=allow_new_keys)
            upsert = self._ctx.created(eid, EntityKind.PRODUCT, plan.props)
            batch = WriteBatch(
                upserts=(upsert, *plan.creates),
                relate=tuple(self._relations(plan)),
            )
            revision = self._ctx.write(
                batch, actor=actor, creates=[eid, *(w.id for w in plan.creates)]
            )
            return self._ctx.result(eid, revision)

    def update(
        self,
        pid: str,
        changes: Mapping[str, Any],
        *,
        expected_version: int,
        actor: str,
        allow_new_keys: bool = False,
    ) -> EditResult:
        """Change only the given fields (``attributes`` merges: ``null`` removes a key)."""
        eid = as_product_id(pid)
        self._known_fields(changes, eid)
        with self._ctx.editing() as idx:
            entity = self._ctx.entity(eid, EntityKind.PRODUCT)
            self._ctx.check_version(entity, expected_version)
            plan = self._current(idx, entity)
            plan.props.update({k: changes[k] for k in SCALAR_FIELDS if k in changes})
            self._resolve(idx, plan, changes)
            return self.commit(
                idx, entity, plan, actor=actor, allow_new_keys=allow_new_keys, note="no change"
            )

    def delete(self, pid: str, *, expected_version: int, actor: str) -> EditResult:
        eid = as_product_id(pid)
        with self._ctx.editing() as idx:
            entity = self._ctx.entity(eid, EntityKind.PRODUCT)
            self._ctx.check_version(entity, expected_version)
            batch = self._ctx.deletion(entity, idx.relations_of(eid))
            revision = self._ctx.write(batch, actor=actor)
            return EditResult(eid, None, revision)

    def merge(
        self,
        winner: str,
        loser: str,
        *,
        expected_version: int,
        loser_expected_version: int,
        actor: str,
    ) -> EditResult:
        """Merge duplicate ``loser`` into ``winner`` and delete it. The winner keeps its
        fields; empty ones, a missing brand and attribute keys it lacks (when its class
        uses them) come from the loser; rating and review counts add up; the winner's
        ``merged_from`` lists the loser's id."""
        wid, lid = as_product_id(winner), as_product_id(loser)
        if wid == lid:
            raise issue(
                Code.INVALID_VALUE, "cannot merge a product into itself", lid, "source", "distinct"
            )
        with self._ctx.editing() as idx:
            w = self._ctx.entity(wid, EntityKind.PRODUCT)
            lo = self._ctx.entity(lid, EntityKind.PRODUCT)
            self._ctx.check_version(w, expected_version)
            self._ctx.check_version(lo, loser_expected_version, field="source_expected_version")
            plan = self._current(idx, w)
            notes = merge_fields(plan.props, lo.properties)
            if plan.brand is None:
                plan.brand = idx.one_target(lid, RelationType.HAS_BRAND)
            allowed = {k.casefold() for k in idx.allowed_keys(text_of(plan.props, "product_class"))}
            have = {k.casefold() for k in plan.attrs}
            for key, aid in idx.attributes_of(lid).items():
                if key.casefold() in have:
                    continue
                if key.casefold() in allowed:
                    plan.attrs[key] = aid
                else:
                    notes.append(f"attribute {key!r} of {lid} not copied: class does not use it")
            self._check(idx, plan, new_keys=[], allow_new_keys=True)
            batch = self._batch(idx, w, self._current(idx, w), plan) or WriteBatch()
            gone = self._ctx.deletion(lo, idx.relations_of(lid))
            revision = self._ctx.write(
                WriteBatch(
                    upserts=(*batch.upserts, *gone.upserts),
                    deletes=gone.deletes,
                    relate=batch.relate,
                    unrelate=batch.unrelate,
                ),
                actor=actor,
            )
            return self._ctx.result(wid, revision, notes)

    # -- plans ----------------------------------------------------------------------------

    def current(self, idx: CatalogIndex, entity: Entity) -> _Plan:
        return self._current(idx, entity)

    @staticmethod
    def _current(idx: CatalogIndex, entity: Entity) -> _Plan:
        return _Plan(
            entity.id,
            dict(entity.properties),
            idx.one_target(entity.id, RelationType.HAS_BRAND),
            idx.one_target(entity.id, RelationType.IN_CATEGORY),
            idx.attributes_of(entity.id),
        )

    def commit(
        self,
        idx: CatalogIndex,
        entity: Entity,
        plan: _Plan,
        *,
        actor: str,
        allow_new_keys: bool,
        note: str,
    ) -> EditResult:
        """Validate ``plan`` against the product's current state and write the difference."""
        before = self._current(idx, entity)
        class_changed = text_of(plan.props, "product_class") != text_of(
            before.props, "product_class"
        )
        old_keys = {k.casefold() for k in before.attrs}
        new_keys = [k for k in plan.attrs if class_changed or k.casefold() not in old_keys]
        self._check(idx, plan, new_keys=new_keys, allow_new_keys=allow_new_keys)
        batch = self._batch(idx, entity, before, plan)
        if batch is None:
            return self._ctx.unchanged(entity, note)
        revision = self._ctx.write(batch, actor=actor, creates=[w.id for w in plan.creates])
        return self._ctx.result(entity.id, revision)

    def _batch(
        self, idx: CatalogIndex, entity: Entity, before: _Plan, plan: _Plan
    ) -> WriteBatch | None:
        old = set(self._relations(before))
        new = set(self._relations(plan))
        same_props = {k: v for k, v in plan.props.items() if k != EDIT_MARK} == {
            k: v for k, v in before.props.items() if k != EDIT_MARK
        }
        if same_props and old == new and not plan.creates:
            return None
        return WriteBatch(
            upserts=(self._ctx.bumped(entity, plan.props), *plan.creates),
            relate=tuple(sorted(new - old)),
            unrelate=tuple(sorted(old - new)),
        )

    @staticmethod
    def _relations(plan: _Plan) -> list[Relation]:
        rels = []
        if plan.brand is not None:
            rels.append(Relation(plan.eid, RelationType.HAS_BRAND, plan.brand))
        if plan.category is not None:
            rels.append(Relation(plan.eid, RelationType.IN_CATEGORY, plan.category))
        rels += [Relation(plan.eid, RelationType.HAS_ATTRIBUTE, a) for a in plan.attrs.values()]
        return rels

    @staticmethod
    def _known_fields(
        fields: Mapping[str, Any], eid: str | None, extra: tuple[str, ...] = ()
    ) -> None:
        allowed = (*extra, *PRODUCT_FIELDS)
        raise_issues(
            Issue(
                Code.UNKNOWN_FIELD,
                f"unknown field {name!r}; a product has {', '.join(allowed)}",
                eid,
                name,
                "known_fields",
            )
            for name in fields
            if name not in allowed
        )

    def _resolve(self, idx: CatalogIndex, plan: _Plan, fields: Mapping[str, Any]) -> None:
        """Turn the relation fields given by name into ids on ``plan``."""
        if "brand" in fields:
            plan.brand = resolve_brand(idx, fields["brand"], plan.eid)
        if "category" in fields:
            plan.category = resolve_category(idx, fields["category"], plan.eid)
        if "attributes" in fields:
            patch = fields["attributes"]
            if not isinstance(patch, Mapping):
                raise issue(
                    Code.INVALID_VALUE,
                    "attributes must be an object of key: value (null removes a key)",
                    plan.eid,
                    "attributes",
                    "type",
                )
            for key, value in patch.items():
                self._set_attribute(idx, plan, key, value)

    def _set_attribute(self, idx: CatalogIndex, plan: _Plan, key: object, value: object) -> None:
        if not isinstance(key, str) or not key.strip():
            raise issue(
                Code.INVALID_VALUE,
                "attribute keys must be non-empty text",
                plan.eid,
                "attributes",
                "type",
            )
        key = key.strip()
        for existing in [k for k in plan.attrs if k.casefold() == key.casefold()]:
            del plan.attrs[existing]
        if value is None:
            return
        if not isinstance(value, str) or not value.strip():
            raise issue(
                Code.INVALID_VALUE,
                f"attribute {key!r} must be non-empty text (or null to remove it)",
                plan.eid,
                f"attributes.{key}",
                "type",
            )
        value = value.strip()
        aid = idx.attribute_value(key, value)
        if aid is None:
            pending = [w for w in plan.creates if w.properties == {"key": key, "value": value}]
            aid = pending[0].id if pending else self._ctx.fresh_id(attribute_id(key, value))
            if not pending:
                plan.creates.append(
                    EntityWrite(
                        aid,
                        EntityKind.ATTRIBUTE_VALUE,
                        {"key": key, "value": value},
                        expected_version=0,
                    )
                )
        plan.attrs[key] = aid

    def _check(
        self, idx: CatalogIndex, plan: _Plan, *, new_keys: list[str], allow_new_keys: bool
    ) -> None:
        if plan.category is None:
            raise orphan(plan.eid)
        record = check_product_record(
            {
                "product_id": plan.props.get("product_id", plan.eid.removeprefix("product:")),
                **{k: plan.props[k] for k in SCALAR_FIELDS if k in plan.props},
                "category_path": idx.category_path(plan.category),
                "features": {k: _value_of(idx, plan, aid) for k, aid in plan.attrs.items()},
                "brand": idx.names.get(plan.brand, "") if plan.brand else None,
            },
            entity_id=plan.eid,
        )
        for name in SCALAR_FIELDS:  # the normalised values (stripped text)
            if name in plan.props or getattr(record, name) is not None:
                plan.props[name] = getattr(record, name)
        cls = record.product_class
        raise_issues(
            check_attribute_keys(
                product_class=cls,
                keys=new_keys,
                allowed=idx.allowed_keys(cls),
                entity_id=plan.eid,
                allow_new_keys=allow_new_keys,
            )
        )


def _value_of(idx: CatalogIndex, plan: _Plan, aid: str) -> str:
    if aid in idx.attribute:
        return idx.attribute[aid][1]
    for w in plan.creates:
        if w.id == aid:
            return text_of(w.properties, "value")
    return ""
