"""The catalog operations on any GraphStore: every backend subclasses
:class:`CatalogOpsContract` once and provides a ``store`` fixture yielding an empty store."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from conftest import SMALL_PRODUCTS

from catalogue.index import CatalogIndex
from catalogue.ops import CatalogOps
from catalogue.validation import CatalogError
from ingest.formats import write_products
from ingest.records import ProductRecord
from kg.schema import (
    Change,
    Entity,
    EntityKind,
    Relation,
    RelationType,
    WriteBatch,
)
from kg.store import GraphStore, Subgraph

S1, S2, B2 = "product:S1", "product:S2", "product:B2"
SOFAS = "category:furniture/living-room/sofas"
BEDROOM = "category:furniture/bedroom"


def errors_of(exc: pytest.ExceptionInfo[CatalogError]) -> list[str]:
    return [i.code.value for i in exc.value.issues]


class FailingStore:
    """A store whose writes get one more relation, to a missing entity, at the very end of
    the batch: a crash in the middle of applying it. Everything else is the real store."""

    def __init__(self, inner: GraphStore) -> None:
        self.inner = inner

    def write(self, batch: WriteBatch, *, actor: str) -> int:
        doomed = Relation(batch.upserts[0].id, RelationType.HAS_BRAND, "brand:does-not-exist")
        broken = WriteBatch(
            upserts=batch.upserts,
            deletes=batch.deletes,
            relate=(*batch.relate, doomed),
            unrelate=batch.unrelate,
        )
        return self.inner.write(broken, actor=actor)

    def get(self, entity_id: str) -> Entity | None:
        return self.inner.get(entity_id)

    def get_many(self, entity_ids: Sequence[str]) -> dict[str, Entity]:
        return self.inner.get_many(entity_ids)

    def entities(self, kind: EntityKind | None = None) -> Iterator[Entity]:
        return self.inner.entities(kind)

    def count(self, kind: EntityKind | None = None) -> int:
        return self.inner.count(kind)

    def relations(self, relation: RelationType | None = None) -> Iterator[Relation]:
        return self.inner.relations(relation)

    def neighbours(self, entity_id: str, **kw: Any) -> list[tuple[Relation, Entity]]:
        return self.inner.neighbours(entity_id, **kw)

    def subgraph(self, entity_ids: Sequence[str], **kw: Any) -> Subgraph:
        return self.inner.subgraph(entity_ids, **kw)

    def paths(self, source: str, target: str, **kw: Any) -> list[list[Relation]]:
        return self.inner.paths(source, target, **kw)

    def triples(self) -> Iterator[tuple[str, str, str]]:
        return self.inner.triples()

    def aliases(self) -> dict[str, tuple[str, ...]]:
        return self.inner.aliases()

    def resolve_alias(self, alias: str) -> list[str]:
        return self.inner.resolve_alias(alias)

    def changes(
        self, *, since: int = 0, entity_id: str | None = None, batch: int | None = None
    ) -> Iterator[Change]:
        return self.inner.changes(since=since, entity_id=entity_id, batch=batch)

    @property
    def revision(self) -> int:
        return self.inner.revision

    def close(self) -> None:
        self.inner.close()


def product_file(path: Path, products: Sequence[ProductRecord], extra: str = "") -> Path:
    write_products(path, products)
    if extra:
        with path.open("a", encoding="utf-8") as handle:
            handle.write(extra)
    return path


def with_changes(pid: str, **changes: Any) -> ProductRecord:
    base = next(p for p in SMALL_PRODUCTS if p.product_id == pid)
    return base.model_copy(update=changes)


class CatalogOpsContract:
    @pytest.fixture
    def ops(self, store: GraphStore) -> CatalogOps:
        ops = CatalogOps(store=store)
        ops.imports.run(SMALL_PRODUCTS, actor="seed")
        return ops

    # -- products -------------------------------------------------------------------------

    def test_product_view(self, ops: CatalogOps) -> None:
        view = ops.products.get("S1")
        assert view.entity_id == S1 and view.version == 1
        assert view.fields["name"] == "Tufted velvet sofa"
        assert view.brand == ("brand:oakhaven", "Oakhaven")
        assert view.category == (SOFAS, ("Furniture", "Living Room", "Sofas"))
        assert {k: v for k, (v, _) in view.attributes.items()} == {
            "color": "blue",
            "material": "velvet",
        }
        with pytest.raises(CatalogError) as exc:
            ops.products.get("NOPE")
        assert errors_of(exc) == ["not_found"]

    def test_partial_update_changes_only_the_given_fields(self, ops: CatalogOps) -> None:
        result = ops.products.update("S1", {"price": 799}, expected_version=1, actor="ana")
        assert result.version == 2
        view = ops.products.get("S1")
        assert view.fields["price"] == 799 and view.fields["name"] == "Tufted velvet sofa"
        assert view.brand is not None and view.brand[1] == "Oakhaven"
        entries, _ = ops.history.audit(entity_id=S1, limit=1)
        assert entries[0].change.actor == "ana"
        assert entries[0].as_dict()["diff"] == {"price": {"before": 899.0, "after": 799.0}}

    def test_stale_version_is_refused_and_nothing_is_written(self, ops: CatalogOps) -> None:
        ops.products.update("S1", {"price": 799}, expected_version=1, actor="ana")
        revision = ops.store.revision
        with pytest.raises(CatalogError) as exc:
            ops.products.update("S1", {"name": "Other"}, expected_version=1, actor="bob")
        assert errors_of(exc) == ["version_conflict"]
        assert exc.value.field == "expected_version"
        assert ops.store.revision == revision
        assert ops.products.get("S1").fields["name"] == "Tufted velvet sofa"

    def test_a_relation_only_edit_moves_the_version(self, ops: CatalogOps) -> None:
        first = ops.products.update("S1", {"brand": "Birchley"}, expected_version=1, actor="ana")
        assert first.version == 2
        with pytest.raises(CatalogError) as exc:
            ops.products.update("S1", {"brand": "Marlow & Finch"}, expected_version=1, actor="b")
        assert errors_of(exc) == ["version_conflict"]
        assert ops.products.get("S1").brand == ("brand:birchley", "Birchley")

    def test_attribute_merge_patch(self, ops: CatalogOps) -> None:
        ops.products.update(
            "S1",
            {"attributes": {"color": "emerald green", "material": None}},
            expected_version=1,
            actor="ana",
        )
        view = ops.products.get("S1")
        assert {k: v for k, (v, _) in view.attributes.items()} == {"color": "emerald green"}
        assert ops.store.get("attr:color=emerald-green") is not None

    def test_no_change_writes_nothing(self, ops: CatalogOps) -> None:
        revision = ops.store.revision
        result = ops.products.update(
            "S1", {"name": "Tufted velvet sofa"}, expected_version=1, actor="ana"
        )
        assert not result.written and result.version == 1
        assert ops.store.revision == revision

    def test_field_rules(self, ops: CatalogOps) -> None:
        with pytest.raises(CatalogError) as exc:
            ops.products.update("S1", {"price": -5, "name": ""}, expected_version=1, actor="a")
        assert {(i.code.value, i.field) for i in exc.value.issues} == {
            ("invalid_value", "price"),
            ("invalid_value", "name"),
        }
        assert all(i.entity_id == S1 for i in exc.value.issues)
        with pytest.raises(CatalogError) as exc:
            ops.products.update("S1", {"colour": "red"}, expected_version=1, actor="a")
        assert errors_of(exc) == ["unknown_field"]
        with pytest.raises(CatalogError) as exc:
            ops.products.update("S1", {"brand": "Nobody"}, expected_version=1, actor="a")
        assert errors_of(exc) == ["unknown_entity"] and exc.value.field == "brand"
        with pytest.raises(CatalogError) as exc:
            ops.products.update("S1", {"category": None}, expected_version=1, actor="a")
        assert errors_of(exc) == ["orphan_product"]

    def test_attribute_keys_are_the_ones_the_class_uses(self, ops: CatalogOps) -> None:
        with pytest.raises(CatalogError) as exc:
            ops.products.update(
                "S1", {"attributes": {"wattage": "40"}}, expected_version=1, actor="a"
            )
        issue = exc.value.issues[0]
        assert issue.code.value == "unknown_attribute_key"
        assert issue.field == "attributes.wattage"
        assert "color, material" in issue.message  # the allowed keys of class Sofas
        ops.products.update(
            "S1",
            {"attributes": {"wattage": "40"}},
            expected_version=1,
            actor="a",
            allow_new_keys=True,
        )
        assert "wattage" in ops.attributes.allowed_keys("Sofas")

    def test_create(self, ops: CatalogOps) -> None:
        fields: dict[str, Any] = {
            "product_id": "S9",
            "name": "Modular sectional",
            "product_class": "Sofas",
            "category": ["Furniture", "Living Room", "Sofas"],
            "brand": "Birchley",
            "price": 1999,
            "attributes": {"color": "grey", "material": "linen"},
        }
        result = ops.products.create(fields, actor="ana")
        assert result.version == 1
        view = ops.products.get("S9")
        assert view.category is not None and view.category[0] == SOFAS
        assert view.fields["price"] == 1999
        with pytest.raises(CatalogError) as exc:
            ops.products.create(fields, actor="ana")
        assert errors_of(exc) == ["already_exists"]
        with pytest.raises(CatalogError) as exc:
            ops.products.create({**fields, "product_id": "S10", "category": None}, actor="a")
        assert errors_of(exc) == ["orphan_product"]
        with pytest.raises(CatalogError) as exc:
            ops.products.create({"product_id": "S11", "category": SOFAS}, actor="a")
        assert errors_of(exc) == ["missing_field"] and exc.value.field == "name"

    def test_delete_and_undo_restore_the_relations(self, ops: CatalogOps) -> None:
        before = ops.products.get("S2")
        ops.products.delete("S2", expected_version=1, actor="ana")
        assert ops.store.get(S2) is None
        delete = next(
            e.change for e in ops.history.audit(entity_id=S2)[0] if e.change.op == "delete"
        )
        ops.history.undo(delete.seq, actor="ana")
        after = ops.products.get("S2")
        assert after.fields == before.fields
        assert after.attributes == before.attributes
        assert after.brand == before.brand and after.category == before.category

    def test_merge_products(self, ops: CatalogOps) -> None:
        ops.products.update(
            "S2", {"attributes": {"material": None}}, expected_version=1, actor="ana"
        )
        result = ops.products.merge(
            "S2", "S3", expected_version=2, loser_expected_version=1, actor="ana"
        )
        assert ops.store.get("product:S3") is None
        view = ops.products.get("S2")
        assert result.version == view.version
        assert view.fields["rating_count"] == 12 + 3
        assert view.fields["merged_from"] == ["S3"]
        assert {k: v for k, (v, _) in view.attributes.items()} == {
            "color": "gray",
            "material": "leather",
        }

    # -- brands, categories, attributes ---------------------------------------------------

    def test_brands(self, ops: CatalogOps) -> None:
        created = ops.brands.create("Northwind", actor="ana")
        assert created.entity_id == "brand:northwind"
        with pytest.raises(CatalogError) as exc:
            ops.brands.create("northwind", actor="ana")
        assert errors_of(exc) == ["already_exists"]
        ops.brands.rename("brand:northwind", "Northwind Home", expected_version=1, actor="a")
        assert ops.store.get("brand:northwind") is not None  # ids are stable
        ops.products.update("S1", {"brand": "Northwind Home"}, expected_version=1, actor="a")
        birchley = ops.store.get("brand:birchley")
        assert birchley is not None
        ops.brands.merge(
            "brand:northwind",
            "brand:birchley",
            expected_version=2,
            loser_expected_version=birchley.version,
            actor="ana",
        )
        assert ops.store.get("brand:birchley") is None
        assert ops.products.get("S2").brand == ("brand:northwind", "Northwind Home")
        with pytest.raises(CatalogError) as exc:
            ops.brands.delete("brand:northwind", expected_version=3, actor="a")
        assert errors_of(exc) == ["in_use"]

    def test_categories(self, ops: CatalogOps) -> None:
        created = ops.categories.create("Sleeper Sofas", parent=SOFAS, actor="ana")
        assert created.entity_id == f"{SOFAS}/sleeper-sofas"
        sofas = ops.store.get(SOFAS)
        assert sofas is not None
        ops.categories.update(
            SOFAS, expected_version=sofas.version, parent="category:furniture", move=True, actor="a"
        )
        assert ops.products.get("S1").category == (SOFAS, ("Furniture", "Sofas"))
        child = ops.store.get(created.entity_id)
        assert child is not None and child.properties["depth"] == 3  # depths follow the move
        moved = ops.store.get(SOFAS)
        assert moved is not None
        with pytest.raises(CatalogError) as exc:
            ops.categories.update(
                "category:furniture",
                expected_version=1,
                parent=created.entity_id,
                move=True,
                actor="ana",
            )
        assert errors_of(exc) == ["category_cycle"]
        ops.categories.update(SOFAS, expected_version=moved.version, name="Couches", actor="a")
        assert ops.products.get("S1").category == (SOFAS, ("Furniture", "Couches"))
        with pytest.raises(CatalogError) as exc:
            ops.categories.delete(SOFAS, expected_version=moved.version + 1, actor="a")
        assert errors_of(exc) == ["orphan_product"]

    def test_merge_duplicate_attribute_values(self, ops: CatalogOps) -> None:
        ops.products.update("B2", {"attributes": {"color": "grey"}}, expected_version=1, actor="a")
        grey, gray = "attr:color=grey", "attr:color=gray"
        assert ops.products.get("B2").attributes["color"] == ("grey", grey)
        ops.attributes.merge_values(
            gray, grey, expected_version=1, loser_expected_version=1, actor="ana"
        )
        assert ops.store.get(grey) is None
        assert ops.products.get("B2").attributes["color"] == ("gray", gray)
        with pytest.raises(CatalogError) as exc:
            ops.attributes.merge_values(
                gray, "attr:material=oak", expected_version=2, loser_expected_version=1, actor="a"
            )
        assert errors_of(exc) == ["invalid_value"]

    def test_rename_attribute_key_and_value(self, ops: CatalogOps) -> None:
        ops.attributes.rename_key("shape", "form", actor="ana")
        assert {k: v for k, (v, _) in ops.products.get("T1").attributes.items()} == {
            "color": "brown",
            "material": "oak",
            "form": "round",
        }
        assert "form" in ops.attributes.allowed_keys("Dining Tables")
        assert "shape" not in ops.attributes.allowed_keys("Dining Tables")
        result = ops.attributes.rename_key("size", "material", actor="ana")
        assert any("had both keys" in n for n in result.notes)  # B1: walnut, queen
        assert ops.products.get("B1").attributes["material"][0] == "walnut"
        ops.attributes.rename_value("attr:color=ivory", "cream", expected_version=1, actor="a")
        assert ops.products.get("R1").attributes["color"][0] == "cream"
        with pytest.raises(CatalogError) as exc:
            ops.attributes.rename_value("attr:color=gray", "blue", expected_version=1, actor="a")
        assert errors_of(exc) == ["already_exists"]

    # -- relations ------------------------------------------------------------------------

    def test_relate_and_unrelate(self, ops: CatalogOps) -> None:
        rel = Relation(S1, RelationType.HAS_BRAND, "brand:birchley")
        ops.relations.relate(rel, expected_version=1, actor="ana")
        assert ops.products.get("S1").brand == ("brand:birchley", "Birchley")  # replaced
        with pytest.raises(CatalogError) as exc:
            ops.relations.unrelate(
                Relation(S1, RelationType.IN_CATEGORY, SOFAS), expected_version=2, actor="a"
            )
        assert errors_of(exc) == ["orphan_product"]
        with pytest.raises(CatalogError) as exc:
            ops.relations.relate(
                Relation(S1, RelationType.HAS_BRAND, "brand:ghost"), expected_version=2, actor="a"
            )
        assert errors_of(exc) == ["unknown_entity"]
        with pytest.raises(CatalogError) as exc:
            ops.relations.relate(
                Relation(S1, RelationType.HAS_BRAND, SOFAS), expected_version=2, actor="a"
            )
        assert errors_of(exc) == ["invalid_relation"]
        ops.relations.unrelate(rel, expected_version=2, actor="ana")
        assert ops.products.get("S1").brand is None

    # -- undo -----------------------------------------------------------------------------

    def test_undo_update_is_version_checked(self, ops: CatalogOps) -> None:
        ops.products.update("S1", {"price": 10}, expected_version=1, actor="ana")
        first = ops.history.audit(entity_id=S1, limit=1)[0][0].change
        ops.products.update("S1", {"price": 20}, expected_version=2, actor="bob")
        with pytest.raises(CatalogError) as exc:
            ops.history.undo(first.seq, actor="ana")
        assert errors_of(exc) == ["version_conflict"]
        second = ops.history.audit(entity_id=S1, limit=1)[0][0].change
        undone = ops.history.undo(second.seq, actor="ana")
        assert ops.products.get("S1").fields["price"] == 10
        latest = ops.history.audit(limit=1)[0][0].change
        assert latest.actor == "ana" and latest.seq == undone.revision  # a logged change

    def test_undo_relate_and_unrelate_and_create(self, ops: CatalogOps) -> None:
        ops.products.update("S1", {"category": BEDROOM}, expected_version=1, actor="ana")
        log = {e.change.op: e.change for e in ops.history.audit(entity_id=S1, limit=3)[0]}
        assert log["relate"].batch == log["unrelate"].batch == log["update"].batch
        ops.history.undo(log["relate"].seq, actor="ana")  # the whole move, not half of it
        view = ops.products.get("S1")
        assert view.category is not None and view.category[0] == SOFAS
        created = ops.brands.create("Ephemera", actor="ana")
        create = ops.history.audit(entity_id=created.entity_id)[0][0].change
        ops.history.undo(create.seq, actor="ana")
        assert ops.store.get(created.entity_id) is None
        with pytest.raises(CatalogError) as exc:
            ops.history.undo(10**9, actor="ana")
        assert errors_of(exc) == ["not_found"]

    def test_undo_reverts_a_whole_edit_atomically(self, ops: CatalogOps) -> None:
        """Price + brand in one edit: undoing any one of its changes reverts all of them,
        in one write (one new edit), and undoing that undo applies the edit again."""
        before = ops.products.get("S1")
        ops.products.update(
            "S1", {"price": 5.0, "brand": "Birchley"}, expected_version=1, actor="ana"
        )
        entries = ops.history.audit(entity_id=S1, limit=3)[0]
        edit = [e.change for e in entries]
        assert {c.op for c in edit} == {"update", "relate", "unrelate"}
        assert len({c.batch for c in edit}) == 1 and edit[-1].batch == edit[-1].seq
        assert {e.as_dict()["edit"] for e in entries} == {edit[-1].seq}  # shown in the audit
        for change in edit:  # each is a way into the same edit
            assert [c.seq for c in ops.store.changes(since=0, batch=change.batch)] == sorted(
                c.seq for c in edit
            )
        undone = ops.history.undo(next(c for c in edit if c.op == "unrelate").seq, actor="bob")
        after = ops.products.get("S1")
        assert after.brand == before.brand and after.fields["price"] == before.fields["price"]
        assert after.category == before.category and after.attributes == before.attributes
        reverting = list(ops.store.changes(since=edit[0].seq))
        assert {c.batch for c in reverting} == {reverting[0].seq}  # one atomic write
        assert reverting[-1].seq == undone.revision and "reverted edit" in undone.notes[0]
        ops.history.undo(reverting[0].seq, actor="bob")  # redo
        again = ops.products.get("S1")
        assert again.brand == ("brand:birchley", "Birchley") and again.fields["price"] == 5.0

    def test_undo_of_an_edit_is_refused_whole_when_part_changed_since(
        self, ops: CatalogOps
    ) -> None:
        ops.products.update(
            "S1", {"price": 5.0, "brand": "Birchley"}, expected_version=1, actor="a"
        )
        edit = ops.history.audit(entity_id=S1, limit=1)[0][0].change
        ops.products.update("S1", {"price": 6.0}, expected_version=2, actor="bob")
        revision = ops.store.revision
        with pytest.raises(CatalogError) as exc:
            ops.history.undo(edit.seq, actor="ana")
        assert errors_of(exc) == ["version_conflict"]
        assert ops.store.revision == revision  # nothing of it written
        view = ops.products.get("S1")
        assert view.brand == ("brand:birchley", "Birchley") and view.fields["price"] == 6.0

    def test_undo_of_a_delete_restores_entity_and_relations_in_one_edit(
        self, ops: CatalogOps
    ) -> None:
        before = ops.products.get("S1")
        ops.products.delete("S1", expected_version=1, actor="ana")
        delete = ops.history.audit(entity_id=S1, limit=1)[0][0].change
        assert delete.op == "delete"
        assert len(list(ops.store.changes(since=0, batch=delete.batch))) == 2  # mark + delete
        ops.history.undo(delete.seq, actor="ana")
        after = ops.products.get("S1")
        assert (after.brand, after.category, after.attributes) == (
            before.brand,
            before.category,
            before.attributes,
        )

    def test_undo_applies_the_rules_of_today_to_the_old_values(self, ops: CatalogOps) -> None:
        """Foo -> Bar, a new Foo, undo the rename: two brands named Foo would follow."""
        foo = ops.brands.create("Foo", actor="ana")
        assert foo.version is not None
        ops.brands.rename(foo.entity_id, "Bar", expected_version=foo.version, actor="ana")
        rename = ops.history.audit(entity_id=foo.entity_id, limit=1)[0][0].change
        second = ops.brands.create("foo", actor="bob")
        with pytest.raises(CatalogError) as exc:
            ops.history.undo(rename.seq, actor="ana")
        assert errors_of(exc) == ["already_exists"]
        assert second.entity_id in str(exc.value)
        assert ops.brands.get(foo.entity_id).name == "Bar"  # nothing written
        # the same for a deleted brand whose name was taken meanwhile
        bar = ops.brands.get(foo.entity_id)
        ops.brands.delete(foo.entity_id, expected_version=bar.version, actor="ana")
        delete = ops.history.audit(entity_id=foo.entity_id, limit=1)[0][0].change
        ops.brands.create("Bar", actor="bob")
        with pytest.raises(CatalogError) as exc:
            ops.history.undo(delete.seq, actor="ana")
        assert errors_of(exc) == ["already_exists"]
        assert ops.store.get(foo.entity_id) is None

    # -- imports --------------------------------------------------------------------------

    def test_import_dry_run_shows_the_diff_and_writes_nothing(
        self, ops: CatalogOps, tmp_path: Path
    ) -> None:
        rows = [
            with_changes("S1", price=749.0, features={"color": "navy", "material": "velvet"}),
            with_changes("S2"),
            ProductRecord(
                product_id="S20",
                name="Chaise lounge",
                product_class="Sofas",
                category_path=("Furniture", "Living Room", "Sofas"),
                features={"color": "white"},
                brand="Brand New Co",
            ),
            ProductRecord(product_id="X1", name="No category", product_class="Sofas"),
            ProductRecord(
                product_id="S21",
                name="Odd sofa",
                product_class="Sofas",
                category_path=("Furniture", "Living Room", "Sofas"),
                features={"legs": "4"},
            ),
        ]
        bad_row = "S22\tBad price sofa\tSofas\tFurniture / Living Room / Sofas\t\t\t0\t\t0\t\tabc\n"
        path = product_file(tmp_path / "p.csv", rows, bad_row)
        revision = ops.store.revision
        report = ops.imports.run(path, actor="ana", dry_run=True)
        assert ops.store.revision == revision and not report.written
        assert report.added == ("S20",)
        assert [c.product_id for c in report.changed] == ["S1"]
        fields = {f.field: (f.before, f.after) for f in report.changed[0].fields}
        assert fields == {"price": (899.0, 749.0), "attributes.color": ("blue", "navy")}
        assert report.unchanged == 1
        invalid = {(i.line, i.field, i.code.value) for i in report.invalid}
        assert invalid == {
            (5, "category", "orphan_product"),
            (6, "attributes.legs", "unknown_attribute_key"),
            (7, "price", "invalid_value"),
        }
        assert report.refused and report.refused[0].rule == "all_or_nothing"
        with pytest.raises(CatalogError):
            ops.imports.run(path, actor="ana")
        assert ops.store.revision == revision
        written = ops.imports.run(path, actor="ana", skip_invalid=True)
        assert written.written and ops.products.get("S1").fields["price"] == 749
        assert ops.products.get("S20").brand is not None

    def test_replace_import_refuses_deleting_too_much(
        self, ops: CatalogOps, tmp_path: Path
    ) -> None:
        path = product_file(tmp_path / "p.csv", SMALL_PRODUCTS[:10])  # 2 of 12 gone: 16.7 %
        revision = ops.store.revision
        with pytest.raises(CatalogError) as exc:
            ops.imports.run(path, actor="ana", mode="replace")
        assert errors_of(exc) == ["delete_limit"]
        assert ops.store.revision == revision
        dry = ops.imports.run(path, actor="ana", mode="replace", dry_run=True)
        assert dry.removed == ("L1", "R1") and dry.refused[0].code.value == "delete_limit"
        report = ops.imports.run(path, actor="ana", mode="replace", force=True)
        assert report.written and ops.store.count(EntityKind.PRODUCT) == 10
        undo = next(
            e.change
            for e in ops.history.audit(entity_id="product:L1")[0]
            if e.change.op == "delete"
        )
        ops.history.undo(undo.seq, actor="ana")
        assert ops.products.get("L1").brand == ("brand:marlow-finch", "Marlow & Finch")

    def test_a_crash_inside_an_import_leaves_the_graph_as_it_was(
        self, ops: CatalogOps, tmp_path: Path
    ) -> None:
        rows = [with_changes(p.product_id, price=1.0) for p in SMALL_PRODUCTS]
        path = product_file(tmp_path / "p.csv", rows)
        store = ops.store
        revision, count = store.revision, store.count()
        relations = sorted(store.relations())
        failing = CatalogOps(store=FailingStore(store))  # type: ignore[arg-type]
        with pytest.raises(CatalogError) as exc:
            failing.imports.run(path, actor="ana")
        assert errors_of(exc) == ["unknown_entity"]
        assert (store.revision, store.count()) == (revision, count)
        assert sorted(store.relations()) == relations
        assert ops.products.get("S1").fields["price"] == 899

    # -- audit, concurrency, the index ----------------------------------------------------

    def test_audit_filters_and_pages(self, ops: CatalogOps) -> None:
        ops.products.update("S1", {"price": 1}, expected_version=1, actor="ana")
        ops.products.update("S2", {"price": 2}, expected_version=1, actor="bob")
        ops.products.update("S1", {"price": 3}, expected_version=2, actor="bob")
        mine, more = ops.history.audit(actor="bob", limit=1)
        assert more and mine[0].change.entity_id == S1
        page2, more = ops.history.audit(actor="bob", limit=1, offset=1)
        assert page2[0].change.entity_id == S2 and not more
        s1 = ops.history.audit(entity_id=S1, actor="ana")[0]
        assert [e.change.actor for e in s1] == ["ana"]
        everything, _ = ops.history.audit(limit=1000)
        assert [e.change.seq for e in everything] == sorted(
            (e.change.seq for e in everything), reverse=True
        )

    def test_concurrent_edits_one_wins(self, ops: CatalogOps) -> None:
        outcomes: list[str] = []
        barrier = threading.Barrier(6)

        def edit(n: int) -> None:
            barrier.wait()
            try:
                ops.products.update("S1", {"price": 100 + n}, expected_version=1, actor=f"u{n}")
                outcomes.append("ok")
            except CatalogError as exc:
                outcomes.append(exc.code)

        threads = [threading.Thread(target=edit, args=(n,)) for n in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(outcomes) == ["ok"] + ["version_conflict"] * 5
        assert ops.products.get("S1").version == 2

    def test_the_index_kept_from_the_log_equals_a_fresh_read(self, ops: CatalogOps) -> None:
        edit = {"brand": "Birchley", "attributes": {"color": "teal"}}
        ops.products.update("S1", edit, expected_version=1, actor="a")
        ops.products.delete("S3", expected_version=1, actor="a")
        ops.attributes.rename_key("shape", "form", actor="a")
        ops.categories.create("Futons", parent=SOFAS, actor="a")
        ops.products.get("S1")  # refreshes the shared index from the log
        fresh = CatalogIndex()
        fresh.rebuild(ops.store)
        kept = ops.products._ctx.index  # the index under test
        for kind in EntityKind:
            for eid in fresh.ids_of(kind):
                assert kept.relations_of(eid) == fresh.relations_of(eid), eid
        assert kept.kinds == fresh.kinds and kept.attribute == fresh.attribute
        assert kept.names == fresh.names and kept.product_class == fresh.product_class
