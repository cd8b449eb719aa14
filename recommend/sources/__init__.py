"""Candidate sources for recommendations, by name, behind one registry (like the rankers).

``make_source("collaborative", inputs, model="bpr")`` builds one from the shared
:class:`~recommend.sources.base.SourceInputs` with typed keyword parameters; an unknown
name is a ``ValueError`` listing the registered ones; a source that cannot be built from
what the index has raises :class:`~recommend.sources.base.SourceUnavailable`.

| name | proposes | cold item | cold user |
|---|---|---|---|
| ``collaborative`` | ALS (default) or BPR from ``implicit`` | - | - |
| ``cooccurrence`` | co-viewed (session) and co-bought (shopper) products | - | with a page |
| ``content`` | MiniLM neighbours from the live VectorIndex | yes | with a page |
| ``graph`` | shared brand / category / attribute values (GraphStore) | yes | with a page |
| ``kge`` | TransE / ComplEx cosine from the live version's artefact | yes | with a page |
| ``popularity`` | time-decayed, in the page's category first | yes | yes |

``content``, ``graph`` and ``kge`` answer "similar" from a precomputed top-N neighbour
table (:mod:`recommend.sources.neighbours`: exact, built once per service build, kept per
process and optionally saved as ``.npy`` under ``SourceInputs.tables_dir``); "for you" is
one matrix product over the shopper's history and one over the items.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

from recommend.sources.base import (
    CandidateSource,
    ItemSpace,
    Mask,
    Profile,
    Proposals,
    SourceInputs,
    SourceUnavailable,
)
from recommend.sources.collaborative import CollaborativeSource
from recommend.sources.content import ContentSource
from recommend.sources.cooccurrence import CooccurrenceSource
from recommend.sources.graph import GraphSource
from recommend.sources.kge import KGESource
from recommend.sources.popularity import PopularitySource

__all__ = [
    "SOURCES",
    "CandidateSource",
    "ItemSpace",
    "Mask",
    "Profile",
    "Proposals",
    "SourceInputs",
    "SourceUnavailable",
    "make_source",
]

#: Each source's builder by registry name, in a stable order.
SOURCES: Mapping[str, Callable[..., CandidateSource]] = MappingProxyType(
    {
        source.name: source.build
        for source in (
            CollaborativeSource,
            CooccurrenceSource,
            ContentSource,
            GraphSource,
            KGESource,
            PopularitySource,
        )
    }
)


def make_source(name: str, inputs: SourceInputs, **params: Any) -> CandidateSource:
    """Source ``name`` built from ``inputs`` with ``params`` (its keyword arguments)."""
    build = SOURCES.get(name) if isinstance(name, str) else None
    if build is None:
        raise ValueError(f"unknown candidate source {name!r}; registered: {', '.join(SOURCES)}")
    return build(inputs, **params)
