"""Explanations (``search.explain``) over the 12 hand-written products: the trace of each
stage, worded contributions from the feature registry, why not, why A above B, ties."""

from __future__ import annotations

import numpy as np
import pytest

from app.engine import Engine
from kg.store import UnknownEntity
from ranker.candidates import CandidateSet
from ranker.features import FEATURES, TOPIC_WORDS
from search.explain import FOLD_BELOW, compare, explain
from search.filters import Filters
from search.service import InvalidQuery, tie_order

QUERY = "blue velvet sofa"


def test_every_registry_line_has_words_and_one_lead() -> None:
    lines = {f.line for f in FEATURES.values()}
    assert lines == set(TOPIC_WORDS), "a topic without words would be shown by its raw name"
    for topic in lines:
        leads = [f for f in FEATURES.values() if f.line == topic and f.words is not None]
        assert [f.name for f in leads] == [topic], f"{topic}: its lead alone carries words"


def test_a_shown_hit_is_traced_through_every_stage(small_engine: Engine) -> None:
    service, _ = small_engine.service()
    x = explain(service, QUERY, "S1", store=small_engine.graph)
    assert (x.stage, x.rank) == ("shown", 1)
    assert x.keyword.recalled and x.keyword.rank == 1
    assert x.keyword.terms["name"] == ("velvet", "sofa")
    assert x.keyword.fields["name"] > 0 and x.keyword.fields["brand"] == 0
    assert x.dense.recalled and 0.2 < x.dense.cosine <= 1
    assert "attr:material=velvet" in x.graph.through
    # the worded lines, the folded rest and the baseline add up to the ranker's score
    assert x.score is not None
    total = sum(line.amount for line in x.lines) + x.folded + x.baseline
    assert total == pytest.approx(x.score, abs=1e-6)
    assert all(abs(line.amount) >= FOLD_BELOW for line in x.lines)
    says = [line.says for line in x.lines]
    assert any(s.startswith("matches 'velvet', 'sofa', 'blue' (keyword rank 1)") for s in says)
    assert any(s.startswith("close in meaning to the query (cosine") for s in says)
    texts = {p.text for p in x.paths}
    assert 'query "velvet" → attr:material=velvet ← HAS_ATTRIBUTE — S1' in texts
    assert 'query "sofa" → category:furniture/living-room/sofas ← IN_CATEGORY — S1' in texts


def test_why_not_a_product_ranked_below_the_page(small_engine: Engine) -> None:
    service, _ = small_engine.service()
    x = explain(service, QUERY, "C1", k=1, store=small_engine.graph)
    assert x.stage == "ranking" and x.rank is not None and x.rank > 1
    assert x.last_shown is not None and x.last_shown[0] == "S1"
    assert f"ranked {x.rank} of" in x.verdict and "S1" in x.verdict
    assert x.gap, "the differences behind the gap to the last shown hit"
    assert all(d.gap < 0 for d in x.gap)
    assert [abs(d.gap) for d in x.gap] == sorted((abs(d.gap) for d in x.gap), reverse=True)


def test_why_not_a_product_a_filter_removed(small_engine: Engine) -> None:
    service, _ = small_engine.service()
    filters = Filters(brand=frozenset({"Oakhaven"}), price_max=1000.0)
    x = explain(service, QUERY, "S2", filters=filters)
    assert x.stage == "filter" and x.rank is None
    assert x.filters is not None and x.filters.failed == ("brand",)
    assert x.filters.applied == {"brand": ["Oakhaven"], "price_max": 1000.0}
    assert "removed by filter brand" in x.verdict


def test_why_not_a_product_no_source_recalled(small_engine: Engine) -> None:
    service, _ = small_engine.service()
    query = "brass lamp"
    recalled = set(service.candidates(query).product_ids)
    missing = sorted(set(service.documents) - recalled)
    assert missing, "the test needs a product this query does not recall"
    x = explain(service, query, missing[0])
    assert x.stage == "recall" and x.rank is None and not x.lines
    assert not (x.keyword.recalled or x.dense.recalled or x.graph.recalled)
    assert x.verdict.startswith("not recalled by any source")
    assert "no query word matches" in x.verdict
    assert x.dense.cosine < x.dense.min_cosine


def test_why_a_above_b(small_engine: Engine) -> None:
    service, _ = small_engine.service()
    c = compare(service, QUERY, "C1", "S1", store=small_engine.graph)
    assert c.verdict.startswith("S1 (rank 1) is above C1")
    assert c.differences
    gaps = [abs(d.gap) for d in c.differences]
    assert gaps == sorted(gaps, reverse=True)
    assert c.a.product_id == "C1" and c.b.product_id == "S1"
    assert c.a.score is not None and c.b.score is not None
    total = sum(d.gap for d in c.differences)
    assert total == pytest.approx(c.a.score - c.b.score, abs=0.01)


def test_bad_input(small_engine: Engine) -> None:
    service, _ = small_engine.service()
    with pytest.raises(UnknownEntity, match="product:NOPE"):
        explain(service, QUERY, "NOPE")
    with pytest.raises(InvalidQuery, match="empty"):
        explain(service, "   ", "S1")


def test_equal_scores_are_ordered_by_ratings_then_id() -> None:
    ids = ("P3", "P1", "P2", "P0")
    candidates = CandidateSet(ids, {"popularity": np.log1p(np.array([5.0, 5.0, 9.0, 1.0]))})
    scores = np.array([0.5, 0.5, 0.5, 0.9])
    order = [ids[i] for i in tie_order(candidates, scores)]
    assert order == ["P0", "P2", "P1", "P3"]  # score, then more ratings, then id


def test_a_tie_is_said(small_engine: Engine) -> None:
    service, _ = small_engine.service()
    from ranker.fusion import BM25Ranker

    # BM25 gives every product no query word matches the same score, 0.
    x = explain(service, "blue", "T1", ranker=BM25Ranker())
    assert x.score == 0.0 and x.tie is not None
    assert "ordered by more ratings, then by product id" in x.tie


def test_lambdamart_contributions_are_worded_and_add_up(tiny_engine: Engine) -> None:
    service, _ = tiny_engine.service()
    ranker = tiny_engine.make_ranker("lambdamart")
    query = "velvet sofa"
    top = service.search(query, k=12, ranker=ranker).hits
    x = explain(service, query, top[0].product_id, ranker=ranker, store=tiny_engine.graph)
    assert x.stage == "shown" and x.rank == 1 and x.ranker == "lambdamart"
    assert x.score == pytest.approx(top[0].score, abs=1e-9)  # the search's own score
    assert x.baseline != 0.0  # LightGBM's expected value, shown apart from the lines
    total = sum(line.amount for line in x.lines) + x.folded + x.baseline
    assert total == pytest.approx(x.score, abs=1e-6)
    for line in x.lines:  # every line in words, never a raw feature name
        assert line.text not in FEATURES and line.text != line.topic
    below = explain(service, query, top[11].product_id, ranker=ranker)
    assert below.stage == "ranking" and below.rank == 12
    assert below.gap and all(d.gap < 0 for d in below.gap)


def test_a_misspelt_query_is_explained_as_search_corrected_it(small_engine: Engine) -> None:
    service, _ = small_engine.service()
    result = service.search("velvte sofa", k=3)
    assert result.corrected_query == "velvet sofa"
    x = explain(service, "velvte sofa", result.hits[0].product_id)
    assert x.query == "velvte sofa" and x.rank == 1
    assert any("searched as 'velvet sofa'" in note for note in x.notes)
    assert x.keyword.terms["name"] == ("velvet", "sofa")
