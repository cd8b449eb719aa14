"""Embed one entity into a trained model without retraining it (NumPy only).

Used by :meth:`kg.kge.KGEmbeddings.with_entity` for a product added or re-linked between
two trainings. The entity is the head of its triples ``(entity, relation, tail)``; every
other vector is frozen.

1. Start from what the trained relations say about it:
   TransE ``h + r ≈ t`` gives ``h ≈ mean(t - r)``; ComplEx scores ``Re(⟨h, r, conj t⟩)``,
   which for a fixed length is largest at ``h ∝ conj(r)·t``, so it starts from
   ``mean(conj(r)·t)``. The start is scaled to the median length of the trained entity
   vectors (1 for PyKEEN's TransE, whose entities are kept unit length).
2. Take ``steps`` normalised gradient steps on a logistic loss over its own triples
   (``softplus(-score)``) against tails drawn from the other entities
   (``softplus(score)``), projecting back to that length after each step, and keep the
   iterate with the lowest loss (the start included), so the steps never make it worse.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

__all__ = ["NEGATIVES_PER_TRIPLE", "embed_entity"]

NEGATIVES_PER_TRIPLE = 8
_STEP = 0.1


def embed_entity(
    *,
    model: str,
    entities: npt.NDArray[np.float32],
    relations: npt.NDArray[np.float32],
    pairs: Sequence[tuple[int, int]],
    exclude_row: int | None,
    steps: int,
    scoring_norm: int,
    seed: str,
) -> npt.NDArray[np.float32]:
    """The vector (real view, ``float32``) of a head entity whose triples are ``pairs`` of
    ``(relation row, tail row)``. ``exclude_row`` is the entity's own old row, if any."""
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
        s_pos, g_pos = _score_grad(model, v, rel, tails, scoring_norm)
        s_neg, g_neg = _score_grad(model, v, rel[:, None, :], negatives, scoring_norm)
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


def _start(model: str, rel: np.ndarray, tails: np.ndarray) -> np.ndarray:
    if model == "TransE":
        start = (tails - rel).mean(axis=0)
    else:
        d = rel.shape[1] // 2
        product = (rel[:, :d] - 1j * rel[:, d:]) * (tails[:, :d] + 1j * tails[:, d:])
        mean = product.mean(axis=0)
        start = np.concatenate([mean.real, mean.imag])
    if float(np.linalg.norm(start)) < 1e-12:
        start = tails.mean(axis=0)
    if float(np.linalg.norm(start)) < 1e-12:
        start = np.ones(rel.shape[1])
    return np.asarray(start, dtype=np.float64)


def _score_grad(
    model: str, v: np.ndarray, rel: np.ndarray, tails: np.ndarray, scoring_norm: int
) -> tuple[np.ndarray, np.ndarray]:
    """Scores of ``(v, rel, tails)`` (broadcast over leading axes) and ``d score / d v``."""
    if model == "TransE":
        diff = v + rel - tails
        if scoring_norm == 1:
            return -np.abs(diff).sum(axis=-1), -np.sign(diff)
        dist = np.linalg.norm(diff, axis=-1)
        return -dist, -diff / np.maximum(dist, 1e-12)[..., None]
    d = v.shape[0] // 2
    w = (rel[..., :d] + 1j * rel[..., d:]) * (tails[..., :d] - 1j * tails[..., d:])
    grad = np.concatenate([w.real, -w.imag], axis=-1)
    return (grad * v).sum(axis=-1), grad


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return np.asarray(0.5 * (1.0 + np.tanh(0.5 * x)))
