"""Training behind a golden number gives identical results whatever torch's thread count:
the learned rankers and the KG embeddings are trained twice, once with the process on one
torch thread and once on two, and must agree to the last bit."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import numpy as np
import pytest
import torch

from app.engine import Engine
from ingest.judgments import select_split
from ingest.rankers import collect_runs
from kg.kge_config import TrainConfig
from kg.kge_training import train_on_triples
from kg.reproducible import reproducible, torch_threads
from ranker.candidates import CandidateSet
from ranker.evaluation import JudgedQuery, evaluate
from ranker.features import DEFAULT_FEATURES, FeatureSchema
from ranker.lambdamart import LambdaMARTRanker, train_lambdamart
from ranker.neural import NeuralRanker, train_neural

Runs = list[tuple[JudgedQuery, CandidateSet]]


@contextmanager
def process_threads(count: int) -> Iterator[None]:
    """What a machine with ``count`` cores would give torch by default."""
    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@pytest.fixture(scope="module")
def runs(tiny_engine: Engine) -> dict[str, Runs]:
    service, _ = tiny_engine.service()
    judged = tiny_engine.judged()
    return {s: collect_runs(service, select_split(judged, s)) for s in ("train", "valid", "test")}


def _pairs(runs: Runs) -> list[tuple[CandidateSet, Mapping[str, int]]]:
    return [(candidates, query.grades) for query, candidates in runs]


def _parameters(model: Any) -> list[np.ndarray] | str:
    """What a trained ranker learned: the network's weights, or the boosted trees."""
    if isinstance(model, NeuralRanker):
        return [t.numpy() for t in model.model.state_dict().values()]
    assert isinstance(model, LambdaMARTRanker)
    return str(model.booster.model_to_string())


@pytest.mark.parametrize("trainer", [train_neural, train_lambdamart], ids=["neural", "lambdamart"])
def test_learned_rankers_do_not_depend_on_the_thread_count(
    runs: dict[str, Runs], trainer: Callable[..., Any]
) -> None:
    schema = FeatureSchema(DEFAULT_FEATURES)
    learned, metrics = [], []
    for threads in (1, 2):
        with process_threads(threads):
            model = trainer(_pairs(runs["train"]), _pairs(runs["valid"]), schema=schema)
            learned.append(_parameters(model))
            metrics.append(evaluate(runs["test"], {"model": model})["model"].means)
    if isinstance(learned[0], str):
        assert learned[0] == learned[1]
    else:
        for one, two in zip(*learned, strict=True):
            np.testing.assert_array_equal(one, two)
    assert metrics[0] == metrics[1]


def test_kg_embeddings_do_not_depend_on_the_thread_count(tiny_engine: Engine) -> None:
    triples = sorted(tiny_engine.graph.triples())
    config = TrainConfig(
        model="TransE", dim=16, epochs=3, eval_every=1, patience=3, device="cpu", threads=2
    )
    trained = []
    for threads in (1, 2):
        with process_threads(threads):
            trained.append(train_on_triples(triples, config=config, graph_revision=None))
    first, second = trained
    assert first.entity_ids == second.entity_ids
    np.testing.assert_array_equal(first.entities, second.entities)
    np.testing.assert_array_equal(first.relations, second.relations)
    quality = {k: v for k, v in first.metrics.items() if k != "train_seconds"}
    assert quality == {k: v for k, v in second.metrics.items() if k != "train_seconds"}
    assert "test_mrr" in quality


def test_reproducible_restores_torch_settings() -> None:
    before = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    with reproducible(seed=1, threads=1):
        assert torch.get_num_threads() == 1
        assert torch.are_deterministic_algorithms_enabled()
        first = torch.rand(3)
    with reproducible(seed=1, threads=1):
        second = torch.rand(3)
    assert torch.equal(first, second)
    assert (torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()) == before


@pytest.mark.parametrize("count", [0, -1, True, 1.5])
def test_thread_count_must_be_fixed_and_positive(count: Any) -> None:
    with pytest.raises(ValueError, match="positive integer"), torch_threads(count):
        pass
