"""Every Encoder implementation runs the contract in :mod:`contracts.encoder`. Adding one
is one more subclass whose ``text_encoder`` fixture returns a session-wide instance."""

from __future__ import annotations

from pathlib import Path

import pytest
from contracts.encoder import EncoderContract

from search.encoder import Encoder, MiniLMEncoder
from search.onnx_encoder import OnnxMiniLMEncoder


class TestMiniLMEncoder(EncoderContract):
    @pytest.fixture
    def text_encoder(self, encoder: MiniLMEncoder) -> Encoder:
        return encoder  # the session's (tests/conftest.py): loaded once

    def test_is_all_minilm_l6_v2(self, text_encoder: Encoder) -> None:
        assert (text_encoder.name, text_encoder.dim) == ("all-MiniLM-L6-v2", 384)

    def test_bad_settings_are_refused_before_loading(self) -> None:
        with pytest.raises(ValueError, match="max_length"):
            MiniLMEncoder(max_length=4)
        with pytest.raises(ValueError, match="device"):
            MiniLMEncoder(device="tpu")


class TestOnnxMiniLMEncoder(EncoderContract):
    @pytest.fixture
    def text_encoder(self, onnx_encoder: OnnxMiniLMEncoder) -> Encoder:
        return onnx_encoder  # the session's (tests/conftest.py): exported once per machine

    def test_is_all_minilm_l6_v2_like_the_torch_encoder(self, text_encoder: Encoder) -> None:
        # an index's manifest records name and dim: either runtime serves the other's index
        assert (text_encoder.name, text_encoder.dim) == (MiniLMEncoder.name, MiniLMEncoder.dim)

    def test_bad_settings_are_refused_before_loading(self, tmp_path: Path) -> None:
        with pytest.raises(ValueError, match="max_length"):
            OnnxMiniLMEncoder(cache_dir=tmp_path, max_length=4)
        with pytest.raises(ValueError, match="threads"):
            OnnxMiniLMEncoder(cache_dir=tmp_path, threads=0)
        assert list(tmp_path.iterdir()) == []  # nothing exported
