from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import unique_namespace
from contracts.keyword_index import DOCS, KeywordIndexContract

from search.es_index import ElasticsearchAdmin, ElasticsearchKeywordIndex
from search.tantivy_index import TantivyKeywordIndex


class TestTantivyKeywordIndex(KeywordIndexContract):
    @pytest.fixture(params=["memory", "disk"])
    def index(self, request: pytest.FixtureRequest, tmp_path: Path) -> TantivyKeywordIndex:
        return TantivyKeywordIndex(path=tmp_path / "kw" if request.param == "disk" else None)

    def test_reopens_from_disk(self, tmp_path: Path) -> None:
        TantivyKeywordIndex(path=tmp_path / "kw").upsert(DOCS)
        assert TantivyKeywordIndex(path=tmp_path / "kw").count() == len(DOCS)

    def test_rejects_unknown_field_weight(self) -> None:
        with pytest.raises(ValueError, match="unknown field"):
            TantivyKeywordIndex(field_weights={"title": 1.0})


@pytest.mark.integration
class TestElasticsearchKeywordIndex(KeywordIndexContract):
    @pytest.fixture
    def index(self, es_url: str) -> Iterator[ElasticsearchKeywordIndex]:
        admin = ElasticsearchAdmin(url=es_url, prefix=unique_namespace("kgtest-"))
        name = admin.create("v1", dim=None)
        index = ElasticsearchKeywordIndex(url=es_url, index=name)
        yield index
        index.close()
        admin.drop([name])
        admin.close()
