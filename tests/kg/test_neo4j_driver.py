"""The driver the Neo4j stores open (``kg.neo4j_store.open_driver``), on the real server."""

from __future__ import annotations

import logging
import uuid

import pytest

from kg.neo4j_store import open_driver

pytestmark = pytest.mark.integration


def _warnings_of(uri: str, *, ours: bool, caplog: pytest.LogCaptureFixture) -> list[str]:
    """Warnings the driver logs for a read of a property key no node has ever had."""
    from neo4j import GraphDatabase

    key = f"never_{uuid.uuid4().hex[:12]}"
    driver = open_driver(uri, None, 10.0) if ours else GraphDatabase.driver(uri)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="neo4j"), driver:
        driver.execute_query(f"MATCH (n:KgDriverProbe) RETURN n.{key} AS v")
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]


def test_unknown_property_keys_are_not_logged_as_warnings(
    neo4j_uri: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A fresh namespace reads ``aliases`` before any entity has one; the server notes that
    the key does not exist, and the driver logged it as a warning on every read. The
    plain driver still does (so this test can fail); ours does not."""
    assert any("does not exist" in m for m in _warnings_of(neo4j_uri, ours=False, caplog=caplog))
    assert _warnings_of(neo4j_uri, ours=True, caplog=caplog) == []
