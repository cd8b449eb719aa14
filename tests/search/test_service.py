from __future__ import annotations

import logging

import numpy as np
import pytest

from app.engine import Engine
from ranker.candidates import Array, CandidateSet, Rows
from search.filters import Filters, UnknownFilter
from search.graph_signals import GRAPH_SIGNALS
from search.keyword import KEYWORD_FIELDS
from search.service import FailureLog, InvalidQuery, validate_query


def ids(engine: Engine, query: str, **kwargs: object) -> list[str]:
    service, _ = engine.service()
    return [h.product_id for h in service.search(query, **kwargs).hits]  # type: ignore[arg-type]


def test_keyword_and_synonym_matches(small_engine: Engine) -> None:
    assert ids(small_engine, "velvet sofa", k=3)[0] == "S1"
    assert "S2" in ids(small_engine, "grey couch", k=3)


def test_semantic_match_without_shared_words(small_engine: Engine) -> None:
    assert ids(small_engine, "somewhere to sleep", k=3)[0] in {"B1", "B2"}


def test_every_hit_carries_every_signal_and_contributions_sum(small_engine: Engine) -> None:
    service, _ = small_engine.service()
    result = service.search("blue velvet chair", k=5, explain=True)
    assert result.explained
    expected = {
        "bm25",
        "dense",
        "from_keyword",
        "from_dense",
        *(f"bm25_{f}" for f in KEYWORD_FIELDS),
        *GRAPH_SIGNALS,
        "popularity",
        "rating",
        "has_rating",
        "price_z",
        "has_price",
    }
    for hit in result.hits:
        assert set(hit.signals) == expected
        assert sum(hit.contributions.values()) == pytest.approx(hit.score, abs=1e-9)
    assert [h.rank for h in result.hits] == list(range(1, len(result.hits) + 1))
    assert result.ranker == "linear"


def test_contributions_only_when_asked_and_the_ranking_is_the_same(small_engine: Engine) -> None:
    service, _ = small_engine.service()

    for ranker in (None, small_engine.make_ranker("rrf")):
        plain = service.search("blue velvet chair", k=5, ranker=ranker)
        full = service.search("blue velvet chair", k=5, ranker=ranker, explain=True)
        assert not plain.explained and full.explained
        assert all(h.contributions == {} for h in plain.hits)
        assert all(h.contributions for h in full.hits)
        assert [(h.product_id, h.score) for h in plain.hits] == [
            (h.product_id, h.score) for h in full.hits
        ]


def test_pagination_is_consistent(small_engine: Engine) -> None:
    service, _ = small_engine.service()
    full = [h.product_id for h in service.search("table", k=6).hits]
    first = [h.product_id for h in service.search("table", k=3).hits]
    second = [h.product_id for h in service.search("table", k=3, offset=3).hits]
    assert first + second == full
    assert service.search("table", k=3, offset=3).hits[0].rank == 4


def test_filters_are_exact(small_engine: Engine) -> None:
    service, _ = small_engine.service()
    result = service.search("chair", k=20, filters=Filters(brand=frozenset({"oakhaven"})))
    assert result.hits and all(h.brand == "Oakhaven" for h in result.hits)
    by_attr = service.search(
        "furniture", k=20, filters=Filters(attributes={"color": frozenset({"gray"})})
    )
    assert {h.product_id for h in by_attr.hits} <= {"S2", "B2"}
    priced = service.search("sofa", k=20, filters=Filters(price_min=400, price_max=900))
    assert priced.hits and all(h.price is not None and 400 <= h.price <= 900 for h in priced.hits)
    rated = service.search("bed", k=20, filters=Filters(rating_min=4.4))
    assert all(h.average_rating is not None and h.average_rating >= 4.4 for h in rated.hits)
    category = service.search("lamp", k=20, filters=Filters(category=frozenset({"Bedroom"})))
    assert all("Bedroom" in h.category_path for h in category.hits)
    nothing = service.search("sofa", filters=Filters(brand=frozenset({"nobody"})))
    assert nothing.total == 0 and nothing.hits == ()


def test_unknown_filter_field_and_bad_range(small_engine: Engine) -> None:
    service, _ = small_engine.service()
    with pytest.raises(UnknownFilter, match="colour"):
        service.search("sofa", filters=Filters(attributes={"colour": frozenset({"red"})}))
    with pytest.raises(ValueError, match="greater"):
        Filters(price_min=10, price_max=5)


def test_facets_count_the_result_set(small_engine: Engine) -> None:
    service, _ = small_engine.service()
    result = service.search("sofa", k=2)
    brands = dict(result.facets["brand"])
    assert sum(brands.values()) == result.total
    assert result.total >= len(result.hits)
    assert set(result.facets) == {"brand", "product_class", "category", "price"}


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("x" * 1001, "1000"),
        ("sofa\x00", r"U\+0000"),
        ("a\u200bb", r"U\+200B"),
    ],
)
def test_bad_queries_are_refused(query: str, message: str) -> None:
    with pytest.raises(InvalidQuery, match=message) as info:
        validate_query(query)
    assert info.value.field == "q"


@pytest.mark.parametrize(("k", "offset"), [(0, 0), (1001, 0), (10, -1)])
def test_bad_paging_is_refused(small_engine: Engine, k: int, offset: int) -> None:
    service, _ = small_engine.service()
    with pytest.raises(InvalidQuery):
        service.search("sofa", k=k, offset=offset)


class BrokenRanker:
    name = "broken"

    def score(self, candidates: CandidateSet) -> Array:
        raise RuntimeError("model file is corrupt")

    def explain(self, candidates: CandidateSet, rows: Rows) -> dict[str, Array]:
        raise RuntimeError("model file is corrupt")

    def params(self) -> dict[str, object]:
        return {}


def test_failing_ranker_falls_back_to_rrf_and_says_so(small_engine: Engine) -> None:
    service, _ = small_engine.service()
    result = service.search("sofa", ranker=BrokenRanker())
    assert result.degraded and result.ranker == "rrf"
    assert "model file is corrupt" in result.notes[0]
    assert result.hits


def test_a_ranker_failing_every_search_logs_one_traceback_then_counts(
    small_engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    class AlwaysBroken(BrokenRanker):
        name = "always-broken"  # counted apart from the other tests' "broken"

    service, _ = small_engine.service()
    with caplog.at_level(logging.ERROR, logger="search.service"):
        for _ in range(12):
            assert service.search("sofa", ranker=AlwaysBroken()).degraded
    records = [r for r in caplog.records if r.name == "search.service"]
    assert len(records) == 2, [r.getMessage() for r in records]
    first, tenth = records
    assert first.exc_info is not None and "always-broken" in first.getMessage()
    assert tenth.exc_info is None
    assert "10 times so far" in tenth.getMessage()
    assert "model file is corrupt" in tenth.getMessage()


def test_failure_log_counts_each_kind_apart() -> None:
    failures = FailureLog("%s failed")
    assert [failures.record("a", ValueError("x")) for _ in range(3)] == [1, 2, 3]
    assert failures.record("a", KeyError("y")) == 1
    assert failures.record("b", ValueError("x")) == 1


def test_candidates_signals_are_finite(small_engine: Engine) -> None:
    service, _ = small_engine.service()
    c = service.candidates("oak")
    assert len(c) > 0
    assert all(np.isfinite(v).all() for v in c.signals.values())
    assert c.signal("from_keyword").sum() >= 1


def test_query_entities_are_linked_and_matching_hits_carry_paths(small_engine: Engine) -> None:
    service, _ = small_engine.service()
    result = service.search("oakhaven blue chair", k=5)
    linked = {e for e, _, _ in result.entities}
    assert "brand:oakhaven" in linked and "attr:color=blue" in linked
    top = result.hits[0]
    assert top.product_id == "C1"  # the Oakhaven blue velvet wingback chair
    assert ("product:C1", "HAS_BRAND", "brand:oakhaven") in top.paths
    assert top.signals["match_brand"] == 1.0 and top.signals["link_brand"] == 1.0


def test_graph_expansion_recalls_products_words_miss(small_engine: Engine) -> None:
    service, _ = small_engine.service()
    c = service.candidates("marlow & finch")  # a brand: its products share no other words
    from_graph = {p for p, f in zip(c.product_ids, c.signal("from_graph"), strict=True) if f}
    assert {"S3", "T1", "B2", "L1"} <= from_graph
