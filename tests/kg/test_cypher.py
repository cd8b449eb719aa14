"""Cypher builders are pure: check the text and parameters without a server."""

from __future__ import annotations

import pytest

from kg import cypher
from kg.neo4j_store import Neo4jGraphStore, translated_errors
from kg.schema import EntityKind, RelationType
from kg.store import BackendError, BackendUnavailable


def test_namespace_label_is_validated() -> None:
    assert cypher.label("main") == "KG_main"
    for bad in ("", "1abc", "a-b", "x" * 42, "a b", "a`) DETACH DELETE n //"):
        with pytest.raises(ValueError, match="namespace"):
            cypher.label(bad)


def test_upsert_groups_one_kind_and_parametrises_values() -> None:
    rows = [{"id": "product:P1", "props": "{}", "name": "x", "version": 1}]
    query, params = cypher.upsert_entities("t1", EntityKind.PRODUCT, rows)
    assert query.startswith("UNWIND $rows AS r MERGE (n:KG_t1 {id: r.id})")
    assert "SET n:Product" in query
    assert params == {"rows": rows, "kind": "Product"}
    assert "product:P1" not in query  # values travel as parameters only


def test_relations_use_schema_types_only() -> None:
    query, params = cypher.create_relations(
        "t1", RelationType.HAS_BRAND, [["product:P1", "brand:a"]]
    )
    assert "CREATE (a)-[:HAS_BRAND]->(b)" in query
    assert params == {"pairs": [["product:P1", "brand:a"]]}
    query, _ = cypher.delete_relations("t1", RelationType.IN_CATEGORY, [])
    assert "[r:IN_CATEGORY]" in query and query.rstrip().endswith(
        "RETURN a.id AS source, b.id AS target"
    )
    for build in (cypher.existing_relations, cypher.delete_relations):
        query, _ = build("t1", RelationType.HAS_BRAND, [])
        assert "USING INDEX SEEK a:KG_t1(id)" in query  # from the source, not the brand


def test_constraints_and_drop_cover_the_same_schema() -> None:
    created = cypher.constraints("t1")
    assert any("REQUIRE n.id IS UNIQUE" in c for c in created)
    assert any("REQUIRE m.key IS UNIQUE" in c for c in created)
    names = {c.split()[2] for c in created}
    dropped = {d.split()[2] for d in cypher.drop("t1") if d.startswith("DROP")}
    assert names == dropped


def test_shortest_paths_bounds_hops() -> None:
    query = cypher.shortest_paths("t1", 3)
    assert "*..3]" in query
    assert "AFFINITY" not in query and "HAS_BRAND|IN_CATEGORY" in query  # never through users
    with pytest.raises(ValueError):
        cypher.shortest_paths("t1", 0)


def test_neighbours_direction_patterns() -> None:
    assert "-[r:HAS_BRAND]->" in cypher.neighbours("t1", RelationType.HAS_BRAND, "out")
    assert "<-[r]-" in cypher.neighbours("t1", None, "in")
    assert ")-[r]-(" in cypher.neighbours("t1", None, "both")


def test_store_validates_arguments_without_connecting() -> None:
    with pytest.raises(ValueError, match="namespace"):
        Neo4jGraphStore(uri="bolt://127.0.0.1:1", namespace="bad-name")
    with pytest.raises(ValueError):
        Neo4jGraphStore(uri="bolt://127.0.0.1:1", timeout_s=0)


def test_server_down_is_backend_unavailable() -> None:
    """A real connection attempt to a closed port: no server, no mock."""
    store = Neo4jGraphStore(uri="bolt://127.0.0.1:9", namespace="down", timeout_s=1)
    with pytest.raises(BackendUnavailable, match="neo4j"):
        store.get("product:P1")
    store.close()


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("Neo.TransientError.General.MemoryPoolOutOfMemoryError", BackendError),
        ("Neo.TransientError.General.TransactionOutOfMemoryError", BackendError),
        ("Neo.TransientError.Transaction.DeadlockDetected", BackendUnavailable),
    ],
)
def test_a_transaction_too_big_is_an_error_with_its_fix_not_a_server_down(
    code: str, expected: type[Exception]
) -> None:
    """The server refuses a write that outgrew its transaction memory (a 50k-product import
    at a 3g heap did) with a *transient* code, but retrying fails the same way: it must
    read as an error that says what to change, not as "neo4j is unavailable". The error
    is built the way the driver builds the server's (its ``_hydrate_neo4j``)."""
    from neo4j.exceptions import Neo4jError

    server = Neo4jError._hydrate_neo4j(code=code, message="would use more than the limit")
    with pytest.raises(expected) as caught, translated_errors("bolt://x:7687"):
        raise server
    if expected is BackendError:
        assert "KGSEARCH_NEO4J_HEAP" in str(caught.value) and code in str(caught.value)
    else:
        assert "unavailable" in str(caught.value)
