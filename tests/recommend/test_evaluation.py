"""The protocols end to end on the checked-in sample, with one-point grids so that they
run in seconds (the real grids run in benchmarks/recs_lastfm.py), and the CLI command."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import recommend.evaluation.coldstart as coldstart
import recommend.evaluation.ctr as ctr
import recommend.evaluation.topk as topk
from recommend.evaluation import evaluate_recs

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "lastfm-kg-sample"
TINY_KG: dict[str, Any] = {"model": "TransE", "dim": 8, "epochs": 2}


@pytest.fixture
def small_grids(monkeypatch: pytest.MonkeyPatch) -> None:
    grids = {
        "popularity": {"weighting": ["binary"]},
        "itemknn": {"neighbours": [20], "shrinkage": [10.0], "weighting": ["binary"]},
        "kgitemknn": {"neighbours": [20], "shrinkage": [10.0], "graph_weight": [0.1]},
        "als": {"factors": [8], "regularization": [0.1], "alpha": [10.0]},
        "bpr": {
            "factors": [8],
            "learning_rate": [0.05],
            "regularization": [0.01],
            "iterations": [20],
        },
        "kgneighbour": {"similarity": ["jaccard"]},
    }
    monkeypatch.setattr(topk, "GRIDS", grids)
    monkeypatch.setattr(ctr, "GRIDS", grids)
    for module in (topk, ctr):
        monkeypatch.setattr(module, "KG_PARAMS", TINY_KG)
    monkeypatch.setattr(
        topk, "FUSION_GRID", {"itemknn": [0.5], "kgitemknn": [0.0, 0.5], "kg": [0.0, 0.5]}
    )
    monkeypatch.setattr(ctr, "CTR_FUSION_GRID", {"popularity": [0.0, 1.0], "kg": [0.0, 0.5]})
    monkeypatch.setattr(
        coldstart,
        "COLD_GRIDS",
        {
            "kgdegree": {},
            "kgneighbour": {"similarity": ["jaccard"]},
            "kgpopularity": {"similarity": ["cosine_idf"]},
            "kg": {k: [v] for k, v in TINY_KG.items()},
        },
    )
    monkeypatch.setattr(coldstart, "COLD_FUSION_GRID", {"kgpopularity": [0.0, 1.0]})


@pytest.mark.usefixtures("small_grids")
def test_every_protocol_runs_and_reports_goals() -> None:
    result = evaluate_recs(data_dir=SAMPLE, seeds=(0,))
    means = result["means"]
    assert set(means) == {"topk", "ctr", "cold"}
    for model in ("popularity", "itemknn", "als", "bpr", "kg", "fused"):
        assert 0.0 <= means["topk"][model]["recall@20"] <= 1.0
        assert 0.0 <= means["ctr"][model]["auc"] <= 1.0
    assert 0.0 <= means["topk"]["learned-fusion"]["recall@20"] <= 1.0
    for model in ("random", "kgdegree", "kgneighbour-jaccard", "fused"):
        assert 0.0 <= means["cold"][model]["recall@20"] <= 1.0
    topk_run = result["per_seed"]["topk"][0]
    assert topk_run["fused"]["vs_best_baseline"]["baseline"] in topk.BASELINES
    assert 0.0 <= topk_run["fused"]["vs_best_baseline"]["p_value"] <= 1.0
    assert set(result["goals"]) == {"topk", "ctr", "cold"}
    json.dumps(result, default=float)  # the CLI's --json


def test_unknown_dataset_protocol_or_missing_data() -> None:
    with pytest.raises(ValueError, match="unknown dataset"):
        evaluate_recs("movielens")
    with pytest.raises(ValueError, match="unknown protocols"):
        evaluate_recs(data_dir=SAMPLE, protocols=("auc",))
    with pytest.raises(FileNotFoundError, match=r"Last\.FM KG data not found"):
        evaluate_recs(data_dir=SAMPLE / "nowhere")


@pytest.mark.usefixtures("small_grids")
def test_cli_evaluate_recs_json() -> None:
    from app.cli import app

    result = CliRunner().invoke(
        app,
        [
            "evaluate-recs",
            "--data-dir",
            str(SAMPLE),
            "--seeds",
            "0",
            "--protocol",
            "cold",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body["seeds"] == [0] and set(body["means"]) == {"cold"}


def test_cli_evaluate_recs_missing_data_is_a_clear_error(tmp_path: Path) -> None:
    from app.cli import app

    result = CliRunner().invoke(app, ["evaluate-recs", "--data-dir", str(tmp_path)])
    assert result.exit_code == 2
    assert "Last.FM KG data not found" in result.output
