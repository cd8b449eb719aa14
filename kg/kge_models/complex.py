"""ComplEx (Trouillon et al. 2016): ``score(h, r, t) = Re(⟨h, r, conj(t)⟩)`` over ``ℂ^d``.

Complex vectors are stored as real ``float32`` rows of width ``2d``, the real parts first and
the imaginary parts after (``[re_1..re_d, im_1..im_d]``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from kg.kge_models.base import (
    FloatArray,
    MathArray,
    PyKEENExport,
    as_rows,
    pykeen_representations,
)

if TYPE_CHECKING:
    from kg.kge_config import TrainConfig

__all__ = ["ComplEx"]


def _complex(rows: MathArray, d: int) -> Any:
    return rows[..., :d] + 1j * rows[..., d:]


@dataclass(frozen=True, kw_only=True)
class ComplEx:
    """ComplEx; scoring has no settings of its own."""

    name: ClassVar[str] = "ComplEx"

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> ComplEx:
        return cls()

    # ---- artefact layout --------------------------------------------------------------

    def width(self, dim: int) -> int:
        return 2 * dim

    def dim(self, width: int) -> int:
        return width // 2

    def validate(self, *, entities: FloatArray, relations: FloatArray) -> None:
        if entities.shape[1] % 2:
            raise ValueError("ComplEx rows must have an even width (real | imaginary)")

    # ---- NumPy scoring ----------------------------------------------------------------

    def score(self, h: MathArray, r: MathArray, t: MathArray) -> MathArray:
        d = self.dim(h.shape[-1])
        h_c, r_c, t_c = _complex(h, d), _complex(r, d), _complex(t, d)
        return np.asarray(np.real((h_c * r_c * np.conj(t_c)).sum(axis=-1)))

    def similarity_view(self, rows: MathArray) -> MathArray:
        """The real view: the cosine of ``[re | im]`` rows is ``Re⟨a, b⟩ / (|a| |b|)``."""
        return rows

    # ---- incremental placement ----------------------------------------------------------

    def initial_head(self, relations: MathArray, tails: MathArray) -> MathArray:
        """For a fixed length, ``Re⟨h, r, conj t⟩`` is largest at ``h ∝ conj(r)·t``."""
        d = self.dim(relations.shape[1])
        product = (relations[:, :d] - 1j * relations[:, d:]) * (tails[:, :d] + 1j * tails[:, d:])
        mean = product.mean(axis=0)
        return np.concatenate([mean.real, mean.imag])

    def score_and_grad(
        self, head: MathArray, relations: MathArray, tails: MathArray
    ) -> tuple[MathArray, MathArray]:
        d = self.dim(head.shape[0])
        w = (relations[..., :d] + 1j * relations[..., d:]) * (tails[..., :d] - 1j * tails[..., d:])
        grad = np.concatenate([w.real, -w.imag], axis=-1)
        return (grad * head).sum(axis=-1), grad

    # ---- PyKEEN -------------------------------------------------------------------------

    @classmethod
    def pykeen_kwargs(cls, config: TrainConfig) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"embedding_dim": config.dim}
        if config.regularizer_weight > 0:
            kwargs["regularizer"] = "lp"
            kwargs["regularizer_kwargs"] = {"weight": config.regularizer_weight, "p": 2.0}
        else:
            kwargs["regularizer"] = None
        return kwargs

    @classmethod
    def from_pykeen(cls, model: Any) -> PyKEENExport:
        import torch

        rows = []
        for values in pykeen_representations(model):
            if not torch.is_complex(values):
                raise TypeError("PyKEEN's ComplEx vectors were expected to be complex")
            rows.append(as_rows(torch.cat([values.real, values.imag], dim=-1)))
        return PyKEENExport(entities=rows[0], relations=rows[1])
