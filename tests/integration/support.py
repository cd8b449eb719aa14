"""An engine on the real servers over the 12 hand-written products, for the integration
tests that need the whole application (explanations, rules, aliases) on Neo4j and
Elasticsearch. Each call gets its own Neo4j namespace and Elasticsearch prefix."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from conftest import SMALL_PRODUCTS, unique_namespace

from app.engine import Engine
from app.settings import Settings
from ingest.formats import write_products
from search.encoder import MiniLMEncoder


@contextmanager
def small_server_engine(
    home: Path, neo4j_uri: str, es_url: str, encoder: MiniLMEncoder
) -> Iterator[Engine]:
    """Imported and indexed on Neo4j + Elasticsearch; wiped afterwards."""
    settings = Settings(
        home=home,
        graph_backend="neo4j",
        neo4j_uri=neo4j_uri,
        neo4j_namespace=unique_namespace(),
        search_backend="elasticsearch",
        elasticsearch_url=es_url,
        elasticsearch_prefix=unique_namespace("kgtest-"),
        keep_versions=1,
    )
    write_products(home / "small.csv", SMALL_PRODUCTS)
    engine = Engine(settings, encoder=encoder)
    try:
        engine.import_catalogue(home / "small.csv")
        engine.reindex()
        yield engine
    finally:
        engine.wipe()
