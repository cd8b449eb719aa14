"""Merchandising rules at the search layer: the spec's checks, compiling stored rules
against a real (SQLite) graph, and what each action does to scores and order."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import SMALL_PRODUCTS
from pydantic import ValidationError

from catalogue.ops import CatalogOps
from ingest.formats import write_products
from kg.documents import ProductDocument, product_documents
from kg.rule_store import RuleRecord
from kg.schema import EntityKind
from kg.sqlite_store import SQLiteGraphStore
from search.filters import Filters
from search.graph_signals import QueryGraph
from search.linking import EntityLink
from search.rules import RuleSet, RuleSpec, compile_rules, rule_key, worded

SOFAS = "category:furniture/living-room/sofas"
LIVING = "category:furniture/living-room"


@pytest.fixture(scope="module")
def graph(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SQLiteGraphStore]:
    home = tmp_path_factory.mktemp("rules-graph")
    write_products(home / "small.csv", SMALL_PRODUCTS)
    store = SQLiteGraphStore(path=home / "graph.sqlite")
    CatalogOps(store=store).imports.run(home / "small.csv", actor="test", source="small.csv")
    yield store
    store.close()


@pytest.fixture(scope="module")
def docs(graph: SQLiteGraphStore) -> dict[str, ProductDocument]:
    return {d.product_id: d for d in product_documents(graph)}


def _record(rule_id: int, **spec: Any) -> RuleRecord:
    body = RuleSpec.model_validate(spec).model_dump(mode="json", exclude_none=True)
    return RuleRecord(rule_id, 1, {"draft": body, "published": body})


def _rules(graph: SQLiteGraphStore, *records: RuleRecord) -> RuleSet:
    return compile_rules(list(records), graph)


IDS = ("S1", "S2", "S3", "C1", "C2")
SCORES = np.array([2.0, 1.5, -1.0, 1.0, 0.5])


def _apply(
    rules: RuleSet,
    docs: Mapping[str, ProductDocument],
    query: str = "sofa",
    qgraph: QueryGraph | None = None,
    filters: Filters | None = None,
    now: float | None = None,
) -> Any:
    return rules.apply(query, qgraph, filters, IDS, SCORES, docs, now=now)


def test_boost_scales_the_magnitude_of_a_score_and_says_so(graph: Any, docs: Any) -> None:
    rules = _rules(
        graph,
        _record(
            12, action="boost", factor=1.2, when={"brand": "brand:oakhaven", "category": SOFAS}
        ),
    )
    applied = _apply(rules, docs)
    assert applied.scores[0] == pytest.approx(2.4)  # S1: Oakhaven sofa
    assert applied.scores[3] == pytest.approx(1.0)  # C1: Oakhaven, but a chair
    assert SCORES[0] == 2.0  # the ranker's scores are left as they were
    key = rule_key(12)
    assert applied.parts[key][0] == pytest.approx(0.4)
    assert applied.labels[key] == "rule #12: boost Oakhaven in Sofas ×1.2"
    assert worded(applied.labels[key], 0.05) == "rule #12: boost Oakhaven in Sofas ×1.2 (+0.05)"
    assert applied.explain(np.array([3, 0]))[key].tolist() == pytest.approx([0.0, 0.4])


def test_bury_moves_a_negative_score_down_too(graph: Any, docs: Any) -> None:
    rules = _rules(
        graph, _record(1, action="bury", factor=0.5, when={"brand": "brand:marlow-finch"})
    )
    applied = _apply(rules, docs)
    assert applied.scores[2] == pytest.approx(-1.5)  # S3 at -1.0 buried by half its size
    assert applied.scores[1] == pytest.approx(1.5)


def test_a_category_condition_holds_for_its_whole_subtree(graph: Any, docs: Any) -> None:
    rules = _rules(graph, _record(3, action="hide", when={"category": LIVING}))
    applied = _apply(rules, docs)
    assert applied.hidden == {0, 1, 2, 3, 4}
    assert applied.reorder(np.arange(5)).tolist() == []


def test_attribute_and_typed_relation_conditions(graph: Any, docs: Any) -> None:
    rules = _rules(
        graph,
        _record(
            4,
            action="hide",
            when={
                "attribute": "attr:color=blue",
                "relations": [{"type": "HAS_ATTRIBUTE", "target": "attr:material=velvet"}],
            },
        ),
    )
    applied = _apply(rules, docs)
    assert applied.hidden == {0, 3}  # S1 and C1: blue velvet
    assert applied.reorder(np.array([4, 3, 2, 1, 0])).tolist() == [4, 2, 1]


def test_a_pin_takes_its_slot_for_its_query_only(graph: Any, docs: Any) -> None:
    rules = _rules(
        graph,
        _record(
            5, action="pin", product="C2", position=1, scope={"kind": "exact", "value": "Sofa"}
        ),
    )
    applied = _apply(rules, docs, query="  sofa ")
    assert applied.reorder(np.arange(5)).tolist() == [4, 0, 1, 2, 3]
    assert applied.labels[rule_key(5)] == "rule #5: pin Rattan lounge chair (C2) at 1 for 'Sofa'"
    assert applied.parts[rule_key(5)].tolist() == [0.0] * 5
    untouched = _apply(rules, docs, query="blue sofa")
    assert untouched.reorder(np.arange(5)).tolist() == [0, 1, 2, 3, 4]
    assert not untouched.labels


def test_contains_scope_matches_whole_words(graph: Any, docs: Any) -> None:
    rules = _rules(
        graph,
        _record(
            6, action="pin", product="S3", position=2, scope={"kind": "contains", "value": "sofa"}
        ),
    )
    assert _apply(rules, docs, query="blue sofa bed").pins == [(2, 6, 2)]
    assert _apply(rules, docs, query="sofabed").pins == []


def test_a_pin_of_a_product_not_recalled_leaves_a_note(graph: Any, docs: Any) -> None:
    rules = _rules(
        graph,
        _record(
            7, action="pin", product="T1", position=1, scope={"kind": "exact", "value": "sofa"}
        ),
    )
    applied = _apply(rules, docs)
    assert applied.pins == []
    assert "rule #7 pins T1" in applied.notes[0]


def test_two_live_pins_for_one_slot_the_lower_id_holds_it(graph: Any, docs: Any) -> None:
    rules = _rules(
        graph,
        _record(
            9, action="pin", product="C1", position=1, scope={"kind": "contains", "value": "sofa"}
        ),
        _record(
            8, action="pin", product="C2", position=1, scope={"kind": "exact", "value": "sofa"}
        ),
    )
    assert _apply(rules, docs).reorder(np.arange(5)).tolist() == [4, 3, 0, 1, 2]


def test_entity_and_category_scopes(graph: Any, docs: Any) -> None:
    rules = _rules(
        graph,
        _record(
            10,
            action="hide",
            when={"brand": "brand:birchley"},
            scope={"kind": "entity", "value": "brand:oakhaven"},
        ),
        _record(
            11,
            action="hide",
            when={"brand": "brand:oakhaven"},
            scope={"kind": "category", "value": LIVING},
        ),
    )
    oakhaven = QueryGraph(
        (EntityLink("brand:oakhaven", EntityKind.BRAND, "Oakhaven", None, "oakhaven", 1.0),)
    )
    sofas = QueryGraph((EntityLink(SOFAS, EntityKind.CATEGORY, "Sofas", None, "sofa", 1.0),))
    assert _apply(rules, docs, qgraph=oakhaven).hidden == {1, 4}  # Birchley's S2, C2
    assert _apply(rules, docs, qgraph=sofas).hidden == {0, 3}  # a category below the scope's
    by_filter = _apply(rules, docs, filters=Filters(category=frozenset({"Living Room"})))
    assert by_filter.hidden == {0, 3}
    assert _apply(rules, docs, query="chair").hidden == set()


def test_start_and_end_times(graph: Any, docs: Any) -> None:
    start = datetime(2026, 12, 24, tzinfo=UTC)
    rules = _rules(
        graph,
        _record(
            13,
            action="hide",
            when={"brand": "brand:oakhaven"},
            starts_at=start.isoformat(),
            ends_at=(start + timedelta(days=2)).isoformat(),
        ),
    )
    assert _apply(rules, docs, now=start.timestamp() - 1).hidden == set()
    assert _apply(rules, docs, now=start.timestamp() + 1).hidden == {0, 3}
    assert _apply(rules, docs, now=(start + timedelta(days=2)).timestamp()).hidden == set()


def test_drafts_are_not_applied(graph: Any, docs: Any) -> None:
    body = RuleSpec(action="hide", when={"brand": "brand:oakhaven"}).model_dump(mode="json")
    rules = compile_rules([RuleRecord(14, 1, {"draft": body, "published": None})], graph)
    assert len(rules) == 0
    assert _apply(rules, docs).hidden == set()


def test_matches_follow_swapped_documents(graph: Any, docs: Any) -> None:
    rules = _rules(graph, _record(15, action="hide", when={"brand": "brand:oakhaven"}))
    assert _apply(rules, docs).hidden == {0, 3}
    moved = dict(docs)
    s2 = docs["S2"]
    moved["S2"] = ProductDocument(
        **{**{f: getattr(s2, f) for f in s2.__slots__}, "brand": "Oakhaven"}
    )
    assert _apply(rules, moved).hidden == {0, 1, 3}


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"action": "boost", "factor": 0.8, "when": {"brand": "x"}}, "above 1"),
        ({"action": "bury", "factor": 1.5, "when": {"brand": "x"}}, "below 1"),
        ({"action": "hide"}, "needs a condition"),
        ({"action": "pin", "product": "S1", "position": 1}, "needs a scope"),
        (
            {"action": "pin", "product": "S1", "scope": {"kind": "exact", "value": "x"}},
            "product and position",
        ),
        ({"action": "hide", "when": {"brand": "x"}, "scope": {"kind": "exact"}}, "needs a value"),
        ({"action": "hide", "when": {"brand": "x"}, "starts_at": "2026-01-02T00:00"}, "time zone"),
        ({"action": "hide", "when": {"brand": "x"}, "colour": "red"}, "Extra inputs"),
    ],
)
def test_a_malformed_rule_is_refused_saying_why(spec: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        RuleSpec.model_validate(spec)


def test_fifty_rules_that_take_no_query_cost_little(graph: Any, docs: Any, tmp_path: Path) -> None:
    """Rules out of scope are skipped before any product is looked at."""
    records = [
        _record(
            i, action="pin", product="S1", position=1, scope={"kind": "exact", "value": f"q{i}"}
        )
        for i in range(1, 51)
    ]
    rules = _rules(graph, *records)
    applied = _apply(rules, docs, query="sofa")
    assert applied.scores is SCORES and not applied.labels


def test_a_renamed_brand_still_matches_its_products(tmp_path: Path) -> None:
    from kg.schema import EntityWrite, WriteBatch

    write_products(tmp_path / "small.csv", SMALL_PRODUCTS)
    store = SQLiteGraphStore(path=tmp_path / "graph.sqlite")
    CatalogOps(store=store).imports.run(tmp_path / "small.csv", actor="test", source="small.csv")
    brand = store.get("brand:oakhaven")
    assert brand is not None
    renamed = {**brand.properties, "name": "Oak Haven"}
    store.write(
        WriteBatch(upserts=(EntityWrite(brand.id, EntityKind.BRAND, renamed, brand.version),)),
        actor="test",
    )
    docs = {d.product_id: d for d in product_documents(store)}
    assert docs["S1"].brand == "Oak Haven"
    rules = _rules(store, _record(16, action="hide", when={"brand": "brand:oakhaven"}))
    assert _apply(rules, docs).hidden == {0, 3}
    assert rules.labels()[rule_key(16)] == "rule #16: hide Oak Haven"
    store.close()


def test_a_stored_rule_that_no_longer_parses_is_skipped_not_fatal(
    graph: Any, docs: Any, caplog: pytest.LogCaptureFixture
) -> None:
    broken = RuleRecord(17, 1, {"draft": {"action": "explode"}, "published": {"action": "explode"}})
    rules = _rules(graph, broken, _record(18, action="hide", when={"brand": "brand:oakhaven"}))
    assert [r.id for r in rules.rules] == [18]
    assert "rule #17 is not a valid rule" in caplog.text


def test_hidden_products_leave_the_counts_too(graph: Any, docs: Any) -> None:
    rules = _rules(graph, _record(19, action="hide", when={"brand": "brand:oakhaven"}))
    applied = _apply(rules, docs)
    assert applied.kept(IDS) == ["S2", "S3", "C2"]
    assert _apply(RuleSet(), docs).kept(IDS) == list(IDS)
