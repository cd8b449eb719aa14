"""Training settings for knowledge-graph embeddings: :class:`TrainConfig`, the tuned
defaults per model and dataset family, and device resolution.

Names are checked against PyKEEN's own resolvers (imported lazily, so importing this module
does not import torch) and, for the model, against the models this project scores
(:mod:`kg.kge_models`).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypeAlias

from kg.kge_models import KGE_MODELS, kge_model

__all__ = [
    "DATASETS",
    "TRAINING_LOOPS",
    "BenchmarkName",
    "TrainConfig",
    "default_config",
    "resolve_device",
    "supported_model",
]

DATASETS = ("graph", "nations", "kinships", "umls")
BenchmarkName: TypeAlias = Literal["nations", "kinships", "umls"]

#: PyKEEN training loops we run: negative sampling ("slcwa"), 1-N scoring of tails ("lcwa";
#: with ``inverse_triples`` heads are predicted as tails of the inverse relation) or of heads
#: and tails ("symmetriclcwa").
TRAINING_LOOPS = ("slcwa", "lcwa", "symmetriclcwa")


@dataclass(frozen=True, slots=True)
class TrainConfig:
    """Everything that decides a training run (recorded in the artefact's ``config``)."""

    model: str = "TransE"
    dim: int = 64
    epochs: int = 200
    lr: float = 0.01
    batch_size: int = 512
    #: negatives per positive (``slcwa`` only; the LCWA loops score every entity)
    negatives: int = 32
    #: evaluations without a relative MRR gain of ``min_delta`` before stopping
    patience: int = 3
    eval_every: int = 10
    seed: int = 13
    device: str = "auto"
    #: torch CPU threads while training and evaluating, restored after. A fixed number,
    #: never "all cores": the thread count changes the order of floating-point sums, so
    #: results would differ between machines (see kg/reproducible.py).
    threads: int = 1
    loss: str = "softplus"
    training_loop: str = "slcwa"
    #: train an inverse relation ``R_inverse`` beside each relation ``R`` (PyKEEN's
    #: ``create_inverse_triples``); the artefact keeps both
    inverse_triples: bool = False
    #: TransE's p in ``-‖h + r - t‖_p`` (ignored by ComplEx)
    scoring_norm: int = 1
    #: weight of PyKEEN's Lp regulariser on ComplEx vectors (0 = none)
    regularizer_weight: float = 0.0
    label_smoothing: float = 0.0
    min_delta: float = 0.002
    #: validation triples used by early stopping (a seeded sample when there are more)
    max_eval_triples: int = 2000
    #: held-out triples of the final valid and test evaluation (a seeded sample when there
    #: are more): filtered ranking against every entity costs triples x entities, about
    #: 20 minutes for the 19k test triples of a 50k-product graph on 2 cores
    max_final_eval_triples: int = 10_000

    def __post_init__(self) -> None:
        object.__setattr__(self, "model", supported_model(self.model))
        counts = ("dim", "epochs", "batch_size", "negatives", "patience", "eval_every")
        for name in (*counts, "max_eval_triples", "max_final_eval_triples"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if not (isinstance(self.lr, int | float) and math.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"lr must be a positive number, got {self.lr!r}")
        if not isinstance(self.threads, int) or isinstance(self.threads, bool) or self.threads < 1:
            raise ValueError(f"threads must be a positive integer, got {self.threads!r}")
        if not 0 <= self.regularizer_weight < math.inf:
            raise ValueError(f"regularizer_weight must be >= 0, got {self.regularizer_weight!r}")
        if not 0 <= self.label_smoothing < 1:
            raise ValueError(f"label_smoothing must be in [0, 1), got {self.label_smoothing!r}")
        if not 0 <= self.min_delta < 1:
            raise ValueError(f"min_delta must be in [0, 1), got {self.min_delta!r}")
        if self.scoring_norm not in (1, 2):
            raise ValueError(f"scoring_norm must be 1 or 2, got {self.scoring_norm!r}")
        if self.training_loop not in TRAINING_LOOPS:
            raise ValueError(
                f"training_loop {self.training_loop!r} is not one of {', '.join(TRAINING_LOOPS)}"
            )
        _check_loss(self.loss)
        _check_device_name(self.device)

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def supported_model(name: str) -> str:
    """The canonical spelling of ``name`` (``"transe"`` -> ``"TransE"``) if it is a
    registered model (:func:`kg.kge_models.kge_model`, the names PyKEEN's ``model_resolver``
    uses); a ``ValueError`` listing the registered models otherwise, which says whether
    PyKEEN knows the name at all."""
    try:
        return kge_model(name).name
    except ValueError:
        pass
    from pykeen.models import model_resolver

    supported = ", ".join(KGE_MODELS)
    try:
        canonical = model_resolver.lookup(name).__name__
    except (KeyError, ValueError, TypeError):
        raise ValueError(
            f"unknown KGE model {name!r}: PyKEEN's model_resolver does not know it; "
            f"supported models: {supported}"
        ) from None
    raise ValueError(
        f"KGE model {canonical!r} is known to PyKEEN but not supported here (the artefact "
        f"scores only these): {supported}"
    )


def _check_loss(name: str) -> None:
    from pykeen.losses import loss_resolver

    try:
        loss_resolver.lookup(name)
    except (KeyError, ValueError, TypeError):
        known = ", ".join(sorted(loss_resolver.lookup_dict))
        raise ValueError(f"unknown loss {name!r}; PyKEEN's loss_resolver knows: {known}") from None


def _check_device_name(name: str) -> None:
    if name not in ("auto", "cpu") and not (name == "cuda" or name.startswith("cuda:")):
        raise ValueError(f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {name!r}")


def resolve_device(name: str) -> str:
    """``"auto"`` -> ``"cuda"`` when torch sees a GPU, else ``"cpu"``; an explicit CUDA
    device without CUDA is an error (never a silent fall-back to the CPU)."""
    _check_device_name(name)
    import torch

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name != "cpu" and not torch.cuda.is_available():
        raise ValueError(
            f"device {name!r} was requested but torch sees no CUDA device "
            "(torch.cuda.is_available() is False); use device='cpu' or 'auto'"
        )
    return name


# Chosen on the validation splits (docs/kge.md has the runs); never on test.
# 1-N scoring against every entity with a softmax cross-entropy and inverse relations
# (Lacroix et al. 2018's recipe, PyKEEN's "LCWA + CE") trains the small benchmark graphs in
# seconds per epoch; it does not scale to the 50k-product graph (1-N over 51k entities for
# ~150k (head, relation) pairs per epoch), where negative sampling is used instead.
# Threads: the benchmark graphs are many tiny ops, fastest on one thread (20 ComplEx epochs
# on Kinships: 12 s on one, 69 s on two, with other jobs on the 2-core machine); the
# catalogue graph's batches are big enough for two threads to win (a TransE epoch on the
# 50k-product graph: 16.8 s on two threads, 27.6 s on one). Always a fixed count, so the
# same seed gives the same embeddings on any machine.
_LCWA_CE: Mapping[str, Any] = {
    "training_loop": "lcwa",
    "inverse_triples": True,
    "loss": "crossentropy",
    "threads": 1,
}
_DEFAULTS: Mapping[tuple[str, str], Mapping[str, Any]] = {
    ("ComplEx", "benchmark"): {
        **_LCWA_CE,
        "dim": 256,
        "lr": 0.05,
        "batch_size": 128,
        "epochs": 200,
        "eval_every": 10,
        "patience": 3,
    },
    ("TransE", "benchmark"): {
        **_LCWA_CE,
        "dim": 128,
        "lr": 0.02,
        "batch_size": 256,
        "scoring_norm": 1,
        "epochs": 100,
        "eval_every": 10,
        "patience": 2,
    },
    ("TransE", "graph"): {
        "training_loop": "slcwa",
        "loss": "nssa",
        "negatives": 16,
        "dim": 64,
        "lr": 0.02,
        "batch_size": 1024,
        "epochs": 60,
        "eval_every": 10,
        "patience": 2,
        "threads": 2,
    },
    ("ComplEx", "graph"): {
        "training_loop": "slcwa",
        "loss": "nssa",
        "negatives": 16,
        "dim": 64,
        "lr": 0.1,
        "batch_size": 1024,
        "epochs": 60,
        "eval_every": 10,
        "patience": 2,
        "threads": 2,
    },
}


def default_config(model: str, dataset: str) -> TrainConfig:
    """The tuned settings for ``model`` on ``dataset`` (``graph`` or a benchmark family)."""
    canonical = supported_model(model)
    if dataset not in DATASETS:
        raise ValueError(f"dataset {dataset!r} is not one of {', '.join(DATASETS)}")
    family = "graph" if dataset == "graph" else "benchmark"
    tuned = _DEFAULTS.get((canonical, family))
    if tuned is None:
        raise ValueError(
            f"no tuned {family} settings for KGE model {canonical!r}; pass a TrainConfig"
        )
    return TrainConfig(model=canonical, **tuned)
