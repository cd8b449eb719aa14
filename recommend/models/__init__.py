"""The recommendation models by name: one model per module, behind one registry.

``make_recommender("als", factors=16)`` builds one with typed keyword arguments (each
constructor checks its own); an unknown name is a ``ValueError`` listing the registered
ones. Every class implements :class:`recommend.base.Recommender`.

Only the model modules' light imports happen here; ``implicit``, SciPy, torch and PyKEEN
are imported inside ``fit`` and the scoring methods.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from recommend.base import Recommender
from recommend.models.als import ALS
from recommend.models.bpr import BPR
from recommend.models.fused import FusedRecommender
from recommend.models.itemknn import ItemKNN, KGItemKNN
from recommend.models.kg import KGEmbeddingRecommender
from recommend.models.kgdegree import KGDegree
from recommend.models.kgneighbour import KGNeighbour
from recommend.models.kgpopularity import KGPopularity
from recommend.models.popularity import Popularity

__all__ = [
    "ALS",
    "BPR",
    "RECOMMENDERS",
    "FusedRecommender",
    "ItemKNN",
    "KGDegree",
    "KGEmbeddingRecommender",
    "KGItemKNN",
    "KGNeighbour",
    "KGPopularity",
    "Popularity",
    "make_recommender",
]

#: Every registered model class by name, in a stable order.
RECOMMENDERS: Mapping[str, type[Recommender]] = MappingProxyType(
    {
        model.name: model
        for model in (
            Popularity,
            ItemKNN,
            ALS,
            BPR,
            KGItemKNN,
            KGNeighbour,
            KGDegree,
            KGPopularity,
            KGEmbeddingRecommender,
            FusedRecommender,
        )
    }
)


def make_recommender(name: str, **params: Any) -> Recommender:
    """A new, unfitted model called ``name`` built with ``params`` (its constructor's
    keyword arguments); ``ValueError`` for an unknown name, ``TypeError`` for an unknown
    parameter."""
    model = RECOMMENDERS.get(name) if isinstance(name, str) else None
    if model is None:
        raise ValueError(f"unknown recommender {name!r}; registered: {', '.join(RECOMMENDERS)}")
    return model(**params)
