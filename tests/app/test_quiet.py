"""Quiet by default: libraries log warnings only unless -v or KGSEARCH_LOG_LEVEL says
otherwise, and the known harmless warnings of KG-embedding training are dropped where
they arise. The CLI runs in subprocesses here: in-process, pytest owns the logging setup."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from conftest import TINY

from app.engine import Engine
from app.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
#: A log line of ours (app/cli.py's format) at INFO or DEBUG.
CHATTY = re.compile(r"^\S+ \S+ (INFO|DEBUG) ", re.MULTILINE)


def run(code_or_args: list[str], home: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {**os.environ, "KGSEARCH_HOME": str(home), **env}
    if "KGSEARCH_LOG_LEVEL" not in env:
        environ.pop("KGSEARCH_LOG_LEVEL", None)
    return subprocess.run(
        [sys.executable, *code_or_args],
        cwd=ROOT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=300,
    )


# A library that, like PyKEEN, sets its own logger to INFO when imported.
LIBRARY = """
import logging, sys
from app.cli import _configure_logging
_configure_logging(sys.argv[1])
library = logging.getLogger("chatty_library")
library.setLevel(logging.INFO)
library.info("library info")
library.warning("library warning")
logging.getLogger("kg.something").debug("our debug")
"""


def test_libraries_log_warnings_only_by_default(tmp_path: Path) -> None:
    done = run(["-c", LIBRARY, "WARNING"], tmp_path)
    assert done.returncode == 0, done.stderr
    assert "library warning" in done.stderr
    assert "library info" not in done.stderr and "our debug" not in done.stderr
    assert done.stdout == ""


def test_a_level_lets_more_through(tmp_path: Path) -> None:
    info = run(["-c", LIBRARY, "INFO"], tmp_path).stderr
    assert "library info" in info and "our debug" not in info
    debug = run(["-c", LIBRARY, "DEBUG"], tmp_path).stderr
    assert "library info" in debug and "our debug" in debug


def test_a_bad_log_level_is_bad_input(tmp_path: Path) -> None:
    done = run(["-m", "app", "status"], tmp_path, KGSEARCH_LOG_LEVEL="chatty")
    assert done.returncode == 2
    assert "KGSEARCH_LOG_LEVEL" in done.stderr


def test_kge_training_prints_its_result_and_nothing_else(tmp_path: Path) -> None:
    """One epoch of TransE on the tiny catalogue through the CLI: on a CPU-only machine
    PyKEEN logs at INFO, torch warns about pin_memory and torch_max_mem about CUDA."""
    engine = Engine(Settings(home=tmp_path))
    engine.import_catalogue(TINY / "product.csv")
    engine.close()
    done = run(
        ["-m", "app", "--quiet", "train-kge", "--dataset", "graph", "--epochs", "1"], tmp_path
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("TransE on graph: MRR ")
    assert len(done.stdout.splitlines()) == 1
    output = done.stdout + done.stderr
    assert not CHATTY.search(output), output
    for noise in ("UserWarning", "pin_memory", "torch_max_mem", "Warning:"):
        assert noise not in output, output
    assert done.stderr == ""
