"""A learned fusion for the top-K protocol: LightGBM LambdaMART over the members' scores,
trained on the validation split only (members fitted on ``train``, labels = the validation
items), then applied to the members refitted on the whole train split.

Per user, the candidates are the union of each member's ``pool`` best unseen items;
features per (user, item): each member's row-z-scored score and ``1 / rank``, the tuned
weighted fusion's score, the item's popularity and the user's history length (both
``log(1 + count)``). Validation users are split 80/20 (by a seeded draw) into training
lists and early-stopping lists. Items outside the candidates get no score (NaN: ranked
last).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from recommend.base import Interactions, Scores
from recommend.evaluation.ranking import RankingTask
from recommend.models.fused import fuse_scores, normalise_rows

__all__ = ["learned_fusion"]

_BATCH = 256


def _features(
    scores: Mapping[str, Scores],
    weights: Mapping[str, float],
    task: RankingTask,
    members: Sequence[str],
    pool: int,
) -> tuple[list[npt.NDArray[np.int64]], list[npt.NDArray[np.float32]]]:
    """Per user of ``task``: candidate items and their feature rows."""
    users = task.users
    train = task.train.matrix.tocsr()
    popularity = np.log1p(np.asarray((train > 0).sum(axis=0)).ravel())
    lengths = np.log1p(np.diff(train.indptr))
    items_out: list[npt.NDArray[np.int64]] = []
    x_out: list[npt.NDArray[np.float32]] = []
    for start in range(0, len(users), _BATCH):
        rows = slice(start, start + _BATCH)
        block = {m: normalise_rows(scores[m][rows], "zscore") for m in members}
        fused = fuse_scores(block, weights, None)
        for r, user in enumerate(users[rows]):
            seen = train.indices[train.indptr[user] : train.indptr[user + 1]]
            keys: dict[str, npt.NDArray[np.float64]] = {}
            for m in members:
                key = np.where(np.isnan(block[m][r]), -np.inf, block[m][r])
                key[seen] = -np.inf
                keys[m] = key
            n = min(pool, len(popularity) - 1)
            candidates = np.unique(
                np.concatenate([np.argpartition(-k, n)[:n] for k in keys.values()])
            )
            candidates = np.setdiff1d(candidates, seen)
            columns = []
            for m in members:
                order = np.argsort(-keys[m], kind="stable")
                rank = np.empty(len(order))
                rank[order] = np.arange(1, len(order) + 1)
                z = np.nan_to_num(block[m][r][candidates], nan=-5.0)
                columns += [z, 1.0 / rank[candidates]]
            columns += [
                np.nan_to_num(fused[r][candidates], nan=-5.0),
                popularity[candidates],
                np.full(len(candidates), lengths[user]),
            ]
            items_out.append(candidates.astype(np.int64))
            x_out.append(np.column_stack(columns).astype(np.float32))
    return items_out, x_out


def learned_fusion(
    val_scores: Mapping[str, Scores],
    validation: RankingTask,
    test_scores: Mapping[str, Scores],
    test: RankingTask,
    weights: Mapping[str, float],
    *,
    seed: int,
    pool: int = 100,
    valid_fraction: float = 0.2,
    min_lists: int = 50,
) -> tuple[Scores, dict[str, Any]]:
    """Train on the validation split, score the test users; returns the test score matrix
    (NaN outside the candidates) and what was trained. With fewer than ``min_lists``
    validation lists it trains nothing and returns the weighted fusion's scores."""
    import lightgbm as lgb

    from ranker.lambdamart import lambdarank_params

    members = sorted(val_scores)
    names = [f"{m}_{kind}" for m in members for kind in ("z", "rr")]
    names += ["fused", "item_popularity", "user_history"]
    items, xs = _features(val_scores, weights, validation, members, pool)
    labels = [
        np.isin(ids, list(validation.held[int(u)])).astype(np.int32)
        for ids, u in zip(items, validation.users, strict=True)
    ]
    rng = np.random.default_rng(seed)
    stop = rng.random(len(items)) < valid_fraction
    keep = [i for i, y in enumerate(labels) if y.any()]

    def dataset(chosen: list[int], reference: Any = None) -> Any:
        return lgb.Dataset(
            np.vstack([xs[i] for i in chosen]),
            np.concatenate([labels[i] for i in chosen]),
            group=[len(items[i]) for i in chosen],
            feature_name=names,
            reference=reference,
        )

    fit_lists = [i for i in keep if not stop[i]]
    stop_lists = [i for i in keep if stop[i]]
    if len(fit_lists) < min_lists or not stop_lists:
        fallback = fuse_scores(
            {m: normalise_rows(test_scores[m], "zscore") for m in members}, weights, None
        )
        why = f"{len(fit_lists)} training lists < {min_lists}: weighted fusion's scores"
        return fallback, {"skipped": why}
    train_set = dataset(fit_lists)
    params = lambdarank_params(
        seed=seed, learning_rate=0.05, num_leaves=15, eval_at=20, min_data_in_leaf=50
    )
    booster = lgb.train(
        params,
        train_set,
        num_boost_round=400,
        valid_sets=[dataset(stop_lists, train_set)],
        valid_names=["valid"],
        callbacks=[lgb.early_stopping(40, verbose=False)],
    )
    test_items, test_x = _features(test_scores, weights, test, members, pool)
    out = np.full((len(test.users), _n_items(test.train)), np.nan)
    for row, (ids, x) in enumerate(zip(test_items, test_x, strict=True)):
        out[row, ids] = booster.predict(x, num_threads=1)
    meta = {
        "features": names,
        "train_lists": len(fit_lists),
        "early_stopping_lists": len(stop_lists),
        "lists_without_positive_candidate": len(items) - len(keep),
        "best_iteration": booster.best_iteration,
        "valid_ndcg@20": round(float(booster.best_score["valid"]["ndcg@20"]), 4),
        "pool": pool,
    }
    return out, meta


def _n_items(data: Interactions) -> int:
    return len(data.items)
