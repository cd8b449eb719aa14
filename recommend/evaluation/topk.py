"""Protocol 1, top-K: per user a seeded 80/20 split (10 % of train as validation), rank
every unseen item, Recall@20, NDCG@20, coverage@20; every model tuned on validation, then
refitted on the whole train split and measured once on test; the fused model's per-user
recall compared with the best baseline's by a paired test. ``learned-fusion``: LambdaMART
over the same members, trained on the validation split (:mod:`recommend.evaluation.learned`)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from recommend.base import Interactions, ItemGraph, Recommender, Scores
from recommend.evaluation.learned import learned_fusion
from recommend.evaluation.metrics import paired_test
from recommend.evaluation.ranking import RankingTask, expand_grid, tune
from recommend.evaluation.splits import topk_split
from recommend.models import make_recommender
from recommend.models.fused import fuse_scores, normalise_rows

__all__ = ["BASELINES", "CF_FUSION_GRID", "FUSION_GRID", "GRIDS", "run_topk"]

Progress = Callable[[str], None]

BASELINES = ("popularity", "itemknn", "als", "bpr")
#: small grids, searched on the validation split only
GRIDS: Mapping[str, Mapping[str, list[Any]]] = {
    "popularity": {"weighting": ["binary", "log"]},
    "itemknn": {
        "neighbours": [50, 100, 200, 400],
        "shrinkage": [0.0, 20.0],
        "weighting": ["binary", "log"],
    },
    "kgitemknn": {
        "neighbours": [100, 200, 400],
        "shrinkage": [20.0],
        "graph_weight": [0.03, 0.1, 0.2],
    },
    "als": {
        "factors": [8, 16, 32, 64],
        "regularization": [0.05, 0.5],
        "alpha": [2.0, 10.0, 40.0],
    },
    "bpr": {
        "factors": [16, 64],
        "learning_rate": [0.01, 0.05],
        "regularization": [0.001, 0.01],
        "iterations": [100, 300],
    },
    "kgneighbour": {"similarity": ["jaccard", "cosine_idf"]},
}
#: the collaborative-KG embedding: one configuration (training is the expensive part)
KG_PARAMS: Mapping[str, Any] = {"model": "TransE", "dim": 64, "epochs": 40, "lr": 0.01}
#: the KG-aware fusion: ALS (weight fixed at 1) + ItemKNN and/or KG-enriched ItemKNN + the
#: collaborative-KG embedding + KG-neighbour similarity (+ popularity); weights searched on
#: validation
FUSION_GRID: Mapping[str, list[float]] = {
    "itemknn": [0.5, 1.0, 2.0],
    "kgitemknn": [0.0, 0.5, 1.0],
    "kg": [0.0, 0.25, 0.5, 1.0],
    "kgneighbour": [0.0, 0.1, 0.25],
    "popularity": [0.0, 0.1],
}
#: the control without the graph: ALS (1) + ItemKNN (+ popularity), searched the same way
CF_FUSION_GRID: Mapping[str, list[float]] = {"itemknn": [0.5, 1.0, 2.0], "popularity": [0.0, 0.1]}
SEEDED = {"als", "bpr", "kg"}


def build(name: str, params: Mapping[str, Any], seed: int) -> Recommender:
    return make_recommender(name, **params, **({"seed": seed} if name in SEEDED else {}))


def run_topk(
    data: Interactions, graph: ItemGraph, *, seed: int, progress: Progress
) -> dict[str, Any]:
    split = topk_split(data, seed=seed)
    validation = RankingTask(split.train, split.validation)
    test = RankingTask(split.train_full, split.test)
    results: dict[str, Any] = {}
    val_scores: dict[str, Scores] = {}
    test_scores: dict[str, Scores] = {}
    per_user: dict[str, np.ndarray] = {}
    grids: dict[str, Mapping[str, list[Any]]] = {
        **GRIDS,
        "kg": {k: [v] for k, v in KG_PARAMS.items()},
    }
    for name, grid in grids.items():
        progress(f"top-K seed {seed}: tuning {name} ({len(expand_grid(grid))} settings)")
        params, trials, fitted = tune(
            lambda p, name=name: build(name, p, seed),  # type: ignore[misc]
            grid,
            fit_on=split.train,
            graph=graph,
            score=lambda m: float(validation.run(m).recall.mean()),
        )
        val_scores[name] = validation.scores(fitted)
        final = build(name, params, seed).fit(split.train_full, graph=graph)
        test_scores[name] = test.scores(final)
        result = test.evaluate(test_scores[name])
        per_user[name] = result.recall
        results[name] = {**result.summary(), "params": final.params(), "tuning": trials}
    progress(f"top-K seed {seed}: fusion weights on validation")
    weights, fusion_trials = _tune_fusion(val_scores, validation, FUSION_GRID)
    fused = test.evaluate(fuse_scores(test_scores, weights))
    # the control: the same fusion without any KG-aware member (what the graph adds)
    cf_weights, cf_trials = _tune_fusion(
        {n: val_scores[n] for n in ("als", "itemknn", "popularity")}, validation, CF_FUSION_GRID
    )
    fused_cf = test.evaluate(fuse_scores(test_scores, cf_weights))
    per_user["fused-cf"] = fused_cf.recall
    results["fused-cf"] = {
        **fused_cf.summary(),
        "params": {"weights": cf_weights},
        "tuning": cf_trials,
    }
    per_user["fused"] = fused.recall
    results["fused"] = {**fused.summary(), "params": {"weights": weights}, "tuning": fusion_trials}
    best = max(BASELINES, key=lambda n: results[n]["recall@20"])
    results["fused"]["vs_best_baseline"] = {
        "baseline": best,
        **paired_test(fused.recall, per_user[best]),
    }
    results["fused"]["vs_fused_cf"] = paired_test(fused.recall, fused_cf.recall)
    progress(f"top-K seed {seed}: learned fusion (LambdaMART) on validation")
    learned_scores, learned_meta = learned_fusion(
        val_scores, validation, test_scores, test, weights, seed=seed
    )
    learned = test.evaluate(learned_scores)
    per_user["learned-fusion"] = learned.recall
    results["learned-fusion"] = {
        **learned.summary(),
        "params": learned_meta,
        "vs_best_baseline": {"baseline": best, **paired_test(learned.recall, per_user[best])},
        "vs_fused": paired_test(learned.recall, fused.recall),
    }
    results["sparse_users"] = _by_history(split.train_full, test.users, per_user)
    return results


def _tune_fusion(
    scores: Mapping[str, Scores], task: RankingTask, grid: Mapping[str, list[float]]
) -> tuple[dict[str, float], list[dict[str, Any]]]:
    normal = {name: normalise_rows(s, "zscore") for name, s in scores.items()}
    del scores
    trials: list[dict[str, Any]] = []
    best: tuple[float, dict[str, float]] | None = None
    for point in expand_grid(grid):
        weights = {"als": 1.0, **point}
        value = float(task.evaluate(fuse_scores(normal, weights, None)).recall.mean())
        trials.append({"params": weights, "validation": value})
        if best is None or value > best[0]:
            best = (value, weights)
    assert best is not None
    return best[1], trials


def _by_history(
    train: Interactions, users: np.ndarray, per_user: Mapping[str, np.ndarray]
) -> dict[str, dict[str, float]]:
    """Mean test recall per bucket of training-history length (sparse users first)."""
    counts = np.diff(train.matrix.tocsr().indptr)[users]
    buckets = {
        "<=7 items": counts <= 7,
        "8-15 items": (counts > 7) & (counts <= 15),
        ">15 items": counts > 15,
    }
    return {
        bucket: {
            "users": float(mask.sum()),
            **{n: float(r[mask].mean()) for n, r in per_user.items()},
        }
        for bucket, mask in buckets.items()
        if mask.any()
    }
