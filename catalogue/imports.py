"""Bulk import of a catalogue file (WANDS TSV or JSONL) with a diff before the write: the
one import path (``kgsearch import``, ``kgsearch catalog import``, the API, the demo).

Every row is read and validated (the file readers' per-row checks, then the catalog's:
a category is required, attribute keys must be ones the class uses; a class with no
product in the catalogue yet takes the keys its rows bring); the diff says
which products would be added, changed (field by field, before and after) or, in
``replace`` mode, removed. A dry run stops there. Otherwise everything goes into one
atomic batch: all of it or, on any error, nothing. Invalid rows refuse the import unless
``skip_invalid``; a replace that would delete more than ``max_delete_share`` of the
products is refused unless ``force``. Products that would not change are not written.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

from catalogue.context import Context, public
from catalogue.index import CatalogIndex
from catalogue.products import SCALAR_FIELDS, as_product_id
from catalogue.validation import CatalogError, Code, Issue, check_attribute_keys, check_delete_share
from ingest.formats import CatalogueError, ReadResult, RowError, read_products
from ingest.records import ProductRecord
from kg.schema import (
    Entity,
    EntityKind,
    EntityWrite,
    JsonValue,
    Relation,
    RelationType,
    WriteBatch,
    attribute_id,
    brand_id,
    slug,
)

__all__ = ["NO_ROWS", "FieldChange", "ImportMode", "ImportOps", "ImportReport", "ProductChange"]

ImportMode = Literal["upsert", "replace"]

#: The issue of a file (or a list of records) without a product row.
NO_ROWS = Issue(Code.MISSING_FIELD, "file: no valid product rows", None, "file", "not_empty", 0)


@dataclass(frozen=True, slots=True)
class FieldChange:
    field: str
    before: JsonValue
    after: JsonValue


@dataclass(frozen=True, slots=True)
class ProductChange:
    product_id: str
    fields: tuple[FieldChange, ...]


@dataclass(frozen=True, slots=True)
class ImportReport:
    source: str
    mode: ImportMode
    dry_run: bool
    added: tuple[str, ...]
    changed: tuple[ProductChange, ...]
    removed: tuple[str, ...]
    unchanged: int
    invalid: tuple[Issue, ...]
    refused: tuple[Issue, ...]  # why the import would be (or was) refused as a whole
    written: bool
    revision: int

    @property
    def imported(self) -> int:
        """The valid products: added, changed, or already as the file has them."""
        return len(self.added) + len(self.changed) + self.unchanged

    def as_dict(self) -> dict[str, JsonValue]:
        return {
            "source": self.source,
            "mode": self.mode,
            "dry_run": self.dry_run,
            "written": self.written,
            "revision": self.revision,
            "counts": {
                "added": len(self.added),
                "changed": len(self.changed),
                "removed": len(self.removed),
                "unchanged": self.unchanged,
                "invalid": len(self.invalid),
            },
            "added": list(self.added),
            "changed": [
                {
                    "product_id": c.product_id,
                    "fields": [
                        {"field": f.field, "before": f.before, "after": f.after} for f in c.fields
                    ],
                }
                for c in self.changed
            ],
            "removed": list(self.removed),
            "invalid": [i.as_dict() for i in self.invalid],
            "refused": [i.as_dict() for i in self.refused],
        }


@dataclass(slots=True)
class _Target:
    record: ProductRecord
    eid: str
    brand: str | None
    category: str
    attrs: dict[str, str]  # key -> attribute value id


@dataclass(slots=True)
class _Pending:
    """Brands, categories and attribute values the import creates, by their look-up keys."""

    writes: dict[str, EntityWrite] = field(default_factory=dict)
    brands: dict[str, str] = field(default_factory=dict)
    paths: dict[tuple[str, ...], str] = field(default_factory=dict)
    values: dict[tuple[str, str], str] = field(default_factory=dict)
    relate: list[Relation] = field(default_factory=list)

    def fresh(self, idx: CatalogIndex, base: str) -> str:
        candidate, n = base, 2
        while idx.exists(candidate) or candidate in self.writes:
            candidate, n = f"{base}-{n}", n + 1
        return candidate

    def add(self, eid: str, kind: EntityKind, props: dict[str, JsonValue]) -> None:
        self.writes[eid] = EntityWrite(eid, kind, props, expected_version=0)


def _row_issue(error: RowError) -> Issue:
    missing = "required" in error.reason.lower() or error.reason == "missing"
    code = Code.MISSING_FIELD if missing else Code.INVALID_VALUE
    return Issue(code, f"{error.field}: {error.reason}", None, error.field, "row", error.line)


def _record_lines(path: Path, result: ReadResult[ProductRecord]) -> list[int | None]:
    """The file line of each valid record (readers skip blank lines and invalid rows)."""
    bad = {e.line for e in result.errors}
    data: list[int] = []
    with path.open(encoding="utf-8", newline="") as handle:
        for n, text in enumerate(handle, start=1):
            if (path.suffix == ".jsonl" or n > 1) and text.strip():
                data.append(n)
    good: list[int | None] = [n for n in data if n not in bad]
    return good if len(good) == len(result.records) else [None] * len(result.records)


def _read(path: Path) -> tuple[Sequence[ProductRecord], list[int | None], list[Issue]]:
    """A file's valid records, the line of each, and the invalid rows."""
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist")
    try:
        result = read_products(path)
    except CatalogueError as exc:
        raise CatalogError([_row_issue(e) for e in exc.errors]) from None
    return result.records, _record_lines(path, result), [_row_issue(e) for e in result.errors]


def _distinct(
    records: Sequence[ProductRecord],
) -> tuple[Sequence[ProductRecord], list[int | None], list[Issue]]:
    """Records given in memory, as :func:`_read` returns a file's: a repeated product id
    is an invalid row, as in a file."""
    seen: set[str] = set()
    kept: list[ProductRecord] = []
    invalid: list[Issue] = []
    for record in records:
        if record.product_id in seen:
            message = f"product_id: duplicate product id {record.product_id!r}"
            eid = as_product_id(record.product_id)
            invalid.append(Issue(Code.INVALID_VALUE, message, eid, "product_id", "unique_id"))
        else:
            seen.add(record.product_id)
            kept.append(record)
    return kept, [None] * len(kept), invalid


def _record_props(record: ProductRecord) -> dict[str, JsonValue]:
    return {"product_id": record.product_id, **{k: getattr(record, k) for k in SCALAR_FIELDS}}


class ImportOps:
    """The one way a catalogue gets into the graph: ``kgsearch import``, ``kgsearch
    catalog import``, ``POST /catalog/import`` and the demo all come here."""

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx

    def run(
        self,
        products: Path | Sequence[ProductRecord],
        *,
        actor: str,
        mode: ImportMode = "upsert",
        dry_run: bool = False,
        force: bool = False,
        skip_invalid: bool = False,
        allow_new_keys: bool = False,
        source: str | None = None,
    ) -> ImportReport:
        """Import a catalogue file (WANDS TSV or JSONL, by its suffix), or products given
        as records (tests, benchmarks: they go through the same checks as a file's rows).
        ``source`` names them in the report (default: the file name, or ``records``)."""
        if mode not in ("upsert", "replace"):
            raise CatalogError.one(
                Code.INVALID_VALUE, "mode must be upsert or replace", field="mode", rule="enum"
            )
        if isinstance(products, Path):
            records, lines, invalid = _read(products)
            source = source or products.name
        else:
            records, lines, invalid = _distinct(products)
            source = source or "records"
        ctx = self._ctx
        with ctx.editing() as idx:
            pending = _Pending()
            targets: list[_Target] = []
            existing = ctx.store.get_many([as_product_id(r.product_id) for r in records])
            for record, line in zip(records, lines, strict=True):
                target = self._target(idx, record, line, pending, invalid, existing, allow_new_keys)
                if target is not None:
                    targets.append(target)
            if not targets and not invalid:
                invalid.append(NO_ROWS)
            added, changed, unchanged, batch_parts = self._diff(idx, targets, existing)
            removed: list[str] = []
            refused: list[Issue] = []
            if mode == "replace":
                in_file = {t.eid for t in targets} | {as_product_id(r.product_id) for r in records}
                removed = [p for p in idx.products() if p not in in_file]
                refused = check_delete_share(
                    removed=len(removed),
                    total=len(idx.products()),
                    max_share=ctx.max_delete_share,
                    force=force,
                )
            if invalid and not skip_invalid:
                refused.append(
                    Issue(
                        invalid[0].code,
                        f"{len(invalid)} invalid row(s) (first: {invalid[0]}); nothing was "
                        "imported: fix them, or skip them with skip_invalid",
                        None,
                        invalid[0].field,
                        "all_or_nothing",
                        invalid[0].line,
                    )
                )
            report = ImportReport(
                source=source,
                mode=mode,
                dry_run=dry_run,
                added=tuple(t.removeprefix("product:") for t in added),
                changed=tuple(changed),
                removed=tuple(p.removeprefix("product:") for p in removed),
                unchanged=unchanged,
                invalid=tuple(invalid),
                refused=tuple(refused),
                written=False,
                revision=ctx.store.revision,
            )
            if dry_run:
                return report
            if refused:
                raise CatalogError([*refused, *invalid])
            upserts, relate, unrelate = batch_parts
            deletes: list[str] = []
            if removed:
                gone = ctx.store.get_many(removed)
                for eid in removed:
                    snap = ctx.deletion(gone[eid], idx.relations_of(eid))
                    upserts += snap.upserts
                    deletes += snap.deletes
            batch = WriteBatch(
                upserts=(*pending.writes.values(), *upserts),
                deletes=tuple(deletes),
                relate=tuple(dict.fromkeys([*pending.relate, *relate])),
                unrelate=tuple(dict.fromkeys(unrelate)),
            )
            if not batch:
                return report
            creates = [*pending.writes, *added]
            revision = ctx.write(batch, actor=actor, creates=creates)
            return replace(report, written=True, revision=revision)

    # -- rows -----------------------------------------------------------------------------

    def _target(
        self,
        idx: CatalogIndex,
        record: ProductRecord,
        line: int | None,
        pending: _Pending,
        invalid: list[Issue],
        existing: dict[str, Entity],
        allow_new_keys: bool,
    ) -> _Target | None:
        eid = as_product_id(record.product_id)
        if not record.category_path:
            invalid.append(
                Issue(
                    Code.ORPHAN_PRODUCT,
                    f"category: product {record.product_id} has none; every product needs one",
                    eid,
                    "category",
                    "product_has_category",
                    line,
                )
            )
            return None
        old_keys: set[str] = set()
        if eid in existing and existing[eid].properties.get("product_class") == (
            record.product_class
        ):
            old_keys = {k.casefold() for k in idx.attributes_of(eid)}
        # A class the catalogue has no product of yet has no keys to hold rows to: its
        # first import brings them (so a fresh graph's first import is not refused).
        issues = check_attribute_keys(
            product_class=record.product_class,
            keys=[k for k in record.features if k.casefold() not in old_keys],
            allowed=idx.allowed_keys(record.product_class),
            entity_id=eid,
            allow_new_keys=allow_new_keys or not idx.has_class(record.product_class),
            line=line,
        )
        if issues:
            invalid.extend(issues)
            return None
        return _Target(
            record=record,
            eid=eid,
            brand=self._brand(idx, record.brand, pending) if record.brand else None,
            category=self._category(idx, record.category_path, pending),
            attrs={k: self._value(idx, k, v, pending) for k, v in record.features.items()},
        )

    @staticmethod
    def _brand(idx: CatalogIndex, name: str, pending: _Pending) -> str:
        found = idx.brand_named(name) or pending.brands.get(name.casefold())
        if found is None:
            found = pending.fresh(idx, brand_id(name))
            pending.add(found, EntityKind.BRAND, {"name": name})
            pending.brands[name.casefold()] = found
        return found

    @staticmethod
    def _category(idx: CatalogIndex, path: tuple[str, ...], pending: _Pending) -> str:
        parent: str | None = None
        for depth in range(1, len(path) + 1):
            key = tuple(p.casefold() for p in path[:depth])
            found = idx.category_at(path[:depth]) or pending.paths.get(key)
            if found is None:
                name = path[depth - 1]
                base = f"{parent}/{slug(name)}" if parent else f"category:{slug(name)}"
                found = pending.fresh(idx, base)
                pending.add(found, EntityKind.CATEGORY, {"name": name, "depth": depth})
                pending.paths[key] = found
                if parent is not None:
                    pending.relate.append(Relation(found, RelationType.SUBCATEGORY_OF, parent))
            parent = found
        assert parent is not None
        return parent

    @staticmethod
    def _value(idx: CatalogIndex, key: str, value: str, pending: _Pending) -> str:
        lookup = (key.strip().casefold(), slug(value))  # as CatalogIndex.attribute_value
        found = idx.attribute_value(key, value) or pending.values.get(lookup)
        if found is None:
            found = pending.fresh(idx, attribute_id(key, value))
            pending.add(found, EntityKind.ATTRIBUTE_VALUE, {"key": key, "value": value})
            pending.values[lookup] = found
        return found

    # -- the diff -------------------------------------------------------------------------

    def _diff(
        self, idx: CatalogIndex, targets: Sequence[_Target], existing: dict[str, Entity]
    ) -> tuple[
        list[str],
        list[ProductChange],
        int,
        tuple[list[EntityWrite], list[Relation], list[Relation]],
    ]:
        added: list[str] = []
        changed: list[ProductChange] = []
        unchanged = 0
        upserts: list[EntityWrite] = []
        relate: list[Relation] = []
        unrelate: list[Relation] = []
        for t in targets:
            new_rels = {Relation(t.eid, RelationType.IN_CATEGORY, t.category)}
            if t.brand:
                new_rels.add(Relation(t.eid, RelationType.HAS_BRAND, t.brand))
            new_rels |= {Relation(t.eid, RelationType.HAS_ATTRIBUTE, a) for a in t.attrs.values()}
            props = _record_props(t.record)
            entity = existing.get(t.eid)
            if entity is None:
                added.append(t.eid)
                upserts.append(self._ctx.created(t.eid, EntityKind.PRODUCT, props))
                relate += sorted(new_rels)
                continue
            old_rels = {
                r
                for r in idx.relations_of(t.eid)
                if r.source == t.eid
                and r.type
                in (RelationType.IN_CATEGORY, RelationType.HAS_BRAND, RelationType.HAS_ATTRIBUTE)
            }
            fields = self._field_changes(idx, entity, t)
            if not fields and old_rels == new_rels:
                unchanged += 1
                continue
            changed.append(ProductChange(t.record.product_id, tuple(fields)))
            kept = {k: v for k, v in entity.properties.items() if k not in props}
            upserts.append(self._ctx.bumped(entity, {**kept, **props}))
            relate += sorted(new_rels - old_rels)
            unrelate += sorted(old_rels - new_rels)
        return added, changed, unchanged, (upserts, relate, unrelate)

    @staticmethod
    def _field_changes(idx: CatalogIndex, entity: Entity, t: _Target) -> list[FieldChange]:
        before = public(entity.properties)
        out = [
            FieldChange(k, before.get(k), getattr(t.record, k))
            for k in SCALAR_FIELDS
            if before.get(k) != getattr(t.record, k)
        ]
        brand = idx.one_target(entity.id, RelationType.HAS_BRAND)
        old_brand = idx.names.get(brand) if brand else None
        if old_brand != t.record.brand:
            out.append(FieldChange("brand", old_brand, t.record.brand))
        category = idx.one_target(entity.id, RelationType.IN_CATEGORY)
        old_path: list[JsonValue] = list(idx.category_path(category)) if category else []
        if old_path != list(t.record.category_path):
            out.append(FieldChange("category", old_path, list(t.record.category_path)))
        old_attrs = {
            k: idx.attribute.get(a, ("", ""))[1] for k, a in idx.attributes_of(entity.id).items()
        }
        for key in sorted(set(old_attrs) | set(t.record.features)):
            if old_attrs.get(key) != t.record.features.get(key):
                out.append(
                    FieldChange(f"attributes.{key}", old_attrs.get(key), t.record.features.get(key))
                )
        return out
