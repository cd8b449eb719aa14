"""Precomputed top-N neighbour tables, so that "similar items" reads a row instead of
scoring every item per request.

:func:`build_table` asks a source for the scores of a block of items against every item
(one matrix product per block), keeps each row's ``width`` best finite scores, ties broken
by position as :func:`~recommend.sources.base.top` breaks them, and stores them as two
NumPy arrays (positions ``int32``, scores). Exact, not approximate: a request the table
can answer gets the same items in the same order as the full computation;
:meth:`NeighbourTable.top` returns ``None`` when it cannot (a filter let fewer than ``n``
of the stored neighbours through) and the source then scores every item.

Tables depend only on what they were computed from (vectors, embeddings, the graph's
features), not on the event log, so :func:`cached_table` keeps them per process keyed on a
digest of those inputs: rebuilding the service when the log changes reuses them. Given a
directory (``SourceInputs.tables_dir``, e.g. beside the index version), it also saves them
there as ``.npy`` files and memory-maps them in the next process.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from recommend.sources.base import Mask, Proposals

__all__ = ["DEFAULT_WIDTH", "NeighbourTable", "build_table", "cached_table", "digest", "product"]

#: Neighbours kept per item: the service's pool (100) plus room for exclusions.
DEFAULT_WIDTH = 128
#: Scores computed per matrix product while building (bounds the working memory).
_BLOCK_CELLS = 1 << 24
#: Columns sampled per row to find a threshold that leaves few items to sort.
_SAMPLE = 2048
#: Tables kept per process (a few index versions' worth).
_KEEP = 8

#: rows -> their scores against every item, shape (len(rows), n_items); NaN/-inf = none
BlockScores = Callable[[npt.NDArray[np.int64]], npt.NDArray[np.floating]]


@dataclass(frozen=True)
class NeighbourTable:
    """Row ``i``: the ``width`` best-scoring items for item ``i`` (itself included when it
    scores), best first; ``-1`` / ``-inf`` pad a row with fewer finite scores."""

    ids: npt.NDArray[np.int32]
    scores: npt.NDArray[np.floating]

    def __post_init__(self) -> None:
        if self.ids.shape != self.scores.shape or self.ids.ndim != 2:
            raise ValueError(f"ids {self.ids.shape} and scores {self.scores.shape} must match")

    @property
    def width(self) -> int:
        return int(self.ids.shape[1])

    def top(
        self, row: int, n: int, allowed: Mask | None, drop: Iterable[int] = ()
    ) -> Proposals | None:
        """The ``n`` best allowed neighbours of ``row`` (as :func:`top` would pick them from
        the full scores), or ``None`` when the stored neighbours do not hold them."""
        ids, scores = self.ids[row], self.scores[row]
        filled = ids >= 0
        keep = filled.copy()
        if allowed is not None:
            keep[filled] = allowed[ids[filled]]
        for gone in drop:
            keep &= ids != gone
        picked = np.flatnonzero(keep)[:n]
        complete = not filled[-1]  # a short row holds every item with a score
        if len(picked) < n and not complete:
            return None
        return {int(i): float(s) for i, s in zip(ids[picked], scores[picked], strict=True)}


def product(matrix: npt.NDArray[Any], vector: npt.NDArray[Any]) -> npt.NDArray[Any]:
    """``matrix @ vector`` for one request, on this thread: a BLAS matrix-vector product
    starts its own threads, which on a busy two-core server wait on each other (measured
    on the 5k demo under load: 50 ms wall for a 5k x 384 product vs 4 ms this way)."""
    return np.asarray(np.einsum("ij,j->i", matrix, vector))


def build_table(
    scores_of: BlockScores,
    n_items: int,
    *,
    width: int = DEFAULT_WIDTH,
    block: int | None = None,
    only: npt.NDArray[np.int64] | None = None,
) -> NeighbourTable:
    """Each item's ``width`` best finite scores from ``scores_of``, ties by position;
    with ``only``, just those items' rows (the others stay empty)."""
    if width < 1:
        raise ValueError(f"width must be >= 1, got {width}")
    width = min(width, n_items)
    block = block or max(1, _BLOCK_CELLS // max(n_items, 1))
    ids = np.full((n_items, width), -1, dtype=np.int32)
    out: npt.NDArray[np.floating] | None = None
    wanted = np.arange(n_items, dtype=np.int64) if only is None else np.asarray(only, np.int64)
    for start in range(0, len(wanted), block):
        rows = wanted[start : start + block]
        values = np.asarray(scores_of(rows))
        if values.shape != (len(rows), n_items):
            raise ValueError(f"expected scores of shape {(len(rows), n_items)}, got {values.shape}")
        if out is None:
            out = np.full((n_items, width), -np.inf, dtype=values.dtype)
        chosen, best = _best(values, width)
        ids[rows] = chosen
        out[rows] = best
    if out is None:
        out = np.full((n_items, width), -np.inf)
    return NeighbourTable(ids=ids, scores=out)


def _best(
    values: npt.NDArray[np.floating], width: int
) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.floating]]:
    """Per row, the ``width`` largest finite values, best first, ties by column (the
    values must hold no NaN: -inf marks "no score")."""
    columns = np.full((len(values), width), -1, dtype=np.int64)
    picked = np.full((len(values), width), -np.inf, dtype=values.dtype)
    rest = np.arange(len(values))
    if values.shape[1] >= 8 * _SAMPLE:
        # a threshold from every k-th column that leaves about twice ``width`` items above
        # it: only those are sorted; a row where fewer pass goes the exact way below
        sample = values[:, :: values.shape[1] // _SAMPLE]
        rank = min(sample.shape[1], 2 * width * sample.shape[1] // values.shape[1] + 8)
        threshold = -np.partition(-sample, rank - 1, axis=1)[:, rank - 1]
        passed = values >= threshold[:, None]
        counts = passed.sum(axis=1)
        fast = np.flatnonzero((counts >= width) & np.isfinite(threshold))
        rows, cols = np.nonzero(passed[fast])
        scores = values[fast[rows], cols]
        order = np.lexsort((cols, -scores, rows))  # per row: best first, ties by column
        starts = np.cumsum(counts[fast]) - counts[fast]
        take = starts[:, None] + np.arange(width)
        columns[fast] = cols[order][take]
        picked[fast] = scores[order][take]
        rest = np.setdiff1d(rest, fast)
    if len(rest):
        columns[rest], picked[rest] = _exact_best(values[rest], width)
    columns[~np.isfinite(picked)] = -1
    return columns.astype(np.int32), picked


def _exact_best(
    values: npt.NDArray[np.floating], width: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.floating]]:
    columns = np.argpartition(-values, width - 1, axis=1)[:, :width]  # see ``top``
    picked = np.take_along_axis(values, columns, axis=1)
    kth = picked.min(axis=1)
    # the partition picks any of the items tied at a row's boundary value: where more
    # items share it than fit, keep the lowest columns, as a full sort by position would
    tied = (values == kth[:, None]).sum(axis=1) > (picked == kth[:, None]).sum(axis=1)
    for r in np.flatnonzero(tied):
        row = values[r]
        above = np.flatnonzero(row > kth[r])
        equal = np.flatnonzero(row == kth[r])[: width - len(above)]
        columns[r] = np.concatenate([above, equal])
        picked[r] = row[columns[r]]
    order = np.lexsort((columns, -picked), axis=1)  # best first, equal scores by column
    return np.take_along_axis(columns, order, axis=1), np.take_along_axis(picked, order, axis=1)


def digest(kind: str, *arrays: npt.NDArray[np.generic], extra: str = "") -> str:
    """A key for :func:`cached_table`: ``kind`` and the bytes of what the table is built from."""
    h = hashlib.blake2b(f"{kind}|{extra}".encode(), digest_size=20)
    for array in arrays:
        contiguous = np.ascontiguousarray(array)
        h.update(f"{contiguous.dtype}{contiguous.shape}".encode())
        h.update(contiguous.data)
    return h.hexdigest()


_cache: OrderedDict[str, NeighbourTable] = OrderedDict()
_lock = threading.Lock()


def cached_table(
    key: str, build: Callable[[], NeighbourTable], directory: Path | None = None
) -> NeighbourTable:
    """The table built for ``key`` in this process, else the one saved under ``directory``,
    else ``build()`` (kept for next time). Whichever it is, it is saved under ``directory``
    if given and not saved there yet, so the next process can map it."""
    with _lock:
        table = _cache.get(key)
        if table is not None:
            _cache.move_to_end(key)
    if table is not None:
        if directory is not None and not (directory / f"{key}.scores.npy").exists():
            _save(directory, key, table)
        return table
    table = _load(directory, key) if directory is not None else None
    if table is None:
        table = build()
        if directory is not None:
            _save(directory, key, table)
    with _lock:
        _cache[key] = table
        while len(_cache) > _KEEP:
            _cache.popitem(last=False)
    return table


def _load(directory: Path, key: str) -> NeighbourTable | None:
    try:
        # plain arrays over the mapped files: np.memmap's own indexing costs ~0.5 ms a row
        ids = np.asarray(np.load(directory / f"{key}.ids.npy", mmap_mode="r"))
        scores = np.asarray(np.load(directory / f"{key}.scores.npy", mmap_mode="r"))
        if ids.dtype != np.int32:
            return None
        return NeighbourTable(ids=ids, scores=scores)
    except (OSError, ValueError):
        return None  # not saved yet, or unreadable: build it again


def _save(directory: Path, key: str, table: NeighbourTable) -> None:
    """Write both arrays under temporary names, then rename (a reader never sees half)."""
    directory.mkdir(parents=True, exist_ok=True)
    for part, array in (("ids", table.ids), ("scores", table.scores)):
        final = directory / f"{key}.{part}.npy"
        partial = directory / f"{key}.{part}.{os.getpid()}.partial.npy"
        np.save(partial, array)
        partial.replace(final)
