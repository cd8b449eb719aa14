"""Candidates with their signals: what recall hands to a ranker."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = ["Array", "CandidateSet", "Rows"]

Array = npt.NDArray[np.float64]
Rows = npt.NDArray[np.intp]


@dataclass(frozen=True)
class CandidateSet:
    """Candidate products for one query and one array per named signal, row-aligned.

    Signals every set carries: ``bm25`` (field-weighted sum), ``bm25_<field>`` per field,
    ``dense`` (BERT cosine), ``from_keyword`` and ``from_dense`` (1.0 when the recall
    source returned the product)."""

    product_ids: tuple[str, ...]
    signals: Mapping[str, Array]

    def __post_init__(self) -> None:
        n = len(self.product_ids)
        for name, values in self.signals.items():
            if values.shape != (n,):
                raise ValueError(f"signal {name!r} has shape {values.shape}, expected ({n},)")
            if not np.isfinite(values).all():
                raise ValueError(f"signal {name!r} has NaN or infinite values")

    def __len__(self) -> int:
        return len(self.product_ids)

    def signal(self, name: str) -> Array:
        try:
            return self.signals[name]
        except KeyError:
            raise KeyError(
                f"signal {name!r} is missing; this set has {sorted(self.signals)}"
            ) from None

    def take(self, rows: npt.NDArray[np.intp]) -> CandidateSet:
        return CandidateSet(
            tuple(self.product_ids[i] for i in rows), {k: v[rows] for k, v in self.signals.items()}
        )
