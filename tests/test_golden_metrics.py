"""Golden metrics on the tiny catalogue: every ranker's figures stay where
tests/golden/tiny.yaml says (deterministic training; the tolerance is rounding only)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from app.engine import Engine
from ranker.evaluation import report

GOLDEN: dict[str, Any] = yaml.safe_load(
    (Path(__file__).parent / "golden" / "tiny.yaml").read_text()
)


@pytest.mark.parametrize("split", sorted(GOLDEN["splits"]))
def test_tiny_catalogue_matches_golden_metrics(tiny_engine: Engine, split: str) -> None:
    golden = GOLDEN["splits"][split]
    n, systems = tiny_engine.evaluate(split=split)
    body = report(split, n, systems)
    assert body["queries"] == golden["queries"]
    measured = body["systems"]
    assert isinstance(measured, dict)
    assert set(measured) == set(golden["systems"])
    moved = [
        f"{name} {metric}: measured {measured[name][metric]}, golden {value}"
        for name, expected in golden["systems"].items()
        for metric, value in expected.items()
        if measured[name][metric] != pytest.approx(value, abs=GOLDEN["tolerance"])
    ]
    assert not moved, f"{split} split moved (see tests/golden/tiny.yaml): " + "; ".join(moved)
