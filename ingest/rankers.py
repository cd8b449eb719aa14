"""The rankers of an index version, on its judged queries: tune ``linear`` and train the
learned rankers on ``train`` (stopping early on ``valid``), then evaluate every ranker on
``valid`` and ``test``. Test queries are never seen before the evaluation."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from ingest.progress import Progress, no_progress
from ranker.candidates import CandidateSet
from ranker.evaluation import JudgedQuery, SystemScores, evaluate, kind_check
from ranker.features import DEFAULT_FEATURES, NO_KG_FEATURES, FeatureSchema
from ranker.fusion import FIXED_RANKERS, Ranker, tune_linear
from ranker.registry import make_ranker
from search.service import SearchService

__all__ = ["QueryVariants", "collect_runs", "train_and_evaluate", "variant_runs"]

#: Extra phrasings of a training query (text, query id) -> texts, labelled like it: the
#: app passes misspelled copies (``synthetic.typos.typo_variants``), so the learned
#: rankers see corrected and fuzzily matched queries in training.
QueryVariants = Callable[[str, str], Sequence[str]]

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
    variants: QueryVariants | None = None,
) -> dict[str, dict[str, dict[str, float]]]:
    """On judged queries: tune ``linear`` and train the learned rankers on ``train``
    (stopping early on ``valid``), then evaluate every ranker on ``valid`` and ``test``.
    Updates ``rankers`` with what was trained; never looks at ``test`` before evaluating.

    ``variants`` adds phrasings of the train queries to the learned rankers' training
    (never to valid or test). After training, each learned ranker's valid NDCG@10 per
    query kind is compared with the best single signal's on that kind
    (:func:`ranker.evaluation.kind_check`), logged, and saved in ``rankers/valid_check.json``,
    so a kind that got worse is seen before the test split is looked at."""
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

        learn_from = pairs["train"]
        if variants is not None:
            extra = variant_runs(service, [q for q, _ in runs["train"]], variants, progress)
            learn_from = [*learn_from, *extra]
            log.info(
                "%d misspelled/variant copies added to %d train queries", len(extra), len(train)
            )

        for name, kind, features in (
            ("lambdamart", "lambdamart", DEFAULT_FEATURES),
            ("lambdamart-nokg", "lambdamart", NO_KG_FEATURES),
            ("neural", "neural", DEFAULT_FEATURES),
        ):
            trainer = train_lambdamart if kind == "lambdamart" else train_neural
            model = trainer(learn_from, pairs["valid"], schema=FeatureSchema(features))
            model.save(where / "rankers" / name)
            rankers[name] = {"kind": kind, "path": f"rankers/{name}"}
            progress("rankers", len(rankers) - len(FIXED_RANKERS), 3)
    systems: dict[str, Ranker] = {n: make_ranker(n, p, base=where) for n, p in rankers.items()}
    for split in ("valid", "test"):
        if runs[split]:
            scores = evaluate(runs[split], systems)
            evaluation[split] = {n: s.as_dict() for n, s in scores.items()}
            if split == "valid" and learned:
                _report_kinds(scores, where)
    seconds["train_and_evaluate"] = time.perf_counter() - started
    return evaluation


def variant_runs(
    service: SearchService,
    queries: Sequence[JudgedQuery],
    variants: QueryVariants,
    progress: Progress = no_progress,
) -> list[tuple[CandidateSet, Mapping[str, int]]]:
    """Candidates of every variant of ``queries``, with the original query's labels."""
    texts = [(q, text) for q in queries for text in variants(q.text, q.query_id)]
    out: list[tuple[CandidateSet, Mapping[str, int]]] = []
    for i, (query, text) in enumerate(texts, start=1):
        out.append((service.candidates(text), query.grades))
        progress("variants", i, len(texts))
    return out


def _report_kinds(scores: Mapping[str, SystemScores], where: Path) -> None:
    """Log and save the valid split's per-kind check of the learned rankers."""
    check = kind_check(scores)
    for row in check:
        if row["worse"]:
            log.warning(
                "valid split, %s on %s queries: NDCG@10 %.4f < %s alone %.4f",
                row["system"],
                row["kind"],
                row["ndcg@10"],
                row["best_signal"],
                row["best_signal_ndcg@10"],
            )
    (where / "rankers").mkdir(parents=True, exist_ok=True)
    (where / "rankers" / "valid_check.json").write_text(json.dumps(check, indent=2))
