"""Every registered ranker runs the contract in :mod:`contracts.ranker`: the fixed fusions
as the registry builds them, the learned ones trained here on synthetic queries (a few dozen
queries, a handful of rounds / epochs: well under a second each)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import pytest
from contracts.ranker import SCHEMA, LearnedRankerContract, RankerContract, Run, synthetic_runs

from ranker.fusion import Ranker
from ranker.registry import RANKERS, make_ranker


@pytest.fixture(scope="module")
def runs() -> tuple[list[Run], list[Run]]:
    return synthetic_runs(36, seed=5), synthetic_runs(12, seed=6)


class _FixedRanker(RankerContract):
    params: ClassVar[dict[str, Any]] = {}

    @pytest.fixture
    def ranker(self) -> Ranker:
        return make_ranker(self.registry_name, self.params)


class TestBM25Ranker(_FixedRanker):
    registry_name = "bm25"


class TestDenseRanker(_FixedRanker):
    registry_name = "dense"


class TestRRFRanker(_FixedRanker):
    registry_name = "rrf"
    params: ClassVar[dict[str, Any]] = {"k": 10.0}


class TestLinearRanker(_FixedRanker):
    registry_name = "linear"
    params: ClassVar[dict[str, Any]] = {"alpha": 0.3}


@pytest.fixture(scope="module")
def lambdamart_dir(
    runs: tuple[list[Run], list[Run]], tmp_path_factory: pytest.TempPathFactory
) -> Path:
    from ranker.lambdamart import train_lambdamart

    directory = tmp_path_factory.mktemp("lambdamart")
    train, valid = runs
    train_lambdamart(train, valid, schema=SCHEMA, rounds=12, early_stopping=5).save(directory)
    return directory


@pytest.fixture(scope="module")
def neural_dir(runs: tuple[list[Run], list[Run]], tmp_path_factory: pytest.TempPathFactory) -> Path:
    from ranker.neural import train_neural

    directory = tmp_path_factory.mktemp("neural")
    train, valid = runs
    train_neural(train, valid, schema=SCHEMA, hidden=8, epochs=3, patience=2).save(directory)
    return directory


class TestLambdaMARTRanker(LearnedRankerContract):
    registry_name = "lambdamart"

    @pytest.fixture
    def model_dir(self, lambdamart_dir: Path) -> Path:
        return lambdamart_dir


class TestNeuralRanker(LearnedRankerContract):
    registry_name = "neural"

    @pytest.fixture
    def model_dir(self, neural_dir: Path) -> Path:
        return neural_dir


def test_every_registered_ranker_runs_the_contract() -> None:
    cases = [
        case
        for case in globals().values()
        if isinstance(case, type)
        and issubclass(case, RankerContract)
        and case.__name__.startswith("Test")
    ]
    assert sorted(case.registry_name for case in cases) == sorted(RANKERS)
