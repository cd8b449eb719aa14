"""The rankers of an index version, on its judged queries: tune ``linear`` and train the
learned rankers on ``train`` (stopping early on ``valid``), then evaluate every ranker on
``valid`` and ``test``. Test queries are never seen before the evaluation."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from pathlib import Path

from ingest.progress import Progress, no_progress
from ranker.candidates import CandidateSet
from ranker.evaluation import JudgedQuery, evaluate
from ranker.features import DEFAULT_FEATURES, NO_KG_FEATURES, FeatureSchema
from ranker.fusion import FIXED_RANKERS, Ranker, tune_linear
from ranker.registry import make_ranker
from search.service import SearchService

__all__ = ["collect_runs", "train_and_evaluate"]

log = logging.getLogger(__name__)


def collect_runs(
    service: SearchService,
    queries: Sequence[JudgedQuery],
    progress: Progress = no_progress,
    *,
    stage: str = "queries",
) -> list[tuple[JudgedQuery, CandidateSet]]:
    runs = []
    for i, query in enumerate(queries, start=1):
        runs.append((query, service.candidates(query.text)))
        progress(stage, i, len(queries))
    return runs


def train_and_evaluate(
    service: SearchService,
    judged: Sequence[JudgedQuery],
    where: Path,
    rankers: dict[str, dict[str, object]],
    seconds: dict[str, float],
    *,
    learned: bool,
    progress: Progress,
) -> dict[str, dict[str, dict[str, float]]]:
    """On judged queries: tune ``linear`` and train the learned rankers on ``train``
    (stopping early on ``valid``), then evaluate every ranker on ``valid`` and ``test``.
    Updates ``rankers`` with what was trained; never looks at ``test`` before evaluating."""
    evaluation: dict[str, dict[str, dict[str, float]]] = {}
    train = [q for q in judged if q.split == "train" and q.grades]
    if not train:
        return evaluation
    started = time.perf_counter()
    runs = {
        split: collect_runs(
            service, [q for q in judged if q.split == split and q.grades], progress, stage=split
        )
        for split in ("train", "valid", "test")
    }
    pairs = {split: [(c, q.grades) for q, c in r] for split, r in runs.items()}
    tuned, train_ndcg = tune_linear(pairs["train"])
    rankers["linear"] = tuned.params()
    log.info(
        "linear fusion tuned on %d train queries: %s (NDCG@10 %.4f)",
        len(train),
        tuned.params(),
        train_ndcg,
    )
    if learned and pairs["valid"]:
        from ranker.lambdamart import train_lambdamart
        from ranker.neural import train_neural

        for name, kind, features in (
            ("lambdamart", "lambdamart", DEFAULT_FEATURES),
            ("lambdamart-nokg", "lambdamart", NO_KG_FEATURES),
            ("neural", "neural", DEFAULT_FEATURES),
        ):
            trainer = train_lambdamart if kind == "lambdamart" else train_neural
            model = trainer(pairs["train"], pairs["valid"], schema=FeatureSchema(features))
            model.save(where / "rankers" / name)
            rankers[name] = {"kind": kind, "path": f"rankers/{name}"}
            progress("rankers", len(rankers) - len(FIXED_RANKERS), 3)
    systems: dict[str, Ranker] = {n: make_ranker(n, p, base=where) for n, p in rankers.items()}
    for split in ("valid", "test"):
        if runs[split]:
            evaluation[split] = {n: s.as_dict() for n, s in evaluate(runs[split], systems).items()}
    seconds["train_and_evaluate"] = time.perf_counter() - started
    return evaluation
