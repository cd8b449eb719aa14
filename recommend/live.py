"""Build the shop's recommendation service from what serves search: the live index
version's documents, vectors, filters and KG embeddings, the graph store, the event log,
and the learned fusion model if one was trained (:func:`train_live_fusion`, run by the
demo; without one, or with one trained on another feature schema, fusion is weighted).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from recommend.fusion import LearnedFusion, train_fusion
from recommend.interactions import EVENT_WEIGHTS, EventLike, shop_behaviour
from recommend.service import (
    DEFAULT_WEIGHTS,
    RecommendationService,
    Situation,
    build_recommendations,
)
from recommend.sources import SOURCES, ItemSpace, SourceInputs

if TYPE_CHECKING:
    from kg.kge import KGEmbeddings
    from kg.store import GraphStore
    from search.service import SearchService

__all__ = ["from_search", "load_fusion", "train_live_fusion"]


def from_search(
    search: SearchService,
    graph: GraphStore,
    events: Iterable[EventLike],
    *,
    sources: Sequence[str] = tuple(SOURCES),
    params: Mapping[str, Mapping[str, Any]] = MappingProxyType({}),
    weights: Mapping[Situation, Mapping[str, float]] = DEFAULT_WEIGHTS,
    event_weights: Mapping[str, float] = EVENT_WEIGHTS,
    half_life_days: float | None = 30.0,
    seed: int = 0,
    fusion: LearnedFusion | Path | None = None,
    tables_dir: Path | None = None,
) -> RecommendationService:
    """A :class:`RecommendationService` over the products ``search`` serves, fitted on
    ``events`` (events of products it does not hold are dropped). ``fusion``: a learned
    fusion model, or the directory one may be saved in (:func:`load_fusion`);
    ``tables_dir``: where the sources' neighbour tables are saved and mapped from
    (:mod:`recommend.sources.neighbours`; None: kept in this process only)."""
    refused: dict[str, str] = {}
    if isinstance(fusion, Path):
        fusion, why_not = load_fusion(fusion)
        if why_not:
            refused["learned fusion"] = why_not
    if fusion is not None:
        # where the model has no booster, the weights tuned beside it replace the defaults
        tuned = {s: w for s, w in fusion.weights.items() if s in weights and not fusion.covers(s)}
        weights = {**weights, **tuned}  # type: ignore[dict-item]
    documents = dict(search.documents)
    space = ItemSpace(items=tuple(sorted(documents)), documents=documents)
    behaviour = shop_behaviour(
        events, space.items, weights=event_weights, half_life_days=half_life_days
    )
    inputs = SourceInputs(
        space=space,
        behaviour=behaviour,
        graph=graph,
        vectors=search.vectors,
        vector_of=_vector_lookup(search),
        kge=_kge(search),
        seed=seed,
        tables_dir=tables_dir,
    )
    service = build_recommendations(
        inputs,
        sources=sources,
        params=params,
        filters=search.filters,
        weights=weights,
        fusion=fusion,
    )
    service.unavailable.update(refused)
    return service


def load_fusion(directory: Path) -> tuple[LearnedFusion | None, str | None]:
    """The fusion model saved in ``directory``, or None and why not (None, None: none
    saved). A model trained on another feature schema is refused, never used."""
    from ranker.features import SchemaMismatch

    if not (directory / "meta.json").exists():
        return None, None
    try:
        return LearnedFusion.load(directory), None
    except SchemaMismatch as exc:
        return None, f"refused: {exc}"


def train_live_fusion(
    search: SearchService,
    graph: GraphStore,
    events: Sequence[EventLike],
    directory: Path,
    *,
    seed: int = 13,
) -> LearnedFusion:
    """Train the learned fusion on ``events`` (time-based, see :func:`train_fusion`) with
    the sources built as :func:`from_search` builds them, and save it in ``directory``."""
    model = train_fusion(
        events, lambda earlier: from_search(search, graph, earlier, seed=seed), seed=seed
    )
    model.save(directory)
    return model


def _vector_lookup(search: SearchService) -> Any:
    """The indexed vector of a product: read from the embedded index, else the product's
    text encoded once with the index's encoder (the same vector it indexed)."""
    from search.vector import NumpyVectorIndex

    vectors = search.vectors
    if isinstance(vectors, NumpyVectorIndex):
        return vectors.vector
    from search.encoder import product_text

    @functools.lru_cache(maxsize=65_536)
    def encoded(pid: str) -> npt.NDArray[np.float32] | None:
        doc = search.documents.get(pid)
        if doc is None:
            return None
        return np.asarray(search.encoder.encode([product_text(doc)])[0], dtype=np.float32)

    return encoded


def _kge(search: SearchService) -> KGEmbeddings | None:
    from kg.kge import KGEmbeddings

    embeddings = search.graph.embeddings if search.graph is not None else None
    return embeddings if isinstance(embeddings, KGEmbeddings) else None
