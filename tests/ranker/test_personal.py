"""The personal stage's model: scores, additive explanations, save/load, training."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ranker.candidates import CandidateSet
from ranker.features import DEFAULT_FEATURES, FEATURES, NO_KG_FEATURES, PERSONAL_FEATURES
from ranker.personal import ClickData, PersonalModel, PersonalTrainingError, train_personal

WEIGHTS = {
    "personal_brand": 0.5,
    "personal_category": 0.2,
    "personal_attribute": 0.1,
    "personal_price_fit": -0.05,
    "personal_price_gap": 0.0,
    "personal_seen": 0.0,
    "personal_bought": -0.3,
}


def personal_set() -> CandidateSet:
    rows = {
        "personal_brand": [1.0, 0.0, 0.5],
        "personal_category": [1.0, 1.0, 0.0],
        "personal_attribute": [0.0, 0.4, 0.0],
        "personal_price_fit": [0.5, 2.0, 0.0],
        "personal_price_gap": [-0.5, 2.0, 0.0],
        "personal_seen": [1.0, 0.0, 0.0],
        "personal_bought": [0.0, 0.0, 1.0],
    }
    return CandidateSet(("a", "b", "c"), {k: np.array(v) for k, v in rows.items()})


def test_personal_features_are_their_own_group_outside_the_query_rankers() -> None:
    assert set(PERSONAL_FEATURES) == set(WEIGHTS)
    assert all(FEATURES[n].group == "personal" and FEATURES[n].label for n in PERSONAL_FEATURES)
    assert not set(PERSONAL_FEATURES) & set(DEFAULT_FEATURES)
    assert not set(PERSONAL_FEATURES) & set(NO_KG_FEATURES)
    assert "{brand}" in FEATURES["personal_brand"].label


def test_score_is_the_weighted_sum_and_explain_adds_up_to_it() -> None:
    model = PersonalModel(weights=WEIGHTS, base_ranker="lambdamart")
    candidates = personal_set()
    scores = model.score(candidates)
    # a: 0.5 + 0.2 - 0.025; b: 0.2 + 0.04 - 0.1; c: 0.25 - 0.3
    assert scores == pytest.approx([0.675, 0.14, -0.05])
    rows = np.array([2, 0], dtype=np.intp)
    parts = model.explain(candidates, rows)
    assert set(parts) == set(WEIGHTS)
    assert parts["personal_brand"] == pytest.approx([0.25, 0.5])
    assert sum(parts.values()) == pytest.approx(scores[rows])


def test_save_and_load_round_trip_and_refuse_another_schema(tmp_path: Path) -> None:
    model = PersonalModel(weights=WEIGHTS, base_ranker="lambdamart", meta={"clicks": 3})
    model.save(tmp_path / "personal")
    loaded = PersonalModel.load(tmp_path / "personal")
    assert loaded.weights == model.weights and loaded.base_ranker == "lambdamart"
    assert loaded.meta["clicks"] == 3
    body = (tmp_path / "personal" / "model.json").read_text()
    (tmp_path / "personal" / "model.json").write_text(body.replace("personal_seen", "seen"))
    with pytest.raises(ValueError, match="another feature schema"):
        PersonalModel.load(tmp_path / "personal")
    with pytest.raises(FileNotFoundError, match="train-personal"):
        PersonalModel.load(tmp_path / "nothing")


def test_a_model_needs_every_personal_weight() -> None:
    with pytest.raises(ValueError, match="one weight per personal feature"):
        PersonalModel(weights={"personal_brand": 1.0}, base_ranker="lambdamart")


def clicks_from(rng: np.random.Generator, n: int, brand_effect: float) -> ClickData:
    """Clicks of a known model: examination (1/position), base score, brand affinity."""
    x = np.zeros((n, len(PERSONAL_FEATURES)))
    x[:, 0] = rng.random(n) < 0.3  # personal_brand
    x[:, 3] = rng.random(n) * 2  # price fit, no effect
    base = rng.normal(size=n)
    position = rng.integers(1, 11, size=n)
    logit = -1.0 + 1.0 * base + brand_effect * x[:, 0]
    p = (1.0 / position) * (1.0 / (1.0 + np.exp(-logit)))
    return ClickData(x, base, position.astype(np.int64), rng.random(n) < p)


def test_training_recovers_the_brand_effect_on_the_base_scale() -> None:
    model = train_personal(clicks_from(np.random.default_rng(0), 40_000, 1.0), base_ranker="x")
    assert model.weights["personal_brand"] == pytest.approx(1.0, abs=0.25)
    assert abs(model.weights["personal_price_fit"]) < 0.15
    assert model.meta["base_coefficient"] > 0


def test_training_refuses_too_few_clicks_and_a_useless_base() -> None:
    rng = np.random.default_rng(1)
    few = clicks_from(rng, 30, 1.0)
    with pytest.raises(PersonalTrainingError, match="too few"):
        train_personal(few, base_ranker="x")
    data = clicks_from(rng, 5_000, 1.0)
    flipped = ClickData(data.features, -data.base, data.position, data.clicked)
    with pytest.raises(PersonalTrainingError, match="does not predict clicks"):
        train_personal(flipped, base_ranker="x")
