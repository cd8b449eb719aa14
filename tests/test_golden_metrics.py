"""Golden metrics on the tiny catalogue: every ranker's test-split figures stay where
tests/golden/tiny_test_split.yaml says, within its tolerance."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from app.engine import Engine
from ranker.evaluation import report

GOLDEN = Path(__file__).parent / "golden" / "tiny_test_split.yaml"


def test_tiny_test_split_matches_golden_metrics(tiny_engine: Engine) -> None:
    golden = yaml.safe_load(GOLDEN.read_text())
    n, systems = tiny_engine.evaluate(split=golden["split"])
    body = report(golden["split"], n, systems)
    assert body["queries"] == golden["queries"]
    measured = body["systems"]
    assert isinstance(measured, dict)
    assert set(measured) == set(golden["systems"])
    for name, expected in golden["systems"].items():
        for metric, value in expected.items():
            assert measured[name][metric] == pytest.approx(value, abs=golden["tolerance"]), (
                f"{name} {metric}: measured {measured[name][metric]}, golden {value}"
            )
