"""Helpers the models share: checked hyperparameters, confidence weighting, cold columns."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, ClassVar, Literal, TypeAlias

import numpy as np

from recommend.base import Scores

if TYPE_CHECKING:
    from scipy.sparse import csr_matrix

__all__ = [
    "WEIGHTINGS",
    "ItemPrior",
    "Weighting",
    "check_choice",
    "check_nonnegative",
    "check_positive",
    "check_positive_int",
    "cosine_rows",
    "not_fitted",
    "weighted",
]

Weighting: TypeAlias = Literal["binary", "log", "raw"]
WEIGHTINGS: tuple[Weighting, ...] = ("binary", "log", "raw")


def check_positive_int(name: str, value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return value


def check_positive(name: str, value: object) -> float:
    if not _real(value) or not float(value) > 0:  # type: ignore[arg-type]
        raise ValueError(f"{name} must be a positive number, got {value!r}")
    return float(value)  # type: ignore[arg-type]


def check_nonnegative(name: str, value: object) -> float:
    if not _real(value) or not float(value) >= 0:  # type: ignore[arg-type]
        raise ValueError(f"{name} must be a number >= 0, got {value!r}")
    return float(value)  # type: ignore[arg-type]


def check_choice(name: str, value: object, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(choices)}; got {value!r}")
    return str(value)


def _real(value: object) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(float(value))
    )


def not_fitted(name: str) -> RuntimeError:
    return RuntimeError(f"recommender {name!r} is not fitted: call fit() first")


def weighted(matrix: csr_matrix, weighting: Weighting) -> csr_matrix:
    """The matrix with its stored values replaced by confidences: 1 (``binary``),
    ``log1p(value)`` (``log``, for heavy-tailed counts such as listens) or the values."""
    out = matrix.astype(np.float64).tocsr(copy=True)
    out.eliminate_zeros()
    if weighting == "binary":
        out.data[:] = 1.0
    elif weighting == "log":
        out.data = np.log1p(out.data)
    return out


def cosine_rows(vectors: np.ndarray, rows: np.ndarray) -> Scores:
    """Cosine of ``vectors[rows]`` with every row of ``vectors`` (zero rows give NaN)."""
    norms = np.linalg.norm(vectors, axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        unit = vectors / norms[:, None]
    unit[norms == 0] = np.nan
    return np.asarray(unit[rows] @ unit.T, dtype=np.float64)


class ItemPrior:
    """Base of the models that give every user (and every item) the same item scores, a
    prior such as popularity: ``fit`` sets ``_scores``, one value per item (NaN: none)."""

    name: ClassVar[str]
    _scores: np.ndarray | None = None

    def _fitted(self) -> np.ndarray:
        if self._scores is None:
            raise not_fitted(self.name)
        return self._scores

    def user_scores(self, users: Sequence[int]) -> Scores:
        return np.tile(self._fitted(), (len(users), 1))

    def item_scores(self, items: Sequence[int]) -> Scores:
        return np.tile(self._fitted(), (len(items), 1))
