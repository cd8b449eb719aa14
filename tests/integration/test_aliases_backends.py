"""Aliases on the real servers: an alias edited on Neo4j reaches an Elasticsearch-backed
search without a reindex, and the query-side expansion scores alike on both keyword
backends."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import TINY, unique_namespace
from integration.support import small_server_engine

from app.engine import Engine
from catalogue.ops import CatalogOps
from kg.documents import product_documents
from kg.sqlite_store import SQLiteGraphStore
from search.analysis import Analyzer
from search.encoder import MiniLMEncoder
from search.es_index import ElasticsearchAdmin, ElasticsearchKeywordIndex
from search.keyword import keyword_doc
from search.linking import EntityLinker
from search.tantivy_index import TantivyKeywordIndex

pytestmark = pytest.mark.integration

SOFAS = "category:furniture/living-room/sofas"
ACCENT = "category:furniture/living-room-furniture/chairs-seating/accent-chairs"


def test_alias_expansion_scores_alike_on_tantivy_and_elasticsearch(es_url: str) -> None:
    store = SQLiteGraphStore(path=":memory:")
    CatalogOps(store=store).imports.run(TINY / "product.csv", actor="test")
    analyzer = Analyzer()
    documents = product_documents(store)
    docs = [keyword_doc(d, analyzer) for d in documents]
    linker = EntityLinker.from_documents(documents, analyzer=analyzer)
    linker.set_aliases({ACCENT: ("fauteuil",)})
    tokens = linker.expand_tokens(analyzer.tokens("fauteuil"))
    assert tokens[0] == "fauteuil" and len(tokens) > 1
    tantivy = TantivyKeywordIndex()
    tantivy.upsert(docs)
    admin = ElasticsearchAdmin(url=es_url, prefix=unique_namespace("kgtest-"))
    es = ElasticsearchKeywordIndex(url=es_url, index=admin.create("v1", dim=None))
    try:
        es.upsert(docs)
        a, b = tantivy.search(tokens, k=10), es.search(tokens, k=10)
        assert a and b
        assert {p for p, _ in a} == {p for p, _ in b}
        assert {p: round(s, 3) for p, s in a} == pytest.approx(
            {p: round(s, 3) for p, s in b}, rel=1e-3
        )
        assert not tantivy.search(analyzer.tokens("fauteuil"), k=10)  # no product says it
    finally:
        es.close()
        admin.drop(admin.versions())
        admin.close()


@pytest.fixture
def server_engine(
    neo4j_uri: str, es_url: str, tmp_path: Path, encoder: MiniLMEncoder
) -> Iterator[Engine]:
    with small_server_engine(tmp_path, neo4j_uri, es_url, encoder) as engine:
        yield engine


def test_an_alias_edit_on_neo4j_reaches_elasticsearch_search(server_engine: Engine) -> None:
    engine = server_engine
    service, _ = engine.service()
    assert SOFAS not in {e for e, _, _ in service.search("davenport", k=5).entities}
    ops = CatalogOps(store=engine.graph)
    ops.aliases.add(
        SOFAS, "Davenport", expected_version=ops.aliases.get(SOFAS).version, actor="ana"
    )
    assert engine.sync() == 0  # no product re-derived or re-encoded
    service, _ = engine.service()
    result = service.search("davenport", k=5, ranker=None)
    linked = {e: c for e, _, c in result.entities}
    assert 0 < linked[SOFAS] < 1.0
    assert result.hits and result.hits[0].product_class == "Sofas"
    assert result.hits[0].signals["bm25"] > 0
