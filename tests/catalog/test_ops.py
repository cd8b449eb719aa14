"""The catalog operations suite on the embedded store and (integration) on Neo4j."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from catalog.ops_contract import CatalogOpsContract
from conftest import unique_namespace

from kg.neo4j_store import Neo4jGraphStore
from kg.sqlite_store import SQLiteGraphStore


class TestCatalogOpsSQLite(CatalogOpsContract):
    @pytest.fixture
    def store(self, tmp_path: Path) -> Iterator[SQLiteGraphStore]:
        store = SQLiteGraphStore(path=tmp_path / "graph.sqlite")
        yield store
        store.close()


@pytest.mark.integration
class TestCatalogOpsNeo4j(CatalogOpsContract):
    @pytest.fixture
    def store(self, neo4j_uri: str) -> Iterator[Neo4jGraphStore]:
        store = Neo4jGraphStore(uri=neo4j_uri, namespace=unique_namespace("cat"))
        yield store
        store.drop()
        store.close()
