"""Evaluate rankers on judged queries: NDCG@10, Recall@100 and MRR per system."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from ranker.candidates import CandidateSet
from ranker.fusion import Ranker, rank_ids
from ranker.metrics import mrr, ndcg_at_k, recall_at_k

__all__ = [
    "BASELINES",
    "METRICS",
    "JudgedQuery",
    "PairedTest",
    "SystemScores",
    "evaluate",
    "kind_check",
    "paired_test",
    "report",
]

METRICS = ("ndcg@10", "recall@100", "mrr")
BASELINES = ("bm25", "dense", "rrf", "linear")
#: The single signals a fused or learned ranker should at least match on every query kind.
SINGLE_SIGNALS = ("bm25", "dense")


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
    ndcg: Mapping[str, float] = field(default_factory=dict)  # query id -> NDCG@10
    kinds: Mapping[str, str] = field(default_factory=dict)  # query id -> query kind

    def as_dict(self) -> dict[str, float]:
        return {m: round(v, 4) for m, v in self.means.items()}

    def by_kind(self) -> dict[str, float]:
        """Mean NDCG@10 per query kind."""
        groups: dict[str, list[float]] = {}
        for qid, value in self.ndcg.items():
            groups.setdefault(self.kinds.get(qid) or "unknown", []).append(value)
        return {k: round(float(np.mean(v)), 4) for k, v in sorted(groups.items())}

    def ndcg_interval(self, *, resamples: int = 2000, seed: int = 13) -> tuple[float, float]:
        """95% bootstrap interval (percentile, over queries) of mean NDCG@10."""
        values = np.array(list(self.ndcg.values()))
        if values.size < 2:
            return (float(values.mean()), float(values.mean())) if values.size else (0.0, 0.0)
        rng = np.random.default_rng(seed)
        means = values[rng.integers(0, values.size, (resamples, values.size))].mean(axis=1)
        return float(np.quantile(means, 0.025)), float(np.quantile(means, 0.975))


@dataclass(frozen=True, slots=True)
class PairedTest:
    system: str
    baseline: str
    delta: float  # mean NDCG@10 difference, system - baseline
    p_value: float  # two-sided, paired randomisation (sign-flip) test
    queries: int


def paired_test(
    system: SystemScores,
    baseline: SystemScores,
    *,
    names: tuple[str, str],
    resamples: int = 5000,
    seed: int = 13,
) -> PairedTest:
    """Sign-flip randomisation test on per-query NDCG@10 differences (same queries)."""
    common = sorted(set(system.ndcg) & set(baseline.ndcg))
    if not common:
        raise ValueError("the two systems share no evaluated query")
    diff = np.array([system.ndcg[q] - baseline.ndcg[q] for q in common])
    observed = abs(diff.mean())
    rng = np.random.default_rng(seed)
    signs = rng.choice((-1.0, 1.0), size=(resamples, diff.size))
    extreme = int((np.abs((signs * diff).mean(axis=1)) >= observed - 1e-12).sum())
    return PairedTest(
        names[0], names[1], float(diff.mean()), (extreme + 1) / (resamples + 1), diff.size
    )


def evaluate(
    runs: Sequence[tuple[JudgedQuery, CandidateSet]], rankers: Mapping[str, Ranker]
) -> dict[str, SystemScores]:
    """Score every ranker on the same candidates of every judged query."""
    if not runs:
        raise ValueError("no judged queries to evaluate; check the split and the label file")
    out: dict[str, SystemScores] = {}
    for name, ranker in rankers.items():
        values: dict[str, list[float]] = {m: [] for m in METRICS}
        per_query: dict[str, float] = {}
        for query, candidates in runs:
            ranked = rank_ids(ranker, candidates) if len(candidates) else []
            for metric, value in (
                ("ndcg@10", ndcg_at_k(ranked, query.grades, 10)),
                ("recall@100", recall_at_k(ranked, query.grades, 100)),
                ("mrr", mrr(ranked, query.grades)),
            ):
                if value is not None:
                    values[metric].append(value)
                    if metric == "ndcg@10":
                        per_query[query.query_id] = value
        out[name] = SystemScores(
            means={m: (sum(v) / len(v) if v else 0.0) for m, v in values.items()},
            counts={m: len(v) for m, v in values.items()},
            ndcg=per_query,
            kinds={q.query_id: q.kind or "unknown" for q, _ in runs},
        )
    return out


def report(split: str, n: int, systems: Mapping[str, SystemScores]) -> dict[str, object]:
    """The JSON body of ``kgsearch evaluate --json``: metrics with 95% intervals, NDCG@10
    per query kind, and each non-baseline system against the best baseline."""
    body: dict[str, object] = {"split": split, "queries": n}
    body["systems"] = {
        name: {**s.as_dict(), "ndcg@10_ci95": [round(x, 4) for x in s.ndcg_interval()]}
        for name, s in systems.items()
    }
    body["by_kind"] = {name: s.by_kind() for name, s in systems.items()}
    body["kind_check"] = kind_check(systems)
    baselines = [b for b in BASELINES if b in systems]
    if baselines:
        best = max(baselines, key=lambda b: systems[b].means["ndcg@10"])
        tests = {}
        for name, scores in systems.items():
            if name in BASELINES:
                continue
            t = paired_test(scores, systems[best], names=(name, best))
            tests[name] = {
                "baseline": best,
                "delta_ndcg@10": round(t.delta, 4),
                "p_value": round(t.p_value, 4),
                "queries": t.queries,
            }
        body["vs_best_baseline"] = tests
    return body


def kind_check(systems: Mapping[str, SystemScores]) -> list[dict[str, object]]:
    """Each non-baseline system's NDCG@10 on each query kind against the best single
    signal (:data:`SINGLE_SIGNALS`) on that kind; ``worse`` marks a kind where the system
    trails it. Run on the valid split after training, it shows a kind a learned ranker
    handles worse than BM25 or BERT alone before anyone looks at the test split."""
    singles = {name: systems[name].by_kind() for name in SINGLE_SIGNALS if name in systems}
    if not singles:
        return []
    rows: list[dict[str, object]] = []
    for name, scores in systems.items():
        if name in BASELINES:
            continue
        for kind, value in scores.by_kind().items():
            best = max(singles, key=lambda s: singles[s].get(kind, 0.0))
            best_value = singles[best].get(kind, 0.0)
            rows.append(
                {
                    "system": name,
                    "kind": kind,
                    "ndcg@10": value,
                    "best_signal": best,
                    "best_signal_ndcg@10": best_value,
                    "worse": value < best_value,
                }
            )
    return rows
