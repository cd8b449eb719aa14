"""Elasticsearch request bodies, built by pure functions (unit tests check them as dicts).

Text is analysed in Python (:mod:`search.analysis`) and indexed as space-separated
tokens under the ``whitespace`` analyzer, so Elasticsearch scores the same terms as
tantivy. The integ-test distribution has no analysis-common module, so this is also
the only analysis that would work there.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from search.keyword import FUZZY_SCORE, KEYWORD_FIELDS
from search.spelling import EditRule

__all__ = [
    "HIT_FIELDS",
    "field_query",
    "fields_alongside",
    "fuzzy_clause",
    "hit_id",
    "index_body",
    "keyword_query",
    "knn_query",
    "named_fields_query",
    "restricted_field_query",
]

ID_FIELD = "product_id"
VECTOR_FIELD = "vector"

#: What a search asks back of each hit: its product id from the id field's doc values,
#: and nothing stored. Loading the stored ``_id`` of each of ~370 hits cost most of a
#: request: 24 ms against 9 ms per ``_msearch`` of a 5k search (2026-12-02).
HIT_FIELDS: dict[str, Any] = {
    "_source": False,
    "stored_fields": "_none_",
    "docvalue_fields": [ID_FIELD],
    "track_total_hits": False,
}


def hit_id(hit: Mapping[str, Any]) -> str:
    """The product id of a hit asked for with :data:`HIT_FIELDS`."""
    return str(hit["fields"][ID_FIELD][0])


def index_body(*, dim: int | None) -> dict[str, Any]:
    """Settings and mappings: one shard (index-wide BM25 statistics, like tantivy)."""
    properties: dict[str, Any] = {ID_FIELD: {"type": "keyword"}}
    for field in KEYWORD_FIELDS:
        properties[field] = {"type": "text", "analyzer": "whitespace", "norms": True}
    if dim is not None:
        properties[VECTOR_FIELD] = {
            "type": "dense_vector",
            "dims": dim,
            "index": True,
            "similarity": "dot_product",  # vectors are L2-normalised: dot = cosine
            "index_options": {"type": "hnsw", "m": 16, "ef_construction": 100},
        }
    return {
        "settings": {"number_of_shards": 1, "number_of_replicas": 0, "refresh_interval": "1s"},
        "mappings": {"dynamic": "strict", "properties": properties},
    }


def field_query(
    field: str, tokens: Sequence[str], boost: float = 1.0, fuzzy: EditRule | None = None
) -> dict[str, Any]:
    """Any-token match in one field; BM25 summed over matched tokens (a bool of terms).

    With ``fuzzy``, each token long enough for edits also matches terms within its edit
    distance, scored as the constant :data:`~search.keyword.FUZZY_SCORE` and only where
    the exact term is absent, exactly as the tantivy backend does."""
    should: list[dict[str, Any]] = []
    for t in dict.fromkeys(tokens):
        should.append({"term": {field: {"value": t}}})
        edits = fuzzy.max_edits(t) if fuzzy is not None else 0
        if edits:
            should.append(fuzzy_clause(field, t, edits))
    return {"bool": {"should": should, "boost": boost}}


def fuzzy_clause(field: str, token: str, edits: int) -> dict[str, Any]:
    """``token`` within ``edits`` edits (a swap is one) but not ``token`` itself, scored
    :data:`~search.keyword.FUZZY_SCORE` (``constant_score`` rewrite, not blended BM25)."""
    return {
        "bool": {
            "must": [
                {
                    "fuzzy": {
                        field: {
                            "value": token,
                            "fuzziness": edits,
                            "transpositions": True,
                            "prefix_length": 0,
                            "max_expansions": 50,
                            "rewrite": "constant_score",
                            "boost": FUZZY_SCORE,
                        }
                    }
                }
            ],
            "must_not": [{"term": {field: {"value": token}}}],
        }
    }


def keyword_query(
    tokens: Sequence[str], weights: Mapping[str, float], fuzzy: EditRule | None = None
) -> dict[str, Any]:
    """Weighted BM25 over the fields (each field's clause boosted by its weight), with each
    field's unboosted clause named after the field: sent with ``include_named_queries_score``,
    a hit's ``matched_queries`` carry the same per-field scores as
    :func:`named_fields_query` (Elasticsearch scores a named clause on its own, outside the
    boost that wraps it), so the recall's hits need no second request for them."""
    return {
        "bool": {
            "should": [
                {"bool": {"should": [_named(f, field_query(f, tokens, fuzzy=fuzzy))], "boost": w}}
                for f, w in weights.items()
                if w > 0
            ],
            "minimum_should_match": 1,
        }
    }


def _named(field: str, clause: dict[str, Any]) -> dict[str, Any]:
    clause["bool"]["_name"] = field
    return clause


def restricted_field_query(
    field: str, tokens: Sequence[str], ids: Sequence[str], fuzzy: EditRule | None = None
) -> dict[str, Any]:
    """BM25 of one field for the given products only (the filter does not score)."""
    return {
        "bool": {
            "must": [field_query(field, tokens, fuzzy=fuzzy)],
            "filter": [{"terms": {ID_FIELD: list(ids)}}],
        }
    }


def named_fields_query(
    tokens: Sequence[str], ids: Sequence[str], fuzzy: EditRule | None = None
) -> dict[str, Any]:
    """Every field's BM25 for the given products in one query: each field's clause is
    :func:`field_query` named after its field, so with ``include_named_queries_score`` a
    hit's ``matched_queries`` maps each field it matched to that clause's own score, the
    score :func:`restricted_field_query` gives for the field alone. A product that matches
    no field is not a hit (every score 0)."""
    return {
        "bool": {
            "should": [_named(f, field_query(f, tokens, fuzzy=fuzzy)) for f in KEYWORD_FIELDS],
            "minimum_should_match": 1,
            "filter": [{"terms": {ID_FIELD: list(ids)}}],
        }
    }


def fields_alongside(tokens: Sequence[str], fuzzy: EditRule | None = None) -> dict[str, Any]:
    """A query that adds nothing to a kNN search's scores (boost 0) but names every field's
    clause as :func:`named_fields_query` does, so that with ``include_named_queries_score``
    each kNN hit comes back with its per-field BM25. (Beside a top-level ``knn``, the hits
    are the kNN's top ``k`` plus the query's other matches at score 0; those are not kNN
    hits and are dropped by the reader.)"""
    return {
        "bool": {
            "should": [_named(f, field_query(f, tokens, fuzzy=fuzzy)) for f in KEYWORD_FIELDS],
            "boost": 0.0,
        }
    }


def knn_query(
    vector: Iterable[float], *, k: int, ids: Sequence[str] | None = None
) -> dict[str, Any]:
    """kNN over the HNSW graph; with ``ids``, only among those (Lucene searches a small
    filtered set exactly)."""
    body: dict[str, Any] = {
        "field": VECTOR_FIELD,
        "query_vector": [float(x) for x in vector],
        "k": k,
        "num_candidates": min(10_000, max(100, 2 * k)),
    }
    if ids is not None:
        body["filter"] = {"terms": {ID_FIELD: list(ids)}}
    return body


def dot_from_score(score: float) -> float:
    """Elasticsearch reports ``(1 + dot) / 2`` for ``dot_product``; undo it."""
    return 2.0 * score - 1.0
