from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from conftest import unique_namespace
from contracts.vector_index import VECTORS, VectorIndexContract

import search.vector as vector_module
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


class TestNumpyVectorIndexInSmallBlocks(VectorIndexContract):
    """The same contract with blocks of 2 rows, so the 4 vectors span two blocks."""

    @pytest.fixture
    def index(self, monkeypatch: pytest.MonkeyPatch) -> NumpyVectorIndex:
        monkeypatch.setattr(vector_module, "BLOCK_ROWS", 2)
        return NumpyVectorIndex(dim=4)


def test_blocks_agree_with_one_matrix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Random upserts (new and known ids, repeats in one call) and deletes over blocks of
    3 rows give what one dict of vectors gives: search, scores, each vector, a save."""
    monkeypatch.setattr(vector_module, "BLOCK_ROWS", 3)
    rng = np.random.default_rng(7)
    index, truth = NumpyVectorIndex(dim=4), {}
    for step in range(60):
        if step % 7 == 6 and truth:
            gone = list(rng.choice(sorted(truth), size=min(3, len(truth)), replace=False))
            index.delete([*gone, "never-there"])
            for pid in gone:
                del truth[pid]
        else:
            pids = [f"p{int(i)}" for i in rng.integers(0, 25, size=int(rng.integers(1, 6)))]
            vectors = rng.normal(size=(len(pids), 4)).astype(np.float32)
            vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
            index.upsert(pids, vectors)
            truth.update(zip(pids, vectors, strict=True))
        query = truth[sorted(truth)[0]] if truth else np.ones(4, dtype=np.float32)
        assert index.count() == len(truth)
        expected = {pid: float(v @ query) for pid, v in truth.items()}
        got = dict(index.search(query, k=len(truth) or 1))
        assert got.keys() == expected.keys()
        assert all(abs(got[p] - expected[p]) < 1e-5 for p in got)
        assert index.scores(query, [*truth, "nope"]) == pytest.approx(expected, abs=1e-5)
        for pid, v in truth.items():
            stored = index.vector(pid)
            assert stored is not None and np.array_equal(stored, v)
    index.save(tmp_path / "v")
    loaded = NumpyVectorIndex.load(tmp_path / "v")
    assert {p: loaded.vector(p) is not None for p in truth} == dict.fromkeys(truth, True)
    assert all(np.array_equal(loaded.vector(p), v) for p, v in truth.items())  # type: ignore[arg-type]


def test_an_edit_leaves_what_a_running_search_reads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An upsert copies the blocks it changes: a search's view taken before it (and the
    memory-mapped file it was loaded from) keeps the old vector; blocks it does not touch
    stay shared, not copied."""
    monkeypatch.setattr(vector_module, "BLOCK_ROWS", 2)
    index = NumpyVectorIndex(dim=4)
    index.upsert(list(VECTORS), np.stack(list(VECTORS.values())))
    index.save(tmp_path / "v")
    loaded = NumpyVectorIndex.load(tmp_path / "v")
    before = loaded.vector("A")
    untouched = loaded.vector("C")
    assert before is not None and untouched is not None
    old = before.copy()
    loaded.upsert(["A"], VECTORS["D"][None, :])
    assert np.array_equal(before, old)  # the old view, and the file under it, unchanged
    assert np.array_equal(loaded.vector("A"), VECTORS["D"])  # type: ignore[arg-type]
    assert loaded.vector("C") is not None and np.shares_memory(loaded.vector("C"), untouched)  # type: ignore[arg-type]
    assert np.array_equal(NumpyVectorIndex.load(tmp_path / "v").vector("A"), VECTORS["A"])  # type: ignore[arg-type]


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


@pytest.mark.integration
class TestElasticsearchVectorIndexWithLocalCopy(VectorIndexContract):
    """The same contract with the in-process copy an index version keeps beside its
    manifest: writes reach both, and the candidates' cosines come from the copy."""

    @pytest.fixture
    def index(self, es_url: str) -> Iterator[ElasticsearchVectorIndex]:
        admin = ElasticsearchAdmin(url=es_url, prefix=unique_namespace("kgtest-"))
        name = admin.create("v1", dim=4)
        index = ElasticsearchVectorIndex(
            url=es_url, index=name, dim=4, local=NumpyVectorIndex(dim=4)
        )
        yield index
        index.close()
        admin.drop([name])
        admin.close()

    def test_the_copy_follows_every_write_and_scores_as_elasticsearch(
        self, index: ElasticsearchVectorIndex
    ) -> None:
        remote = ElasticsearchVectorIndex(url=index.url, index=index.index, dim=4)
        rng = np.random.default_rng(3)
        vectors = rng.normal(size=(6, 4)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        ids = [f"P{i}" for i in range(6)]
        index.upsert(ids, vectors)
        index.upsert(["P0"], vectors[5:])
        index.delete(["P1"])
        assert index.local is not None
        assert index.local.count() == remote.count() == 5
        for query in vectors:
            assert index.scores(query, ids) == pytest.approx(remote.scores(query, ids), abs=1e-6)
            assert set(index.scores(query, ids)) == set(ids) - {"P1"}
        remote.close()

    def test_a_write_elasticsearch_refuses_leaves_the_copy_alone(
        self, index: ElasticsearchVectorIndex
    ) -> None:
        from search.es_index import BulkError

        bad = np.array([[1.0, 0.0, 0.0, 0.0]], dtype=np.float32)
        index.client.indices.close(index=index.index)
        try:
            with pytest.raises(BulkError):
                index.upsert(["P9"], bad)
        finally:
            index.client.indices.open(index=index.index)
        assert index.local is not None and index.local.count() == 0

    def test_a_local_copy_of_another_size_is_refused(self, es_url: str) -> None:
        with pytest.raises(ValueError, match="4-d"):
            ElasticsearchVectorIndex(
                url=es_url, index="kgtest-nowhere", dim=8, local=NumpyVectorIndex(dim=4)
            )


def _units(rng: np.random.Generator, n: int, dim: int) -> np.ndarray:
    vectors = rng.normal(size=(n, dim)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


@pytest.fixture
def shortlisted(monkeypatch: pytest.MonkeyPatch) -> None:
    """A shortlist from 10 rows, of max(3, k) rows, on a projection as wide as the vectors
    (4-d): lossless, so a shortlisted search must give exactly what the exact scan gives."""
    monkeypatch.setattr(vector_module, "SHORTLIST_FROM", 10)
    monkeypatch.setattr(vector_module, "SHORTLIST_ROWS", 3)
    monkeypatch.setattr(vector_module, "SHORTLIST_FACTOR", 1)
    monkeypatch.setattr(vector_module, "SHORTLIST_DIMS", 4)
    monkeypatch.setattr(vector_module, "BLOCK_ROWS", 4)


@pytest.mark.usefixtures("shortlisted")
def test_a_shortlisted_index_follows_every_edit(tmp_path: Path) -> None:
    """Saved from 10 rows, the index searches a shortlist found on the projection; random
    upserts (changed and new ids) and deletes must keep each row's projection beside its
    vector, or the shortlist misses the row the exact scan ranks first."""
    rng = np.random.default_rng(11)
    start = _units(rng, 30, 4)
    truth = {f"p{i}": v for i, v in enumerate(start)}
    index = NumpyVectorIndex(dim=4)
    index.upsert(list(truth), start)
    index.save(tmp_path / "v")
    assert (tmp_path / "v" / vector_module.COARSE).exists()
    index = NumpyVectorIndex.load(tmp_path / "v")
    used: list[int] = []
    for step in range(40):
        if step % 5 == 4:
            gone = list(rng.choice(sorted(truth), size=3, replace=False))
            index.delete(gone)
            for pid in gone:
                del truth[pid]
        else:
            pids = [f"p{int(i)}" for i in rng.integers(0, 45, size=int(rng.integers(1, 5)))]
            vectors = _units(rng, len(pids), 4)
            index.upsert(pids, vectors)
            truth.update(zip(pids, vectors, strict=True))
        assert index.shortlisted  # edits keep the shortlist
        half = frozenset(rng.choice(sorted(truth), size=len(truth) // 2, replace=False).tolist())
        for query in _units(rng, 5, 4):
            for allowed in (None, half):  # a filter of half the rows is a wide one
                pool = truth if allowed is None else allowed
                expected = sorted(pool, key=lambda p: -float(truth[p] @ query))[:3]
                got = index.search(query, k=3, allowed=allowed)
                assert [p for p, _ in got] == expected
                assert [s for _, s in got] == pytest.approx(
                    [float(truth[p] @ query) for p in expected], abs=1e-5
                )
        used.append(len(index._data.coarse))
    assert max(used) > 1  # the rows spanned several blocks


def test_a_narrow_shortlist_finds_the_nearest_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A projection onto 8 of 32 dimensions, of vectors whose variance mostly lies in 8
    directions (as a text encoder's does, unevenly over its dimensions): each stored
    vector, as a query, finds itself first, with its exact cosine, and most of its exact
    top 10."""
    monkeypatch.setattr(vector_module, "SHORTLIST_FROM", 1_000)
    monkeypatch.setattr(vector_module, "SHORTLIST_ROWS", 100)
    monkeypatch.setattr(vector_module, "SHORTLIST_DIMS", 8)
    rng = np.random.default_rng(5)
    mixing = np.linalg.qr(rng.normal(size=(32, 8)))[0].T  # 8 orthonormal directions
    latent = rng.normal(size=(3_000, 8)) * np.linspace(1.0, 0.4, 8)
    vectors = latent @ mixing + 0.03 * rng.normal(size=(3_000, 32))
    vectors = (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)
    ids = [f"p{i}" for i in range(len(vectors))]
    index = NumpyVectorIndex(dim=32)
    index.upsert(ids, vectors)
    index.save(tmp_path / "v")
    loaded = NumpyVectorIndex.load(tmp_path / "v")
    assert loaded.shortlisted
    overlap = []
    for row in rng.choice(len(vectors), size=50, replace=False):
        query = vectors[row]
        exact = np.argsort(-(vectors @ query))[:10]
        got = loaded.search(query, k=10)
        assert got[0][0] == ids[row] and got[0][1] == pytest.approx(1.0, abs=1e-5)
        overlap.append(len({ids[i] for i in exact} & {p for p, _ in got}) / 10)
    assert np.mean(overlap) >= 0.9
    far = ids[int(np.argmin(vectors @ vectors[0]))]  # a narrow filter searches exactly
    assert loaded.search(vectors[0], k=1, allowed=frozenset({far}))[0][0] == far
    even = frozenset(ids[::2])  # a wide filter goes through the shortlist, over-fetched
    for row in rng.choice(range(0, len(vectors), 2), size=20, replace=False):
        got = loaded.search(vectors[row], k=10, allowed=even)
        assert got[0][0] == ids[row] and len(got) == 10 and {p for p, _ in got} <= even


def _saved_12(path: Path, seed: int) -> NumpyVectorIndex:
    """12 random unit vectors of 4-d, saved to ``path`` (with the ``shortlisted`` fixture's
    threshold of 10, with their projection)."""
    index = NumpyVectorIndex(dim=4)
    index.upsert([f"p{i}" for i in range(12)], _units(np.random.default_rng(seed), 12, 4))
    index.save(path)
    return index


@pytest.mark.usefixtures("shortlisted")
def test_a_small_or_unshortlisted_save_leaves_no_projection(tmp_path: Path) -> None:
    index = _saved_12(tmp_path / "v", seed=2)
    assert (tmp_path / "v" / vector_module.PROJECTION).exists()
    index.save(tmp_path / "v", shortlist=False)  # Elasticsearch's local copy
    assert not (tmp_path / "v" / vector_module.COARSE).exists()
    assert not (tmp_path / "v" / vector_module.PROJECTION).exists()
    small = NumpyVectorIndex(dim=4)
    small.upsert(["a"], _units(np.random.default_rng(2), 1, 4))
    small.save(tmp_path / "s")
    assert not (tmp_path / "s" / vector_module.COARSE).exists()
    assert not NumpyVectorIndex.load(tmp_path / "s").shortlisted


@pytest.mark.usefixtures("shortlisted")
def test_load_refuses_a_projection_of_other_rows(tmp_path: Path) -> None:
    _saved_12(tmp_path / "v", seed=3)
    np.save(tmp_path / "v" / vector_module.COARSE, np.zeros((11, 4), dtype=np.float32))
    with pytest.raises(ValueError, match="reindex"):
        NumpyVectorIndex.load(tmp_path / "v")


@pytest.mark.parametrize("size", [0, 3, 12, 150])
def test_a_filtered_search_is_exact_however_narrow(size: int) -> None:
    """A filter of under a tenth of the rows is scored row by row (its ids looked up), a
    wider one by masking a full scan: both give the exact top k of the allowed rows, in
    order, and ids the index does not hold are ignored."""
    rng = np.random.default_rng(size)
    vectors = _units(rng, 200, 8)
    ids = [f"p{i:03d}" for i in range(200)]
    index = NumpyVectorIndex(dim=8)
    index.upsert(ids, vectors)
    allowed = frozenset([*rng.choice(ids, size=size, replace=False).tolist(), "not-indexed"])
    query = _units(rng, 1, 8)[0]
    expected = sorted(
        (p for p in allowed if p != "not-indexed"),
        key=lambda p: -float(vectors[ids.index(p)] @ query),
    )
    got = index.search(query, k=10, allowed=allowed)
    assert [p for p, _ in got] == expected[:10]
    assert [s for _, s in got] == pytest.approx(
        [float(vectors[ids.index(p)] @ query) for p in expected[:10]], abs=1e-5
    )
