"""Product vectors for a new index version: the live version's vector is reused for every
text that has not changed, and only the rest is encoded.

A vector is keyed on ``sha256(encoder identity, text)``: the identity names the runtime,
the model's weights and the settings the vectors depend on
(:class:`~search.encoder.IdentifiedEncoder`), so a changed model or text never matches
and is encoded again. The digests are saved beside the vectors
(:func:`search.vector.save_text_hashes`). An encoder that names no identity gets no
reuse. Before trusting the live vectors, a few of them are encoded again and compared: a
disagreement (a model changed in a way its identity missed) discards every reuse.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from search.encoder import Encoder, IdentifiedEncoder
from search.vector import NumpyVectorIndex, load_text_hashes

__all__ = ["EncodedVectors", "encode_reusing", "text_digest"]

log = logging.getLogger(__name__)

#: How many reused vectors are encoded again to check the cache against the model.
SPOT_CHECKS = 3
#: Largest difference a re-encoded vector may show from its cached one (ONNX Runtime gives
#: bit-identical vectors; torch differs by ~1e-7 with what a text is batched with).
SPOT_CHECK_TOLERANCE = 1e-5


@dataclass(frozen=True, slots=True)
class EncodedVectors:
    """One L2-normalised vector per text, and where they came from."""

    vectors: npt.NDArray[np.float32]
    #: sha256(identity, text) per text; empty when the encoder names no identity.
    digests: list[bytes]
    identity: str
    encoded: int
    reused: int


def text_digest(identity: str, text: str) -> bytes:
    """The cache key of ``text`` encoded by the encoder named ``identity``."""
    digest = hashlib.sha256(identity.encode())
    digest.update(b"\0")
    digest.update(text.encode())
    return digest.digest()


def _cached(reuse_from: Path | None, dim: int) -> tuple[NumpyVectorIndex, dict[bytes, str]]:
    """The vectors saved at ``reuse_from`` and digest -> product id; empty when there are none
    (no live version, one saved without digests, another dimension)."""
    empty = NumpyVectorIndex(dim=dim)
    if reuse_from is None or not (reuse_from / "ids.json").exists():
        return empty, {}
    hashes = load_text_hashes(reuse_from)
    if not hashes:
        return empty, {}
    try:
        index = NumpyVectorIndex.load(reuse_from)
    except (OSError, ValueError) as exc:
        log.warning("not reusing vectors from %s: %s", reuse_from, exc)
        return empty, {}
    if index.dim != dim:
        return empty, {}
    return index, {digest: pid for pid, digest in hashes.items()}


def _agrees(
    encoder: Encoder, texts: Sequence[str], cached: npt.NDArray[np.float32], batch_size: int
) -> bool:
    fresh = encoder.encode(list(texts), batch_size=batch_size)
    worst = float(np.abs(fresh - cached).max()) if len(texts) else 0.0
    if worst > SPOT_CHECK_TOLERANCE:
        log.warning(
            "cached vectors differ from a fresh encode by %.2e (> %.0e): encoding every text",
            worst,
            SPOT_CHECK_TOLERANCE,
        )
        return False
    return True


def encode_reusing(
    encoder: Encoder,
    texts: Sequence[str],
    *,
    reuse_from: Path | None,
    batch_size: int = 64,
    progress: Callable[[int, int], None] | None = None,
) -> EncodedVectors:
    """Vectors for ``texts``: copied from the vectors saved at ``reuse_from`` (a version's
    ``vectors/`` directory, or None) where the same text was encoded by the same model,
    encoded in batches of ``batch_size`` otherwise. ``progress(done, total)`` counts both."""
    total = len(texts)
    identity = encoder.identity if isinstance(encoder, IdentifiedEncoder) else ""
    digests = [text_digest(identity, t) for t in texts] if identity else []
    index, by_digest = _cached(reuse_from if identity else None, encoder.dim)
    found = {i: index.vector(by_digest[d]) for i, d in enumerate(digests) if d in by_digest}
    reuse = {i: v for i, v in found.items() if v is not None}
    out = np.empty((total, encoder.dim), dtype=np.float32)
    if reuse:
        rows = list(reuse)
        cached = np.stack(list(reuse.values())).astype(np.float32)
        probe = list(range(0, len(rows), max(1, len(rows) // SPOT_CHECKS)))[:SPOT_CHECKS]
        if _agrees(encoder, [texts[rows[p]] for p in probe], cached[probe], batch_size):
            out[rows] = cached
        else:
            reuse = {}
    index.close()
    todo = [i for i in range(total) if i not in reuse]
    if progress is not None:
        progress(len(reuse), total)
    if todo:

        def step(done: int, _: int) -> None:
            if progress is not None:
                progress(len(reuse) + done, total)

        out[todo] = encoder.encode([texts[i] for i in todo], batch_size=batch_size, progress=step)
    log.info("vectors: %d reused, %d encoded (encoder %s)", len(reuse), len(todo), identity)
    return EncodedVectors(
        vectors=out, digests=digests, identity=identity, encoded=len(todo), reused=len(reuse)
    )
