"""Relevance metrics over graded judgments (WANDS grades: Exact 2, Partial 1, Irrelevant 0).

- NDCG@k: linear gain (the grade), log2 discount, ideal DCG from the query's own labels;
  unjudged products gain 0.
- Recall@k and MRR count a product as relevant when it is Exact (grade 2).
Each returns ``None`` for a query where it is undefined (no positive label), so callers
average over the queries where it is defined and say how many those were.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

__all__ = ["mrr", "ndcg_at_k", "recall_at_k"]

RELEVANT = 2


def _dcg(gains: Sequence[int]) -> float:
    return sum(g / math.log2(i + 2) for i, g in enumerate(gains))


def ndcg_at_k(ranked: Sequence[str], grades: Mapping[str, int], k: int = 10) -> float | None:
    if k < 1:
        raise ValueError("k must be >= 1")
    ideal = _dcg(sorted((g for g in grades.values() if g > 0), reverse=True)[:k])
    if ideal == 0:
        return None
    return _dcg([grades.get(pid, 0) for pid in ranked[:k]]) / ideal


def recall_at_k(ranked: Sequence[str], grades: Mapping[str, int], k: int = 100) -> float | None:
    relevant = {pid for pid, g in grades.items() if g >= RELEVANT}
    if not relevant:
        return None
    return len(relevant.intersection(ranked[:k])) / len(relevant)


def mrr(ranked: Sequence[str], grades: Mapping[str, int]) -> float | None:
    if not any(g >= RELEVANT for g in grades.values()):
        return None
    for i, pid in enumerate(ranked):
        if grades.get(pid, 0) >= RELEVANT:
            return 1.0 / (i + 1)
    return 0.0
