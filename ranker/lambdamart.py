"""LambdaMART (LightGBM ``lambdarank``) over the registered features; per-feature
contributions from LightGBM's TreeSHAP (``pred_contrib``), which sum to the score."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import lightgbm as lgb
import numpy as np
import numpy.typing as npt

from ranker.candidates import Array, CandidateSet, Rows
from ranker.features import FeatureSchema, feature_matrix
from ranker.learned import Run, read_meta, training_data, write_meta

__all__ = [
    "INCREASING",
    "LambdaMARTRanker",
    "lambdarank_params",
    "monotone_constraints",
    "shap_parts",
    "train_lambdamart",
]

#: Features whose direction is known: with everything else equal, more of the query's
#: words in a product's name, class, category, brand or attributes, or a closer match
#: of its linked brand, category or attribute values, never makes the product less
#: relevant. LightGBM is held to that (``monotone_constraints``), so a tree cannot learn
#: a dip from a few odd training queries and apply it to queries phrased otherwise.
#: Description BM25 and the dense and prior signals are left free.
INCREASING = frozenset(
    {
        "bm25",
        "bm25_norm",
        "bm25_rr",
        "bm25_name",
        "bm25_product_class",
        "bm25_category",
        "bm25_brand",
        "bm25_attributes",
        "match_brand",
        "match_category",
        "match_attribute",
    }
)


def monotone_constraints(names: Sequence[str]) -> list[int]:
    """LightGBM's per-feature constraint list for ``names``: 1 for :data:`INCREASING`."""
    return [1 if name in INCREASING else 0 for name in names]


class LambdaMARTRanker:
    name: ClassVar[str] = "lambdamart"

    def __init__(
        self, *, booster: lgb.Booster, schema: FeatureSchema, meta: dict[str, Any]
    ) -> None:
        if booster.num_feature() != len(schema.names):
            raise ValueError(
                f"model has {booster.num_feature()} features, schema has {len(schema.names)}"
            )
        self.booster, self.schema, self.meta = booster, schema, meta
        self._path: Path | None = None

    def score(self, candidates: CandidateSet) -> Array:
        if not len(candidates):
            return np.zeros(0)
        x = feature_matrix(candidates, self.schema)
        return np.asarray(self.booster.predict(x, num_threads=1), dtype=np.float64)

    def explain(self, candidates: CandidateSet, rows: Rows) -> dict[str, Array]:
        if not len(rows):
            return {}
        x = feature_matrix(candidates, self.schema)[rows]
        return shap_parts(self.booster, x, self.schema.names)

    def params(self) -> dict[str, Any]:
        return {"kind": self.name, "path": str(self._path) if self._path else None}

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.booster.save_model(str(directory / "model.txt"))
        write_meta(directory, self.meta)
        self._path = directory

    @classmethod
    def load(cls, directory: Path) -> LambdaMARTRanker:
        meta, schema = read_meta(directory, cls.name)
        booster = lgb.Booster(model_file=str(directory / "model.txt"))
        ranker = cls(booster=booster, schema=schema, meta=meta)
        ranker._path = directory
        return ranker


def train_lambdamart(
    train: Sequence[Run],
    valid: Sequence[Run],
    *,
    schema: FeatureSchema,
    seed: int = 13,
    rounds: int = 600,
    early_stopping: int = 50,
    learning_rate: float = 0.05,
    num_leaves: int = 31,
    monotone: bool = True,
) -> LambdaMARTRanker:
    """Train on ``train``, stop early on ``valid`` NDCG@10 (never sees test); with
    ``monotone``, the :data:`INCREASING` features can only raise a score."""
    tr = training_data(train, schema)
    va = training_data(valid, schema)
    params = lambdarank_params(seed=seed, learning_rate=learning_rate, num_leaves=num_leaves)
    constraints = monotone_constraints(schema.names)
    if monotone and any(constraints):
        params["monotone_constraints"] = constraints
        params["monotone_constraints_method"] = "intermediate"
    train_set = lgb.Dataset(
        tr.features, tr.labels, group=list(tr.groups), feature_name=list(schema.names)
    )
    valid_set = lgb.Dataset(va.features, va.labels, group=list(va.groups), reference=train_set)
    booster = lgb.train(
        params,
        train_set,
        num_boost_round=rounds,
        valid_sets=[valid_set],
        valid_names=["valid"],
        callbacks=[lgb.early_stopping(early_stopping, verbose=False)],
    )
    meta = {
        "kind": LambdaMARTRanker.name,
        "features": list(schema.names),
        "schema_digest": schema.digest,
        "params": params,
        "best_iteration": booster.best_iteration,
        "valid_ndcg@10": round(float(booster.best_score["valid"]["ndcg@10"]), 4),
        "train_queries": len(tr.groups),
        "valid_queries": len(va.groups),
        "dropped_queries": tr.dropped + va.dropped,
    }
    return LambdaMARTRanker(booster=booster, schema=schema, meta=meta)


def lambdarank_params(
    *,
    seed: int,
    learning_rate: float,
    num_leaves: int,
    eval_at: int = 10,
    min_data_in_leaf: int = 20,
) -> dict[str, Any]:
    """LightGBM ``lambdarank`` parameters on graded labels 0/1/2, reproducible on any
    machine (shared with the recommendation fusion, ``recommend/fusion.py``)."""
    return {
        "objective": "lambdarank",
        "metric": "ndcg",
        "ndcg_eval_at": [eval_at],
        "label_gain": [0.0, 1.0, 2.0],  # linear gain, as in our NDCG
        "learning_rate": learning_rate,
        "num_leaves": num_leaves,
        "min_data_in_leaf": min_data_in_leaf,
        "feature_fraction": 0.9,
        "bagging_fraction": 0.9,
        "bagging_freq": 1,
        "lambdarank_truncation_level": 20,
        "seed": seed,
        # Reproducible on any machine: a fixed thread count (never the core count),
        # deterministic mode, and a fixed histogram layout (left alone, LightGBM times
        # row- against column-wise building and keeps the faster: a machine-dependent choice).
        "deterministic": True,
        "num_threads": 2,
        "force_row_wise": True,
        "verbosity": -1,
    }


def shap_parts(
    booster: lgb.Booster, x: npt.NDArray[np.floating[Any]], names: Sequence[str]
) -> dict[str, Array]:
    """Per-feature TreeSHAP contributions (``pred_contrib``) of each row of ``x``, and
    ``bias`` (the model's expected value): per row they sum to the model's score."""
    contrib = np.asarray(booster.predict(x, pred_contrib=True, num_threads=1))
    parts = {name: contrib[:, i] for i, name in enumerate(names)}
    parts["bias"] = contrib[:, -1]
    return parts
