"""What every KG-embedding model provides: the :class:`KGEScorer` protocol.

A model is one class in its own module (:mod:`kg.kge_models.transe`,
:mod:`kg.kge_models.complex`), registered by PyKEEN's class name in :mod:`kg.kge_models`.
An instance holds the hyperparameters its scoring depends on (TransE's norm), built with
typed keyword-only arguments or from an artefact's recorded ``config``; the class also knows
the PyKEEN side (constructor arguments, conversion of trained representations to rows).

Rows are *stored* rows: real ``float32`` of the model's stored width (ComplEx keeps
``[real | imaginary]``). The NumPy maths runs on ``float64`` copies of them.

NumPy only at import time; torch is imported inside :func:`pykeen_representations`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, Self, TypeAlias, runtime_checkable

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from kg.kge_config import TrainConfig

__all__ = [
    "FloatArray",
    "KGEScorer",
    "MathArray",
    "PyKEENExport",
    "pykeen_representations",
]

#: Stored rows (entities, relations): 2-d ``float32``.
FloatArray: TypeAlias = npt.NDArray[np.float32]
#: What the NumPy maths works on: ``float64`` rows, broadcast over leading axes.
MathArray: TypeAlias = npt.NDArray[np.float64]


@dataclass(frozen=True, kw_only=True)
class PyKEENExport:
    """A trained PyKEEN model as stored rows, plus the scoring settings read off the model
    (recorded in the artefact's ``config``, e.g. TransE's ``scoring_norm``)."""

    entities: FloatArray
    relations: FloatArray
    config: Mapping[str, Any] = field(default_factory=dict)


@runtime_checkable
class KGEScorer(Protocol):
    """One KG-embedding model: artefact layout, NumPy scoring, incremental placement and
    the PyKEEN training side. The contract suite in ``tests/contracts/kge_model.py`` runs
    against every registered model."""

    #: PyKEEN's canonical class name ("TransE"), the name artefacts record
    name: ClassVar[str]

    # ---- building ---------------------------------------------------------------------

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Self:
        """The scorer an artefact with this recorded ``config`` needs; ``ValueError`` when
        the config lacks a setting the model scores with."""
        ...

    # ---- artefact layout --------------------------------------------------------------

    def width(self, dim: int) -> int:
        """Stored row width of a model of embedding dimension ``dim``."""
        ...

    def dim(self, width: int) -> int:
        """Embedding dimension of stored rows ``width`` wide."""
        ...

    def validate(self, *, entities: FloatArray, relations: FloatArray) -> None:
        """``ValueError`` unless the rows fit this model (shapes and dtype are checked by
        the artefact before this is called)."""
        ...

    # ---- NumPy scoring ----------------------------------------------------------------

    def score(self, h: MathArray, r: MathArray, t: MathArray) -> MathArray:
        """Plausibility of each ``(h, r, t)`` (broadcast over leading axes), equal to PyKEEN's
        ``score_hrt``; higher is more plausible."""
        ...

    def similarity_view(self, rows: MathArray) -> MathArray:
        """The real vectors whose cosine is the similarity of two entities."""
        ...

    # ---- incremental placement ----------------------------------------------------------

    def initial_head(self, relations: MathArray, tails: MathArray) -> MathArray:
        """A head vector the trained relations suggest for triples ``(?, r_i, t_i)``
        (one row per pair; the caller rescales it and falls back if it is ~zero)."""
        ...

    def score_and_grad(
        self, head: MathArray, relations: MathArray, tails: MathArray
    ) -> tuple[MathArray, MathArray]:
        """Scores of ``(head, r, t)`` (``relations`` and ``tails`` broadcast over leading
        axes) and the gradient of each score with respect to ``head``; the local
        refinement steps in :mod:`kg.kge_incremental` follow it."""
        ...

    # ---- PyKEEN -------------------------------------------------------------------------

    @classmethod
    def pykeen_kwargs(cls, config: TrainConfig) -> dict[str, Any]:
        """Keyword arguments for PyKEEN's ``model_resolver.make(name, ...)`` (besides the
        triples factory, loss and seed)."""
        ...

    @classmethod
    def from_pykeen(cls, model: Any) -> PyKEENExport:
        """The stored rows of a trained PyKEEN model of this kind, exactly as its
        ``score_hrt`` sees them, and the scoring settings it was built with."""
        ...


def pykeen_representations(model: Any) -> tuple[Any, Any]:
    """The entity and relation tensors of a PyKEEN ``ERModel`` as ``score_hrt`` sees them
    (detached, on the CPU; complex for ComplEx)."""
    import torch
    from pykeen.models import ERModel

    if not isinstance(model, ERModel):
        raise TypeError(f"expected a PyKEEN ERModel, got {type(model).__name__}")
    with torch.no_grad():
        entities = model.entity_representations[0](indices=None).detach().cpu()
        relations = model.relation_representations[0](indices=None).detach().cpu()
    return entities, relations


def as_rows(values: Any) -> FloatArray:
    """A real torch tensor as contiguous ``float32`` stored rows."""
    return np.ascontiguousarray(values.numpy(), dtype=np.float32)
