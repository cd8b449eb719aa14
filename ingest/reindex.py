"""Full reindex: graph -> documents -> keyword index + vectors -> tuned fusion -> checks -> swap.

A failed build (an exception anywhere, or a check that does not hold) leaves the live
version serving and removes the half-built directory.
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ingest.versions import IndexVersions, Manifest, read_documents, write_documents
from kg.documents import ProductDocument, product_documents
from kg.store import GraphStore
from ranker.candidates import CandidateSet
from ranker.evaluation import JudgedQuery, evaluate
from ranker.features import DEFAULT_FEATURES, NO_KG_FEATURES, FeatureSchema
from ranker.fusion import FIXED_RANKERS, Ranker, tune_linear
from ranker.registry import RANKERS, make_ranker
from search.analysis import Analyzer
from search.backends import EmbeddedBackend, IndexBackend
from search.encoder import Encoder, product_text
from search.graph_signals import EntityEmbeddings, GraphSignals
from search.keyword import DEFAULT_FIELD_WEIGHTS, keyword_doc
from search.linking import EntityLinker
from search.service import SearchService

__all__ = [
    "APPLIED",
    "BuildCheckError",
    "IndexConfig",
    "Progress",
    "collect_runs",
    "open_version",
    "reindex",
]

log = logging.getLogger(__name__)

Progress = Callable[[str, int, int], None]  # (stage, done, total)

#: Written into a version directory once catalog edits were applied to it in place;
#: holds the graph revision they reached (see ``app.engine.Engine.sync``).
APPLIED = "applied.json"


class BuildCheckError(RuntimeError):
    code = "build_check_failed"


@dataclass(frozen=True, slots=True)
class IndexConfig:
    field_weights: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_FIELD_WEIGHTS))
    recall_k: int = 200
    dense_min_score: float = 0.2
    default_ranker: str = "auto"  # lambdamart when it was trained, else linear
    train_rankers: bool = True
    keep_versions: int = 3
    encode_batch_size: int = 64

    def __post_init__(self) -> None:
        if self.default_ranker != "auto" and self.default_ranker not in RANKERS:
            raise ValueError(
                f"unknown default ranker {self.default_ranker!r}; registered: {sorted(RANKERS)}"
            )


def _noop(stage: str, done: int, total: int) -> None:
    return None


def collect_runs(
    service: SearchService,
    queries: Sequence[JudgedQuery],
    progress: Progress = _noop,
    *,
    stage: str = "queries",
) -> list[tuple[JudgedQuery, CandidateSet]]:
    runs = []
    for i, query in enumerate(queries, start=1):
        runs.append((query, service.candidates(query.text)))
        progress(stage, i, len(queries))
    return runs


def open_version(
    path: Path,
    *,
    encoder: Encoder,
    analyzer: Analyzer,
    backend: IndexBackend,
    ranker: str | None = None,
) -> tuple[SearchService, Manifest]:
    """Open one index version as a :class:`SearchService`, checking it fits ``encoder``
    and ``backend``."""
    manifest = Manifest.model_validate_json((path / "manifest.json").read_text())
    if manifest.encoder != encoder.name or manifest.dim != encoder.dim:
        raise BuildCheckError(
            f"index {manifest.version} was built with {manifest.encoder} ({manifest.dim}-d) but "
            f"the configured encoder is {encoder.name} ({encoder.dim}-d): run `kgsearch reindex`"
        )
    if manifest.search_backend != backend.name:
        raise BuildCheckError(
            f"index {manifest.version} lives in the {manifest.search_backend} backend but "
            f"the search backend is set to {backend.name}: run `kgsearch reindex`"
        )
    docs = read_documents(path / "documents.jsonl")
    keyword, vectors = backend.open(
        manifest.version, path, field_weights=manifest.field_weights, dim=manifest.dim
    )
    counts = {"documents": len(docs), "vectors": vectors.count()}
    if not (path / APPLIED).exists():  # edits since the build changed the keyword index in place
        counts["keyword"] = keyword.count()
    if len(set(counts.values())) != 1 or len(docs) != manifest.products:
        raise BuildCheckError(
            f"index {manifest.version} is inconsistent: manifest says {manifest.products} "
            f"products, found {counts}; run `kgsearch reindex`"
        )
    name = ranker or manifest.default_ranker
    by_id = {d.product_id: d for d in docs}
    graph = GraphSignals(
        linker=EntityLinker.from_documents(docs, analyzer=analyzer),
        documents=by_id,
        embeddings=_load_embeddings(path / "kge", manifest),
    )
    service = SearchService(
        keyword=keyword,
        vectors=vectors,
        encoder=encoder,
        analyzer=analyzer,
        documents=docs,
        ranker=make_ranker(name, manifest.rankers.get(name, {}), base=path),
        field_weights=manifest.field_weights,
        recall_k=manifest.recall_k,
        dense_min_score=manifest.dense_min_score,
        graph=graph,
    )
    return service, manifest


def _load_embeddings(where: Path, manifest: Manifest) -> EntityEmbeddings | None:
    """The version's KG embeddings, if it was built with some (see `kgsearch train-kge`)."""
    if not (where / "meta.json").exists():
        return None
    from kg.kge import KGEmbeddings

    return KGEmbeddings.load(where)


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
    progress: Progress,
) -> dict[str, float]:
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
    for start in range(0, len(docs), batch):
        chunk = docs[start : start + batch]
        vectors.upsert(
            [d.product_id for d in chunk],
            encoder.encode([product_text(d) for d in chunk], batch_size=config.encode_batch_size),
        )
        progress("vectors", min(start + batch, len(docs)), len(docs))
    backend.finish(name, where, vectors)
    seconds["vectors"] = time.perf_counter() - started
    return seconds


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


def _train_and_evaluate(
    service: SearchService,
    judged: Sequence[JudgedQuery],
    where: Path,
    rankers: dict[str, dict[str, object]],
    seconds: dict[str, float],
    *,
    learned: bool,
    progress: Progress,
) -> dict[str, dict[str, dict[str, float]]]:
    """On judged queries: tune ``linear`` and train the learned rankers on ``train``
    (stopping early on ``valid``), then evaluate every ranker on ``valid`` and ``test``.
    Updates ``rankers`` with what was trained; never looks at ``test`` before evaluating."""
    evaluation: dict[str, dict[str, dict[str, float]]] = {}
    train = [q for q in judged if q.split == "train" and q.grades]
    if not train:
        return evaluation
    started = time.perf_counter()
    runs = {
        split: collect_runs(
            service, [q for q in judged if q.split == split and q.grades], progress, stage=split
        )
        for split in ("train", "valid", "test")
    }
    pairs = {split: [(c, q.grades) for q, c in r] for split, r in runs.items()}
    tuned, train_ndcg = tune_linear(pairs["train"])
    rankers["linear"] = tuned.params()
    log.info(
        "linear fusion tuned on %d train queries: %s (NDCG@10 %.4f)",
        len(train),
        tuned.params(),
        train_ndcg,
    )
    if learned and pairs["valid"]:
        from ranker.lambdamart import train_lambdamart
        from ranker.neural import train_neural

        for name, kind, features in (
            ("lambdamart", "lambdamart", DEFAULT_FEATURES),
            ("lambdamart-nokg", "lambdamart", NO_KG_FEATURES),
            ("neural", "neural", DEFAULT_FEATURES),
        ):
            trainer = train_lambdamart if kind == "lambdamart" else train_neural
            model = trainer(pairs["train"], pairs["valid"], schema=FeatureSchema(features))
            model.save(where / "rankers" / name)
            rankers[name] = {"kind": kind, "path": f"rankers/{name}"}
            progress("rankers", len(rankers) - len(FIXED_RANKERS), 3)
    systems: dict[str, Ranker] = {n: make_ranker(n, p, base=where) for n, p in rankers.items()}
    for split in ("valid", "test"):
        if runs[split]:
            evaluation[split] = {n: s.as_dict() for n, s in evaluate(runs[split], systems).items()}
    seconds["train_and_evaluate"] = time.perf_counter() - started
    return evaluation


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
    progress: Progress = _noop,
) -> Manifest:
    """Build a complete new version from ``graph``, check it, make it live; return its manifest.

    With judged queries, the ``linear`` ranker is tuned on the ``train`` split and every
    ranker is evaluated on ``valid`` and ``test``; the figures go into the manifest."""
    config = config or IndexConfig()
    backend = backend or EmbeddedBackend()
    with versions.locked():
        revision = graph.revision
        docs = sorted(product_documents(graph), key=lambda d: d.product_id)
        if not docs:
            raise BuildCheckError(
                "the graph has no products: import a catalogue first (`kgsearch import FILE`)"
            )
        name = versions.next_name()
        log.info(
            "building index %s from graph revision %d (%d products)", name, revision, len(docs)
        )
        try:
            with versions.staging(name) as where:
                seconds = _build_parts(
                    name,
                    where,
                    docs,
                    backend=backend,
                    encoder=encoder,
                    analyzer=analyzer,
                    config=config,
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
                )
                (where / "manifest.json").write_text(draft.model_dump_json(indent=2))
                service, _ = open_version(
                    where, encoder=encoder, analyzer=analyzer, backend=backend, ranker="rrf"
                )
                _smoke_check(service, docs)

                evaluation = _train_and_evaluate(
                    service,
                    judged,
                    where,
                    rankers,
                    seconds,
                    learned=config.train_rankers,
                    progress=progress,
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
