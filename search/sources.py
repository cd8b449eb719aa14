"""The two reads a search makes of its indexes, as one interface per backend.

A search asks its indexes twice: the **top** of each recall source (keyword BM25 and
dense kNN), then, once graph expansion and pins have joined the candidates, their
**scores** (per-field BM25 and exact cosine). Each read needs both indexes. In process
(tantivy + NumPy) the calls cost microseconds each and are made one after the other
(:class:`SeparateSources`); over the network each call is a round trip, so the
Elasticsearch backend sends each read as one ``_msearch``
(:class:`search.es_index.ElasticsearchSources`): two round trips per search, not four.
The candidate set that the second read scores depends on the first, so two is the floor
for a recall that unions its sources before scoring them; but the first read's hits come
back with their per-field scores (:attr:`Tops.fields`), and a version that keeps a local
copy of its vectors answers the cosines in process. The graph's candidates (expansion,
pins) depend on the query alone, so they are known before the first read and are scored
in it too (``also``): the second read then asks Elasticsearch nothing, and a search is one
round trip.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import numpy.typing as npt

from search.keyword import KeywordIndex
from search.spelling import EditRule
from search.vector import VectorIndex

__all__ = ["RecallSources", "SeparateSources", "Tops", "sources_for"]

Hits = list[tuple[str, float]]


@dataclass(frozen=True, slots=True)
class Tops:
    keyword: Hits  # (product id, weighted BM25), best first
    dense: Hits  # (product id, cosine), best first
    #: Per-field BM25 (field -> product -> score; absent: 0) of the products in
    #: ``fields_of``, when the read of the tops brought them (Elasticsearch: the keyword
    #: hits' named clauses); :meth:`RecallSources.score` need not ask for those again.
    fields: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    fields_of: frozenset[str] = frozenset()


class RecallSources(Protocol):
    def top(
        self,
        tokens: Sequence[str],
        vector: npt.NDArray[np.float32],
        *,
        keyword_k: int,
        dense_k: int,
        fuzzy: EditRule | None,
        allowed: frozenset[str] | None,
        also: Sequence[str] = (),
    ) -> Tops:
        """The keyword top ``keyword_k`` (unfiltered: the caller keeps what ``allowed``
        allows; none when ``tokens`` is empty or ``keyword_k`` is 0) and the dense top
        ``dense_k`` among ``allowed`` (none when ``dense_k`` is 0). ``also``: products the
        caller will score whatever the tops hold (graph expansion, pins); a backend may
        bring their per-field scores in the same read (:attr:`Tops.fields`)."""
        ...

    def score(
        self,
        tokens: Sequence[str],
        vector: npt.NDArray[np.float32],
        ids: Sequence[str],
        *,
        fuzzy: EditRule | None,
        tops: Tops | None = None,
    ) -> tuple[dict[str, dict[str, float]], dict[str, float]]:
        """Per-field BM25 of ``ids`` (field -> product -> score; absent: 0; it may hold
        other products too) and their exact cosine (a product without a vector is absent).
        ``tops``, the answer of :meth:`top` for the same query, may carry some of the
        field scores already."""
        ...


class SeparateSources:
    """Each index asked on its own: right for in-process indexes."""

    def __init__(self, keyword: KeywordIndex, vectors: VectorIndex) -> None:
        self.keyword, self.vectors = keyword, vectors

    def top(
        self,
        tokens: Sequence[str],
        vector: npt.NDArray[np.float32],
        *,
        keyword_k: int,
        dense_k: int,
        fuzzy: EditRule | None,
        allowed: frozenset[str] | None,
        also: Sequence[str] = (),
    ) -> Tops:
        keyword: Hits = []
        if tokens and keyword_k > 0:
            keyword = self.keyword.search(tokens, k=keyword_k, fuzzy=fuzzy)
        dense: Hits = []
        if dense_k > 0:
            dense = self.vectors.search(vector, k=dense_k, allowed=allowed)
        return Tops(keyword, dense)

    def score(
        self,
        tokens: Sequence[str],
        vector: npt.NDArray[np.float32],
        ids: Sequence[str],
        *,
        fuzzy: EditRule | None,
        tops: Tops | None = None,
    ) -> tuple[dict[str, dict[str, float]], dict[str, float]]:
        return self.keyword.field_scores(tokens, ids, fuzzy=fuzzy), self.vectors.scores(vector, ids)


def sources_for(keyword: KeywordIndex, vectors: VectorIndex) -> RecallSources:
    """One ``_msearch`` per read when both indexes are the same Elasticsearch index;
    otherwise each index on its own."""
    from search.es_index import ElasticsearchKeywordIndex, ElasticsearchSources
    from search.es_index import ElasticsearchVectorIndex as ESVectors

    if (
        isinstance(keyword, ElasticsearchKeywordIndex)
        and isinstance(vectors, ESVectors)
        and (keyword.url, keyword.index) == (vectors.url, vectors.index)
    ):
        return ElasticsearchSources(keyword, vectors)
    return SeparateSources(keyword, vectors)
