"""Alternating least squares on implicit feedback (Hu, Koren & Volinsky 2008), through the
``implicit`` library's CPU model."""

from __future__ import annotations

from typing import Any, ClassVar, Self

from recommend.base import Interactions, ItemGraph
from recommend.models._common import (
    WEIGHTINGS,
    Weighting,
    check_choice,
    check_positive,
    check_positive_int,
)
from recommend.models._implicit import FactorScores, fit_implicit

__all__ = ["ALS"]


class ALS(FactorScores):
    """``implicit``'s ``AlternatingLeastSquares`` with confidence ``1 + alpha * w`` where
    ``w`` is the (weighted) interaction value. ``threads`` and ``seed`` are fixed, so the
    same data gives the same factors on any machine."""

    name: ClassVar[str] = "als"

    def __init__(
        self,
        *,
        factors: int = 32,
        regularization: float = 0.1,
        alpha: float = 10.0,
        iterations: int = 15,
        weighting: Weighting = "log",
        seed: int = 0,
        threads: int = 1,
    ) -> None:
        self.factors = check_positive_int("factors", factors)
        self.regularization = check_positive("regularization", regularization)
        self.alpha = check_positive("alpha", alpha)
        self.iterations = check_positive_int("iterations", iterations)
        self.weighting: Weighting = check_choice("weighting", weighting, WEIGHTINGS)  # type: ignore[assignment]
        if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
            raise ValueError(f"seed must be an integer >= 0, got {seed!r}")
        self.seed = seed
        self.threads = check_positive_int("threads", threads)

    def fit(self, interactions: Interactions, *, graph: ItemGraph | None = None) -> Self:
        from implicit.cpu.als import AlternatingLeastSquares

        def build() -> AlternatingLeastSquares:
            return AlternatingLeastSquares(
                factors=self.factors,
                regularization=self.regularization,
                alpha=1.0,  # alpha already scales the matrix (fit_implicit)
                iterations=self.iterations,
                random_state=self.seed,
                num_threads=self.threads,
            )

        self._keep_factors(
            fit_implicit(build, interactions, self.weighting, self.alpha), interactions
        )
        return self

    def params(self) -> dict[str, Any]:
        return {
            "factors": self.factors,
            "regularization": self.regularization,
            "alpha": self.alpha,
            "iterations": self.iterations,
            "weighting": self.weighting,
            "seed": self.seed,
            "threads": self.threads,
        }
