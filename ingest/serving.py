"""Open an index version as a :class:`~search.service.SearchService`: the live version for
queries, a staged one for a build's own checks. Opening checks that the version fits the
configured encoder and backend and that its parts agree."""

from __future__ import annotations

import logging
from pathlib import Path

from ingest.versions import APPLIED, BuildCheckError, Manifest, read_documents
from ranker.personal import PersonalModel
from ranker.registry import make_ranker
from search.analysis import Analyzer
from search.backends import IndexBackend
from search.encoder import Encoder
from search.es_index import ElasticsearchVectorIndex
from search.graph_signals import EntityEmbeddings, GraphSignals
from search.linking import EntityLinker
from search.service import SearchService

__all__ = ["PERSONAL_DIR", "load_personal", "open_version"]

log = logging.getLogger(__name__)

#: Where a version keeps its personal model (``ranker.personal``), beside ``rankers/``.
PERSONAL_DIR = "personal"


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
    if isinstance(vectors, ElasticsearchVectorIndex) and vectors.local is not None:
        counts["local vectors"] = vectors.local.count()  # its copy in the version directory
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
        personal=load_personal(path, name),
    )
    return service, manifest


def load_personal(path: Path, ranker: str) -> PersonalModel | None:
    """The version's personal model if it has one trained over ``ranker``, else None."""
    if not (path / PERSONAL_DIR / "model.json").exists():
        return None
    try:
        model = PersonalModel.load(path / PERSONAL_DIR)
    except (ValueError, KeyError) as exc:  # another feature schema, a damaged file
        log.warning(
            "personal model of %s not loaded (%s): search is not personalised until "
            "`kgsearch train-personal`",
            path.name,
            exc,
        )
        return None
    if model.base_ranker != ranker:
        log.info(
            "personal model of %s is trained over %s, not %s: search is not personalised",
            path.name,
            model.base_ranker,
            ranker,
        )
        return None
    return model


def _load_embeddings(where: Path, manifest: Manifest) -> EntityEmbeddings | None:
    """The version's KG embeddings, if it was built with some (see `kgsearch train-kge`)."""
    if not (where / "meta.json").exists():
        return None
    from kg.kge import KGEmbeddings

    return KGEmbeddings.load(where)
