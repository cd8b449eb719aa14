from __future__ import annotations

import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import unique_namespace
from contracts.graph_store import GraphStoreContract

from kg.neo4j_store import Neo4jGraphStore
from kg.sqlite_store import SQLiteGraphStore


class TestSQLiteGraphStore(GraphStoreContract):
    @pytest.fixture
    def store(self, tmp_path: Path) -> Iterator[SQLiteGraphStore]:
        store = SQLiteGraphStore(path=tmp_path / "graph.sqlite")
        yield store
        store.close()

    def test_survives_reopen(self, tmp_path: Path) -> None:
        from contracts.graph_store import P1, seed_batch

        first = SQLiteGraphStore(path=tmp_path / "g.sqlite")
        first.write(seed_batch(), actor="t")
        revision = first.revision
        first.close()
        again = SQLiteGraphStore(path=tmp_path / "g.sqlite")
        assert again.revision == revision
        assert again.get(P1) is not None
        again.close()

    def test_a_file_from_before_edit_ids_is_migrated(self, tmp_path: Path) -> None:
        """An old change log (no ``batch`` column) opens, reads one edit per old change,
        and groups the writes made after the migration."""
        import sqlite3

        from contracts.graph_store import P1, P2, seed_batch

        from kg.schema import WriteBatch

        path = tmp_path / "old.sqlite"
        old = SQLiteGraphStore(path=path)
        old.write(seed_batch(), actor="t")
        old.close()
        with sqlite3.connect(path) as db:  # the schema as it was: no batch column
            db.execute("DROP INDEX changes_batch")
            db.execute("ALTER TABLE changes DROP COLUMN batch")
        store = SQLiteGraphStore(path=path)
        legacy = list(store.changes())
        assert legacy and all(c.batch == c.seq for c in legacy)
        assert list(store.changes(batch=legacy[1].seq)) == [legacy[1]]
        store.write(WriteBatch(deletes=(P1, P2)), actor="t")
        new = list(store.changes(since=legacy[-1].seq))
        assert len(new) == 2 and {c.batch for c in new} == {legacy[-1].seq + 1}
        store.close()

    def test_files_are_readable_by_their_owner_only(self, tmp_path: Path) -> None:
        from contracts.graph_store import seed_batch

        store = SQLiteGraphStore(path=tmp_path / "g.sqlite")
        store.write(seed_batch(), actor="t")
        made = sorted(tmp_path.glob("g.sqlite*"))
        assert [p.name for p in made][:2] == ["g.sqlite", "g.sqlite-shm"]
        assert {p.name: stat.S_IMODE(p.stat().st_mode) for p in made} == {
            p.name: 0o600 for p in made
        }
        store.close()


@pytest.mark.integration
class TestNeo4jGraphStore(GraphStoreContract):
    @pytest.fixture
    def store(self, neo4j_uri: str) -> Iterator[Neo4jGraphStore]:
        store = Neo4jGraphStore(uri=neo4j_uri, namespace=unique_namespace())
        yield store
        store.drop()
        store.close()

    def test_namespaces_do_not_see_each_other(self, neo4j_uri: str) -> None:
        from contracts.graph_store import P1, seed_batch

        a = Neo4jGraphStore(uri=neo4j_uri, namespace=unique_namespace())
        b = Neo4jGraphStore(uri=neo4j_uri, namespace=unique_namespace())
        try:
            a.write(seed_batch(), actor="t")
            assert a.get(P1) is not None
            assert b.get(P1) is None and b.count() == 0 and b.revision == 0
        finally:
            for s in (a, b):
                s.drop()
                s.close()

    def test_user_profiles_are_queryable_in_cypher(self, neo4j_uri: str) -> None:
        """The shape docs/profiles.md shows: (:KG_<ns>_User)-[:AFFINITY {weight}]->(entity)."""
        from contracts.graph_store import ACME, P1, seed_batch
        from neo4j import GraphDatabase

        store = Neo4jGraphStore(uri=neo4j_uri, namespace=unique_namespace())
        try:
            store.write(seed_batch(), actor="t")
            store.put_user_profile("U0042", {ACME: 1.0, P1: 0.5}, updated=1.0)
            ns = f"KG_{store.namespace}"
            query = (
                f"MATCH (u:{ns}_User:User {{id: $id}})-[a:AFFINITY]->(e:{ns}) "
                "RETURN e.id AS id, e.name AS name, a.weight AS weight ORDER BY weight DESC"
            )
            with GraphDatabase.driver(neo4j_uri) as driver:
                rows, _, _ = driver.execute_query(query, id="U0042")
            assert [(r["id"], r["name"], r["weight"]) for r in rows] == [
                (ACME, "Acme", 1.0),
                (P1, "Blue sofa", 0.5),
            ]
        finally:
            store.drop()
            store.close()

    def test_aliases_are_queryable_in_cypher(self, neo4j_uri: str) -> None:
        """The shape docs/catalog.md shows: a native list property, ``'couch' IN n.aliases``."""
        from contracts.graph_store import SOFAS, seed_batch
        from neo4j import GraphDatabase

        from kg.schema import EntityKind, EntityWrite, WriteBatch

        store = Neo4jGraphStore(uri=neo4j_uri, namespace=unique_namespace())
        try:
            store.write(seed_batch(), actor="t")
            props = {"name": "Sofas", "aliases": ["couch", "settee"]}
            store.write(
                WriteBatch(upserts=(EntityWrite(SOFAS, EntityKind.CATEGORY, props, 1),)), actor="t"
            )
            query = (
                f"MATCH (n:KG_{store.namespace}) WHERE $alias IN n.aliases "
                "RETURN n.id AS id, n.name AS name, n.aliases AS aliases"
            )
            with GraphDatabase.driver(neo4j_uri) as driver:
                rows, _, _ = driver.execute_query(query, alias="settee")
            assert [(r["id"], r["name"], r["aliases"]) for r in rows] == [
                (SOFAS, "Sofas", ["couch", "settee"])
            ]
        finally:
            store.drop()
            store.close()
