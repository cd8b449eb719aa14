from __future__ import annotations

from pathlib import Path

import pytest
from contracts.keyword_index import DOCS, KeywordIndexContract

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
