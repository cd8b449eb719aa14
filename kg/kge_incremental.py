"""Embed one entity into a trained model without retraining it (NumPy only).

Used by :meth:`kg.kge.KGEmbeddings.with_entity` for a product added or re-linked between
two trainings. The entity is the head of its triples ``(entity, relation, tail)``; every
other vector is frozen.

1. Start from what the trained relations say about it (the model's ``initial_head``):
   TransE ``h + r ≈ t`` gives ``h ≈ mean(t - r)``; ComplEx scores ``Re(⟨h, r, conj t⟩)``,
   which for a fixed length is largest at ``h ∝ conj(r)·t``, so it starts from
   ``mean(conj(r)·t)``. The start is scaled to the median length of the trained entity
   vectors (1 for PyKEEN's TransE, whose entities are kept unit length).
2. Take ``steps`` normalised gradient steps on a logistic loss over its own triples
   (``softplus(-score)``) against tails drawn from the other entities
   (``softplus(score)``), projecting back to that length after each step, and keep the
   iterate with the lowest loss (the start included), so the steps never make it worse.
   Scores and their gradients come from the model's ``score_and_grad``.

The maths of each model lives in its class (:mod:`kg.kge_models`); this module is the part
every model shares.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from kg.kge_models.base import KGEScorer

__all__ = ["NEGATIVES_PER_TRIPLE", "embed_entity"]

NEGATIVES_PER_TRIPLE = 8
_STEP = 0.1


def embed_entity(
    *,
    model: KGEScorer,
    entities: npt.NDArray[np.float32],
    relations: npt.NDArray[np.float32],
    pairs: Sequence[tuple[int, int]],
    exclude_row: int | None,
    steps: int,
    seed: str,
) -> npt.NDArray[np.float32]:
    """The stored row (``float32``) of a head entity whose triples under ``model`` are
    ``pairs`` of ``(relation row, tail row)``. ``exclude_row`` is the entity's own old row,
    if any."""
    rel = relations[[r for r, _ in pairs]].astype(np.float64)
    tails = entities[[t for _, t in pairs]].astype(np.float64)
    others = np.ones(len(entities), dtype=bool)
    if exclude_row is not None:
        others[exclude_row] = False
    radius = float(np.median(np.linalg.norm(entities[others], axis=1))) if others.any() else 1.0
    vector = _start(model, rel, tails)
    vector *= radius / max(float(np.linalg.norm(vector)), 1e-12)

    others[[t for _, t in pairs]] = False
    candidates = np.flatnonzero(others)
    rng = np.random.default_rng(zlib.crc32(seed.encode("utf-8")))
    if len(candidates):
        picks = rng.choice(candidates, size=(len(pairs), NEGATIVES_PER_TRIPLE))
        negatives = entities[picks].astype(np.float64)
    else:
        negatives = np.zeros((len(pairs), 0, entities.shape[1]))

    def loss_and_grad(v: np.ndarray) -> tuple[float, np.ndarray]:
        s_pos, g_pos = model.score_and_grad(v, rel, tails)
        s_neg, g_neg = model.score_and_grad(v, rel[:, None, :], negatives)
        loss = float(np.logaddexp(0.0, -s_pos).mean())
        grad = (-_sigmoid(-s_pos)[:, None] * g_pos).mean(axis=0)
        if s_neg.size:
            loss += float(np.logaddexp(0.0, s_neg).mean())
            grad += (_sigmoid(s_neg)[..., None] * g_neg).reshape(-1, v.shape[0]).mean(axis=0)
        return loss, grad

    best_loss, grad = loss_and_grad(vector)
    best = vector
    for step in range(steps):
        norm = float(np.linalg.norm(grad))
        if norm < 1e-12:
            break
        rate = _STEP * (1.0 - step / max(steps, 1))
        vector = vector - rate * radius * grad / norm
        vector *= radius / max(float(np.linalg.norm(vector)), 1e-12)
        loss, grad = loss_and_grad(vector)
        if loss < best_loss:
            best_loss, best = loss, vector
    return best.astype(np.float32)


def _start(model: KGEScorer, rel: np.ndarray, tails: np.ndarray) -> np.ndarray:
    start = model.initial_head(rel, tails)
    if float(np.linalg.norm(start)) < 1e-12:
        start = tails.mean(axis=0)
    if float(np.linalg.norm(start)) < 1e-12:
        start = np.ones(rel.shape[1])
    return np.asarray(start, dtype=np.float64)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return np.asarray(0.5 * (1.0 + np.tanh(0.5 * x)))
