"""KGSEARCH_ENCODER_RUNTIME: which MiniLM the engine builds (ONNX Runtime by default on the
CPU, transformers when asked, on a GPU device, or when the ONNX model cannot be had)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from conftest import MODEL_CACHE
from pydantic import ValidationError

from app.engine import Engine
from app.settings import Settings
from search.encoder import MiniLMEncoder
from search.onnx_encoder import OnnxMiniLMEncoder


def test_onnx_by_default_on_the_cpu(tmp_path: Path, onnx_encoder: OnnxMiniLMEncoder) -> None:
    engine = Engine(Settings(home=tmp_path, model_cache=MODEL_CACHE))  # already exported
    assert isinstance(engine.encoder, OnnxMiniLMEncoder)
    assert engine.encoder.model_path.parent == MODEL_CACHE.resolve()


@pytest.mark.parametrize(
    ("settings", "kind"),
    [({"encoder_runtime": "torch"}, MiniLMEncoder), ({"device": "cuda"}, MiniLMEncoder)],
)
def test_torch_when_asked_or_on_a_gpu(tmp_path: Path, settings: dict[str, str], kind: type) -> None:
    engine = Engine(Settings(home=tmp_path, model_cache=tmp_path / "models", **settings))
    assert isinstance(engine.encoder, kind)
    assert not (tmp_path / "models").exists()  # nothing exported


def test_auto_falls_back_to_torch_when_onnx_cannot_load(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    engine = Engine(Settings(home=tmp_path, model_cache=blocker))
    with caplog.at_level(logging.WARNING, logger="app.engine"):
        assert isinstance(engine.encoder, MiniLMEncoder)
    assert "using transformers" in caplog.text


def test_onnx_asked_for_fails_loudly(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    engine = Engine(Settings(home=tmp_path, model_cache=blocker, encoder_runtime="onnx"))
    with pytest.raises(OSError):
        _ = engine.encoder


def test_onnx_on_a_gpu_device_is_refused() -> None:
    with pytest.raises(ValidationError, match="CPU only"):
        Settings(encoder_runtime="onnx", device="cuda")
