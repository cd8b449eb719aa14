"""The graph source reads products' typed neighbourhoods through the GraphStore protocol:
the same neighbours and reasons from SQLite and from Neo4j (Cypher)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import SMALL_PRODUCTS, unique_namespace

from catalogue.ops import CatalogOps
from kg.documents import product_documents
from kg.schema import EntityKind, EntityWrite, Relation, RelationType, WriteBatch
from kg.sqlite_store import SQLiteGraphStore
from kg.store import GraphStore
from recommend.sources import ItemSpace
from recommend.sources.graph import GraphSource


def seeded(store: GraphStore) -> tuple[GraphSource, ItemSpace]:
    CatalogOps(store=store).imports.run(SMALL_PRODUCTS, actor="seed")
    docs = {d.product_id: d for d in product_documents(store)}
    space = ItemSpace(items=tuple(sorted(docs)), documents=docs)
    return GraphSource.from_store(store, space), space


def neighbours(source: GraphSource, pid: str) -> list[tuple[str, str | None]]:
    proposed = source.similar(pid, n=10, allowed=None)
    return [
        (source.space.items[i], source.describe((source.space.index[pid],), i)) for i in proposed
    ]


@pytest.fixture
def sqlite_source(tmp_path: Path) -> Iterator[GraphSource]:
    store = SQLiteGraphStore(path=tmp_path / "graph.sqlite")
    source, _ = seeded(store)
    yield source
    store.close()


def test_shared_neighbours_rank_and_explain(sqlite_source: GraphSource) -> None:
    found = neighbours(sqlite_source, "S1")
    assert found and "S1" not in [p for p, _ in found]
    best, why = found[0]
    assert why and ("same brand" in why or "both" in why)
    paths = sqlite_source.paths(sqlite_source.space.index["S1"], sqlite_source.space.index[best])
    assert paths and paths[0][0] == "product:S1" and paths[0][-1] == f"product:{best}"
    assert paths[0][1] in {str(r) for r in RelationType}


def test_a_product_added_after_the_build_is_looked_up_live(
    sqlite_source: GraphSource, tmp_path: Path
) -> None:
    store = sqlite_source.graph
    brand = next(iter(store.neighbours("product:S1", relation=RelationType.HAS_BRAND)))[1].id
    store.write(
        WriteBatch(
            upserts=(
                EntityWrite(
                    "product:NEW1", EntityKind.PRODUCT, {"product_id": "NEW1", "name": "x"}
                ),
            ),
            relate=(Relation("product:NEW1", RelationType.HAS_BRAND, brand),),
        ),
        actor="test",
    )
    proposed = sqlite_source.similar("NEW1", n=5, allowed=None)
    assert proposed
    same_brand = {p for p, d in sqlite_source.space.documents.items() if d.brand}
    assert {sqlite_source.space.items[i] for i in proposed} <= same_brand


@pytest.mark.integration
def test_neo4j_gives_the_same_neighbours_as_sqlite(
    neo4j_uri: str, sqlite_source: GraphSource
) -> None:
    from kg.neo4j_store import Neo4jGraphStore

    store = Neo4jGraphStore(uri=neo4j_uri, namespace=unique_namespace("recs"))
    try:
        source, _ = seeded(store)
        for pid in sorted(sqlite_source.space.items):
            assert neighbours(source, pid) == neighbours(sqlite_source, pid)
        assert source.similar("S1", n=5, allowed=None)
    finally:
        store.drop()
        store.close()
