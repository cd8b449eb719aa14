"""Protocol 3, item cold start: a seeded 10 % of the items loses all its interactions (the
items stay in the catalogue and the graph); for every user who had interacted with one,
rank the cold items and measure Recall@20 over them. The KG models are compared with a
KG-degree ranking and a seeded random one. Their settings and the fusion weights are
chosen on a second cold split carved out of the training items (validation), never on
the test items."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from recommend.base import Interactions, ItemGraph, Scores
from recommend.evaluation.ranking import RankingTask, expand_grid, tune
from recommend.evaluation.splits import cold_item_split
from recommend.evaluation.topk import KG_PARAMS, build
from recommend.models.fused import fuse_scores, normalise_rows

__all__ = ["COLD_FUSION_GRID", "COLD_GRIDS", "run_cold"]

Progress = Callable[[str], None]

COLD_GRIDS: Mapping[str, Mapping[str, list[Any]]] = {
    "kgdegree": {},
    "kgneighbour": {"similarity": ["jaccard", "cosine_idf"], "typed": [False, True]},
    "kgpopularity": {"similarity": ["jaccard", "cosine_idf"], "weighting": ["binary", "log"]},
    "kg": {k: [v] for k, v in KG_PARAMS.items()},
}
#: fusion weights searched on the validation cold items (kgneighbour's weight fixed at 1)
COLD_FUSION_GRID: Mapping[str, list[float]] = {
    "kgpopularity": [0.0, 0.25, 0.5, 1.0, 2.0],
    "kg": [0.0, 0.25, 0.5, 1.0],
    "kgdegree": [0.0, 0.25, 0.5],
}


def run_cold(
    data: Interactions, graph: ItemGraph, *, seed: int, progress: Progress
) -> dict[str, Any]:
    split = cold_item_split(data, seed=seed)
    inner = cold_item_split(split.train, seed=seed + 10_000)
    validation = RankingTask(inner.train, inner.test, candidates=inner.cold_items)
    test = RankingTask(split.train, split.test, candidates=split.cold_items)
    results: dict[str, Any] = {}
    val_scores: dict[str, Scores] = {}
    test_scores: dict[str, Scores] = {}
    rng = np.random.default_rng(seed)
    random_scores = rng.random((len(test.users), len(data.items)))
    results["random"] = {**test.evaluate(random_scores).summary(), "params": {"seed": seed}}
    reference = build("kgneighbour", {"similarity": "jaccard"}, seed).fit(split.train, graph=graph)
    results["kgneighbour-jaccard"] = {
        **test.run(reference).summary(),
        "params": reference.params(),
    }
    for name, grid in COLD_GRIDS.items():
        progress(f"cold items seed {seed}: tuning {name} ({len(expand_grid(grid))} settings)")
        params, trials, fitted = tune(
            lambda p, name=name: build(name, p, seed),  # type: ignore[misc]
            grid,
            fit_on=inner.train,
            graph=graph,
            score=lambda m: float(validation.run(m).recall.mean()),
        )
        val_scores[name] = validation.scores(fitted)
        final = build(name, params, seed).fit(split.train, graph=graph)
        test_scores[name] = test.scores(final)
        results[name] = {
            **test.evaluate(test_scores[name]).summary(),
            "params": final.params(),
            "tuning": trials,
        }
    progress(f"cold items seed {seed}: fusion weights on validation")
    normal = {n: _normal_on(s, inner.cold_items) for n, s in val_scores.items()}
    best: tuple[float, dict[str, float]] | None = None
    trials_f: list[dict[str, Any]] = []
    for point in expand_grid(COLD_FUSION_GRID):
        weights = {"kgneighbour": 1.0, **point}
        value = float(validation.evaluate(fuse_scores(normal, weights, None)).recall.mean())
        trials_f.append({"params": weights, "validation": value})
        if best is None or value > best[0]:
            best = (value, weights)
    assert best is not None
    normal_test = {n: _normal_on(s, split.cold_items) for n, s in test_scores.items()}
    fused = test.evaluate(fuse_scores(normal_test, best[1], None))
    results["fused"] = {**fused.summary(), "params": {"weights": best[1]}, "tuning": trials_f}
    results["split"] = {
        "cold_items": len(split.cold_items),
        "test_users": len(split.test),
        "test_pairs": int(sum(len(v) for v in split.test.values())),
    }
    return results


def _normal_on(scores: Scores, candidates: np.ndarray) -> Scores:
    """Z-normalise over the candidate (cold) columns only; the rest is NaN."""
    out = np.full(scores.shape, np.nan)
    out[:, candidates] = normalise_rows(scores[:, candidates], "zscore")
    return out
