"""Merchandising rules on the production backends: the rule store in Neo4j beside the
graph, the rules applied to searches answered by Elasticsearch."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from integration.support import small_server_engine

from app.engine import Engine
from app.rules_ops import RuleOps
from kg.rule_store import Neo4jRuleStore
from search.encoder import MiniLMEncoder
from search.rules import RuleSpec

pytestmark = pytest.mark.integration


@pytest.fixture
def engine(neo4j_uri: str, es_url: str, tmp_path: Path, encoder: MiniLMEncoder) -> Iterator[Engine]:
    with small_server_engine(tmp_path, neo4j_uri, es_url, encoder) as engine:
        yield engine


def _top(engine: Engine, query: str) -> list[str]:
    service, _ = engine.service()
    return [h.product_id for h in service.search(query, k=5).hits]


def test_rules_on_neo4j_steer_elasticsearch_searches(engine: Engine) -> None:
    assert isinstance(engine.rule_store, Neo4jRuleStore)
    ops = RuleOps(engine)
    assert "C1" in _top(engine, "accent chair")
    hide = ops.create(
        RuleSpec.model_validate({"action": "hide", "when": {"brand": "Oakhaven"}}), actor="ann"
    )
    assert "C1" in _top(engine, "accent chair")  # a draft
    ops.publish(hide.id, actor="ann")
    assert "C1" not in _top(engine, "accent chair")
    boost = ops.create(
        RuleSpec.model_validate(
            {"action": "boost", "factor": 2.0, "when": {"category": "Sofas", "brand": "Birchley"}}
        ),
        actor="ann",
    )
    ops.publish(boost.id, actor="ann")
    service, _ = engine.service()
    result = service.search("sofa", k=5, explain=True)
    s2 = next(h for h in result.hits if h.product_id == "S2")
    assert s2.contributions[f"rule:{boost.id}"] != 0.0
    assert result.rules[f"rule:{boost.id}"] == f"rule #{boost.id}: boost Birchley in Sofas ×2"
    publish_seq = engine.rule_store.changes(rule_id=hide.id)[-1].seq
    ops.undo(publish_seq, actor="ann")
    assert "C1" in _top(engine, "accent chair")
    assert [c.op for c in engine.rule_store.changes(rule_id=hide.id)] == [
        "create",
        "update",
        "update",
    ]
