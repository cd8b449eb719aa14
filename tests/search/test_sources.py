"""Which way a search reads its indexes (``search.sources``): one ``_msearch`` per read when
keyword and vectors are one Elasticsearch index, each index on its own otherwise. The
answers of the Elasticsearch way are checked against the separate way on a real server
(``tests/integration/test_real_backends.py``)."""

from __future__ import annotations

import numpy as np
import pytest

from search.analysis import Analyzer
from search.es_index import (
    ElasticsearchKeywordIndex,
    ElasticsearchSources,
    ElasticsearchVectorIndex,
)
from search.keyword import KEYWORD_FIELDS, KeywordDoc
from search.sources import SeparateSources, Tops, sources_for
from search.tantivy_index import TantivyKeywordIndex
from search.vector import NumpyVectorIndex

URL = "http://127.0.0.1:1"  # never connected to: the clients are made on first use


def test_one_elasticsearch_index_is_read_with_msearch() -> None:
    keyword = ElasticsearchKeywordIndex(url=URL, index="kg-v1")
    assert isinstance(
        sources_for(keyword, ElasticsearchVectorIndex(url=URL, index="kg-v1", dim=4)),
        ElasticsearchSources,
    )
    other = ElasticsearchVectorIndex(url=URL, index="kg-v2", dim=4)
    assert isinstance(sources_for(keyword, other), SeparateSources)
    with pytest.raises(ValueError, match="same Elasticsearch index"):
        ElasticsearchSources(keyword, other)


def test_in_process_indexes_are_asked_one_after_the_other() -> None:
    analyzer = Analyzer()
    keyword = TantivyKeywordIndex()
    keyword.upsert(
        [
            KeywordDoc("A", dict.fromkeys(KEYWORD_FIELDS, "") | {"name": "velvet sofa"}),
            KeywordDoc("B", dict.fromkeys(KEYWORD_FIELDS, "") | {"name": "oak table"}),
        ]
    )
    vectors = NumpyVectorIndex(dim=2)
    vectors.upsert(["A", "B"], np.array([[1.0, 0.0], [0.0, 1.0]], dtype=np.float32))
    sources = sources_for(keyword, vectors)
    assert isinstance(sources, SeparateSources)
    query = np.array([0.0, 1.0], dtype=np.float32)
    tokens = analyzer.tokens("velvet")
    tops = sources.top(tokens, query, keyword_k=5, dense_k=1, fuzzy=None, allowed=None)
    assert [p for p, _ in tops.keyword] == ["A"] and [p for p, _ in tops.dense] == ["B"]
    none = sources.top(tokens, query, keyword_k=0, dense_k=0, fuzzy=None, allowed=None)
    assert none == Tops([], [])
    fields, cosine = sources.score(tokens, query, ["A", "B"], fuzzy=None)
    assert set(fields["name"]) == {"A"} and fields["name"]["A"] > 0
    assert cosine == pytest.approx({"A": 0.0, "B": 1.0})
