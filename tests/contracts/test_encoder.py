"""Every Encoder implementation runs the contract in :mod:`contracts.encoder`. Adding one
(an ONNX Runtime encoder, say) is one more subclass whose ``text_encoder`` fixture returns a
session-wide instance."""

from __future__ import annotations

import pytest
from contracts.encoder import EncoderContract

from search.encoder import Encoder, MiniLMEncoder


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
