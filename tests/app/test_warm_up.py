"""The server's warm-up loads what the default search needs and no more: the neural
ranker (and with it torch, ~480 MiB a worker at 50k products) waits for a request that
names it."""

from __future__ import annotations

import json

from conftest import MODEL_CACHE, run_snippet

from app.engine import Engine


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
    assert json.loads(run_snippet(code)) == [False, True]
