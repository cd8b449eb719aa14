"""Bayesian personalised ranking (Rendle et al. 2009), through the ``implicit`` library's
CPU model."""

from __future__ import annotations

from typing import Any, ClassVar, Self

from recommend.base import Interactions, ItemGraph
from recommend.models._common import check_positive, check_positive_int
from recommend.models._implicit import FactorScores, fit_implicit

__all__ = ["BPR"]


class BPR(FactorScores):
    """``implicit``'s ``BayesianPersonalizedRanking`` on binary feedback. One thread by
    default: with more, implicit's SGD updates race (Hogwild) and runs stop being
    reproducible."""

    name: ClassVar[str] = "bpr"

    def __init__(
        self,
        *,
        factors: int = 64,
        learning_rate: float = 0.05,
        regularization: float = 0.01,
        iterations: int = 100,
        seed: int = 0,
        threads: int = 1,
    ) -> None:
        self.factors = check_positive_int("factors", factors)
        self.learning_rate = check_positive("learning_rate", learning_rate)
        self.regularization = check_positive("regularization", regularization)
        self.iterations = check_positive_int("iterations", iterations)
        if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
            raise ValueError(f"seed must be an integer >= 0, got {seed!r}")
        self.seed = seed
        self.threads = check_positive_int("threads", threads)

    def fit(self, interactions: Interactions, *, graph: ItemGraph | None = None) -> Self:
        from implicit.cpu.bpr import BayesianPersonalizedRanking

        def build() -> BayesianPersonalizedRanking:
            return BayesianPersonalizedRanking(
                factors=self.factors,
                learning_rate=self.learning_rate,
                regularization=self.regularization,
                iterations=self.iterations,
                random_state=self.seed,
                num_threads=self.threads,
            )

        self._keep_factors(fit_implicit(build, interactions, "binary", 1.0), interactions)
        return self

    def params(self) -> dict[str, Any]:
        return {
            "factors": self.factors,
            "learning_rate": self.learning_rate,
            "regularization": self.regularization,
            "iterations": self.iterations,
            "seed": self.seed,
            "threads": self.threads,
        }
