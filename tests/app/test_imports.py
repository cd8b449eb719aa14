"""Importing the CLI, the API or any package must stay cheap: torch, transformers, ONNX
Runtime, PyKEEN, LightGBM and scikit-learn are imported where they are used, never at module
level (they take seconds: `kgsearch --help` and `kgsearch status` must start in under one)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("torch", "transformers", "onnxruntime", "pykeen", "lightgbm", "sklearn")

REPORT = (
    "import json, sys; "
    f"print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r})))"
)


def heavy_modules_after(code: str, home: Path) -> list[str]:
    """Run ``code`` in a fresh interpreter; return the heavy modules it left loaded."""
    env = {**os.environ, "KGSEARCH_HOME": str(home)}
    env.pop("KGSEARCH_LOG_LEVEL", None)
    done = subprocess.run(
        [sys.executable, "-c", f"{code}\n{REPORT}"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    loaded: list[str] = json.loads(done.stdout.strip().splitlines()[-1])
    return loaded


@pytest.mark.parametrize(
    "module",
    ["app.cli", "app.api", "app", "kg", "search", "ranker", "ingest", "catalogue", "synthetic"],
)
def test_importing_loads_no_heavy_library(module: str, tmp_path: Path) -> None:
    assert heavy_modules_after(f"import {module}", tmp_path) == []


@pytest.mark.parametrize("args", [["--help"], ["status"], ["catalog", "--help"]])
def test_fast_commands_load_no_heavy_library(args: list[str], tmp_path: Path) -> None:
    code = (
        "import sys\n"
        f"sys.argv = ['kgsearch', *{args!r}]\n"
        "from app.cli import app\n"
        "try:\n"
        "    app()\n"
        "except SystemExit as exc:\n"
        "    assert not exc.code, exc.code\n"
    )
    assert heavy_modules_after(code, tmp_path) == []
