"""Train TransE or ComplEx with PyKEEN on the product graph or a benchmark PyKEEN ships.

The model, loss and training loop are chosen by name through PyKEEN's own resolvers
(``model_resolver``, ``loss_resolver``, ``training_loop_resolver``); what differs between
models (constructor arguments, reading the trained vectors) comes from the model's class in
:mod:`kg.kge_models`. Training stops early on validation MRR (filtered, realistic rank) and
restores the best weights; the test split is evaluated once, at the end, filtered by the
training and validation triples. The result is a :class:`kg.kge.KGEmbeddings` artefact
(NumPy only), whose ``score`` equals PyKEEN's ``score_hrt``.

torch and PyKEEN are imported inside the functions that need them, so importing this module
is cheap and has no side effects.
"""

from __future__ import annotations

import gc
import logging
import tempfile
import time
import warnings
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from importlib.metadata import version
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

import numpy as np

from kg.kge import KGEmbeddings
from kg.kge_config import (
    DATASETS,
    TRAINING_LOOPS,
    BenchmarkName,
    TrainConfig,
    default_config,
    resolve_device,
    supported_model,
)
from kg.kge_models import kge_model
from kg.reproducible import reproducible

if TYPE_CHECKING:
    from pykeen.models import Model
    from pykeen.training import TrainingLoop
    from pykeen.triples import CoreTriplesFactory, TriplesFactory

__all__ = [
    "DATASETS",
    "INVERSE_SUFFIX",
    "MIN_TRIPLES",
    "TRAINING_LOOPS",
    "BenchmarkName",
    "Progress",
    "TrainConfig",
    "default_config",
    "embeddings_from_model",
    "frozen_heap",
    "prepare_training",
    "resolve_device",
    "split_triples",
    "train_benchmark",
    "train_on_triples",
]

Triple: TypeAlias = tuple[str, str, str]
#: ``progress(epoch, epochs)`` after every epoch (epochs is the configured maximum).
Progress: TypeAlias = Callable[[int, int], None]

MIN_TRIPLES = 50
SPLIT = (0.90, 0.05, 0.05)
_EVAL_BATCH = 256
#: PyKEEN's own suffix for inverse relations
INVERSE_SUFFIX = "_inverse"


# ---- splitting ------------------------------------------------------------------------------


def split_triples(
    triples: Sequence[Triple], *, seed: int
) -> tuple[list[Triple], list[Triple], list[Triple]]:
    """Deterministic 90/5/5 train/valid/test split of the distinct triples.

    Triples are sorted, then shuffled with ``seed``; a triple is held out only while its
    head, tail and relation keep at least one other training triple, so every entity and
    relation of the graph is in the training split (the held-out share can come out a little
    smaller on a sparse graph). Raises ``ValueError`` for fewer than 50 distinct triples."""
    unique = sorted(set(triples))
    if len(unique) < MIN_TRIPLES:
        raise ValueError(
            f"the graph has {len(unique)} distinct triples; training embeddings needs at "
            f"least {MIN_TRIPLES} (import a catalogue first)"
        )
    n_valid = max(1, round(len(unique) * SPLIT[1]))
    n_test = max(1, round(len(unique) * SPLIT[2]))
    entity_uses: Counter[str] = Counter()
    relation_uses: Counter[str] = Counter()
    for h, r, t in unique:
        entity_uses[h] += 1
        entity_uses[t] += 1
        relation_uses[r] += 1
    held: list[int] = []
    order = np.random.default_rng(seed).permutation(len(unique))
    for i in order.tolist():
        if len(held) == n_valid + n_test:
            break
        h, r, t = unique[i]
        need = 2 if h == t else 1
        if entity_uses[h] > need and entity_uses[t] > need and relation_uses[r] > 1:
            entity_uses[h] -= 1
            entity_uses[t] -= 1
            relation_uses[r] -= 1
            held.append(i)
    if len(held) < 2:
        raise ValueError(
            "the graph is too sparse to hold out validation and test triples "
            "(every triple is the only one of an entity or relation)"
        )
    n_valid = min(n_valid, len(held) // 2)
    held_set = set(held)
    train = [t for i, t in enumerate(unique) if i not in held_set]
    valid = [unique[i] for i in held[:n_valid]]
    test = [unique[i] for i in held[n_valid:]]
    return train, valid, test


# ---- training -------------------------------------------------------------------------------


def train_on_triples(
    triples: Sequence[Triple],
    *,
    config: TrainConfig,
    graph_revision: int | None,
    progress: Progress | None = None,
) -> KGEmbeddings:
    """Train on graph triples ``(head id, relation name, tail id)``; see :func:`split_triples`
    for the split. A relation with no triples is simply absent from the artefact."""
    from pykeen.triples import TriplesFactory

    train, valid, test = split_triples(triples, seed=config.seed)
    training = TriplesFactory.from_labeled_triples(
        np.array(train, dtype=str), create_inverse_triples=config.inverse_triples
    )

    def mapped(part: list[Triple]) -> TriplesFactory:
        return TriplesFactory.from_labeled_triples(
            np.array(part, dtype=str),
            entity_to_id=training.entity_to_id,
            relation_to_id=training.relation_to_id,
        )

    return _fit(
        training,
        mapped(valid),
        mapped(test),
        config=config,
        dataset="graph",
        graph_revision=graph_revision,
        progress=progress,
    )


def train_benchmark(
    dataset: BenchmarkName, *, config: TrainConfig, progress: Progress | None = None
) -> KGEmbeddings:
    """Train on a dataset PyKEEN ships (Nations, Kinships, UMLS) with its own split; the
    metrics are on its test split, filtered, realistic rank."""
    if dataset not in DATASETS[1:]:
        raise ValueError(f"benchmark {dataset!r} is not one of {', '.join(DATASETS[1:])}")
    from pykeen.datasets import dataset_resolver

    data = dataset_resolver.make(dataset, create_inverse_triples=config.inverse_triples)
    if data.validation is None:
        raise ValueError(f"PyKEEN's {dataset} has no validation split to stop early on")
    return _fit(
        data.training,
        data.validation,
        data.testing,
        config=config,
        dataset=dataset,
        graph_revision=None,
        progress=progress,
    )


def prepare_training(
    training: CoreTriplesFactory, *, config: TrainConfig, device: str
) -> tuple[Model, TrainingLoop[Any]]:
    """A seeded PyKEEN model and training loop for ``config``, chosen by name through
    PyKEEN's ``model_resolver`` and ``training_loop_resolver`` (optimiser: Adam)."""
    from pykeen.models import model_resolver
    from pykeen.training import training_loop_resolver
    from pykeen.utils import set_random_seed

    set_random_seed(config.seed)
    model = model_resolver.make(
        config.model,
        triples_factory=training,
        loss=config.loss,
        random_seed=config.seed,
        **kge_model(config.model).pykeen_kwargs(config),
    ).to(device)
    loop_kwargs: dict[str, Any] = {}
    if config.training_loop == "slcwa":
        loop_kwargs["negative_sampler_kwargs"] = {"num_negs_per_pos": config.negatives}
    loop = training_loop_resolver.make(
        config.training_loop,
        model=model,
        triples_factory=training,
        optimizer="adam",
        optimizer_kwargs={"lr": config.lr},
        **loop_kwargs,
    )
    return model, loop


@contextmanager
def known_noise_filtered() -> Iterator[None]:
    """Drop the messages every CPU-only training run gets, which say nothing about the run:
    torch's DataLoader warning that ``pin_memory`` (PyKEEN asks for it) has no accelerator
    to pin for, torch_max_mem's that it tunes batch sizes on CUDA only, and the
    deprecation PyKEEN's sLCWA loop triggers in PyKEEN itself (it passes ``shuffle``).
    Anything else, warning or log record, still comes through."""

    class _CpuNotice(logging.Filter):
        def filter(self, record: logging.LogRecord) -> bool:
            return not record.getMessage().startswith("Encountered tensors on device_types")

    notice, logger = _CpuNotice(), logging.getLogger("torch_max_mem.api")
    logger.addFilter(notice)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings(
                "ignore",
                message="'pin_memory' argument is set as true but no accelerator is found",
                category=UserWarning,
            )
            warnings.filterwarnings(
                "ignore",
                message="Training instances are always shuffled",
                category=DeprecationWarning,
            )
            yield
    finally:
        logger.removeFilter(notice)


@known_noise_filtered()
def _fit(
    training: CoreTriplesFactory,
    validation: CoreTriplesFactory,
    testing: CoreTriplesFactory,
    *,
    config: TrainConfig,
    dataset: str,
    graph_revision: int | None,
    progress: Progress | None,
) -> KGEmbeddings:
    import torch
    from pykeen.evaluation import RankBasedEvaluator
    from pykeen.stoppers import EarlyStopper
    from pykeen.training.callbacks import TrainingCallback

    device = resolve_device(config.device)
    model, loop = prepare_training(training, config=config, device=device)

    class _ReportEpoch(TrainingCallback):
        def post_epoch(self, epoch: int, epoch_loss: float, **kwargs: Any) -> None:
            if progress is not None:
                progress(epoch, config.epochs)

    evaluator = RankBasedEvaluator(filtered=True, batch_size=_EVAL_BATCH)
    started = time.perf_counter()
    with (
        tempfile.TemporaryDirectory(prefix="kgsearch-kge-") as tmp,
        frozen_heap(),
        reproducible(seed=config.seed, threads=config.threads),
    ):
        stopper = EarlyStopper(
            model=model,
            evaluator=evaluator,
            training_triples_factory=training,
            evaluation_triples_factory=_sample(validation, config.max_eval_triples, config.seed),
            evaluation_batch_size=_EVAL_BATCH,
            frequency=config.eval_every,
            patience=config.patience,
            metric="inverse_harmonic_mean_rank",
            relative_delta=config.min_delta,
            best_model_path=Path(tmp) / "best.pt",
        )
        losses = loop.train(
            triples_factory=training,
            num_epochs=config.epochs,
            batch_size=config.batch_size,
            label_smoothing=config.label_smoothing,
            stopper=stopper,
            callbacks=[_ReportEpoch()],  # type: ignore[no-untyped-call]
            use_tqdm=progress is None,
            use_tqdm_batch=False,
        )
    seconds = time.perf_counter() - started
    model.eval()
    known = training.mapped_triples
    limit = config.max_final_eval_triples
    valid_sample = _sample(validation, limit, config.seed)
    test_sample = _sample(testing, limit, config.seed)
    # A sample still filters by its whole split: the triples left out are true, too.
    whole_valid = [validation.mapped_triples] if valid_sample is not validation else []
    whole_test = [testing.mapped_triples] if test_sample is not testing else []
    with reproducible(seed=config.seed, threads=config.threads):
        valid_result = evaluator.evaluate(
            model,
            valid_sample.mapped_triples,
            additional_filter_triples=[known, *whole_valid],
            batch_size=_EVAL_BATCH,
            use_tqdm=False,
        )
        test_result = evaluator.evaluate(
            model,
            test_sample.mapped_triples,
            additional_filter_triples=[known, validation.mapped_triples, *whole_test],
            batch_size=_EVAL_BATCH,
            use_tqdm=False,
        )
    metrics = {
        "test_mrr": test_result.get_metric("both.realistic.inverse_harmonic_mean_rank"),
        "test_hits_at_1": test_result.get_metric("both.realistic.hits_at_1"),
        "test_hits_at_3": test_result.get_metric("both.realistic.hits_at_3"),
        "test_hits_at_10": test_result.get_metric("both.realistic.hits_at_10"),
        "test_mrr_head": test_result.get_metric("head.realistic.inverse_harmonic_mean_rank"),
        "test_mrr_tail": test_result.get_metric("tail.realistic.inverse_harmonic_mean_rank"),
        "test_hits_at_10_tail": test_result.get_metric("tail.realistic.hits_at_10"),
        "valid_mrr": valid_result.get_metric("both.realistic.inverse_harmonic_mean_rank"),
        "valid_hits_at_10": valid_result.get_metric("both.realistic.hits_at_10"),
        "train_seconds": seconds,
        "epochs_run": float(len(losses or [])),
        "best_epoch": float(stopper.best_epoch or len(losses or [])),
        "train_triples": float(training.num_triples),
        "valid_triples": float(validation.num_triples),
        "test_triples": float(testing.num_triples),
        "valid_triples_evaluated": float(valid_sample.num_triples),
        "test_triples_evaluated": float(test_sample.num_triples),
    }
    recorded = {
        **config.as_dict(),
        "dataset": dataset,
        "device": device,
        "requested_device": config.device,
        "split": "pykeen" if dataset != "graph" else "seeded 90/5/5, every entity in train",
        "evaluation": "filtered, realistic rank, head and tail",
        "pykeen_version": version("pykeen"),
        "torch_version": torch.__version__,
    }
    return embeddings_from_model(
        model,
        training,
        config=recorded,
        metrics={k: float(v) for k, v in metrics.items()},
        graph_revision=graph_revision,
    )


def embeddings_from_model(
    model: Model,
    training: CoreTriplesFactory,
    *,
    config: Mapping[str, Any],
    metrics: Mapping[str, float],
    graph_revision: int | None,
) -> KGEmbeddings:
    """The artefact of a trained PyKEEN TransE or ComplEx model: its vectors exactly as
    ``score_hrt`` sees them (float32; ComplEx as ``[real | imaginary]`` rows) and the id
    maps of the triples factory it was trained on. A model trained with inverse triples
    gives each relation ``R`` a second row, ``R_inverse`` (PyKEEN keeps them interleaved
    at internal ids ``2r`` and ``2r + 1``; the artefact lists the forward ones first)."""
    from pykeen.models import ERModel
    from pykeen.triples import TriplesFactory

    if not isinstance(model, ERModel):
        raise TypeError(f"expected a PyKEEN ERModel, got {type(model).__name__}")
    if not isinstance(training, TriplesFactory):
        raise TypeError("embeddings need a labelled TriplesFactory (ids, not only indices)")
    scorer = kge_model(supported_model(type(model).__name__))
    exported = scorer.from_pykeen(model)
    entities, relations = exported.entities, exported.relations
    entity_ids = tuple(training.entity_id_to_label[i] for i in range(training.num_entities))
    labels = [training.relation_id_to_label[i] for i in range(training.real_num_relations)]
    if model.use_inverse_triples:
        order = [2 * i for i in range(len(labels))] + [2 * i + 1 for i in range(len(labels))]
        relations = np.ascontiguousarray(relations[order])
        labels += [f"{label}{INVERSE_SUFFIX}" for label in labels]
    recorded = dict(config)
    recorded["model"] = scorer.name
    recorded["inverse_triples"] = bool(model.use_inverse_triples)
    recorded.update(exported.config)
    return KGEmbeddings(
        model=scorer.name,
        entity_ids=entity_ids,
        relation_ids=tuple(labels),
        entities=entities,
        relations=relations,
        config=recorded,
        metrics=metrics,
        graph_revision=graph_revision,
    )


@contextmanager
def frozen_heap() -> Iterator[None]:
    """PyKEEN runs ``gc.collect()`` after every epoch; with torch and PyKEEN loaded that is a
    full pass over ~300k objects (0.3-0.5 s, more than a whole Kinships epoch). Moving the
    objects that exist before training into the permanent generation makes those passes
    cheap; they are handed back to the collector afterwards."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def _sample(factory: CoreTriplesFactory, limit: int, seed: int) -> CoreTriplesFactory:
    if factory.num_triples <= limit:
        return factory
    rows = np.sort(np.random.default_rng(seed).choice(factory.num_triples, limit, replace=False))
    return factory.clone_and_exchange_triples(factory.mapped_triples[rows])
