"""Open an index version as a :class:`~search.service.SearchService`: the live version for
queries, a staged one for a build's own checks. Opening checks that the version fits the
configured encoder and backend and that its parts agree."""

from __future__ import annotations

from pathlib import Path

from ingest.versions import APPLIED, BuildCheckError, Manifest, read_documents
from ranker.registry import make_ranker
from search.analysis import Analyzer
from search.backends import IndexBackend
from search.encoder import Encoder
from search.graph_signals import EntityEmbeddings, GraphSignals
from search.linking import EntityLinker
from search.service import SearchService

__all__ = ["open_version"]


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
