"""The ``VectorIndex`` seam and its embedded backend: exact cosine over a NumPy matrix."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

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


#: Rows per block of a :class:`NumpyVectorIndex`'s matrix. An edit copies the blocks it
#: touches (3 MB each at 384 dimensions), not the whole matrix: at 50k products a copy
#: of the matrix cost each edit's sync ~17-28 ms, and gave every server worker a private
#: copy of it. The exact scan costs the same over blocks (measured 2.76 ms against
#: 2.93 ms for one 50k x 384 matrix, one thread).
BLOCK_ROWS = 8192


@dataclass(frozen=True, slots=True)
class _Rows:
    """One consistent state of the index: a search reads one of these, an edit builds the
    next and swaps it in whole. Row ``r`` is ``blocks[r // BLOCK_ROWS][r % BLOCK_ROWS]``;
    every block but the last has :data:`BLOCK_ROWS` rows."""

    blocks: tuple[Vector, ...]
    ids: list[str]  # never changed once swapped in (an edit builds a new list)
    row: dict[str, int]

    @classmethod
    def of(cls, matrix: Vector, ids: list[str]) -> _Rows:
        """Blocks viewing ``matrix`` (no copy: a memory-mapped matrix stays shared)."""
        blocks = tuple(matrix[i : i + BLOCK_ROWS] for i in range(0, len(ids), BLOCK_ROWS))
        return cls(blocks, ids, {pid: i for i, pid in enumerate(ids)})

    def matrix(self, dim: int) -> Vector:
        if not self.blocks:
            return np.zeros((0, dim), dtype=np.float32)
        return self.blocks[0] if len(self.blocks) == 1 else np.concatenate(self.blocks)

    def dot(self, vector: Vector) -> Vector:
        parts = [block @ vector for block in self.blocks]
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    def _by_block(self, rows: Sequence[int]) -> Iterator[tuple[Vector, Any, Any]]:
        """For each block holding some of ``rows``: the block, the positions in ``rows``
        of those it holds, and their offsets in it."""
        at = np.asarray(rows, dtype=np.int64)
        block, offset = np.divmod(at, BLOCK_ROWS)
        order = np.argsort(block, kind="stable")
        bounds = np.searchsorted(block[order], np.arange(len(self.blocks) + 1))
        for b, (lo, hi) in enumerate(zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True)):
            if lo < hi:
                mine = order[lo:hi]
                yield self.blocks[b], mine, offset[mine]

    def take(self, rows: Sequence[int]) -> Vector:
        """The given rows, in order, as one matrix."""
        out = np.empty((len(rows), self.blocks[0].shape[1]), dtype=np.float32)
        for block, mine, offset in self._by_block(rows):
            out[mine] = block[offset]
        return out

    def dots(self, rows: Sequence[int], vector: Vector) -> Vector:
        """The dot product of each of the given rows with ``vector``, in order."""
        out = np.empty(len(rows), dtype=np.float32)
        for block, mine, offset in self._by_block(rows):
            out[mine] = block[offset] @ vector
        return out


class NumpyVectorIndex:
    """Exact cosine (vectors are L2-normalised, so a dot product) over an in-memory or
    memory-mapped ``float32`` matrix, held in blocks of :data:`BLOCK_ROWS` rows. Saved as
    ``vectors.npy`` + ``ids.json``.

    Reads need no lock: each takes the current :class:`_Rows` once, and an edit swaps in
    a new one (copying only the blocks it changes), so a search running beside an edit
    sees the index wholly before or wholly after it."""

    def __init__(self, *, dim: int) -> None:
        if dim < 1:
            raise ValueError("dim must be >= 1")
        self._dim = dim
        self._data = _Rows((), [], {})
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
        index._data = _Rows.of(matrix, list(ids))
        return index

    def save(self, path: Path) -> None:
        data = self._data
        path.mkdir(parents=True, exist_ok=True)
        np.save(path / "vectors.npy", np.ascontiguousarray(data.matrix(self._dim)))
        (path / "ids.json").write_text(json.dumps(data.ids))

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
            data = self._data
            latest = dict(zip(product_ids, vectors, strict=True))  # a repeated id: last wins
            known = {pid: vec for pid, vec in latest.items() if pid in data.row}
            new = [(pid, vec) for pid, vec in latest.items() if pid not in data.row]
            blocks = list(data.blocks)
            copied: set[int] = set()
            for pid, vec in known.items():
                b, offset = divmod(data.row[pid], BLOCK_ROWS)
                if b not in copied:  # the block may be memory-mapped or read by a search
                    blocks[b] = np.array(blocks[b])
                    copied.add(b)
                blocks[b][offset] = vec
            ids, row = data.ids, data.row
            if new:
                ids, row = [*data.ids, *(pid for pid, _ in new)], dict(data.row)
                row.update((pid, len(data.ids) + i) for i, (pid, _) in enumerate(new))
                rows = np.stack([vec for _, vec in new])
                if blocks and len(blocks[-1]) < BLOCK_ROWS:  # fill the last block first
                    rows = np.concatenate([blocks.pop(), rows])
                blocks += [rows[i : i + BLOCK_ROWS] for i in range(0, len(rows), BLOCK_ROWS)]
            self._data = _Rows(tuple(blocks), ids, row)

    def delete(self, product_ids: Sequence[str]) -> None:
        with self._lock:
            data = self._data
            gone = {data.row[p] for p in product_ids if p in data.row}
            if not gone:
                return
            keep = [i for i in range(len(data.ids)) if i not in gone]
            matrix = data.take(keep) if keep else np.zeros((0, self._dim), dtype=np.float32)
            self._data = _Rows.of(matrix, [data.ids[i] for i in keep])

    def count(self) -> int:
        return len(self._data.ids)

    def search(
        self, vector: Vector, *, k: int, allowed: frozenset[str] | None = None
    ) -> list[tuple[str, float]]:
        if k < 1:
            raise ValueError("k must be >= 1")
        data = self._data
        ids = data.ids
        if not ids:
            return []
        sims = data.dot(np.asarray(vector, dtype=np.float32))
        if allowed is not None:
            mask = np.fromiter((pid in allowed for pid in ids), dtype=bool, count=len(ids))
            sims = np.where(mask, sims, -np.inf)
        k = min(k, len(ids))
        top = np.argpartition(-sims, k - 1)[:k]
        top = top[np.argsort(-sims[top], kind="stable")]
        top = top[np.isfinite(sims[top])]  # a filter's excluded rows are -inf
        return [(ids[i], s) for i, s in zip(top.tolist(), sims[top].tolist(), strict=True)]

    def scores(self, vector: Vector, product_ids: Sequence[str]) -> dict[str, float]:
        data = self._data
        row = data.row
        known = [p for p in product_ids if p in row]
        if not known:
            return {}
        sims = data.dots([row[p] for p in known], np.asarray(vector, dtype=np.float32))
        return dict(zip(known, sims.tolist(), strict=True))

    def vector(self, product_id: str) -> Vector | None:
        """The stored vector of one product (a view, do not modify), or None."""
        data = self._data
        row = data.row.get(product_id)
        return None if row is None else data.blocks[row // BLOCK_ROWS][row % BLOCK_ROWS]

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
