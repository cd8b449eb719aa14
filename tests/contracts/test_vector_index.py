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

    def test_a_large_write_goes_in_several_bulk_requests(
        self, index: ElasticsearchVectorIndex, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """One bulk request for a 50k-product reindex's vectors was over Elasticsearch's
        request size limit (413). Writes are split into requests of BULK_OPERATIONS
        documents, here 2, and every document of every request lands; deletes too."""
        import search.es_index as es_index

        monkeypatch.setattr(es_index, "BULK_OPERATIONS", 2)
        sent: list[int] = []
        bulk = index.client.bulk

        def counting(**kwargs: object) -> object:
            sent.append(len(kwargs["operations"]))  # type: ignore[arg-type]
            return bulk(**kwargs)

        monkeypatch.setattr(index.client, "bulk", counting)
        ids = [f"P{i}" for i in range(5)]
        rng = np.random.default_rng(0)
        vectors = rng.normal(size=(5, 4)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        index.upsert(ids, vectors)
        assert sent == [4, 4, 2]  # two lines a document: 2 + 2 + 1 documents
        assert index.count() == 5
        for pid, vec in zip(ids, vectors, strict=True):
            assert index.search(vec, k=1)[0][0] == pid
        index.delete(ids[:3])
        assert index.count() == 2 and sent[3:] == [2, 1]
