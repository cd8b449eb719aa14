"""Every registered KGE model runs the contract in :mod:`contracts.kge_model`."""

from __future__ import annotations

from typing import Any, ClassVar

from contracts.kge_model import KGEModelContract

from kg.kge_models import KGE_MODELS, ComplEx, KGEScorer, TransE


class TestTransE(KGEModelContract):
    model_cls: ClassVar[type[KGEScorer]] = TransE
    config: ClassVar[dict[str, Any]] = {"scoring_norm": 1}

    def train_overrides(self) -> dict[str, Any]:
        return {"scoring_norm": 1}


class TestTransEL2(TestTransE):
    config: ClassVar[dict[str, Any]] = {"scoring_norm": 2}

    def train_overrides(self) -> dict[str, Any]:
        return {"scoring_norm": 2}


class TestComplEx(KGEModelContract):
    model_cls: ClassVar[type[KGEScorer]] = ComplEx


def test_every_registered_model_has_a_case() -> None:
    cases = {
        case.model_cls.name
        for case in globals().values()
        if isinstance(case, type)
        and issubclass(case, KGEModelContract)
        and case.__name__ != "KGEModelContract"
    }
    assert cases == set(KGE_MODELS)
