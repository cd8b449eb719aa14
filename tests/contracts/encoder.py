"""The Encoder contract: texts in, one L2-normalised float32 row per text out.

Every implementation gets one subclass of :class:`EncoderContract` providing a
``text_encoder`` fixture. Models are expensive to load, so implementations hand out one
instance per session (encoders are immutable and thread-safe)."""

from __future__ import annotations

import numpy as np
import pytest

from search.encoder import Encoder

TEXTS = (
    "blue velvet sofa",
    "Tufted three seat couch in deep blue velvet, with solid wood legs and a tight back.",
    "round oak dining table",
    "x",
    'Leather chesterfield — classic, brown; 2 cushions (84")',
    "",
)
#: (text, a paraphrase of it, an unrelated text)
TRIPLES = (
    ("blue velvet sofa", "navy velvet couch", "stainless steel kitchen faucet"),
    ("round oak dining table", "circular wooden kitchen table", "queen size memory foam mattress"),
    ("brass table lamp", "gold desk light", "outdoor rattan lounge chair"),
)
NORM_TOLERANCE = 1e-5
#: how far a text's vector may move with what it is batched with (padding changes the
#: order of floating-point sums inside the model, nothing else)
BATCH_TOLERANCE = 1e-5


class EncoderContract:
    def test_is_an_encoder(self, text_encoder: Encoder) -> None:
        assert isinstance(text_encoder, Encoder)
        assert isinstance(text_encoder.name, str) and text_encoder.name
        assert isinstance(text_encoder.dim, int) and text_encoder.dim > 0

    def test_one_normalised_float32_row_per_text(self, text_encoder: Encoder) -> None:
        vectors = text_encoder.encode(list(TEXTS))
        assert isinstance(vectors, np.ndarray)
        assert vectors.shape == (len(TEXTS), text_encoder.dim)
        assert vectors.dtype == np.float32
        assert np.isfinite(vectors).all()
        np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=NORM_TOLERANCE)

    def test_an_empty_batch_gives_no_rows(self, text_encoder: Encoder) -> None:
        vectors = text_encoder.encode([])
        assert vectors.shape == (0, text_encoder.dim)
        assert vectors.dtype == np.float32

    def test_a_batch_agrees_with_one_text_at_a_time(self, text_encoder: Encoder) -> None:
        together = text_encoder.encode(list(TEXTS))
        alone = np.vstack([text_encoder.encode([text]) for text in TEXTS])
        np.testing.assert_allclose(together, alone, atol=BATCH_TOLERANCE)
        # batch size and order only decide how the work is cut, not the rows that come back
        small = text_encoder.encode(list(TEXTS), batch_size=2)
        np.testing.assert_allclose(small, together, atol=BATCH_TOLERANCE)
        backwards = text_encoder.encode(list(reversed(TEXTS)))
        np.testing.assert_allclose(backwards[::-1], together, atol=BATCH_TOLERANCE)

    def test_deterministic(self, text_encoder: Encoder) -> None:
        first = text_encoder.encode(list(TEXTS))
        np.testing.assert_array_equal(text_encoder.encode(list(TEXTS)), first)

    def test_progress_reports_every_batch_up_to_the_total(self, text_encoder: Encoder) -> None:
        calls: list[tuple[int, int]] = []
        text_encoder.encode(list(TEXTS), batch_size=4, progress=lambda d, t: calls.append((d, t)))
        assert calls == [(4, len(TEXTS)), (len(TEXTS), len(TEXTS))]

    def test_a_bad_batch_size_is_refused(self, text_encoder: Encoder) -> None:
        with pytest.raises(ValueError, match="batch_size"):
            text_encoder.encode(["sofa"], batch_size=0)

    @pytest.mark.parametrize(("text", "similar", "unrelated"), TRIPLES)
    def test_similar_texts_are_closer_than_unrelated_ones(
        self, text_encoder: Encoder, text: str, similar: str, unrelated: str
    ) -> None:
        v = text_encoder.encode([text, similar, unrelated])
        assert float(v[0] @ v[1]) > float(v[0] @ v[2]) + 0.1
