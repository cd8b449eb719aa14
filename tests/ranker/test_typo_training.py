"""The valid-split kind check, the monotone constraints and the typo copies for training."""

from __future__ import annotations

import lightgbm as lgb
import numpy as np

from ranker.evaluation import SystemScores, kind_check
from ranker.lambdamart import INCREASING, lambdarank_params, monotone_constraints
from synthetic.typos import typo_variants


def scores(values: dict[str, float], kinds: dict[str, str]) -> SystemScores:
    mean = float(np.mean(list(values.values())))
    return SystemScores({"ndcg@10": mean}, {"ndcg@10": len(values)}, values, kinds)


def test_kind_check_flags_a_kind_where_a_learned_ranker_trails_a_single_signal() -> None:
    kinds = {"q1": "brand", "q2": "descriptive"}
    rows = kind_check(
        {
            "bm25": scores({"q1": 0.9, "q2": 0.2}, kinds),
            "dense": scores({"q1": 0.5, "q2": 0.4}, kinds),
            "rrf": scores({"q1": 0.1, "q2": 0.1}, kinds),  # a baseline: not checked
            "lambdamart": scores({"q1": 0.95, "q2": 0.3}, kinds),
        }
    )
    by_kind = {r["kind"]: r for r in rows}
    assert {r["system"] for r in rows} == {"lambdamart"}
    assert by_kind["brand"]["worse"] is False and by_kind["brand"]["best_signal"] == "bm25"
    assert by_kind["descriptive"]["worse"] is True
    assert by_kind["descriptive"]["best_signal"] == "dense"
    assert by_kind["descriptive"]["best_signal_ndcg@10"] == 0.4


def test_monotone_features_never_lower_the_score() -> None:
    names = ["bm25_name", "dense", "match_attribute"]
    assert monotone_constraints(names) == [1, 0, 1]
    assert {"bm25_name", "bm25_attributes", "match_brand"} <= INCREASING
    # Labels that fall as bm25_name rises: a free model learns the dip, a constrained one
    # cannot.
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 10, size=(400, 3))
    y = (x[:, 0] < 5).astype(int) * 2
    params = lambdarank_params(seed=1, learning_rate=0.1, num_leaves=7, min_data_in_leaf=5)
    params["monotone_constraints"] = monotone_constraints(names)
    params["monotone_constraints_method"] = "intermediate"
    data = lgb.Dataset(x, y, group=[20] * 20)
    booster = lgb.train(params, data, num_boost_round=30)
    grid = np.tile(x[:1], (50, 1))
    grid[:, 0] = np.linspace(0, 10, 50)
    predicted = booster.predict(grid, num_threads=1)
    assert np.all(np.diff(predicted) >= -1e-12)


def test_typo_variants_are_seeded_misspellings() -> None:
    copies = typo_variants("lounge chair walnut", "Q0007")
    assert copies == typo_variants("lounge chair walnut", "Q0007")
    assert 1 <= len(copies) <= 2 and "lounge chair walnut" not in copies
    assert all(len(c.split(" ")) == 3 for c in copies)
    assert typo_variants("bed", "Q0008") == ()  # no word long enough to misspell
