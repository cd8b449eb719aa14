"""Elasticsearch request bodies are pure functions: check them as dicts."""

from __future__ import annotations

import numpy as np
import pytest

from kg.store import BackendUnavailable
from search.es_index import ElasticsearchKeywordIndex, ElasticsearchVectorIndex
from search.es_queries import (
    dot_from_score,
    field_query,
    fields_alongside,
    hit_id,
    index_body,
    keyword_query,
    knn_query,
    named_fields_query,
    restricted_field_query,
)
from search.keyword import KEYWORD_FIELDS


def test_index_body_whitespace_fields_one_shard_and_vector() -> None:
    body = index_body(dim=384)
    props = body["mappings"]["properties"]
    assert {props[f]["analyzer"] for f in KEYWORD_FIELDS} == {"whitespace"}
    assert props["vector"] == {
        "type": "dense_vector",
        "dims": 384,
        "index": True,
        "similarity": "dot_product",
        "index_options": {"type": "hnsw", "m": 16, "ef_construction": 100},
    }
    assert body["settings"]["number_of_shards"] == 1
    assert "vector" not in index_body(dim=None)["mappings"]["properties"]


def test_field_and_keyword_queries() -> None:
    assert field_query("name", ["sofa", "blue", "sofa"], 3.0) == {
        "bool": {
            "should": [
                {"term": {"name": {"value": "sofa"}}},
                {"term": {"name": {"value": "blue"}}},
            ],
            "boost": 3.0,
        }
    }
    q = keyword_query(["sofa"], {"name": 3.0, "brand": 0.0, "description": 1.0})
    assert [c["bool"]["boost"] for c in q["bool"]["should"]] == [3.0, 1.0]
    assert q["bool"]["minimum_should_match"] == 1


def test_restricted_field_query_filters_without_scoring() -> None:
    q = restricted_field_query("brand", ["oak"], ["P1", "P2"])
    assert q["bool"]["filter"] == [{"terms": {"product_id": ["P1", "P2"]}}]
    assert q["bool"]["must"][0]["bool"]["should"][0] == {"term": {"brand": {"value": "oak"}}}


def test_named_fields_query_names_one_clause_per_field_and_filters_once() -> None:
    q = named_fields_query(["oak"], ["P1", "P2"])
    clauses = q["bool"]["should"]
    assert [c["bool"]["_name"] for c in clauses] == list(KEYWORD_FIELDS)
    for clause, field in zip(clauses, KEYWORD_FIELDS, strict=True):
        alone = restricted_field_query(field, ["oak"], ["P1", "P2"])["bool"]["must"][0]
        assert {**clause["bool"], "_name": None} == {**alone["bool"], "_name": None}
    assert q["bool"]["filter"] == [{"terms": {"product_id": ["P1", "P2"]}}]
    assert q["bool"]["minimum_should_match"] == 1


def test_every_search_body_asks_the_id_from_doc_values_only() -> None:
    """Stored fields (``_id`` included) are not loaded: the id comes from doc values."""
    keyword = ElasticsearchKeywordIndex(url="http://127.0.0.1:1", index="i")
    bodies = [
        keyword.search_body(["oak"], 10, None),
        keyword.fields_body(["oak"], ["P1"], None),
        ElasticsearchVectorIndex.knn_body(np.ones(2, dtype=np.float32), 5, None),
    ]
    for body in bodies:
        assert body["stored_fields"] == "_none_"
        assert body["docvalue_fields"] == ["product_id"]
        assert body["_source"] is False
    assert hit_id({"_score": 1.0, "fields": {"product_id": ["P1"]}}) == "P1"


def test_knn_query() -> None:
    q = knn_query([0.5, 0.5], k=10)
    assert q == {"field": "vector", "query_vector": [0.5, 0.5], "k": 10, "num_candidates": 100}
    assert knn_query([1.0], k=200, ids=["a"])["filter"] == {"terms": {"product_id": ["a"]}}
    assert knn_query([1.0], k=9000)["num_candidates"] == 10_000
    assert dot_from_score(1.0) == 1.0 and dot_from_score(0.5) == 0.0


def test_invalid_index_names() -> None:
    for bad in ("", "Upper", "a b", "a*"):
        with pytest.raises(ValueError):
            ElasticsearchKeywordIndex(url="http://127.0.0.1:9", index=bad)


def test_server_down_is_backend_unavailable() -> None:
    """A real request to a closed port: no server, no mock."""
    index = ElasticsearchVectorIndex(url="http://127.0.0.1:9", index="down", dim=2)
    with pytest.raises(BackendUnavailable, match="elasticsearch"):
        index.count()
    index.close()


def test_recall_queries_name_each_field_clause_outside_its_boost() -> None:
    """Elasticsearch scores a named clause alone, without the boosts around it: the keyword
    recall's named clauses (inside each field's weight) and the kNN's (inside boost 0) must
    be the very clauses the candidates' per-field query names."""
    named = named_fields_query(["oak"], ["P1"])["bool"]["should"]
    recall = keyword_query(["oak"], dict.fromkeys(KEYWORD_FIELDS, 2.0))["bool"]["should"]
    assert [c["bool"]["boost"] for c in recall] == [2.0] * len(KEYWORD_FIELDS)
    assert [c["bool"]["should"] for c in recall] == [[c] for c in named]
    alongside = fields_alongside(["oak"])["bool"]
    assert alongside["boost"] == 0.0 and alongside["should"] == named
