"""TransE (Bordes et al. 2013): ``score(h, r, t) = -‖h + r - t‖_p`` with ``p`` 1 or 2.

Stored rows are the ``d`` real coordinates PyKEEN trained (entity rows unit length: PyKEEN's
TransE keeps them normalised). The artefact records ``p`` as ``config["scoring_norm"]``.
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

__all__ = ["TransE"]

_NORMS = (1, 2)


@dataclass(frozen=True, kw_only=True)
class TransE:
    """TransE with the L1 (``scoring_norm=1``) or L2 (``scoring_norm=2``) distance."""

    scoring_norm: int
    name: ClassVar[str] = "TransE"

    def __post_init__(self) -> None:
        if isinstance(self.scoring_norm, bool) or self.scoring_norm not in _NORMS:
            raise ValueError(f"TransE scoring_norm must be 1 or 2, got {self.scoring_norm!r}")

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> TransE:
        norm = config.get("scoring_norm")
        if norm not in _NORMS:
            raise ValueError("a TransE artefact needs config['scoring_norm'] of 1 or 2")
        return cls(scoring_norm=int(norm))

    # ---- artefact layout --------------------------------------------------------------

    def width(self, dim: int) -> int:
        return dim

    def dim(self, width: int) -> int:
        return width

    def validate(self, *, entities: FloatArray, relations: FloatArray) -> None:
        """Any width will do: rows are plain real vectors."""

    # ---- NumPy scoring ----------------------------------------------------------------

    def score(self, h: MathArray, r: MathArray, t: MathArray) -> MathArray:
        return -np.asarray(np.linalg.norm(h + r - t, ord=self.scoring_norm, axis=-1))

    def similarity_view(self, rows: MathArray) -> MathArray:
        return rows

    # ---- incremental placement ----------------------------------------------------------

    def initial_head(self, relations: MathArray, tails: MathArray) -> MathArray:
        """``h + r ≈ t`` gives ``h ≈ mean(t - r)``."""
        return np.asarray((tails - relations).mean(axis=0))

    def score_and_grad(
        self, head: MathArray, relations: MathArray, tails: MathArray
    ) -> tuple[MathArray, MathArray]:
        diff = head + relations - tails
        if self.scoring_norm == 1:
            return -np.abs(diff).sum(axis=-1), -np.sign(diff)
        dist = np.linalg.norm(diff, axis=-1)
        return -dist, -diff / np.maximum(dist, 1e-12)[..., None]

    # ---- PyKEEN -------------------------------------------------------------------------

    @classmethod
    def pykeen_kwargs(cls, config: TrainConfig) -> dict[str, Any]:
        return {"embedding_dim": config.dim, "scoring_fct_norm": config.scoring_norm}

    @classmethod
    def from_pykeen(cls, model: Any) -> PyKEENExport:
        entities, relations = pykeen_representations(model)
        interaction = getattr(model, "interaction", None)
        p = getattr(interaction, "p", None)
        power = getattr(interaction, "power_norm", False)
        if p not in _NORMS or power:
            raise ValueError(
                f"TransE with p={p!r}, power_norm={power!r} is not supported (p 1 or 2)"
            )
        for what, values in (("entity", entities), ("relation", relations)):
            if values.is_complex():
                raise TypeError(f"PyKEEN's TransE {what} vectors were expected to be real")
        return PyKEENExport(
            entities=as_rows(entities),
            relations=as_rows(relations),
            config={"scoring_norm": int(p)},
        )
