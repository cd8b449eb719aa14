"""Diversity on a ranked list, per request: a per-brand cap and maximal marginal relevance.

- ``brand_cap=N``: at most N items of one brand (items without a brand are not capped);
- ``mmr=λ`` (Carbonell & Goldstein 1998): pick greedily the item maximising
  ``λ * relevance - (1 - λ) * max similarity to the items already picked``, relevance
  being the fused score scaled to [0, 1]; ``λ = 1`` is the plain ranking.

Both only reorder and drop: each item keeps its fused score and contributions.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = ["Diversity", "diversify", "intra_list_similarity"]


@dataclass(frozen=True, slots=True)
class Diversity:
    brand_cap: int | None = None
    mmr: float | None = None

    def __post_init__(self) -> None:
        cap = self.brand_cap
        if cap is not None and (not isinstance(cap, int) or isinstance(cap, bool) or cap < 1):
            raise ValueError(f"brand_cap must be an integer >= 1, got {cap!r}")
        if self.mmr is not None and not (math.isfinite(self.mmr) and 0.0 <= self.mmr <= 1.0):
            raise ValueError(f"mmr must be a number in [0, 1], got {self.mmr!r}")

    def __bool__(self) -> bool:
        return self.brand_cap is not None or self.mmr is not None


def diversify(
    ranked: Sequence[tuple[int, float]],
    k: int,
    diversity: Diversity,
    *,
    brand_of: Callable[[int], str | None],
    similarity: Callable[[Sequence[int]], npt.NDArray[np.float64]] | None = None,
) -> list[int]:
    """The ``k`` items to show from ``ranked`` ((item, score), best first).

    ``similarity(items)`` gives the items x items similarity matrix MMR needs; without it
    MMR is skipped (the brand cap still applies)."""
    pool = list(ranked)
    if not diversity or not pool:
        return [item for item, _ in pool[:k]]
    cap = diversity.brand_cap
    per_brand: dict[str, int] = {}

    def fits(item: int) -> bool:
        brand = brand_of(item)
        return cap is None or brand is None or per_brand.get(brand, 0) < cap

    def take(item: int) -> None:
        brand = brand_of(item)
        if brand is not None:
            per_brand[brand] = per_brand.get(brand, 0) + 1

    chosen: list[int] = []
    if diversity.mmr is None or similarity is None:
        for item, _ in pool:
            if len(chosen) == k:
                break
            if fits(item):
                chosen.append(item)
                take(item)
        return chosen
    items = [item for item, _ in pool]
    scores = np.array([score for _, score in pool], dtype=np.float64)
    span = float(scores.max() - scores.min())
    relevance = (scores - scores.min()) / span if span > 0 else np.ones(len(scores))
    sims = similarity(items)
    lam = diversity.mmr
    redundancy = np.full(len(items), -np.inf)
    open_ = np.ones(len(items), dtype=bool)
    while len(chosen) < k and open_.any():
        penalty = np.where(np.isfinite(redundancy), redundancy, 0.0)
        value = np.where(open_, lam * relevance - (1 - lam) * penalty, -np.inf)
        best = int(np.argmax(value))
        open_[best] = False
        if not fits(items[best]):
            continue
        chosen.append(items[best])
        take(items[best])
        redundancy = np.maximum(redundancy, sims[best])
    return chosen


def intra_list_similarity(sims: npt.NDArray[np.float64]) -> float:
    """Mean pairwise similarity of a list (lower = more diverse); NaN for < 2 items."""
    n = sims.shape[0]
    if n < 2:
        return float("nan")
    return float((sims.sum() - np.trace(sims)) / (n * (n - 1)))
