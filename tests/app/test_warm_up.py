"""The server's warm-up loads what the default search needs and no more: the neural
ranker (and with it torch, ~480 MiB a worker at 50k products) waits for a request that
names it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from conftest import MODEL_CACHE

from app.engine import Engine

ROOT = Path(__file__).resolve().parents[2]


def test_the_warm_up_leaves_torch_to_the_ranker_that_needs_it(tiny_engine: Engine) -> None:
    _, manifest = tiny_engine.service()
    assert "neural" in manifest.rankers  # else the test would prove nothing
    code = (
        "import json, sys\n"
        "from pathlib import Path\n"
        "from app.engine import Engine\n"
        "from app.settings import Settings\n"
        f"engine = Engine(Settings(home=Path({str(tiny_engine.home)!r}), encoder_runtime='onnx',"
        f" model_cache=Path({str(MODEL_CACHE)!r})))\n"
        "engine.warm_up()\n"
        "after_warm_up = 'torch' in sys.modules\n"
        "engine.make_ranker('neural')\n"
        "print(json.dumps([after_warm_up, 'torch' in sys.modules]))\n"
        "engine.close()\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == [False, True]
