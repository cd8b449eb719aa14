"""Elasticsearch backends for ``KeywordIndex`` and ``VectorIndex``, and index admin
(versioned indexes behind an alias, swapped atomically).

Both backends can point at the same physical index (one document per product holding
the analysed fields and the vector). The client is created lazily; connection errors
and timeouts become :class:`~kg.store.BackendUnavailable` after the client's bounded
retries.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from kg.store import BackendError, BackendUnavailable
from search.es_queries import (
    HIT_FIELDS,
    ID_FIELD,
    VECTOR_FIELD,
    dot_from_score,
    fields_alongside,
    hit_id,
    index_body,
    keyword_query,
    knn_query,
    named_fields_query,
)
from search.keyword import DEFAULT_FIELD_WEIGHTS, KEYWORD_FIELDS, KeywordDoc
from search.sources import Tops
from search.spelling import EditRule
from search.vector import NumpyVectorIndex

if TYPE_CHECKING:
    from elasticsearch import Elasticsearch

__all__ = [
    "BULK_OPERATIONS",
    "BulkError",
    "ElasticsearchAdmin",
    "ElasticsearchKeywordIndex",
    "ElasticsearchSources",
    "ElasticsearchVectorIndex",
]


class BulkError(RuntimeError):
    """Some documents of a bulk write failed; ``failures`` maps product id to reason."""

    code = "bulk_failed"

    def __init__(self, index: str, failures: Mapping[str, str]) -> None:
        self.failures = dict(failures)
        shown = "; ".join(f"{k}: {v}" for k, v in list(self.failures.items())[:10])
        super().__init__(f"{len(self.failures)} document(s) failed in {index}: {shown}")


#: Documents per bulk request. One request for a 50k-product reindex's vectors was ~175 MB
#: of JSON, and Elasticsearch refused it (413: over its 100 MB ``http.max_content_length``);
#: 1,000 vectors of 384 floats are ~4 MB, well under the tens of megabytes that
#: Elasticsearch's indexing-speed guide advises a bulk request to stay below.
BULK_OPERATIONS = 1_000


def bulk_requests(
    client: Elasticsearch, operations: Sequence[Sequence[dict[str, Any]]]
) -> Iterator[Any]:
    """Send ``operations`` (each one's bulk lines: an action, and its document unless it
    deletes) in requests of at most :data:`BULK_OPERATIONS`, yielding each response; the
    last request refreshes, so what was written is searchable once the last is read."""
    starts = range(0, len(operations), BULK_OPERATIONS)
    for start in starts:
        lines = [line for op in operations[start : start + BULK_OPERATIONS] for line in op]
        yield client.bulk(operations=lines, refresh=start == starts[-1])


def connect(url: str, *, timeout_s: float = 10.0, retries: int = 3) -> Elasticsearch:
    from elasticsearch import Elasticsearch

    return Elasticsearch(
        url,
        request_timeout=timeout_s,
        max_retries=retries,
        retry_on_timeout=True,
    )


@contextmanager
def _translate(url: str) -> Iterator[None]:
    from elasticsearch import ApiError, ConnectionTimeout
    from elasticsearch import ConnectionError as ESConnectionError

    try:
        yield
    except (ESConnectionError, ConnectionTimeout) as exc:
        raise BackendUnavailable("elasticsearch", f"{url}: {exc}") from exc
    except ApiError as exc:
        raise _failure(exc.status_code, f"{url}: {exc}") from exc


def _failure(status: int, message: str) -> BackendError | BackendUnavailable:
    """What an Elasticsearch error status means here: overloaded or restarting (429, 502,
    503, 504) is unavailable, retry later; anything else is an error."""
    if status in (429, 502, 503, 504):
        return BackendUnavailable("elasticsearch", message)
    return BackendError("elasticsearch", message)


class _Base:
    def __init__(self, *, url: str, index: str, client: Elasticsearch | None = None) -> None:
        if not index or index != index.lower() or any(c in index for c in ' "*\\<|,>/?'):
            raise ValueError(f"invalid Elasticsearch index name {index!r}")
        self.url, self.index = url, index
        self._client = client

    @property
    def client(self) -> Elasticsearch:
        if self._client is None:
            self._client = connect(self.url)
        return self._client

    def _bulk(self, operations: Sequence[Sequence[dict[str, Any]]]) -> None:
        """Write ``operations`` (:func:`bulk_requests`); per-document failures of every
        request are gathered and raised together (:class:`BulkError`)."""
        failures: dict[str, str] = {}
        with _translate(self.url):
            for response in bulk_requests(self.client, operations):
                if not response.get("errors"):
                    continue
                for item in response["items"]:
                    op = next(iter(item.values()))
                    if op.get("error") and not (op.get("status") == 404 and "delete" in item):
                        failures[op["_id"]] = op["error"].get("reason", str(op["error"]))
        if failures:
            raise BulkError(self.index, failures)

    def count(self) -> int:
        with _translate(self.url):
            return int(self.client.count(index=self.index)["count"])

    def delete(self, product_ids: Sequence[str]) -> None:
        self._bulk([[{"delete": {"_index": self.index, "_id": pid}}] for pid in product_ids])

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


class ElasticsearchKeywordIndex(_Base):
    """Per-field BM25 in Elasticsearch over pre-analysed tokens."""

    def __init__(
        self,
        *,
        url: str,
        index: str,
        field_weights: Mapping[str, float] = DEFAULT_FIELD_WEIGHTS,
        client: Elasticsearch | None = None,
    ) -> None:
        super().__init__(url=url, index=index, client=client)
        unknown = set(field_weights) - set(KEYWORD_FIELDS)
        if unknown:
            raise ValueError(f"unknown field(s) {sorted(unknown)}; fields are {KEYWORD_FIELDS}")
        self._weights = {f: float(field_weights.get(f, 0.0)) for f in KEYWORD_FIELDS}

    def upsert(self, docs: Sequence[KeywordDoc]) -> None:
        operations: list[list[dict[str, Any]]] = []
        for doc in docs:
            missing = set(KEYWORD_FIELDS) - set(doc.fields)
            if missing:
                raise ValueError(f"document {doc.product_id!r} lacks fields {sorted(missing)}")
            operations.append(
                [
                    {"update": {"_index": self.index, "_id": doc.product_id}},
                    {"doc": {ID_FIELD: doc.product_id, **doc.fields}, "doc_as_upsert": True},
                ]
            )
        self._bulk(operations)

    def search(
        self, tokens: Sequence[str], *, k: int, fuzzy: EditRule | None = None
    ) -> list[tuple[str, float]]:
        if k < 1:
            raise ValueError("k must be >= 1")
        if not tokens:
            return []
        with _translate(self.url):
            response = self.client.search(index=self.index, **self.search_body(tokens, k, fuzzy))
        return _hits(response.body)

    def search_body(self, tokens: Sequence[str], k: int, fuzzy: EditRule | None) -> dict[str, Any]:
        """The keyword recall request: weighted BM25 over the fields, top ``k``."""
        return {
            "query": keyword_query(tokens, self._weights, fuzzy),
            "size": k,
            **HIT_FIELDS,
        }

    def field_scores(
        self,
        tokens: Sequence[str],
        product_ids: Sequence[str],
        *,
        fuzzy: EditRule | None = None,
    ) -> dict[str, dict[str, float]]:
        if not tokens or not product_ids:
            return {f: {} for f in KEYWORD_FIELDS}
        with _translate(self.url):
            response = self.client.search(
                index=self.index,
                include_named_queries_score=True,
                **self.fields_body(tokens, product_ids, fuzzy),
            )
        return self.read_fields(response.body)

    def fields_body(
        self, tokens: Sequence[str], product_ids: Sequence[str], fuzzy: EditRule | None
    ) -> dict[str, Any]:
        """One request for every field's BM25 of the given products (a named clause per
        field, :func:`~search.es_queries.named_fields_query`); it must be sent with
        ``include_named_queries_score``. One filter and one query where there were six:
        the candidates' scoring took 37 of a 5k search's 59 ms."""
        return {
            "query": named_fields_query(tokens, product_ids, fuzzy),
            "size": len(product_ids),
            **HIT_FIELDS,
        }

    @property
    def names_every_field(self) -> bool:
        """Whether the recall query (:meth:`search_body`) has a named clause for every
        field, so its hits come back with all their per-field scores: not when a field
        weighs 0 (it is left out of the recall)."""
        return all(w > 0 for w in self._weights.values())

    @staticmethod
    def read_fields(
        response: Mapping[str, Any], what: str = "per-field scoring"
    ) -> dict[str, dict[str, float]]:
        """The answer to :meth:`fields_body` (or to :meth:`search_body`, whose clauses are
        named alike), as field -> product -> BM25 (a field a product did not match is
        absent: 0). Either must have been sent with ``include_named_queries_score``."""
        return _named_scores(_ok(response, what)["hits"]["hits"])


def _named_scores(hits: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, float]]:
    """field -> product -> score of each hit's named clauses (``matched_queries``)."""
    out: dict[str, dict[str, float]] = {f: {} for f in KEYWORD_FIELDS}
    for hit in hits:
        matched = hit.get("matched_queries") or {}
        if not isinstance(matched, Mapping):
            raise BackendError(
                "elasticsearch",
                "matched_queries came without scores; per-field scoring needs "
                "include_named_queries_score (Elasticsearch 8.8 or later)",
            )
        for field, score in matched.items():
            out[field][hit_id(hit)] = float(score)
    return out


class ElasticsearchVectorIndex(_Base):
    """``dense_vector`` with HNSW kNN; dot product on L2-normalised vectors = cosine.

    With ``local``, a copy of the same vectors in process (an index version keeps one
    beside its manifest, ``search.backends``): every write goes to both, and the exact
    cosine of given products (:meth:`scores`) is a NumPy dot product instead of a filtered
    kNN request. The top ``k`` (:meth:`search`) is always Elasticsearch's HNSW."""

    def __init__(
        self,
        *,
        url: str,
        index: str,
        dim: int,
        client: Elasticsearch | None = None,
        local: NumpyVectorIndex | None = None,
    ) -> None:
        super().__init__(url=url, index=index, client=client)
        if dim < 1:
            raise ValueError("dim must be >= 1")
        if local is not None and local.dim != dim:
            raise ValueError(f"the local copy is {local.dim}-d, the index {dim}-d")
        self._dim = dim
        self.local = local

    @property
    def dim(self) -> int:
        return self._dim

    def upsert(self, product_ids: Sequence[str], vectors: npt.NDArray[np.float32]) -> None:
        vectors = np.asarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape[1] != self._dim:
            raise ValueError(f"expected vectors of shape (n, {self._dim}), got {vectors.shape}")
        if not np.isfinite(vectors).all():
            raise ValueError("vectors contain NaN or infinite values")
        if len(product_ids) != vectors.shape[0]:
            raise ValueError(f"{len(product_ids)} ids for {vectors.shape[0]} vectors")
        norms = np.linalg.norm(vectors, axis=1)
        if not np.allclose(norms, 1.0, atol=1e-3):
            raise ValueError("vectors must be L2-normalised (dot_product similarity)")
        self._bulk(
            [
                [
                    {"update": {"_index": self.index, "_id": pid}},
                    {"doc": {ID_FIELD: pid, VECTOR_FIELD: vec.tolist()}, "doc_as_upsert": True},
                ]
                for pid, vec in zip(product_ids, vectors, strict=True)
            ]
        )
        if self.local is not None:  # after Elasticsearch took them: the copy never leads
            self.local.upsert(product_ids, vectors)

    def delete(self, product_ids: Sequence[str]) -> None:
        super().delete(product_ids)
        if self.local is not None:
            self.local.delete(product_ids)

    def _knn(
        self, vector: npt.NDArray[np.float32], k: int, ids: Sequence[str] | None
    ) -> list[tuple[str, float]]:
        with _translate(self.url):
            response = self.client.search(index=self.index, **self.knn_body(vector, k, ids))
        return self.read_knn(response.body)

    @staticmethod
    def knn_body(
        vector: npt.NDArray[np.float32], k: int, ids: Sequence[str] | None
    ) -> dict[str, Any]:
        """The top ``k`` by cosine, among ``ids`` when given."""
        return {
            "knn": knn_query(vector, k=k, ids=ids),
            "size": k,
            **HIT_FIELDS,
        }

    @staticmethod
    def read_knn(response: Mapping[str, Any]) -> list[tuple[str, float]]:
        """(product id, cosine) of a :meth:`knn_body` answer."""
        return [(pid, dot_from_score(score)) for pid, score in _hits(response)]

    def search(
        self, vector: npt.NDArray[np.float32], *, k: int, allowed: frozenset[str] | None = None
    ) -> list[tuple[str, float]]:
        if k < 1:
            raise ValueError("k must be >= 1")
        if allowed is not None and not allowed:
            return []
        return self._knn(vector, k, sorted(allowed) if allowed is not None else None)

    def scores(
        self, vector: npt.NDArray[np.float32], product_ids: Sequence[str]
    ) -> dict[str, float]:
        if not product_ids:
            return {}
        if self.local is not None:
            return self.local.scores(vector, product_ids)
        return dict(self._knn(vector, len(product_ids), list(product_ids)))


def _hits(response: Mapping[str, Any]) -> list[tuple[str, float]]:
    return [(hit_id(h), float(h["_score"])) for h in response["hits"]["hits"]]


def _ok(result: Mapping[str, Any], what: str) -> Mapping[str, Any]:
    """One answer of an ``_msearch``: each fails on its own, inside a 200."""
    if "error" in result:
        raise _failure(int(result.get("status", 500)), f"{what} failed: {result['error']}")
    return result


class ElasticsearchSources:
    """A search's two reads of one Elasticsearch index (keyword fields and vector in the
    same documents), each one ``_msearch`` (``search.sources``):

    1. the keyword top and the kNN top together; both come back with their hits'
       per-field BM25 (the recall query's clauses are named per field, and the kNN
       carries the same named clauses at boost 0: :func:`~search.es_queries.fields_alongside`),
       and so do the products the caller named in ``also`` (graph expansion and pins:
       one query with a named clause per field, filtered to them);
    2. the per-field BM25 of any candidate none of those brought, and every candidate's
       exact cosine: from the vectors' local copy when the version has one (then this
       read asks Elasticsearch nothing when every candidate came with its scores), else a
       filtered kNN.

    The request bodies are the single-index ones, so the answers are the same."""

    def __init__(
        self, keyword: ElasticsearchKeywordIndex, vectors: ElasticsearchVectorIndex
    ) -> None:
        if (keyword.url, keyword.index) != (vectors.url, vectors.index):
            raise ValueError("keyword and vectors must be the same Elasticsearch index")
        self.keyword, self.vectors = keyword, vectors

    def _msearch(
        self, bodies: list[dict[str, Any]], *, named_scores: bool = False
    ) -> list[Mapping[str, Any]]:
        if not bodies:
            return []
        searches: list[dict[str, Any]] = []
        for body in bodies:
            searches += [{"index": self.keyword.index}, body]
        with _translate(self.keyword.url):
            response = self.keyword.client.msearch(
                searches=searches, include_named_queries_score=named_scores or None
            )
        return list(response["responses"])

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
        bodies = []
        ask_keyword = bool(tokens) and keyword_k > 0
        ask_dense = dense_k > 0 and (allowed is None or bool(allowed))
        also = list(dict.fromkeys(also)) if tokens else []
        if ask_keyword:
            bodies.append(self.keyword.search_body(tokens, keyword_k, fuzzy))
        if ask_dense:
            ids = sorted(allowed) if allowed is not None else None
            body = self.vectors.knn_body(vector, dense_k, ids)
            if tokens:  # the kNN hits' per-field BM25 comes back with them
                body["query"] = fields_alongside(tokens, fuzzy)
            bodies.append(body)
        if also:
            bodies.append(self.keyword.fields_body(tokens, also, fuzzy))
        answers = iter(self._msearch(bodies, named_scores=bool(tokens)))
        keyword: list[tuple[str, float]] = []
        fields: dict[str, dict[str, float]] = {f: {} for f in KEYWORD_FIELDS}
        scored: set[str] = set()
        if ask_keyword:
            answer = _ok(next(answers), "keyword recall")
            keyword, fields = _hits(answer), self.keyword.read_fields(answer, "keyword recall")
            if self.keyword.names_every_field:
                scored.update(pid for pid, _ in keyword)
        dense: list[tuple[str, float]] = []
        if ask_dense:
            hits = _ok(next(answers), "kNN recall")["hits"]["hits"]
            if tokens:  # the query's other matches, at score 0, are not kNN hits
                hits = [h for h in hits if h["_score"] > 0]
                _merge_fields(fields, _named_scores(hits))
            dense = [(hit_id(h), dot_from_score(float(h["_score"]))) for h in hits]
            if tokens:
                scored.update(pid for pid, _ in dense)
        if also:  # a product that matches no field is not a hit: its scores are all 0
            _merge_fields(fields, self.keyword.read_fields(next(answers)))
            scored.update(also)
        return Tops(keyword, dense, fields, frozenset(scored))

    def score(
        self,
        tokens: Sequence[str],
        vector: npt.NDArray[np.float32],
        ids: Sequence[str],
        *,
        fuzzy: EditRule | None,
        tops: Tops | None = None,
    ) -> tuple[dict[str, dict[str, float]], dict[str, float]]:
        fields: dict[str, dict[str, float]] = {f: {} for f in KEYWORD_FIELDS}
        if not ids:
            return fields, {}
        known = tops.fields_of if tops is not None else frozenset()
        rest = [p for p in ids if p not in known] if tokens else []
        bodies = []
        if self.vectors.local is None:
            bodies.append(self.vectors.knn_body(vector, len(ids), list(ids)))
        if rest:
            bodies.append(self.keyword.fields_body(tokens, rest, fuzzy))
        answers = iter(self._msearch(bodies, named_scores=bool(rest)))
        if self.vectors.local is None:
            dense = dict(self.vectors.read_knn(_ok(next(answers), "candidate cosine")))
        else:
            dense = self.vectors.local.scores(vector, ids)
        if rest:
            fields = self.keyword.read_fields(next(answers))
        if tops is not None and tokens:
            _merge_fields(fields, tops.fields)
        return fields, dense


def _merge_fields(
    into: dict[str, dict[str, float]], more: Mapping[str, Mapping[str, float]]
) -> None:
    """Add ``more``'s per-field scores to ``into`` (a later score of a product wins)."""
    for f, by_product in more.items():
        into.setdefault(f, {}).update(by_product)


class ElasticsearchAdmin:
    """Versioned physical indexes ``<prefix>-<version>`` behind the alias ``<prefix>``."""

    def __init__(
        self,
        *,
        url: str,
        prefix: str,
        deployment: str = "",
        client: Elasticsearch | None = None,
    ) -> None:
        _Base(url=url, index=prefix)  # validates the name
        self.url, self.prefix = url, prefix
        #: Written into each version index's mapping ``_meta``: a deployment never
        #: overwrites, activates or deletes an index another deployment created under the
        #: same prefix ("" = an index from before owners were recorded: anyone's).
        self.deployment = deployment
        self._client = client

    @property
    def client(self) -> Elasticsearch:
        if self._client is None:
            self._client = connect(self.url)
        return self._client

    def index_name(self, version: str) -> str:
        return f"{self.prefix}-{version.lower()}"

    def create(self, version: str, *, dim: int) -> str:
        """Create ``version``'s index (replacing a leftover of this deployment's own);
        :class:`~kg.store.BackendError` if another deployment owns that name."""
        name = self.index_name(version)
        body = index_body(dim=dim)
        body["mappings"]["_meta"] = {"deployment": self.deployment}
        with _translate(self.url):
            if self.client.indices.exists(index=name):
                found = self.client.indices.get_mapping(index=name)
                self._check_owner(name, found[name]["mappings"])
                self.client.indices.delete(index=name)
            self.client.indices.create(index=name, **body)
        return name

    def merge(self, version: str, *, timeout_s: float = 3600.0) -> int:
        """Merge a built version's index into one segment; return the segments it had.

        A version is written once and then only lightly edited, the case Elasticsearch's
        force merge is for. With one segment a kNN search walks one HNSW graph, not one per
        segment: faster (a 5k search 11.0 -> 10.0 ms), and the same query gets the same
        hits every time (the per-segment graphs searched side by side gave one query two
        different tops in turn). Edits after the build add small segments again."""
        name = self.index_name(version)
        before = self.segments(version)
        with _translate(self.url):
            client = self.client.options(request_timeout=timeout_s)
            client.indices.forcemerge(index=name, max_num_segments=1)
            client.indices.refresh(index=name)
        return before

    def segments(self, version: str) -> int:
        """How many Lucene segments ``version``'s index has (searchable or not yet)."""
        with _translate(self.url):
            return len(self.client.cat.segments(index=self.index_name(version), format="json"))

    def _owner(self, mappings: Mapping[str, Any]) -> str:
        meta = mappings.get("_meta") or {}
        return str(meta.get("deployment", "")) if isinstance(meta, Mapping) else ""

    def _check_owner(self, name: str, mappings: Mapping[str, Any]) -> None:
        owner = self._owner(mappings)
        if owner and self.deployment and owner != self.deployment:
            raise BackendError(
                "elasticsearch",
                f"index {name} belongs to deployment {owner!r}, not this one "
                f"({self.deployment!r}): two deployments share the prefix {self.prefix!r}; "
                "give each its own KGSEARCH_ELASTICSEARCH_PREFIX",
            )

    def live(self) -> str | None:
        """The physical index the alias points at, if any."""
        with _translate(self.url):
            if not self.client.indices.exists_alias(name=self.prefix):
                return None
            found = self.client.indices.get_alias(name=self.prefix)
        names = sorted(found)
        return names[0] if names else None

    def swap(self, version: str) -> None:
        """Point the alias at ``version``'s index in one atomic ``_aliases`` call."""
        target = self.index_name(version)
        current = self.live()
        with _translate(self.url):
            found = self.client.indices.get_mapping(index=[target, *([current] if current else [])])
        for name, index in found.items():  # neither the new index nor the live one elsewhere's
            self._check_owner(name, index["mappings"])
        actions: list[dict[str, Any]] = [{"add": {"index": target, "alias": self.prefix}}]
        if current and current != target:
            actions.insert(0, {"remove": {"index": current, "alias": self.prefix}})
        with _translate(self.url):
            self.client.indices.update_aliases(actions=actions)

    def versions(self) -> list[str]:
        """This deployment's version indexes (``<prefix>-v0001``...): never other indexes
        under the prefix (the events data stream ``<prefix>-events`` and its counter, say)
        nor another deployment's."""
        with _translate(self.url):
            found = self.client.indices.get(index=f"{self.prefix}-v*", allow_no_indices=True)
        return sorted(
            name
            for name, index in found.items()
            if name[len(self.prefix) + 2 :].isdigit()
            and self._owner(index.get("mappings", {})) in ("", self.deployment)
        )

    def drop(self, names: Sequence[str]) -> None:
        with _translate(self.url):
            for name in names:
                self.client.indices.delete(index=name, ignore_unavailable=True)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
