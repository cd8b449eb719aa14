"""Explanations on real Neo4j and Elasticsearch: the same trace, graph paths from Neo4j's
``paths_to``, and "why not" ranks looked up beyond recall on Elasticsearch."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from integration.support import small_server_engine

from app.engine import Engine
from kg.neo4j_store import Neo4jGraphStore
from search.encoder import MiniLMEncoder
from search.explain import compare, explain

pytestmark = pytest.mark.integration


@pytest.fixture
def server_engine(
    neo4j_uri: str, es_url: str, tmp_path: Path, encoder: MiniLMEncoder
) -> Iterator[Engine]:
    with small_server_engine(tmp_path, neo4j_uri, es_url, encoder) as engine:
        yield engine


def test_explain_on_neo4j_and_elasticsearch(server_engine: Engine) -> None:
    assert isinstance(server_engine.graph, Neo4jGraphStore)
    service, _ = server_engine.service()
    store = server_engine.graph
    x = explain(service, "blue velvet sofa", "S1", store=store)
    assert (x.stage, x.rank) == ("shown", 1)
    assert x.keyword.terms["name"] == ("velvet", "sofa")
    texts = {p.text for p in x.paths}
    assert 'query "velvet" → attr:material=velvet ← HAS_ATTRIBUTE — S1' in texts

    query = "brass lamp"
    recalled = set(service.candidates(query).product_ids)
    missing = sorted(set(service.documents) - recalled)
    assert missing, "the test needs a product this query does not recall"
    lost = explain(service, query, missing[0], store=store)
    assert lost.stage == "recall" and lost.dense.rank is not None and lost.dense.rank > 1

    c = compare(service, "blue velvet sofa", "C1", "S1", store=store)
    assert c.verdict.startswith("S1 (rank 1) is above C1") and c.differences
