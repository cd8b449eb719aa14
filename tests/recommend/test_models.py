"""Every registered recommender: the registry, fit / score shapes, "no opinion" on cold
items, refusing to score before fit, and the same scores for the same seed."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from recommend.base import Interactions, Recommender
from recommend.datasets.lastfm import LastFMKG
from recommend.evaluation.splits import without_pairs
from recommend.models import RECOMMENDERS, make_recommender

#: small, fast settings per model (the kg model trains PyKEEN for two epochs)
FAST: dict[str, dict[str, Any]] = {
    "popularity": {},
    "itemknn": {"neighbours": 20},
    "kgitemknn": {"neighbours": 20, "graph_weight": 0.1},
    "als": {"factors": 8, "iterations": 5},
    "bpr": {"factors": 8, "iterations": 20},
    "kgneighbour": {},
    "kgdegree": {},
    "kgpopularity": {},
    "kg": {"dim": 8, "epochs": 2, "batch_size": 512},
}
COLLABORATIVE = ("itemknn", "als", "bpr")


def build(name: str, **extra: Any) -> Recommender:
    if name == "fused":
        members = {n: make_recommender(n, **FAST[n]) for n in ("als", "itemknn", "kgneighbour")}
        return make_recommender(
            "fused", members=members, weights={"als": 1.0, "itemknn": 0.5, "kgneighbour": 0.2}
        )
    return make_recommender(name, **FAST[name], **extra)


@pytest.fixture(scope="module")
def cold(sample: LastFMKG) -> tuple[Interactions, list[int]]:
    """The sample with three items' interactions removed (they stay in the graph)."""
    data = sample.interactions
    counts = np.diff(data.matrix.tocsc().indptr)
    items = [int(i) for i in np.flatnonzero(counts > 0)[:3]]
    csc = data.matrix.tocsc()
    held: dict[int, set[int]] = {}
    for item in items:
        for user in csc.indices[csc.indptr[item] : csc.indptr[item + 1]]:
            held.setdefault(int(user), set()).add(item)
    return without_pairs(data, held), items


def test_registry_lists_every_model() -> None:
    assert set(RECOMMENDERS) == {*FAST, "fused"}
    for name, cls in RECOMMENDERS.items():
        assert cls.name == name


def test_unknown_name_fails_loudly() -> None:
    with pytest.raises(ValueError, match=r"unknown recommender 'alss'.*als"):
        make_recommender("alss")


def test_unknown_parameter_fails_loudly() -> None:
    with pytest.raises(TypeError):
        make_recommender("als", factor=8)


@pytest.mark.parametrize(
    ("name", "params"),
    [
        ("als", {"factors": 0}),
        ("als", {"regularization": -1.0}),
        ("bpr", {"learning_rate": float("nan")}),
        ("itemknn", {"neighbours": 2.5}),
        ("itemknn", {"weighting": "sqrt"}),
        ("popularity", {"half_life_days": 0}),
        ("kgneighbour", {"similarity": "dice"}),
        ("kg", {"model": "RotatE"}),
        ("fused", {"members": {}, "weights": {}}),
    ],
)
def test_bad_hyperparameters_are_rejected(name: str, params: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        make_recommender(name, **params)


@pytest.mark.parametrize("name", [*FAST, "fused"])
def test_scoring_before_fit_raises(name: str) -> None:
    with pytest.raises(RuntimeError, match="not fitted"):
        build(name).user_scores([0])


@pytest.mark.parametrize("name", [*FAST, "fused"])
def test_fit_and_score_shapes(name: str, sample: LastFMKG) -> None:
    data = sample.interactions
    model = build(name).fit(data, graph=sample.graph)
    assert isinstance(model, Recommender)
    users = model.user_scores([0, 5, 7])
    items = model.item_scores([1, 2])
    assert users.shape == (3, len(data.items))
    assert items.shape == (2, len(data.items))
    assert users.dtype == np.float64
    assert np.isfinite(users[~np.isnan(users)]).all()
    assert not np.isnan(users).all()
    assert isinstance(model.params(), dict)


@pytest.mark.parametrize("name", COLLABORATIVE)
def test_collaborative_models_have_no_opinion_on_cold_items(
    name: str, sample: LastFMKG, cold: tuple[Interactions, list[int]]
) -> None:
    data, items = cold
    model = build(name).fit(data, graph=sample.graph)
    scores = model.user_scores(list(range(10)))
    assert np.isnan(scores[:, items]).all()
    warm = np.flatnonzero(np.diff(data.matrix.tocsc().indptr) > 0)
    assert not np.isnan(scores[:, warm]).any()
    assert np.isnan(model.item_scores(items)).all()


@pytest.mark.parametrize("name", ["kgneighbour", "kg", "kgdegree", "kgpopularity", "kgitemknn"])
def test_graph_models_score_cold_items(
    name: str, sample: LastFMKG, cold: tuple[Interactions, list[int]]
) -> None:
    data, items = cold
    scores = build(name).fit(data, graph=sample.graph).user_scores(list(range(10)))
    assert np.isfinite(scores[:, items]).any()


def test_kg_itemknn_without_graph_weight_is_itemknn(sample: LastFMKG) -> None:
    plain = build("itemknn").fit(sample.interactions).user_scores([0, 1])
    kg = make_recommender("kgitemknn", neighbours=20, graph_weight=0.0)
    same = kg.fit(sample.interactions, graph=sample.graph).user_scores([0, 1])
    np.testing.assert_allclose(same, plain)


def test_popularity_counts_and_decay(sample: LastFMKG) -> None:
    data = sample.interactions
    scores = build("popularity").fit(data).user_scores([0])[0]
    np.testing.assert_array_equal(scores, np.diff(data.matrix.tocsc().indptr))
    times = data.matrix.copy()
    times.data = np.where(np.arange(len(times.data)) % 2 == 0, 0.0, 86_400.0 * 30)
    timed = Interactions(users=data.users, items=data.items, matrix=data.matrix, times=times)
    decayed = make_recommender("popularity", half_life_days=30.0).fit(timed).user_scores([0])[0]
    assert (decayed <= scores).all() and (decayed < scores).any()
    with pytest.raises(ValueError, match="interaction times"):
        make_recommender("popularity", half_life_days=30.0).fit(data)


@pytest.mark.parametrize("name", ["kgneighbour", "kgdegree", "kgpopularity", "kgitemknn"])
def test_graph_models_need_the_graph(name: str, sample: LastFMKG) -> None:
    with pytest.raises(ValueError, match="needs the item graph"):
        build(name).fit(sample.interactions)


def test_kg_popularity_is_the_neighbours_popularity() -> None:
    from scipy.sparse import csr_matrix

    from recommend.base import ItemGraph

    # items a, b, c share the entity x; d shares y with c. Interactions: a by 3 users, b by 1.
    graph = ItemGraph(
        triples=[
            ("A", "r", "x"),
            ("B", "r", "x"),
            ("C", "r", "x"),
            ("C", "s", "y"),
            ("D", "s", "y"),
        ],
        item_entities={"a": "A", "b": "B", "c": "C", "d": "D", "e": "E"},
    )
    matrix = csr_matrix(np.array([[1, 1, 0, 0, 0], [1, 0, 0, 0, 0], [1, 0, 0, 0, 0]], dtype=float))
    data = Interactions(users=("u1", "u2", "u3"), items=tuple("abcde"), matrix=matrix)
    scores = make_recommender("kgpopularity", similarity="jaccard").fit(data, graph=graph)
    row = scores.user_scores([0])[0]
    # c: jaccard with a, b and d is 1/2 each -> (3/2 + 1/2 + 0/2) / (3/2)
    assert row[2] == pytest.approx(2 / 1.5)
    assert np.isnan(row[3])  # d's only graph neighbour, c, has no interactions either
    assert np.isnan(row[4])  # e has no graph neighbours at all


@pytest.mark.parametrize("name", ["als", "bpr", "kg"])
def test_same_seed_same_scores(name: str, sample: LastFMKG) -> None:
    def scores(seed: int) -> np.ndarray:
        model = build(name, seed=seed).fit(sample.interactions, graph=sample.graph)
        return model.user_scores(list(range(20)))

    first = scores(3)
    np.testing.assert_array_equal(first, scores(3))
    assert not np.array_equal(first, scores(4))
