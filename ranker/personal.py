"""The personal stage: ``score = base score + personal score``, a linear model over the
personal features (``ranker.features``, group ``personal``).

Without a shopper the base ranker's scores are the ranking, untouched. With one, each
candidate gains ``sum_i w_i * x_i`` over its personal features ``x`` (affinity to its brand,
category and attributes, price fit, seen, bought), and each term is its own contribution
in the hit's explanation ("you often choose Oakhaven (+0.04)").

The weights are learned from logged behaviour by :func:`train_personal`: a logistic model
of ``P(click)`` (or of an add-to-cart: the outcome is the caller's choice) on the
impressions of earlier sessions,
``logit = a + position_k + b * base_score + sum_i v_i * x_i``, with one term per shown
position (so the position bias of the log is not learnt as preference). Its ranking of a
page is the ranking by ``base_score + sum_i (v_i / b) * x_i``, which puts the personal part
on the base ranker's own scale: ``w = v / b``.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from ranker.candidates import Array, CandidateSet, Rows
from ranker.features import PERSONAL_FEATURES, FeatureSchema, feature_matrix

__all__ = ["PERSONAL_KIND", "ClickData", "PersonalModel", "PersonalTrainingError", "train_personal"]

PERSONAL_KIND = "personal-linear"
SCHEMA = FeatureSchema(PERSONAL_FEATURES)


class PersonalTrainingError(ValueError):
    code = "personal_training_failed"


@dataclass(frozen=True)
class PersonalModel:
    """Per-feature weights in the base ranker's score units; ``base_ranker`` names the
    ranker (registry name) whose scores the personal part is added to."""

    weights: Mapping[str, float]
    base_ranker: str
    meta: Mapping[str, Any] = field(default_factory=dict)
    name: ClassVar[str] = "personal"

    def __post_init__(self) -> None:
        if tuple(self.weights) != SCHEMA.names:
            raise ValueError(
                f"a personal model needs one weight per personal feature, in order "
                f"{list(SCHEMA.names)}; got {list(self.weights)}"
            )
        bad = {k: v for k, v in self.weights.items() if not math.isfinite(v)}
        if bad:
            raise ValueError(f"personal weights must be finite, got {bad}")
        if not self.base_ranker:
            raise ValueError("a personal model needs the name of its base ranker")

    @property
    def _w(self) -> npt.NDArray[np.float64]:
        return np.array([self.weights[n] for n in SCHEMA.names], dtype=np.float64)

    def score(self, candidates: CandidateSet) -> Array:
        """The personal part of each candidate's score (add it to the base score)."""
        if not len(candidates):
            return np.zeros(0)
        return feature_matrix(candidates, SCHEMA).astype(np.float64) @ self._w

    def explain(self, candidates: CandidateSet, rows: Rows) -> dict[str, Array]:
        """One additive part per personal feature for ``rows``; they sum to ``score``."""
        if not len(rows):
            return {}
        x = feature_matrix(candidates, SCHEMA)[rows].astype(np.float64)
        # (+ 0.0 turns the -0.0 of an absent feature with a negative weight into 0.0)
        return {name: x[:, i] * w + 0.0 for i, (name, w) in enumerate(self.weights.items())}

    def save(self, directory: Path) -> None:
        """Write ``model.json`` into ``directory`` atomically (readers never see half)."""
        directory.mkdir(parents=True, exist_ok=True)
        body = {
            "kind": PERSONAL_KIND,
            "features": list(SCHEMA.names),
            "schema_digest": SCHEMA.digest,
            "weights": dict(self.weights),
            "base_ranker": self.base_ranker,
            "meta": dict(self.meta),
        }
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=".model-", suffix=".json")
        with os.fdopen(fd, "w") as handle:
            json.dump(body, handle, indent=2, sort_keys=True)
        Path(tmp).replace(directory / "model.json")

    @classmethod
    def load(cls, directory: Path) -> PersonalModel:
        path = directory / "model.json"
        if not path.exists():
            raise FileNotFoundError(
                f"no personal model at {directory}: run `kgsearch train-personal`"
            )
        body: dict[str, Any] = json.loads(path.read_text())
        if body.get("kind") != PERSONAL_KIND:
            raise ValueError(f"{path} holds a {body.get('kind')!r} model, not {PERSONAL_KIND!r}")
        SCHEMA.check(body["features"], body["schema_digest"])
        return cls(
            weights={n: float(body["weights"][n]) for n in body["features"]},
            base_ranker=str(body["base_ranker"]),
            meta=body.get("meta", {}),
        )


@dataclass(frozen=True)
class ClickData:
    """Logged impressions: personal features (in ``PERSONAL_FEATURES`` order), the base
    ranker's score, the 1-based position shown and whether the outcome trained on
    happened (``clicked``: a click, or an add-to-cart, see ``ingest.personal_training``)."""

    features: npt.NDArray[np.float64]  # (n, personal features)
    base: npt.NDArray[np.float64]  # (n,)
    position: npt.NDArray[np.int64]  # (n,), >= 1
    clicked: npt.NDArray[np.bool_]  # (n,)

    def __post_init__(self) -> None:
        n = len(self.base)
        if self.features.shape != (n, len(SCHEMA.names)):
            raise ValueError(
                f"features have shape {self.features.shape}, expected ({n}, {len(SCHEMA.names)})"
            )
        if self.position.shape != (n,) or self.clicked.shape != (n,):
            raise ValueError("base, position and clicked must have one value per impression")
        if n and int(self.position.min()) < 1:
            raise ValueError("positions are 1-based")
        if not (np.isfinite(self.features).all() and np.isfinite(self.base).all()):
            raise ValueError("features and base scores must be finite")


def train_personal(
    data: ClickData, *, base_ranker: str, l2: float = 1.0, max_position: int = 10
) -> PersonalModel:
    """Fit the logistic click model of the module docstring (L2 ``l2`` on every weight
    but the intercept and the base score's) and return the personal weights ``v / b``.

    Raises :class:`PersonalTrainingError` with too few clicks, or when the base score
    does not predict clicks (``b <= 0``: the personal part has no scale to live on)."""
    clicks = int(data.clicked.sum())
    if clicks < 20 or len(data.clicked) - clicks < 20:
        raise PersonalTrainingError(
            f"{len(data.clicked)} impressions with {clicks} positive outcomes (clicks, or "
            "carts): too few to learn personal weights (need at least 20 positive and 20 "
            "negative); simulate or log more sessions"
        )
    from scipy.optimize import minimize

    n, p = data.features.shape
    pos = np.minimum(data.position, max_position)
    dummies = np.zeros((n, max_position - 1))  # position 1 is the reference
    mask = pos > 1
    dummies[np.flatnonzero(mask), pos[mask] - 2] = 1.0
    x = np.column_stack([np.ones(n), data.base, dummies, data.features])
    y = data.clicked.astype(np.float64)
    penalty = np.full(x.shape[1], l2)
    penalty[:2] = 0.0  # intercept, base score

    def loss(theta: npt.NDArray[np.float64]) -> tuple[float, npt.NDArray[np.float64]]:
        z = x @ theta
        nll = float(np.sum(np.logaddexp(0.0, z) - y * z))
        prob = 0.5 * (1.0 + np.tanh(0.5 * z))  # the logistic, without overflow
        grad = x.T @ (prob - y) + penalty * theta
        return nll + 0.5 * float(penalty @ (theta * theta)), grad

    fit = minimize(loss, np.zeros(x.shape[1]), jac=True, method="L-BFGS-B")
    if not fit.success:
        raise PersonalTrainingError(f"the click model did not converge: {fit.message}")
    theta = np.asarray(fit.x, dtype=np.float64)
    b = float(theta[1])
    if b <= 1e-6:
        raise PersonalTrainingError(
            f"the {base_ranker} score does not predict clicks in this log (coefficient "
            f"{b:.4g}); the personal part has no scale to be added on"
        )
    v = theta[-p:]
    weights = {name: float(v[i] / b) for i, name in enumerate(SCHEMA.names)}
    meta = {
        "impressions": n,
        "positives": clicks,
        "l2": l2,
        "base_coefficient": round(b, 6),
        "click_coefficients": {name: round(float(v[i]), 6) for i, name in enumerate(SCHEMA.names)},
        "position_coefficients": [round(float(t), 6) for t in theta[2 : 2 + max_position - 1]],
        "log_loss": round(float(fit.fun) / n, 6),
    }
    return PersonalModel(weights=weights, base_ranker=base_ranker, meta=meta)
