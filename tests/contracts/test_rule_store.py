from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import unique_namespace
from contracts.rule_store import BODY, RuleStoreContract

from kg.neo4j_store import Neo4jGraphStore
from kg.rule_store import Neo4jRuleStore, SQLiteRuleStore


class TestSQLiteRuleStore(RuleStoreContract):
    @pytest.fixture
    def store(self, tmp_path: Path) -> Iterator[SQLiteRuleStore]:
        store = SQLiteRuleStore(path=tmp_path / "rules.sqlite")
        yield store
        store.close()

    def test_survives_reopen(self, tmp_path: Path) -> None:
        first = SQLiteRuleStore(path=tmp_path / "r.sqlite")
        rule = first.put(None, BODY, expected_version=None, actor="ann")
        first.close()
        again = SQLiteRuleStore(path=tmp_path / "r.sqlite")
        assert again.get(rule.id) == rule and again.revision == 1
        again.close()


@pytest.mark.integration
class TestNeo4jRuleStore(RuleStoreContract):
    @pytest.fixture
    def store(self, neo4j_uri: str) -> Iterator[Neo4jRuleStore]:
        store = Neo4jRuleStore(uri=neo4j_uri, namespace=unique_namespace())
        yield store
        store.drop()
        store.close()

    def test_rules_are_not_graph_entities(self, neo4j_uri: str) -> None:
        """Rules live beside the namespace's entities: the graph never sees them."""
        namespace = unique_namespace()
        rules = Neo4jRuleStore(uri=neo4j_uri, namespace=namespace)
        graph = Neo4jGraphStore(uri=neo4j_uri, namespace=namespace)
        try:
            rules.put(None, BODY, expected_version=None, actor="ann")
            assert graph.count() == 0 and graph.revision == 0
            assert list(graph.changes()) == []
        finally:
            rules.drop()
            graph.drop()
            rules.close()
            graph.close()
