"""Protocol 2, KGCN's CTR protocol: every positive pair plus as many sampled negatives per
user, the labelled pairs split 6:2:2; AUC over the test pairs, and F1 at the score threshold
that maximises F1 on validation. Models are tuned on validation AUC. A pair a model has no
opinion on gets a neutral score (the user's mean, see :func:`pair_scores`).

Two fusions: ``fused-linear`` (weights over the models' normalised scores, searched on
validation AUC) and ``fused`` (a small LightGBM classifier over the same scores plus item
popularity, item graph degree and user history length, trained on validation pairs);
``fused-cf`` is the same learned fusion over the collaborative models only (the control
that shows what the graph-based models add)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from recommend.base import Interactions, ItemGraph, Recommender
from recommend.evaluation.metrics import auc, best_f1_threshold, f1
from recommend.evaluation.ranking import expand_grid
from recommend.evaluation.splits import CTRSplit, ctr_split
from recommend.evaluation.topk import GRIDS, KG_PARAMS, build
from recommend.models.fused import normalise_rows

__all__ = ["CTR_FUSION_GRID", "run_ctr"]

Progress = Callable[[str], None]
Pairs = tuple[np.ndarray, np.ndarray, np.ndarray]

#: linear fusion weights searched on validation AUC ("fused-linear"; "fused" is learned)
CTR_FUSION_GRID: Mapping[str, list[float]] = {
    "als": [0.0, 0.5, 1.0],
    "popularity": [0.0, 0.25, 0.5, 1.0, 2.0],
    "itemknn": [0.0, 0.25, 0.5, 1.0],
    "kg": [0.0, 0.25, 0.5, 1.0],
    "kgneighbour": [0.0, 0.1, 0.25, 0.5],
    "kgpopularity": [0.0, 0.25, 0.5, 1.0],
}
_BATCH = 512


def pair_scores(model: Recommender, pairs: Pairs) -> np.ndarray:
    """Each pair's score, z-normalised within the user's row over all items, so that
    scores are comparable across users. A pair the model has no opinion on (NaN: an item
    it never saw in training) gets the row's mean, z = 0: neutral, neither liked nor
    disliked. (Ranking it last instead would call every unseen item a negative, which is
    not what "no opinion" means; ranking it by a silent 0 would depend on the scale.)"""
    users, items, _ = pairs
    out = np.empty(len(users))
    unique = np.unique(users)
    for start in range(0, len(unique), _BATCH):
        block = unique[start : start + _BATCH]
        raw = model.user_scores(block.tolist())
        rows = np.where(np.isnan(raw), 0.0, normalise_rows(raw, "zscore"))
        where = {int(u): r for r, u in enumerate(block)}
        mask = np.isin(users, block)
        out[mask] = rows[[where[int(u)] for u in users[mask]], items[mask]]
    return out


def run_ctr(
    data: Interactions, graph: ItemGraph, *, seed: int, progress: Progress
) -> dict[str, Any]:
    split = ctr_split(data, seed=seed)
    labels_val, labels_test = split.validation[2], split.test[2]
    results: dict[str, Any] = {}
    val: dict[str, np.ndarray] = {}
    test: dict[str, np.ndarray] = {}
    grids: dict[str, Mapping[str, list[Any]]] = {
        name: GRIDS[name] for name in ("popularity", "itemknn", "als", "bpr", "kgneighbour")
    }
    grids["als"] = {**GRIDS["als"], "weighting": ["log", "binary"]}
    grids["kgpopularity"] = {"similarity": ["jaccard", "cosine_idf"]}
    grids["kg"] = {k: [v] for k, v in KG_PARAMS.items()}
    for name, grid in grids.items():
        progress(f"CTR seed {seed}: tuning {name} ({len(expand_grid(grid))} settings)")
        best: tuple[float, dict[str, Any], np.ndarray, np.ndarray] | None = None
        for params in expand_grid(grid):
            model = build(name, params, seed).fit(split.train, graph=graph)
            v = pair_scores(model, split.validation)
            value = auc(labels_val, v)
            if best is None or value > best[0]:
                best = (value, params, v, pair_scores(model, split.test))
        assert best is not None
        _, params, val[name], test[name] = best
        results[name] = _scores(params, val[name], test[name], labels_val, labels_test)
    progress(f"CTR seed {seed}: fusion weights on validation")
    best_fusion: tuple[float, dict[str, float]] | None = None
    for point in expand_grid(CTR_FUSION_GRID):
        weights = dict(point)
        if not any(weights.values()):
            continue
        value = auc(labels_val, sum(w * val[n] for n, w in weights.items()))
        if best_fusion is None or value > best_fusion[0]:
            best_fusion = (value, weights)
    assert best_fusion is not None
    weights = best_fusion[1]
    fused_val = sum(w * val[n] for n, w in weights.items())
    fused_test = sum(w * test[n] for n, w in weights.items())
    results["fused-linear"] = _scores(
        {"weights": weights},
        np.asarray(fused_val),
        np.asarray(fused_test),
        labels_val,
        labels_test,
    )
    progress(f"CTR seed {seed}: LightGBM fusion on validation")
    results["fused"] = _learned_fusion(split, graph, val, test, seed=seed)
    # the control: the same learned fusion over the collaborative models only
    cf = ("popularity", "itemknn", "als", "bpr")
    results["fused-cf"] = _learned_fusion(
        split, graph, {n: val[n] for n in cf}, {n: test[n] for n in cf}, seed=seed
    )
    return results


def _pair_features(
    split: CTRSplit, graph: ItemGraph, scores: Mapping[str, np.ndarray], pairs: Pairs
) -> np.ndarray:
    """Per pair: every model's (normalised) score, the item's training popularity and
    graph degree, and the user's history length (all logs of counts)."""
    users, items, _ = pairs
    matrix = split.train.matrix.tocsr()
    popularity = np.log1p(np.diff(matrix.tocsc().indptr).astype(np.float64))
    history = np.log1p(np.diff(matrix.indptr).astype(np.float64))
    degree: dict[str, int] = {}
    for head, _, tail in graph.triples:
        degree[head] = degree.get(head, 0) + 1
        degree[tail] = degree.get(tail, 0) + 1
    item_degree = np.log1p(
        [degree.get(graph.item_entities.get(i, ""), 0) for i in split.train.items]
    )
    columns = [scores[name] for name in sorted(scores)]
    columns += [popularity[items], item_degree[items], history[users]]
    return np.column_stack(columns)


def _learned_fusion(
    split: CTRSplit,
    graph: ItemGraph,
    val: Mapping[str, np.ndarray],
    test: Mapping[str, np.ndarray],
    *,
    seed: int,
) -> dict[str, Any]:
    """A small LightGBM classifier over the models' pair scores and simple counts, fitted
    on four fifths of the validation pairs and stopped early on the last fifth (where the
    F1 threshold is chosen too); the test pairs are scored once."""
    import lightgbm as lgb

    x_val = _pair_features(split, graph, val, split.validation)
    x_test = _pair_features(split, graph, test, split.test)
    y_val = split.validation[2]
    order = np.random.default_rng(seed).permutation(len(y_val))
    stop, fit = order[: len(order) // 5], order[len(order) // 5 :]
    params = {
        "objective": "binary",
        "metric": "auc",
        "learning_rate": 0.05,
        "num_leaves": 15,
        "min_data_in_leaf": 50,
        "feature_fraction": 0.9,
        "seed": seed,
        "deterministic": True,
        "num_threads": 1,
        "force_row_wise": True,
        "verbosity": -1,
    }
    train_set = lgb.Dataset(x_val[fit], y_val[fit])
    stop_set = lgb.Dataset(x_val[stop], y_val[stop], reference=train_set)
    booster = lgb.train(
        params,
        train_set,
        num_boost_round=500,
        valid_sets=[stop_set],
        callbacks=[lgb.early_stopping(30, verbose=False)],
    )
    held = np.asarray(booster.predict(x_val[stop], num_threads=1), dtype=np.float64)
    predicted = np.asarray(booster.predict(x_test, num_threads=1), dtype=np.float64)
    return {
        **_scores(
            {
                "model": "lightgbm",
                "best_iteration": booster.best_iteration,
                "features": [*sorted(val), "item_popularity", "item_degree", "user_history"],
            },
            held,
            predicted,
            y_val[stop],
            split.test[2],
        )
    }


def _scores(
    params: Mapping[str, Any],
    val: np.ndarray,
    test: np.ndarray,
    labels_val: np.ndarray,
    labels_test: np.ndarray,
) -> dict[str, Any]:
    threshold = best_f1_threshold(labels_val, val)
    return {
        "auc": auc(labels_test, test),
        "f1": f1(labels_test, test >= threshold),
        "validation_auc": auc(labels_val, val),
        "params": dict(params),
    }
