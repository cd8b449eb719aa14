"""What the ``implicit`` models (ALS, BPR) share: fitting with fixed BLAS threads, and
scores from the learned factors (NaN for items the model never saw)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from recommend.base import Interactions, Scores
from recommend.models._common import Weighting, cosine_rows, not_fitted, weighted

if TYPE_CHECKING:
    from scipy.sparse import csr_matrix

__all__ = ["FactorScores", "fit_implicit"]


def fit_implicit(
    build: Callable[[], Any], interactions: Interactions, weighting: Weighting, alpha: float
) -> Any:
    """Build (``build()``) and fit an ``implicit`` CPU model on ``alpha * weighted(matrix)``
    with BLAS limited to one thread: implicit warns ("OpenBLAS is configured to use N
    threads", checked when the model is built) and slows down when BLAS runs its own thread
    pool beside implicit's, and a fixed count keeps results the same on any machine."""
    from threadpoolctl import threadpool_limits

    user_items: csr_matrix = weighted(interactions.matrix, weighting)
    user_items.data *= alpha
    with threadpool_limits(limits=1, user_api="blas"):
        model = build()
        model.fit(user_items.astype(np.float32), show_progress=False)
    return model


class FactorScores:
    """Scores as dot products of user and item factors; cosine of item factors for
    similar items. Columns of items without any interaction in training are NaN."""

    name: ClassVar[str] = "factors"
    _users: np.ndarray | None = None
    _items: np.ndarray | None = None
    _cold: np.ndarray | None = None

    def _keep_factors(self, model: Any, interactions: Interactions) -> None:
        self._users = np.asarray(model.user_factors, dtype=np.float64)
        self._items = np.asarray(model.item_factors, dtype=np.float64)
        self._cold = np.diff(interactions.matrix.tocsc().indptr) == 0

    def _fitted(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if self._users is None or self._items is None or self._cold is None:
            raise not_fitted(self.name)
        return self._users, self._items, self._cold

    def user_scores(self, users: Sequence[int]) -> Scores:
        user_factors, item_factors, cold = self._fitted()
        scores: Scores = user_factors[list(users)] @ item_factors.T
        scores[:, cold] = np.nan
        return scores

    def item_scores(self, items: Sequence[int]) -> Scores:
        _, item_factors, cold = self._fitted()
        rows = np.asarray(list(items), dtype=np.int64)
        scores = cosine_rows(item_factors, rows)
        scores[:, cold] = np.nan
        scores[cold[rows]] = np.nan
        return scores
