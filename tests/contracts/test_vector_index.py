from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from conftest import unique_namespace
from contracts.vector_index import VECTORS, VectorIndexContract

from search.es_index import ElasticsearchAdmin, ElasticsearchVectorIndex
from search.vector import NumpyVectorIndex


class TestNumpyVectorIndex(VectorIndexContract):
    @pytest.fixture
    def index(self) -> NumpyVectorIndex:
        return NumpyVectorIndex(dim=4)

    def test_save_load_memory_mapped(self, tmp_path: Path) -> None:
        index = NumpyVectorIndex(dim=4)
        index.upsert(list(VECTORS), np.stack(list(VECTORS.values())))
        index.save(tmp_path / "v")
        loaded = NumpyVectorIndex.load(tmp_path / "v")
        assert loaded.count() == 4
        assert loaded.search(VECTORS["D"], k=1)[0][0] == "D"
        loaded.upsert(["E"], VECTORS["A"][None, :])  # writes after a memory-mapped load
        assert loaded.count() == 5

    def test_load_refuses_mismatched_files(self, tmp_path: Path) -> None:
        index = NumpyVectorIndex(dim=4)
        index.upsert(["A"], VECTORS["A"][None, :])
        index.save(tmp_path / "v")
        (tmp_path / "v" / "ids.json").write_text('["A", "B"]')
        with pytest.raises(ValueError, match="reindex"):
            NumpyVectorIndex.load(tmp_path / "v")


@pytest.mark.integration
class TestElasticsearchVectorIndex(VectorIndexContract):
    @pytest.fixture
    def index(self, es_url: str) -> Iterator[ElasticsearchVectorIndex]:
        admin = ElasticsearchAdmin(url=es_url, prefix=unique_namespace("kgtest-"))
        name = admin.create("v1", dim=4)
        index = ElasticsearchVectorIndex(url=es_url, index=name, dim=4)
        yield index
        index.close()
        admin.drop([name])
        admin.close()
