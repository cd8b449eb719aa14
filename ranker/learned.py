"""Shared pieces of the learned rankers: training data, model metadata on disk."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from ranker.candidates import CandidateSet
from ranker.features import FeatureSchema, feature_matrix

__all__ = ["Run", "TrainingData", "read_meta", "training_data", "write_meta"]

Run = tuple[CandidateSet, Mapping[str, int]]  # candidates and the query's graded labels


@dataclass(frozen=True)
class TrainingData:
    features: npt.NDArray[np.float32]  # (rows, features)
    labels: npt.NDArray[np.int32]  # 0, 1, 2; unjudged candidates are 0
    groups: tuple[int, ...]  # rows per query, in order
    dropped: int  # queries left out for having no positive label among their candidates


def training_data(runs: Sequence[Run], schema: FeatureSchema) -> TrainingData:
    """Stack the candidates of every query that has a positive label among them."""
    blocks, labels, groups, dropped = [], [], [], 0
    for candidates, grades in runs:
        y = np.array([grades.get(pid, 0) for pid in candidates.product_ids], dtype=np.int32)
        if len(candidates) < 2 or not (y > 0).any():
            dropped += 1
            continue
        blocks.append(feature_matrix(candidates, schema))
        labels.append(y)
        groups.append(len(candidates))
    if not blocks:
        raise ValueError(
            "no training query has a positive (Exact or Partial) label among its candidates; "
            "check the judgments and the split"
        )
    return TrainingData(np.vstack(blocks), np.concatenate(labels), tuple(groups), dropped)


def write_meta(directory: Path, meta: Mapping[str, Any]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "meta.json").write_text(json.dumps(meta, indent=2, sort_keys=True))


def read_meta(directory: Path, kind: str) -> tuple[dict[str, Any], FeatureSchema]:
    path = directory / "meta.json"
    if not path.exists():
        raise FileNotFoundError(f"no {kind} model at {directory}: run `kgsearch train-ranker`")
    meta: dict[str, Any] = json.loads(path.read_text())
    if meta.get("kind") != kind:
        raise ValueError(f"{directory} holds a {meta.get('kind')!r} model, not {kind!r}")
    schema = FeatureSchema(tuple(meta["features"]))
    schema.check(meta["features"], meta["schema_digest"])
    return meta, schema
