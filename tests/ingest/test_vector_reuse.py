"""A reindex reuses the live version's vectors of unchanged products and encodes the rest."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pytest
from conftest import TINY

from app.engine import Engine
from app.settings import Settings
from ingest.vector_reuse import encode_reusing, text_digest
from kg.schema import EntityWrite, WriteBatch
from search.encoder import Vectors
from search.onnx_encoder import OnnxMiniLMEncoder
from search.vector import NumpyVectorIndex, load_text_hashes, save_text_hashes

TEXTS = [
    "Tufted velvet sofa. by Oakhaven",
    "Round oak dining table",
    "Brass table lamp",
    "Shag rug",
]


class Renamed:
    """The ONNX encoder under another identity (as if its weights had changed)."""

    def __init__(self, inner: OnnxMiniLMEncoder, identity: str | None) -> None:
        self._inner = inner
        self.name, self.dim = inner.name, inner.dim
        if identity is not None:
            self.identity = identity

    def encode(
        self,
        texts: Sequence[str],
        *,
        batch_size: int = 64,
        progress: Callable[[int, int], None] | None = None,
    ) -> Vectors:
        return self._inner.encode(texts, batch_size=batch_size, progress=progress)


def cache(where: Path, identity: str, texts: Sequence[str], vectors: Vectors) -> Path:
    """Vectors saved as a version saves them, with their texts' digests."""
    ids = [f"P{i}" for i in range(len(texts))]
    index = NumpyVectorIndex(dim=vectors.shape[1])
    index.upsert(ids, vectors)
    index.save(where)
    save_text_hashes(where, ids, [text_digest(identity, t) for t in texts])
    return where


def test_unchanged_texts_reuse_bit_identical_vectors(
    tmp_path: Path, onnx_encoder: OnnxMiniLMEncoder
) -> None:
    fresh = onnx_encoder.encode(TEXTS)
    saved = cache(tmp_path / "v", onnx_encoder.identity, TEXTS[:3], fresh[:3])
    texts = [TEXTS[2], "A brand new product", TEXTS[0], TEXTS[1]]
    seen: list[tuple[int, int]] = []
    got = encode_reusing(
        onnx_encoder, texts, reuse_from=saved, progress=lambda d, t: seen.append((d, t))
    )
    assert (got.reused, got.encoded) == (3, 1)
    assert np.array_equal(got.vectors, onnx_encoder.encode(texts))  # bit-identical
    assert got.digests == [text_digest(onnx_encoder.identity, t) for t in texts]
    assert seen[0] == (3, 4) and seen[-1] == (4, 4)


def test_onnx_vectors_do_not_depend_on_threads_or_batching(
    onnx_encoder: OnnxMiniLMEncoder,
) -> None:
    """What lets the ONNX identity leave both out: a reused vector equals a fresh one."""
    from conftest import MODEL_CACHE

    two_threads = OnnxMiniLMEncoder(cache_dir=MODEL_CACHE, threads=2)
    together = onnx_encoder.encode(TEXTS, batch_size=64)
    assert two_threads.identity == onnx_encoder.identity
    assert np.array_equal(two_threads.encode(TEXTS), together)
    assert np.array_equal(np.vstack([onnx_encoder.encode([t]) for t in TEXTS]), together)


def test_a_bulk_encode_runs_on_its_own_session_with_batch_threads(
    onnx_encoder: OnnxMiniLMEncoder,
) -> None:
    """A reindex encodes on every core while a query keeps one thread; same vectors."""
    from conftest import MODEL_CACHE

    encoder = OnnxMiniLMEncoder(cache_dir=MODEL_CACHE, threads=1, batch_threads=2)
    one_batch = encoder.encode(TEXTS, batch_size=len(TEXTS))
    assert encoder._bulk is None  # one batch: the query session
    bulk = encoder.encode(TEXTS, batch_size=2)
    assert encoder._bulk is not None
    assert encoder._bulk.get_session_options().intra_op_num_threads == 2
    _, query_session = encoder._load()
    assert query_session.get_session_options().intra_op_num_threads == 1
    assert np.array_equal(bulk, one_batch)
    assert np.array_equal(bulk, onnx_encoder.encode(TEXTS))
    with pytest.raises(ValueError, match="batch_threads"):
        OnnxMiniLMEncoder(cache_dir=MODEL_CACHE, batch_threads=0)
    plain = OnnxMiniLMEncoder(cache_dir=MODEL_CACHE, threads=1)  # batch_threads not given
    assert np.array_equal(plain.encode(TEXTS, batch_size=2), one_batch)
    assert plain._bulk is None  # the query session did the bulk encode


@pytest.mark.parametrize("identity", ["another-model", None])
def test_another_model_or_none_named_reuses_nothing(
    tmp_path: Path, onnx_encoder: OnnxMiniLMEncoder, identity: str | None
) -> None:
    saved = cache(tmp_path / "v", onnx_encoder.identity, TEXTS, onnx_encoder.encode(TEXTS))
    got = encode_reusing(Renamed(onnx_encoder, identity), TEXTS, reuse_from=saved)
    assert (got.reused, got.encoded) == (0, len(TEXTS))
    assert got.identity == (identity or "")
    assert len(got.digests) == (len(TEXTS) if identity else 0)


def test_cached_vectors_that_disagree_with_the_model_are_not_trusted(
    tmp_path: Path, onnx_encoder: OnnxMiniLMEncoder
) -> None:
    # Digests of these texts over vectors of other texts: a model change the identity missed.
    wrong = onnx_encoder.encode(TEXTS[::-1])
    saved = cache(tmp_path / "v", onnx_encoder.identity, TEXTS, wrong)
    got = encode_reusing(onnx_encoder, TEXTS, reuse_from=saved)
    assert (got.reused, got.encoded) == (0, len(TEXTS))
    assert np.array_equal(got.vectors, onnx_encoder.encode(TEXTS))


def test_text_hashes_must_follow_the_saved_ids(tmp_path: Path) -> None:
    index = NumpyVectorIndex(dim=2)
    index.upsert(["a", "b"], np.eye(2, dtype=np.float32))
    index.save(tmp_path)
    with pytest.raises(ValueError, match=r"ids\.json order"):
        save_text_hashes(tmp_path, ["b", "a"], [b"x" * 32, b"y" * 32])
    assert load_text_hashes(tmp_path) == {}  # none saved: nothing to reuse
    save_text_hashes(tmp_path, ["a", "b"], [b"x" * 32, b"y" * 32])
    assert load_text_hashes(tmp_path) == {"a": b"x" * 32, "b": b"y" * 32}


def rename(engine: Engine, product_ids: Sequence[str]) -> None:
    upserts = []
    for pid in product_ids:
        entity = engine.graph.get(f"product:{pid}")
        assert entity is not None
        props = {**entity.properties, "name": f"{entity.properties['name']} deluxe edition"}
        upserts.append(EntityWrite(entity.id, entity.kind, props, expected_version=entity.version))
    engine.graph.write(WriteBatch(upserts=tuple(upserts)), actor="test")


def vectors_of(engine: Engine) -> Path:
    return engine.versions.live_path() / "vectors" / "vectors.npy"


def test_reindex_encodes_only_what_changed(tmp_path: Path, onnx_encoder: OnnxMiniLMEncoder) -> None:
    rows = (TINY / "product.csv").read_text(encoding="utf-8").splitlines(keepends=True)
    (tmp_path / "p.csv").write_text("".join(rows[:41]), encoding="utf-8")  # 40 products
    engine = Engine(Settings(home=tmp_path / "home"), encoder=onnx_encoder)
    engine.import_catalogue(tmp_path / "p.csv")

    first = engine.reindex()
    assert (first.vectors_encoded, first.vectors_reused) == (40, 0)
    assert first.encoder_identity == onnx_encoder.identity
    before = vectors_of(engine).read_bytes()

    again = engine.reindex()
    assert (again.vectors_encoded, again.vectors_reused) == (0, 40)
    assert vectors_of(engine).read_bytes() == before

    rename(engine, ["P000003", "P000017"])
    edited = engine.reindex()
    assert (edited.vectors_encoded, edited.vectors_reused) == (2, 38)
    incremental = np.load(vectors_of(engine))
    service, _ = engine.service()
    queries = ["oak dresser", "deluxe edition", "wall decor silver", "velvet sofa"]
    hits = [[h.product_id for h in service.search(q, k=10).hits] for q in queries]

    full = engine.reindex(reuse_vectors=False)
    assert (full.vectors_encoded, full.vectors_reused) == (40, 0)
    assert np.array_equal(np.load(vectors_of(engine)), incremental)
    service, _ = engine.service()
    assert [[h.product_id for h in service.search(q, k=10).hits] for q in queries] == hits
    assert any(set(h) & {"P000003", "P000017"} for h in hits)
    engine.close()


def test_a_large_build_searches_a_shortlist_that_follows_edits(
    tmp_path: Path, onnx_encoder: OnnxMiniLMEncoder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the shortlist's threshold lowered to 20 rows, a reindex of 40 products saves
    the projection in the version and the service searches through it, ranking as the
    exact scan does (40 vectors span at most 40 directions, all of which the projection
    keeps). An edit synced into the live version projects the product's new vector on
    the same projection: every row's projection is its vector's."""
    import search.vector as vector_module

    monkeypatch.setattr(vector_module, "SHORTLIST_FROM", 20)
    monkeypatch.setattr(vector_module, "SHORTLIST_ROWS", 2)
    monkeypatch.setattr(vector_module, "SHORTLIST_FACTOR", 1)  # k rows of 40
    rows = (TINY / "product.csv").read_text(encoding="utf-8").splitlines(keepends=True)
    (tmp_path / "p.csv").write_text("".join(rows[:41]), encoding="utf-8")  # 40 products
    engine = Engine(Settings(home=tmp_path / "home", recall_k=10), encoder=onnx_encoder)
    engine.import_catalogue(tmp_path / "p.csv")
    engine.reindex()
    assert (engine.versions.live_path() / "vectors" / vector_module.COARSE).exists()
    service, _ = engine.service()
    vectors = service.vectors
    assert isinstance(vectors, NumpyVectorIndex) and vectors.shortlisted

    saved = vectors._data
    exact = vectors.exact()
    for query in ["oak dresser", "deluxe edition", "wall decor silver", "velvet sofa"]:
        vector = service.encoder.encode([query])[0]
        got, want = vectors.search(vector, k=10), exact.search(vector, k=10)
        assert [p for p, _ in got] == [p for p, _ in want]
        assert [s for _, s in got] == pytest.approx([s for _, s in want], abs=1e-6)

    rename(engine, ["P000003", "P000017"])
    assert engine.sync() == 2
    data = vectors._data
    assert data.projection is not None and data is not saved
    rows = range(vectors.count())
    assert np.allclose(
        data.take(rows, coarse=True), data.projection.rows(data.take(rows)), atol=1e-5
    )
    engine.close()
