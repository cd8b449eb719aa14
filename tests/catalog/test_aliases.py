"""Alias edits (catalogue.aliases) on the embedded store and (integration) on Neo4j:
validation, version checks, the change log and undo."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from catalog.ops_contract import SOFAS, errors_of
from conftest import SMALL_PRODUCTS, unique_namespace

from catalogue.ops import CatalogOps
from catalogue.validation import CatalogError
from kg.neo4j_store import Neo4jGraphStore
from kg.schema import EntityWrite, WriteBatch, attribute_id
from kg.sqlite_store import SQLiteGraphStore
from kg.store import GraphStore

OAKHAVEN, BIRCHLEY = "brand:oakhaven", "brand:birchley"
BLUE, GRAY = attribute_id("color", "blue"), attribute_id("color", "gray")


class AliasOpsContract:
    @pytest.fixture
    def ops(self, store: GraphStore) -> CatalogOps:
        ops = CatalogOps(store=store)
        ops.imports.run(SMALL_PRODUCTS, actor="seed")
        return ops

    def _version(self, ops: CatalogOps, eid: str) -> int:
        return ops.aliases.get(eid).version

    def test_add_folds_and_logs_and_the_store_resolves_it(self, ops: CatalogOps) -> None:
        before = self._version(ops, SOFAS)
        result = ops.aliases.add(SOFAS, "  Canapé ", expected_version=before, actor="ana")
        assert result.written and result.version == before + 1
        view = ops.aliases.get(SOFAS)
        assert (view.name, view.aliases) == ("Sofas", ("canape",))
        assert ops.store.resolve_alias("CANAPE") == [SOFAS]
        entry = ops.history.audit(entity_id=SOFAS, limit=1)[0][0]
        assert entry.change.actor == "ana" and entry.change.op == "update"
        assert [v.entity_id for v in ops.aliases.list()] == [SOFAS]
        # The same alias again writes nothing.
        again = ops.aliases.add(SOFAS, "CANAPE", expected_version=before + 1, actor="ana")
        assert not again.written

    def test_replace_and_remove(self, ops: CatalogOps) -> None:
        v = self._version(ops, SOFAS)
        ops.aliases.replace(SOFAS, ["couch", "Settee", "couch"], expected_version=v, actor="a")
        assert ops.aliases.get(SOFAS).aliases == ("couch", "settee")
        ops.aliases.remove(SOFAS, "Couch", expected_version=v + 1, actor="a")
        assert ops.aliases.get(SOFAS).aliases == ("settee",)
        with pytest.raises(CatalogError) as exc:
            ops.aliases.remove(SOFAS, "couch", expected_version=v + 2, actor="a")
        assert errors_of(exc) == ["not_found"]
        ops.aliases.replace(SOFAS, [], expected_version=v + 2, actor="a")
        assert ops.store.aliases() == {}

    def test_stale_version_is_refused(self, ops: CatalogOps) -> None:
        v = self._version(ops, OAKHAVEN)
        ops.aliases.add(OAKHAVEN, "oak haven", expected_version=v, actor="a")
        with pytest.raises(CatalogError) as exc:
            ops.aliases.add(OAKHAVEN, "oakhaven co", expected_version=v, actor="b")
        assert errors_of(exc) == ["version_conflict"]
        assert ops.aliases.get(OAKHAVEN).aliases == ("oak haven",)

    def test_alias_of_another_entitys_name_or_alias_is_taken(self, ops: CatalogOps) -> None:
        with pytest.raises(CatalogError) as exc:
            ops.aliases.add(BLUE, "Gray", expected_version=self._version(ops, BLUE), actor="a")
        assert errors_of(exc) == ["alias_taken"]
        assert exc.value.issues[0].entity_id == GRAY
        assert BLUE in str(exc.value) and GRAY in str(exc.value)
        ops.aliases.add(OAKHAVEN, "oh", expected_version=self._version(ops, OAKHAVEN), actor="a")
        with pytest.raises(CatalogError) as exc:
            ops.aliases.add(
                BIRCHLEY, "OH", expected_version=self._version(ops, BIRCHLEY), actor="a"
            )
        assert errors_of(exc) == ["alias_taken"]
        assert OAKHAVEN in str(exc.value) and BIRCHLEY in str(exc.value)
        assert ops.aliases.get(BIRCHLEY).aliases == ()

    def test_own_name_cycle_product_and_empty_are_refused(self, ops: CatalogOps) -> None:
        with pytest.raises(CatalogError) as exc:
            ops.aliases.add(SOFAS, "SOFAS", expected_version=self._version(ops, SOFAS), actor="a")
        assert errors_of(exc) == ["invalid_value"]
        assert exc.value.issues[0].rule == "alias_not_own_name"
        store = ops.store
        birch = store.get(BIRCHLEY)
        assert birch is not None
        # A cycle can only arise from data written around the catalogue (an import of an
        # old graph): Birchley carries the alias "oakhaven"; the catalogue refuses to give
        # Oakhaven the alias "birchley" as a cycle rather than as a plain collision.
        props = {**birch.properties, "aliases": ["oakhaven"]}
        store.write(
            WriteBatch(upserts=(EntityWrite(BIRCHLEY, birch.kind, props, birch.version),)),
            actor="legacy",
        )
        with pytest.raises(CatalogError) as exc:
            ops.aliases.add(
                OAKHAVEN, "Birchley", expected_version=self._version(ops, OAKHAVEN), actor="a"
            )
        assert errors_of(exc) == ["alias_cycle"]
        for bad in ("", "   ", "x" * 101, "bad\x01"):
            with pytest.raises(CatalogError) as exc:
                ops.aliases.add(SOFAS, bad, expected_version=self._version(ops, SOFAS), actor="a")
            assert errors_of(exc) == ["invalid_value"]
        with pytest.raises(CatalogError) as exc:
            ops.aliases.add("product:S1", "x", expected_version=1, actor="a")
        assert exc.value.issues[0].rule == "alias_kinds"
        with pytest.raises(CatalogError) as exc:
            ops.aliases.get("brand:nope")
        assert errors_of(exc) == ["not_found"]

    def test_undo_restores_aliases_and_rechecks_them(self, ops: CatalogOps) -> None:
        v = self._version(ops, OAKHAVEN)
        ops.aliases.add(OAKHAVEN, "oh", expected_version=v, actor="a")
        removed = ops.aliases.remove(OAKHAVEN, "oh", expected_version=v + 1, actor="a")
        seq = removed.revision
        ops.history.undo(seq, actor="a")
        assert ops.aliases.get(OAKHAVEN).aliases == ("oh",)
        # Undo the undo (remove again), let Birchley take the alias, then undoing the
        # removal would give it back to Oakhaven: refused.
        last = ops.store.revision
        ops.history.undo(last, actor="a")
        assert ops.aliases.get(OAKHAVEN).aliases == ()
        ops.aliases.add(BIRCHLEY, "oh", expected_version=self._version(ops, BIRCHLEY), actor="b")
        with pytest.raises(CatalogError) as exc:
            ops.history.undo(last + 1, actor="a")
        assert errors_of(exc) == ["alias_taken"]
        assert "cannot undo" in str(exc.value)


class TestAliasOpsSQLite(AliasOpsContract):
    @pytest.fixture
    def store(self, tmp_path: Path) -> Iterator[SQLiteGraphStore]:
        store = SQLiteGraphStore(path=tmp_path / "graph.sqlite")
        yield store
        store.close()


@pytest.mark.integration
class TestAliasOpsNeo4j(AliasOpsContract):
    @pytest.fixture
    def store(self, neo4j_uri: str) -> Iterator[Neo4jGraphStore]:
        store = Neo4jGraphStore(uri=neo4j_uri, namespace=unique_namespace("alias"))
        yield store
        store.drop()
        store.close()


def test_a_new_or_renamed_name_may_not_be_another_entitys_alias(tmp_path: Path) -> None:
    store = SQLiteGraphStore(path=tmp_path / "g.sqlite")
    ops = CatalogOps(store=store)
    ops.imports.run(SMALL_PRODUCTS, actor="seed")
    ops.aliases.add(OAKHAVEN, "oh", expected_version=ops.aliases.get(OAKHAVEN).version, actor="a")
    for attempt in (
        lambda: ops.brands.create("OH", actor="a"),
        lambda: ops.brands.rename(
            BIRCHLEY, "Oh", expected_version=ops.brands.get(BIRCHLEY).version, actor="a"
        ),
    ):
        with pytest.raises(CatalogError) as exc:
            attempt()
        assert errors_of(exc) == ["alias_taken"] and OAKHAVEN in str(exc.value)
    store.close()
