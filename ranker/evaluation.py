"""Evaluate rankers on judged queries: NDCG@10, Recall@100 and MRR per system."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ranker.candidates import CandidateSet
from ranker.fusion import Ranker, rank_ids
from ranker.metrics import mrr, ndcg_at_k, recall_at_k

__all__ = ["METRICS", "JudgedQuery", "SystemScores", "evaluate"]

METRICS = ("ndcg@10", "recall@100", "mrr")


@dataclass(frozen=True, slots=True)
class JudgedQuery:
    query_id: str
    text: str
    grades: Mapping[str, int]  # product_id -> 0, 1 or 2
    kind: str | None = None
    split: str | None = None


@dataclass(frozen=True, slots=True)
class SystemScores:
    """Mean of each metric over the queries where it is defined, and how many those were."""

    means: Mapping[str, float]
    counts: Mapping[str, int]

    def as_dict(self) -> dict[str, float]:
        return {m: round(v, 4) for m, v in self.means.items()}


def evaluate(
    runs: Sequence[tuple[JudgedQuery, CandidateSet]], rankers: Mapping[str, Ranker]
) -> dict[str, SystemScores]:
    """Score every ranker on the same candidates of every judged query."""
    if not runs:
        raise ValueError("no judged queries to evaluate; check the split and the label file")
    out: dict[str, SystemScores] = {}
    for name, ranker in rankers.items():
        values: dict[str, list[float]] = {m: [] for m in METRICS}
        for query, candidates in runs:
            ranked = rank_ids(ranker, candidates) if len(candidates) else []
            for metric, value in (
                ("ndcg@10", ndcg_at_k(ranked, query.grades, 10)),
                ("recall@100", recall_at_k(ranked, query.grades, 100)),
                ("mrr", mrr(ranked, query.grades)),
            ):
                if value is not None:
                    values[metric].append(value)
        out[name] = SystemScores(
            means={m: (sum(v) / len(v) if v else 0.0) for m, v in values.items()},
            counts={m: len(v) for m, v in values.items()},
        )
    return out
