"""The ``VectorIndex`` seam and its embedded backend: exact cosine over a NumPy matrix."""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

__all__ = ["NumpyVectorIndex", "VectorIndex", "load_text_hashes", "save_text_hashes"]

Vector = npt.NDArray[np.float32]

#: Beside ``vectors.npy`` + ``ids.json``: row i is the 32-byte digest of what row i encodes.
TEXT_HASHES = "text_hashes.npy"
DIGEST_BYTES = 32


@runtime_checkable
class VectorIndex(Protocol):
    @property
    def dim(self) -> int: ...

    def upsert(self, product_ids: Sequence[str], vectors: npt.NDArray[np.float32]) -> None: ...

    def delete(self, product_ids: Sequence[str]) -> None: ...

    def count(self) -> int: ...

    def search(
        self, vector: Vector, *, k: int, allowed: frozenset[str] | None = None
    ) -> list[tuple[str, float]]:
        """Top ``k`` (product_id, cosine) best first, optionally only among ``allowed``."""
        ...

    def scores(self, vector: Vector, product_ids: Sequence[str]) -> dict[str, float]:
        """Cosine of ``vector`` with each given product that is indexed."""
        ...

    def close(self) -> None: ...


class NumpyVectorIndex:
    """Exact cosine (vectors are L2-normalised, so a dot product) over an in-memory or
    memory-mapped ``float32`` matrix. Saved as ``vectors.npy`` + ``ids.json``."""

    def __init__(self, *, dim: int) -> None:
        if dim < 1:
            raise ValueError("dim must be >= 1")
        self._dim = dim
        self._matrix: npt.NDArray[np.float32] = np.zeros((0, dim), dtype=np.float32)
        self._ids: list[str] = []
        self._row: dict[str, int] = {}
        self._lock = threading.Lock()

    @property
    def dim(self) -> int:
        return self._dim

    @classmethod
    def load(cls, path: Path, *, mmap: bool = True) -> NumpyVectorIndex:
        ids = json.loads((path / "ids.json").read_text())
        matrix = np.load(path / "vectors.npy", mmap_mode="r" if mmap else None)
        if matrix.ndim != 2 or matrix.shape[0] != len(ids) or matrix.dtype != np.float32:
            raise ValueError(
                f"{path}: vectors.npy has shape {matrix.shape} {matrix.dtype}, "
                f"but ids.json lists {len(ids)} ids; rebuild the index with `kgsearch reindex`"
            )
        index = cls(dim=int(matrix.shape[1]))
        index._matrix, index._ids = matrix, list(ids)
        index._row = {pid: i for i, pid in enumerate(ids)}
        return index

    def save(self, path: Path) -> None:
        path.mkdir(parents=True, exist_ok=True)
        np.save(path / "vectors.npy", np.ascontiguousarray(self._matrix))
        (path / "ids.json").write_text(json.dumps(self._ids))

    def _check(self, vectors: npt.NDArray[np.float32]) -> None:
        if vectors.ndim != 2 or vectors.shape[1] != self._dim:
            raise ValueError(f"expected vectors of shape (n, {self._dim}), got {vectors.shape}")
        if not np.isfinite(vectors).all():
            raise ValueError("vectors contain NaN or infinite values")

    def upsert(self, product_ids: Sequence[str], vectors: npt.NDArray[np.float32]) -> None:
        vectors = np.asarray(vectors, dtype=np.float32)
        self._check(vectors)
        if len(product_ids) != vectors.shape[0]:
            raise ValueError(f"{len(product_ids)} ids for {vectors.shape[0]} vectors")
        with self._lock:
            matrix = np.array(self._matrix)  # copy: the current one may be memory-mapped
            new_ids: list[str] = []
            new_rows: list[Vector] = []
            for pid, vec in zip(product_ids, vectors, strict=True):
                row = self._row.get(pid)
                if row is None:
                    self._row[pid] = len(self._ids) + len(new_ids)
                    new_ids.append(pid)
                    new_rows.append(vec)
                elif row < len(self._ids):
                    matrix[row] = vec
                else:
                    new_rows[row - len(self._ids)] = vec
            if new_rows:
                matrix = np.vstack([matrix, np.stack(new_rows)])
                self._ids.extend(new_ids)
            self._matrix = matrix

    def delete(self, product_ids: Sequence[str]) -> None:
        with self._lock:
            gone = {self._row[p] for p in product_ids if p in self._row}
            if not gone:
                return
            keep = [i for i in range(len(self._ids)) if i not in gone]
            self._matrix = np.array(self._matrix[keep])
            self._ids = [self._ids[i] for i in keep]
            self._row = {pid: i for i, pid in enumerate(self._ids)}

    def count(self) -> int:
        return len(self._ids)

    def search(
        self, vector: Vector, *, k: int, allowed: frozenset[str] | None = None
    ) -> list[tuple[str, float]]:
        if k < 1:
            raise ValueError("k must be >= 1")
        matrix, ids = self._matrix, self._ids
        if not ids:
            return []
        sims = matrix @ np.asarray(vector, dtype=np.float32)
        if allowed is not None:
            mask = np.fromiter((pid in allowed for pid in ids), dtype=bool, count=len(ids))
            sims = np.where(mask, sims, -np.inf)
        k = min(k, len(ids))
        top = np.argpartition(-sims, k - 1)[:k]
        top = top[np.argsort(-sims[top], kind="stable")]
        top = top[np.isfinite(sims[top])]  # a filter's excluded rows are -inf
        return [(ids[i], s) for i, s in zip(top.tolist(), sims[top].tolist(), strict=True)]

    def scores(self, vector: Vector, product_ids: Sequence[str]) -> dict[str, float]:
        row = self._row
        known = [p for p in product_ids if p in row]
        if not known:
            return {}
        sims = self._matrix[[row[p] for p in known]] @ np.asarray(vector, dtype=np.float32)
        return dict(zip(known, sims.tolist(), strict=True))

    def vector(self, product_id: str) -> Vector | None:
        """The stored vector of one product (a view, do not modify), or None."""
        row = self._row.get(product_id)
        matrix = self._matrix
        return None if row is None or row >= len(matrix) else matrix[row]

    def close(self) -> None:
        """Nothing to release."""


def save_text_hashes(path: Path, product_ids: Sequence[str], digests: Sequence[bytes]) -> None:
    """Save, beside the vectors saved at ``path``, the digest of the text each vector encodes
    (``product_ids`` in the order of the saved ``ids.json``), so a later build can reuse
    the vector of an unchanged text instead of encoding it again."""
    ids = json.loads((path / "ids.json").read_text())
    if list(product_ids) != ids:
        raise ValueError(f"{path}: text hashes must follow the saved ids.json order")
    if len(digests) != len(ids) or any(len(d) != DIGEST_BYTES for d in digests):
        raise ValueError(f"expected {len(ids)} digests of {DIGEST_BYTES} bytes")
    rows = np.frombuffer(b"".join(digests), dtype=np.uint8).reshape(len(ids), DIGEST_BYTES)
    np.save(path / TEXT_HASHES, rows)


def load_text_hashes(path: Path) -> dict[str, bytes]:
    """Product id -> digest of the text its saved vector encodes; empty when the vectors at
    ``path`` were saved without digests (by an older build) or the two files disagree."""
    try:
        ids = json.loads((path / "ids.json").read_text())
        rows = np.load(path / TEXT_HASHES)
    except (OSError, ValueError):
        return {}
    if rows.dtype != np.uint8 or rows.shape != (len(ids), DIGEST_BYTES):
        return {}
    return {pid: row.tobytes() for pid, row in zip(ids, rows, strict=True)}
