"""The ``VectorIndex`` seam and its embedded backend: cosine over a NumPy matrix, exact or,
for a large saved index, ranked exactly over a shortlist found on a PCA projection."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

__all__ = ["NumpyVectorIndex", "VectorIndex", "load_text_hashes", "save_text_hashes"]

Vector = npt.NDArray[np.float32]
RowNumbers = Sequence[int] | npt.NDArray[np.integer[Any]]

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

#: A saved index of at least this many rows also saves a projection of its vectors onto
#: their first :data:`SHORTLIST_DIMS` principal components (``coarse.npy``); a search
#: then scans that (a third of the bytes), keeps the
#: ``max(SHORTLIST_ROWS, SHORTLIST_FACTOR * k)`` best rows (divided by the share a wide
#: filter allows: about as many allowed rows) and ranks those by exact cosine. Measured
#: on the 50k bench catalogue with the 480 WANDS queries (one thread): the exact scan
#: 2.9 ms, the shortlist 1.6 ms, and 99.96 % of the exact top 200 found; with a filter of
#: 15-26k products 7.7-10.5 ms against 2.8-3.2 ms, 99.7-99.99 % found
#: (docs/benchmarks.md, "A shortlist for the dense top 200"). A narrow filter
#: (:data:`FILTER_GATHER_SHARE`) is scored exactly. Below this size the exact scan is
#: cheap (0.3 ms at 5k) and stays.
SHORTLIST_FROM = 20_000
SHORTLIST_DIMS = 128
SHORTLIST_ROWS = 2_000
SHORTLIST_FACTOR = 10
#: A filter that allows fewer than 1 in this many rows is searched by looking its ids up
#: and scoring only their rows (sorted, so that equal scores keep one order whatever the
#: set's iteration order); a wider one by scanning every row and masking the rest. At 50k,
#: random filters, one thread: 500 ids 4.96 -> 0.14 ms, 5,000 5.97 -> 1.17 ms, but
#: 12,000 6.93 -> 9.21 ms, hence 1 in 10.
FILTER_GATHER_SHARE = 10
#: Rows the principal components are fitted on (a seeded sample, so a rebuild of the same
#: vectors gives the same projection).
_FIT_ROWS = 20_000
COARSE = "coarse.npy"
PROJECTION = "projection.npz"


@dataclass(frozen=True, slots=True)
class _Projection:
    """Centred projection onto the first principal components of the saved vectors. For
    unit vectors ``q`` and ``x``, ``q . x`` is ``q . mean`` (the same for every row) plus
    ``q . (x - mean)``, which ``(basis.T q) . (basis.T (x - mean))`` approximates."""

    mean: Vector
    basis: Vector  # (dim, dims), orthonormal columns

    @classmethod
    def fit(cls, matrix: Vector, dims: int) -> _Projection:
        rng = np.random.default_rng(0)
        sample = matrix
        if len(matrix) > _FIT_ROWS:
            sample = matrix[np.sort(rng.choice(len(matrix), _FIT_ROWS, replace=False))]
        sample = np.asarray(sample, dtype=np.float64)
        mean = sample.mean(axis=0)
        _, _, vt = np.linalg.svd(sample - mean, full_matrices=False)
        return cls(mean.astype(np.float32), np.ascontiguousarray(vt[:dims].T, dtype=np.float32))

    def rows(self, vectors: Vector) -> Vector:
        return np.ascontiguousarray((vectors - self.mean) @ self.basis, dtype=np.float32)

    def query(self, vector: Vector) -> Vector:
        return np.asarray(vector @ self.basis, dtype=np.float32)


def _blocks_of(matrix: Vector, n: int) -> tuple[Vector, ...]:
    """Views of ``matrix`` (no copy: a memory-mapped matrix stays shared)."""
    return tuple(matrix[i : i + BLOCK_ROWS] for i in range(0, n, BLOCK_ROWS))


def _written(
    blocks: Sequence[Vector], changed: Mapping[int, Vector], appended: Vector | None
) -> tuple[Vector, ...]:
    """``blocks`` with the rows in ``changed`` replaced and ``appended`` added at the end.
    A block with a changed row is copied first: it may be memory-mapped, or read by a
    search that began before the edit."""
    out = list(blocks)
    copied: set[int] = set()
    for row, value in changed.items():
        b, offset = divmod(row, BLOCK_ROWS)
        if b not in copied:
            out[b] = np.array(out[b])
            copied.add(b)
        out[b][offset] = value
    if appended is not None and len(appended):
        if out and len(out[-1]) < BLOCK_ROWS:  # fill the last block first
            appended = np.concatenate([out.pop(), appended])
        out += [appended[i : i + BLOCK_ROWS] for i in range(0, len(appended), BLOCK_ROWS)]
    return tuple(out)


@dataclass(frozen=True, slots=True)
class _Rows:
    """One consistent state of the index: a search reads one of these, an edit builds the
    next and swaps it in whole. Row ``r`` is ``blocks[r // BLOCK_ROWS][r % BLOCK_ROWS]``;
    every block but the last has :data:`BLOCK_ROWS` rows. With a ``projection``,
    ``coarse`` holds each row's projection in blocks of the same shape."""

    blocks: tuple[Vector, ...]
    ids: list[str]  # never changed once swapped in (an edit builds a new list)
    row: dict[str, int]
    coarse: tuple[Vector, ...] = ()
    projection: _Projection | None = None

    @classmethod
    def of(
        cls,
        matrix: Vector,
        ids: list[str],
        coarse: Vector | None = None,
        projection: _Projection | None = None,
    ) -> _Rows:
        return cls(
            _blocks_of(matrix, len(ids)),
            ids,
            {pid: i for i, pid in enumerate(ids)},
            _blocks_of(coarse, len(ids)) if coarse is not None else (),
            projection if coarse is not None else None,
        )

    def matrix(self, dim: int) -> Vector:
        if not self.blocks:
            return np.zeros((0, dim), dtype=np.float32)
        return self.blocks[0] if len(self.blocks) == 1 else np.concatenate(self.blocks)

    @staticmethod
    def _dot(blocks: Sequence[Vector], vector: Vector) -> Vector:
        parts = [block @ vector for block in blocks]
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    def dot(self, vector: Vector) -> Vector:
        return self._dot(self.blocks, vector)

    def coarse_dot(self, vector: Vector) -> Vector:
        return self._dot(self.coarse, vector)

    def _by_block(self, rows: RowNumbers) -> Iterator[tuple[int, Any, Any]]:
        """For each block holding some of ``rows``: its number, the positions in ``rows``
        of those it holds, and their offsets in it."""
        at = np.asarray(rows, dtype=np.int64)
        block, offset = np.divmod(at, BLOCK_ROWS)
        order = np.argsort(block, kind="stable")
        bounds = np.searchsorted(block[order], np.arange(len(self.blocks) + 1))
        for b, (lo, hi) in enumerate(zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True)):
            if lo < hi:
                mine = order[lo:hi]
                yield b, mine, offset[mine]

    def take(self, rows: RowNumbers, *, coarse: bool = False) -> Vector:
        """The given rows (of the projections with ``coarse``), in order, as one matrix."""
        blocks = self.coarse if coarse else self.blocks
        out = np.empty((len(rows), blocks[0].shape[1]), dtype=np.float32)
        for b, mine, offset in self._by_block(rows):
            out[mine] = blocks[b][offset]
        return out

    def dots(self, rows: RowNumbers, vector: Vector) -> Vector:
        """The dot product of each of the given rows with ``vector``, in order."""
        out = np.empty(len(rows), dtype=np.float32)
        for b, mine, offset in self._by_block(rows):
            out[mine] = self.blocks[b][offset] @ vector
        return out

    def best_of(
        self, rows: npt.NDArray[np.int64], vector: Vector, k: int
    ) -> list[tuple[str, float]]:
        """The ``k`` of the given rows (ascending, so equal scores keep row order) with the
        largest exact dot product with ``vector``: (id, score), best first."""
        sims = self.dots(rows, vector)
        top = _best(sims, k)
        return list(zip([self.ids[i] for i in rows[top].tolist()], sims[top].tolist(), strict=True))


def _best(sims: Vector, k: int) -> Any:
    """Positions of the ``k`` largest finite values of ``sims``, best first."""
    k = min(k, len(sims))
    top = np.argpartition(-sims, k - 1)[:k]
    top = top[np.argsort(-sims[top], kind="stable")]
    return top[np.isfinite(sims[top])]  # a filter's excluded rows are -inf


class NumpyVectorIndex:
    """Cosine (vectors are L2-normalised, so a dot product) over an in-memory or
    memory-mapped ``float32`` matrix, held in blocks of :data:`BLOCK_ROWS` rows. Saved as
    ``vectors.npy`` + ``ids.json``; from :data:`SHORTLIST_FROM` rows also ``coarse.npy`` +
    ``projection.npz``, which let a search rank a shortlist instead of every row. Scores
    returned are always exact cosines.

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
        coarse, projection = None, None
        if (path / COARSE).exists() and (path / PROJECTION).exists():
            coarse = np.load(path / COARSE, mmap_mode="r" if mmap else None)
            with np.load(path / PROJECTION) as saved:
                projection = _Projection(saved["mean"], saved["basis"])
            dims = projection.basis.shape[1]
            if coarse.shape != (len(ids), dims) or projection.basis.shape[0] != index.dim:
                raise ValueError(
                    f"{path}: {COARSE} has shape {coarse.shape} and the projection "
                    f"{projection.basis.shape}, for {len(ids)} {index.dim}-d vectors; "
                    "rebuild the index with `kgsearch reindex`"
                )
        index._data = _Rows.of(matrix, list(ids), coarse, projection)
        return index

    def save(self, path: Path, *, shortlist: bool = True) -> None:
        """Write the vectors to ``path``; with ``shortlist`` and at least
        :data:`SHORTLIST_FROM` rows, also fit and write their projection
        (:meth:`fit_shortlist`)."""
        data = self._data
        path.mkdir(parents=True, exist_ok=True)
        matrix = np.ascontiguousarray(data.matrix(self._dim))
        np.save(path / "vectors.npy", matrix)
        (path / "ids.json").write_text(json.dumps(data.ids))
        for name in (COARSE, PROJECTION):
            (path / name).unlink(missing_ok=True)  # a projection of other vectors
        if not shortlist or len(data.ids) < SHORTLIST_FROM:
            return
        coarse, projection = self.fit_shortlist(matrix)
        np.save(path / COARSE, coarse)
        np.savez(path / PROJECTION, mean=projection.mean, basis=projection.basis)

    def fit_shortlist(self, matrix: Vector | None = None) -> tuple[Vector, _Projection]:
        """Fit the projection on the current rows (``matrix``: them as one matrix, when the
        caller has it) and search through it from now on, unless an edit came meanwhile;
        return each row's projection and the projection."""
        data = self._data
        if matrix is None:
            matrix = data.matrix(self._dim)
        projection = _Projection.fit(matrix, min(SHORTLIST_DIMS, self._dim))
        coarse = projection.rows(matrix)
        with self._lock:
            if self._data is data:  # no edit since: the projection is of these rows
                self._data = replace(
                    data, coarse=_blocks_of(coarse, len(data.ids)), projection=projection
                )
        return coarse, projection

    @property
    def shortlisted(self) -> bool:
        """Whether a search ranks a shortlist (see :data:`SHORTLIST_FROM`)."""
        return self._data.projection is not None

    def exact(self) -> NumpyVectorIndex:
        """A view of the same rows that always scans them all (to compare with, e.g.
        ``benchmarks/dense_shortlist.py``); it does not follow later edits of this one."""
        view = NumpyVectorIndex(dim=self._dim)
        view._data = replace(self._data, coarse=(), projection=None)
        return view

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
            known = {data.row[pid]: vec for pid, vec in latest.items() if pid in data.row}
            new = [(pid, vec) for pid, vec in latest.items() if pid not in data.row]
            ids, row = data.ids, data.row
            appended = np.stack([vec for _, vec in new]) if new else None
            if new:
                ids, row = [*data.ids, *(pid for pid, _ in new)], dict(data.row)
                row.update((pid, len(data.ids) + i) for i, (pid, _) in enumerate(new))
            coarse, projection = data.coarse, data.projection
            if projection is not None:  # the projection stays; new rows are projected on it
                moved = projection.rows(np.stack(list(known.values()))) if known else None
                coarse = _written(
                    coarse,
                    dict(zip(known, moved, strict=True)) if moved is not None else {},
                    projection.rows(appended) if appended is not None else None,
                )
            blocks = _written(data.blocks, known, appended)
            self._data = _Rows(blocks, ids, row, coarse, projection)

    def delete(self, product_ids: Sequence[str]) -> None:
        with self._lock:
            data = self._data
            gone = {data.row[p] for p in product_ids if p in data.row}
            if not gone:
                return
            keep = [i for i in range(len(data.ids)) if i not in gone]
            ids = [data.ids[i] for i in keep]
            if not keep:
                self._data = _Rows.of(np.zeros((0, self._dim), dtype=np.float32), ids)
                return
            coarse = data.take(keep, coarse=True) if data.projection is not None else None
            self._data = _Rows.of(data.take(keep), ids, coarse, data.projection)

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
        query = np.asarray(vector, dtype=np.float32)
        if allowed is not None and len(allowed) * FILTER_GATHER_SHARE < len(ids):
            # A narrow filter: look its ids up and score only their rows.
            row = data.row
            rows = np.sort(np.array([row[p] for p in allowed if p in row], dtype=np.int64))
            return data.best_of(rows, query, k) if len(rows) else []
        if data.projection is not None:
            short = max(SHORTLIST_ROWS, SHORTLIST_FACTOR * k)
            if allowed is not None:  # a wide filter: over-fetch by the share it allows
                short = short * len(ids) // max(1, len(allowed)) + 1
            if short < len(ids):
                approx = data.coarse_dot(data.projection.query(query))
                rows = np.sort(np.argpartition(-approx, short - 1)[:short])
                if allowed is not None:
                    keep = [ids[r] in allowed for r in rows.tolist()]
                    rows = rows[np.array(keep, dtype=bool)]
                if allowed is None or len(rows) >= k:  # else too few passed: scan them all
                    return data.best_of(rows, query, k)
        sims = data.dot(query)
        if allowed is not None:
            mask = np.fromiter((pid in allowed for pid in ids), dtype=bool, count=len(ids))
            sims = np.where(mask, sims, -np.inf)
        top = _best(sims, k)
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
