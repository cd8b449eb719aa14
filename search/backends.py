"""Where an index version's keyword and vector parts live, by backend name.

``embedded``: tantivy and NumPy files inside the version directory.
``elasticsearch``: one physical index ``<prefix>-<version>`` holding both parts, and an
alias ``<prefix>`` that points at the live version (swapped atomically on activate).
The version directory (manifest, documents, and the vectors: the embedded index itself,
Elasticsearch's local copy) is on local disk for both.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Protocol

from search.es_index import ElasticsearchAdmin, ElasticsearchKeywordIndex, ElasticsearchVectorIndex
from search.keyword import KeywordIndex
from search.tantivy_index import TantivyKeywordIndex
from search.vector import NumpyVectorIndex, VectorIndex

__all__ = ["LOCAL_VECTORS", "ElasticsearchBackend", "EmbeddedBackend", "IndexBackend"]

log = logging.getLogger(__name__)

#: Where a version directory keeps its vectors on disk (``vectors.npy``, ``ids.json``, the
#: texts' digests): the embedded backend's vector index, Elasticsearch's local copy.
LOCAL_VECTORS = "vectors"


def _load_vectors(where: Path, dim: int) -> NumpyVectorIndex:
    vectors = NumpyVectorIndex.load(where / LOCAL_VECTORS)
    if vectors.dim != dim:
        raise ValueError(f"{where}: vectors are {vectors.dim}-d, the manifest says {dim}-d")
    return vectors


class IndexBackend(Protocol):
    name: str

    def create(
        self, version: str, where: Path, *, field_weights: Mapping[str, float], dim: int
    ) -> tuple[KeywordIndex, VectorIndex]:
        """Empty keyword and vector indexes for a new version being built."""
        ...

    def finish(self, version: str, where: Path, vectors: VectorIndex) -> None:
        """Make the built parts durable (embedded: save the vectors)."""
        ...

    def open(
        self, version: str, where: Path, *, field_weights: Mapping[str, float], dim: int
    ) -> tuple[KeywordIndex, VectorIndex]: ...

    def activate(self, version: str) -> None:
        """Point the backend's own live pointer (if it has one) at ``version``."""
        ...

    def retain(self, versions: Sequence[str]) -> list[str]:
        """Delete the backend's parts of every version not in ``versions``; return them."""
        ...

    def discard(self, version: str) -> None:
        """Remove a failed build's parts."""
        ...


class EmbeddedBackend:
    name = "embedded"

    def create(
        self, version: str, where: Path, *, field_weights: Mapping[str, float], dim: int
    ) -> tuple[KeywordIndex, VectorIndex]:
        return (
            TantivyKeywordIndex(path=where / "keyword", field_weights=field_weights),
            NumpyVectorIndex(dim=dim),
        )

    def finish(self, version: str, where: Path, vectors: VectorIndex) -> None:
        if not isinstance(vectors, NumpyVectorIndex):
            raise TypeError("the embedded backend saves NumpyVectorIndex only")
        vectors.save(where / LOCAL_VECTORS)

    def open(
        self, version: str, where: Path, *, field_weights: Mapping[str, float], dim: int
    ) -> tuple[KeywordIndex, VectorIndex]:
        vectors = _load_vectors(where, dim)
        return TantivyKeywordIndex(path=where / "keyword", field_weights=field_weights), vectors

    def activate(self, version: str) -> None:
        """The LIVE file is the embedded backend's only pointer."""

    def retain(self, versions: Sequence[str]) -> list[str]:
        """Parts live inside the version directories, which IndexVersions prunes."""
        return []

    def discard(self, version: str) -> None:
        """Parts live inside the build directory, which IndexVersions removes."""


class ElasticsearchBackend:
    name = "elasticsearch"

    def __init__(
        self, *, url: str, prefix: str = "kgsearch-products", deployment: str = ""
    ) -> None:
        self.admin = ElasticsearchAdmin(url=url, prefix=prefix, deployment=deployment)
        self.url = url

    def _parts(
        self,
        version: str,
        field_weights: Mapping[str, float],
        dim: int,
        local: NumpyVectorIndex | None,
    ) -> tuple[KeywordIndex, VectorIndex]:
        name = self.admin.index_name(version)
        client = self.admin.client
        return (
            ElasticsearchKeywordIndex(
                url=self.url, index=name, field_weights=field_weights, client=client
            ),
            ElasticsearchVectorIndex(url=self.url, index=name, dim=dim, client=client, local=local),
        )

    def create(
        self, version: str, where: Path, *, field_weights: Mapping[str, float], dim: int
    ) -> tuple[KeywordIndex, VectorIndex]:
        self.admin.create(version, dim=dim)
        return self._parts(version, field_weights, dim, NumpyVectorIndex(dim=dim))

    def finish(self, version: str, where: Path, vectors: VectorIndex) -> None:
        """Bulk writes were refreshed as they went; the index is merged into one segment
        (:meth:`~search.es_index.ElasticsearchAdmin.merge`), and the vectors' local copy
        is saved in the version directory, as the embedded backend saves its vectors:
        searches read the candidates' cosines from it, and the next build reuses unchanged
        products' vectors from it (``ingest.vector_reuse``)."""
        if not isinstance(vectors, ElasticsearchVectorIndex) or vectors.local is None:
            raise TypeError("the elasticsearch backend saves a local copy of its vectors")
        vectors.local.save(where / LOCAL_VECTORS, shortlist=False)  # Elasticsearch finds the top
        started = time.perf_counter()
        segments = self.admin.merge(version)
        log.info(
            "merged index %s from %d segments into 1 in %.1f s",
            self.admin.index_name(version),
            segments,
            time.perf_counter() - started,
        )

    def open(
        self, version: str, where: Path, *, field_weights: Mapping[str, float], dim: int
    ) -> tuple[KeywordIndex, VectorIndex]:
        """A version built before the local copy existed has none: its cosines come from
        Elasticsearch, one filtered kNN per search."""
        local = None
        if (where / LOCAL_VECTORS / "ids.json").exists():
            local = _load_vectors(where, dim)
        return self._parts(version, field_weights, dim, local)

    def activate(self, version: str) -> None:
        self.admin.swap(version)

    def retain(self, versions: Sequence[str]) -> list[str]:
        keep = {self.admin.index_name(v) for v in versions}
        gone = [name for name in self.admin.versions() if name not in keep]
        self.admin.drop(gone)
        return gone

    def discard(self, version: str) -> None:
        self.admin.drop([self.admin.index_name(version)])
