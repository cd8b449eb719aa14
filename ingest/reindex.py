"""Full reindex: graph -> documents -> keyword index + vectors -> rankers -> checks -> swap.

A failed build (an exception anywhere, or a check that does not hold) leaves the live
version serving and removes the half-built directory. Opening a version is
:mod:`ingest.serving`; training and evaluating its rankers is :mod:`ingest.rankers`;
keeping the live version in step with catalog edits is :mod:`ingest.sync`.
"""

from __future__ import annotations

import hashlib
import inspect
import logging
import shutil
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ingest.personal_training import SessionEvent, train_personal_model
from ingest.progress import Progress, no_progress
from ingest.ranker_reuse import (
    PERSONAL_DIRS,
    RANKER_DIRS,
    changed_inputs,
    copy_trained,
    fingerprint_of,
    personal_fingerprint,
    training_inputs,
)
from ingest.rankers import QueryVariants, train_and_evaluate
from ingest.serving import open_version
from ingest.vector_reuse import EncodedVectors, encode_reusing
from ingest.versions import (
    BuildCheckError,
    IndexVersions,
    Manifest,
    write_documents,
)
from kg.documents import ProductDocument, product_documents, search_aliases
from kg.store import GraphStore
from ranker.evaluation import JudgedQuery
from ranker.fusion import FIXED_RANKERS
from ranker.personal import PersonalTrainingError
from ranker.registry import RANKERS
from search.aliases import apply_names
from search.analysis import Analyzer
from search.backends import LOCAL_VECTORS, EmbeddedBackend, IndexBackend
from search.encoder import Encoder, product_text
from search.keyword import DEFAULT_FIELD_WEIGHTS, keyword_doc
from search.service import SearchService
from search.vector import save_text_hashes

__all__ = ["IndexConfig", "reindex"]

log = logging.getLogger(__name__)

#: Texts per call for an encoder that names no batch size. The torch encoder keeps 64:
#: its vectors are the same whatever the thread count at that size (the golden figures
#: hold with OMP_NUM_THREADS=1 and 2), but not at 16.
DEFAULT_ENCODE_BATCH = 64


@dataclass(frozen=True, slots=True)
class IndexConfig:
    field_weights: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_FIELD_WEIGHTS))
    recall_k: int = 200
    dense_min_score: float = 0.2
    default_ranker: str = "auto"  # lambdamart when it was trained, else linear
    train_rankers: bool = True
    keep_versions: int = 3
    #: Texts per encoder call; None: the encoder's own ``batch_size`` when it names one,
    #: else :data:`DEFAULT_ENCODE_BATCH`.
    encode_batch_size: int | None = None
    #: Reuse the live version's vector of every product whose encoded text and encoder
    #: are unchanged (``False``: encode every product again).
    reuse_vectors: bool = True
    #: Copy the live version's trained rankers, their evaluation and its personal stage
    #: when what they were trained on is unchanged (``False``: train again; see
    #: :mod:`ingest.ranker_reuse`).
    reuse_rankers: bool = True
    #: Extra (misspelled) copies of each train query for the learned rankers; the app
    #: passes ``synthetic.typos.typo_variants`` (see :func:`ingest.rankers.train_and_evaluate`).
    train_variants: QueryVariants | None = None

    def __post_init__(self) -> None:
        if self.default_ranker != "auto" and self.default_ranker not in RANKERS:
            raise ValueError(
                f"unknown default ranker {self.default_ranker!r}; registered: {sorted(RANKERS)}"
            )


def _attach_embeddings(source: Path, where: Path, docs: Sequence[ProductDocument]) -> None:
    """Copy a trained artefact into the version after checking it covers these products
    (loading refuses one that lacks more than 5% of them: retrain with `train-kge`)."""
    from kg.kge import KGEArtefactError, KGEmbeddings

    try:
        KGEmbeddings.load(source, known_entities=[d.entity_id for d in docs])
    except KGEArtefactError as exc:
        raise BuildCheckError(f"KG embeddings at {source} do not fit this graph: {exc}") from exc
    shutil.copytree(source, where / "kge")


def _build_parts(
    name: str,
    where: Path,
    docs: list[ProductDocument],
    *,
    backend: IndexBackend,
    encoder: Encoder,
    analyzer: Analyzer,
    config: IndexConfig,
    reuse_from: Path | None,
    progress: Progress,
) -> tuple[dict[str, float], EncodedVectors]:
    seconds: dict[str, float] = {}
    started = time.perf_counter()
    write_documents(where / "documents.jsonl", docs)
    keyword, vectors = backend.create(
        name, where, field_weights=config.field_weights, dim=encoder.dim
    )
    batch = 2_000
    for start in range(0, len(docs), batch):
        keyword.upsert([keyword_doc(d, analyzer) for d in docs[start : start + batch]])
        progress("keyword", min(start + batch, len(docs)), len(docs))
    seconds["keyword"] = time.perf_counter() - started

    started = time.perf_counter()
    batch = config.encode_batch_size or int(getattr(encoder, "batch_size", DEFAULT_ENCODE_BATCH))
    encoded = encode_reusing(
        encoder,
        [product_text(d) for d in docs],
        reuse_from=reuse_from,
        batch_size=batch,
        progress=lambda done, total: progress("vectors", done, total),
    )
    ids = [d.product_id for d in docs]
    vectors.upsert(ids, encoded.vectors)
    backend.finish(name, where, vectors)
    if encoded.digests and (where / LOCAL_VECTORS / "ids.json").exists():
        save_text_hashes(where / LOCAL_VECTORS, ids, encoded.digests)
    seconds["vectors"] = time.perf_counter() - started
    return seconds, encoded


def _training_settings(config: IndexConfig, backend: IndexBackend) -> dict[str, object]:
    """The settings the rankers' candidates and training depend on."""
    return {
        "field_weights": sorted(config.field_weights.items()),
        "recall_k": config.recall_k,
        "dense_min_score": config.dense_min_score,
        "train_rankers": config.train_rankers,
        "backend": backend.name,
        "train_variants": _source_digest(config.train_variants),
    }


def _source_digest(fn: object | None) -> str:
    """Digest of the file that defines ``fn`` ("" for none): the code that makes the extra
    training queries (``synthetic.typos``) is a training input like the judgments."""
    if fn is None:
        return ""
    path = inspect.getsourcefile(fn)  # type: ignore[arg-type]
    if path is None:
        return repr(fn)
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]


def _previous(versions: IndexVersions, live: str | None) -> Manifest | None:
    """The live version's manifest, or None (none live, or one this code cannot read)."""
    if live is None:
        return None
    try:
        return versions.manifest(live)
    except (OSError, ValueError) as exc:
        log.warning("not reusing the rankers of %s: its manifest is unreadable (%s)", live, exc)
        return None


def _smoke_check(service: SearchService, docs: Sequence[ProductDocument]) -> None:
    """Known-item check: a few products must come back in the top 10 for their own names."""
    probes = [docs[i] for i in range(0, len(docs), max(1, len(docs) // 5))][:5]
    misses = [
        d.product_id
        for d in probes
        if d.product_id not in {h.product_id for h in service.search(d.name, k=10).hits}
    ]
    if len(misses) > len(probes) // 2:
        raise BuildCheckError(
            f"new index fails its known-item check: {misses} not found by their own names"
        )


def _train_personal(
    where: Path,
    ranker: str,
    events: Sequence[SessionEvent],
    encoder: Encoder,
    analyzer: Analyzer,
    backend: IndexBackend,
    seconds: dict[str, float],
) -> None:
    """Train the version's personal stage over its default ranker; a log too thin to
    learn from leaves the version without one (search is then not personalised)."""
    started = time.perf_counter()
    service, _ = open_version(
        where, encoder=encoder, analyzer=analyzer, backend=backend, ranker=ranker
    )
    try:
        train_personal_model(service, events, ranker_name=ranker, save_to=where)
    except PersonalTrainingError as exc:
        log.warning("no personal model for this version: %s", exc)
    seconds["personal"] = time.perf_counter() - started


def _personal_stage(
    where: Path,
    default: str,
    events: Sequence[SessionEvent],
    fingerprint: str,
    previous: Manifest | None,
    versions: IndexVersions,
    parts: tuple[Encoder, Analyzer, IndexBackend],
    seconds: dict[str, float],
) -> tuple[str, str | None]:
    """Copy the live version's personal stage when trained on the same inputs, else train
    one; return its fingerprint ("" when the version has none) and where it came from."""
    source = versions.dir / previous.version if previous is not None else None
    if (
        fingerprint
        and previous is not None
        and source is not None
        and previous.personal_fingerprint == fingerprint
        and (source / PERSONAL_DIRS[0]).is_dir()
    ):
        started = time.perf_counter()
        copy_trained(source, where, PERSONAL_DIRS)
        seconds["personal"] = time.perf_counter() - started
        log.info("personal stage reused from %s (same ranker inputs and log)", previous.version)
        return fingerprint, previous.version
    encoder, analyzer, backend = parts
    _train_personal(where, default, events, encoder, analyzer, backend, seconds)
    return (fingerprint if (where / PERSONAL_DIRS[0]).is_dir() else ""), None


def reindex(
    *,
    graph: GraphStore,
    versions: IndexVersions,
    encoder: Encoder,
    analyzer: Analyzer,
    judged: Sequence[JudgedQuery] = (),
    config: IndexConfig | None = None,
    backend: IndexBackend | None = None,
    kge_dir: Path | None = None,
    progress: Progress = no_progress,
    events: Sequence[SessionEvent] = (),
) -> Manifest:
    """Build a complete new version from ``graph``, check it, make it live; return its manifest.

    With judged queries, the ``linear`` ranker is tuned on the ``train`` split and every
    ranker is evaluated on ``valid`` and ``test``; the figures go into the manifest. With
    a behaviour log (``events``) and a learned default ranker, the version's personal stage
    is trained on it (:mod:`ingest.personal_training`)."""
    config = config or IndexConfig()
    backend = backend or EmbeddedBackend()
    with versions.locked():
        revision = graph.revision
        docs = sorted(product_documents(graph), key=lambda d: d.product_id)
        aliases = search_aliases(graph)  # linking and query expansion train with them too
        if not docs:
            raise BuildCheckError(
                "the graph has no products: import a catalogue first (`kgsearch import FILE`)"
            )
        name = versions.next_name()
        live = versions.live()
        reuse_from = versions.dir / live / LOCAL_VECTORS if live and config.reuse_vectors else None
        log.info(
            "building index %s from graph revision %d (%d products)", name, revision, len(docs)
        )
        try:
            with versions.staging(name) as where:
                seconds, encoded = _build_parts(
                    name,
                    where,
                    docs,
                    backend=backend,
                    encoder=encoder,
                    analyzer=analyzer,
                    config=config,
                    reuse_from=reuse_from,
                    progress=progress,
                )
                if kge_dir is not None:
                    _attach_embeddings(kge_dir, where, docs)
                rankers: dict[str, dict[str, object]] = {n: {} for n in FIXED_RANKERS}
                draft = Manifest(
                    version=name,
                    created_at=Manifest.now(),
                    graph_revision=revision,
                    products=len(docs),
                    encoder=encoder.name,
                    dim=encoder.dim,
                    search_backend=backend.name,
                    field_weights=dict(config.field_weights),
                    recall_k=config.recall_k,
                    dense_min_score=config.dense_min_score,
                    rankers=rankers,
                    default_ranker="rrf",
                    seconds=seconds,
                    encoder_identity=encoded.identity,
                    vectors_encoded=encoded.encoded,
                    vectors_reused=encoded.reused,
                )
                (where / "manifest.json").write_text(draft.model_dump_json(indent=2))
                service, _ = open_version(
                    where, encoder=encoder, analyzer=analyzer, backend=backend, ranker="rrf"
                )
                apply_names(service, graph, aliases)
                _smoke_check(service, docs)

                inputs = training_inputs(
                    documents=where / "documents.jsonl",
                    judged=judged,
                    encoder_identity=encoded.identity,
                    analyzer=analyzer,
                    settings={
                        **_training_settings(config, backend),
                        "aliases": sorted((k, list(v)) for k, v in aliases.items()),
                    },
                    kge_dir=kge_dir,
                )
                fingerprint = fingerprint_of(inputs)
                previous = _previous(versions, live) if config.reuse_rankers else None
                reused_from = None
                if previous is not None and previous.training_fingerprint != fingerprint:
                    log.info(
                        "training the rankers: %s changed since %s",
                        ", ".join(changed_inputs(previous.training_inputs, inputs)),
                        previous.version,
                    )
                if fingerprint and previous and previous.training_fingerprint == fingerprint:
                    started = time.perf_counter()
                    copy_trained(versions.dir / previous.version, where, RANKER_DIRS)
                    rankers, evaluation = dict(previous.rankers), dict(previous.evaluation)
                    seconds["train_and_evaluate"] = time.perf_counter() - started
                    reused_from = previous.version
                    log.info("rankers reused from %s (their inputs are unchanged)", reused_from)
                else:
                    evaluation = train_and_evaluate(
                        service,
                        judged,
                        where,
                        rankers,
                        seconds,
                        learned=config.train_rankers,
                        progress=progress,
                        variants=config.train_variants,
                    )
                default = config.default_ranker
                if default == "auto":
                    default = "lambdamart" if "lambdamart" in rankers else "linear"
                manifest = draft.model_copy(
                    update={
                        "rankers": rankers,
                        "evaluation": evaluation,
                        "seconds": seconds,
                        "default_ranker": default,
                        "training_fingerprint": fingerprint,
                        "training_inputs": inputs,
                        "rankers_reused_from": reused_from,
                    }
                )
                (where / "manifest.json").write_text(manifest.model_dump_json(indent=2))
                if events and default not in FIXED_RANKERS:
                    personal, personal_from = _personal_stage(
                        where,
                        default,
                        events,
                        personal_fingerprint(fingerprint, default, events),
                        previous,
                        versions,
                        (encoder, analyzer, backend),
                        seconds,
                    )
                    manifest = manifest.model_copy(
                        update={
                            "seconds": seconds,
                            "personal_fingerprint": personal,
                            "personal_reused_from": personal_from,
                        }
                    )
                    (where / "manifest.json").write_text(manifest.model_dump_json(indent=2))
        except BaseException:
            backend.discard(name)
            raise
        backend.activate(name)
        versions.activate(name)
        removed = versions.prune(keep=config.keep_versions)
        removed += backend.retain([versions.live() or name, *versions.history()])
        if removed:
            log.info("pruned old index versions %s", removed)
        return manifest
