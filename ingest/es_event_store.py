"""The event store on Elasticsearch: a data stream ``<prefix>-events``.

Created on first use: an ILM policy ``<prefix>-events-policy`` (hot: roll over at 7 days
or 10 GB per shard; delete a backing index ``retention_days`` after its rollover), a
composable index template ``<prefix>-events-template`` (``data_stream: {}``, one shard,
strict mapping, the policy), and the stream itself on the first write. A small regular
index ``<prefix>-events-seq`` holds the sequence counter: an append reserves a block of
numbers with optimistic concurrency (``if_seq_no``/``if_primary_term``), so ``seq`` is
increasing across writers without scripts.

Idempotency: every event with an ``event_id`` is written with ``op_type=create`` and
``_id = event_id``, and the ids of a batch are looked up first. Elasticsearch itself only
refuses a duplicate ``_id`` within one backing index; the look-up catches repeats of
events already in older backing indices, but two appends of the same new id racing
across a rollover could both be stored. Atomicity: Elasticsearch has no multi-document
transaction; when part of a bulk write fails, the documents this append did write are
deleted again before the error is raised (best effort).

Erasure uses ``_delete_by_query``; a server without the reindex module (the integ-test
distribution the tests run) gets the same through a search for the ids and a bulk
delete. A server without ILM (the same distribution) gets the stream without a lifecycle,
and a warning in the log.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ingest.event_store import EVENT_FIELDS, AppendResult, StoredEvent
from ingest.events import ShopEvent
from search.es_index import BulkError, _translate, bulk_requests, connect

if TYPE_CHECKING:
    from elasticsearch import Elasticsearch

__all__ = [
    "DEFAULT_RETENTION_DAYS",
    "ElasticsearchEventStore",
    "erase_query",
    "events_template",
    "lifecycle_policy",
    "read_query",
]

log = logging.getLogger(__name__)

#: How long events are kept by default (days after their backing index rolled over).
DEFAULT_RETENTION_DAYS = 400
_PAGE = 5_000
_COUNTER_ID = "seq"

_KEYWORD = {"type": "keyword"}
_MAPPING: dict[str, Any] = {
    "dynamic": "strict",
    "properties": {
        "@timestamp": {"type": "date", "format": "epoch_millis"},
        "seq": {"type": "long"},
        "type": _KEYWORD,
        "user_id": _KEYWORD,
        "session_id": _KEYWORD,
        "product_id": _KEYWORD,
        "ts": {"type": "double"},
        "query": {"type": "keyword", "index": False},
        "query_id": _KEYWORD,
        "position": {"type": "integer"},
        "variant": _KEYWORD,
        "event_id": _KEYWORD,
    },
}


def lifecycle_policy(retention_days: int) -> dict[str, Any]:
    """The ILM policy body: roll over weekly (or at 10 GB a shard), delete after
    ``retention_days``."""
    return {
        "phases": {
            "hot": {"actions": {"rollover": {"max_age": "7d", "max_primary_shard_size": "10gb"}}},
            "delete": {"min_age": f"{retention_days}d", "actions": {"delete": {}}},
        }
    }


def events_template(stream: str, policy: str | None) -> dict[str, Any]:
    """The composable index template that makes ``stream`` a data stream."""
    settings: dict[str, Any] = {"number_of_shards": 1, "number_of_replicas": 0}
    if policy is not None:
        settings["index.lifecycle.name"] = policy
    return {
        "index_patterns": [stream],
        "data_stream": {},
        "priority": 500,
        "template": {"settings": settings, "mappings": _MAPPING},
        "_meta": {"description": "kgsearch shopper events (ingest/es_event_store.py)"},
    }


def read_query(
    *, after: int = 0, user_id: str | None = None, session_id: str | None = None
) -> dict[str, Any]:
    """The query of :meth:`ElasticsearchEventStore.read`."""
    filters: list[dict[str, Any]] = [{"range": {"seq": {"gt": after}}}]
    if user_id is not None:
        filters.append({"term": {"user_id": user_id}})
    if session_id is not None:
        filters.append({"term": {"session_id": session_id}})
    return {"bool": {"filter": filters}}


def erase_query(user_id: str, sessions: Sequence[str]) -> dict[str, Any]:
    """The user's events, and the anonymous events of the sessions they used."""
    should: list[dict[str, Any]] = [{"term": {"user_id": user_id}}]
    if sessions:
        should.append(
            {
                "bool": {
                    "filter": [{"terms": {"session_id": list(sessions)}}],
                    "must_not": [{"exists": {"field": "user_id"}}],
                }
            }
        )
    return {"bool": {"should": should, "minimum_should_match": 1}}


def _document(event: ShopEvent, seq: int) -> dict[str, Any]:
    doc: dict[str, Any] = {"@timestamp": int(event.ts * 1000), "seq": seq}
    for name in EVENT_FIELDS:
        value = getattr(event, name)
        if value is not None:
            doc[name] = value
    return doc


def _stored(source: Mapping[str, Any]) -> StoredEvent:
    values = {name: source.get(name) for name in EVENT_FIELDS}
    return StoredEvent.model_construct(seq=int(source["seq"]), **values)


class ElasticsearchEventStore:
    """Shopper events in an Elasticsearch data stream (see the module docstring)."""

    def __init__(
        self,
        *,
        url: str,
        prefix: str,
        retention_days: int = DEFAULT_RETENTION_DAYS,
        client: Elasticsearch | None = None,
    ) -> None:
        if retention_days < 1:
            raise ValueError(f"retention_days must be >= 1, got {retention_days}")
        self.url = url
        self.stream = f"{prefix}-events"
        self.template = f"{self.stream}-template"
        self.policy = f"{self.stream}-policy"
        self.counter = f"{self.stream}-seq"
        self.retention_days = retention_days
        self._client = client
        self._ready = False
        self.lifecycle = False  # whether the server took the ILM policy

    @property
    def client(self) -> Elasticsearch:
        if self._client is None:
            self._client = connect(self.url)
        return self._client

    # -- set-up -----------------------------------------------------------------------------

    def ensure(self) -> None:
        """Create the policy, the template and the counter index if missing (idempotent)."""
        if self._ready:
            return
        from elasticsearch import ApiError

        with _translate(self.url):
            try:
                self.client.ilm.put_lifecycle(
                    name=self.policy, policy=lifecycle_policy(self.retention_days)
                )
                self.lifecycle = True
            except ApiError as exc:
                if exc.meta.status not in (400, 404, 405, 410):
                    raise
                log.warning(
                    "%s: no index lifecycle management on this server (%s): the events "
                    "data stream has no retention; delete old backing indices yourself",
                    self.url,
                    exc.meta.status,
                )
            body = events_template(self.stream, self.policy if self.lifecycle else None)
            self.client.indices.put_index_template(name=self.template, **body)
            if not self.client.indices.exists(index=self.counter):
                try:
                    self.client.indices.create(
                        index=self.counter,
                        settings={"number_of_shards": 1, "number_of_replicas": 0},
                        mappings={"dynamic": "strict", "properties": {"value": {"type": "long"}}},
                    )
                except ApiError as exc:  # another process created it first
                    if "resource_already_exists" not in str(exc):
                        raise
        self._ready = True

    # -- the sequence counter -----------------------------------------------------------------

    def _counter(self) -> tuple[int, int | None, int | None]:
        """(value, seq_no, primary_term) of the counter document (0, None, None if none)."""
        from elasticsearch import NotFoundError

        try:
            doc = self.client.get(index=self.counter, id=_COUNTER_ID)
        except NotFoundError:
            return 0, None, None
        return int(doc["_source"]["value"]), int(doc["_seq_no"]), int(doc["_primary_term"])

    def _reserve(self, n: int) -> int:
        """Reserve ``n`` sequence numbers; return the first. Optimistic concurrency: a
        writer that lost the race reads the counter again."""
        from elasticsearch import ConflictError

        while True:
            value, seq_no, term = self._counter()
            try:
                if seq_no is None:
                    self.client.create(
                        index=self.counter, id=_COUNTER_ID, document={"value": value + n}
                    )
                else:
                    self.client.index(
                        index=self.counter,
                        id=_COUNTER_ID,
                        document={"value": value + n},
                        if_seq_no=seq_no,
                        if_primary_term=term,
                    )
            except ConflictError:
                continue
            return value + 1

    # -- the store --------------------------------------------------------------------------

    def append(self, events: Sequence[ShopEvent]) -> AppendResult:
        if not events:
            return AppendResult(0, 0)
        self.ensure()
        with _translate(self.url):
            known = self._existing_ids([e.event_id for e in events if e.event_id is not None])
            fresh: list[ShopEvent] = []
            seen: set[str] = set()
            for event in events:
                if event.event_id is not None:
                    if event.event_id in known or event.event_id in seen:
                        continue
                    seen.add(event.event_id)
                fresh.append(event)
            if not fresh:
                return AppendResult(0, len(events))
            first = self._reserve(len(fresh))
            operations: list[list[dict[str, Any]]] = []
            for seq, event in enumerate(fresh, start=first):
                op: dict[str, Any] = {"_index": self.stream}
                op["_id"] = event.event_id if event.event_id is not None else uuid.uuid4().hex
                operations.append([{"create": op}, _document(event, seq)])
            items: list[dict[str, Any]] = []
            try:
                for response in bulk_requests(self.client, operations):
                    items.extend(response["items"])
            except Exception:
                self._delete(_created(items))  # all or nothing, as for a refused event
                raise
        written = _created(items)
        failures = {
            op["_id"]: op.get("error", {}).get("reason", str(op.get("error")))
            for op in (item["create"] for item in items)
            # 409: a concurrent writer stored the same id
            if op.get("status") not in (200, 201, 409)
        }
        if failures:
            self._delete(written)
            raise BulkError(self.stream, failures)
        return AppendResult(accepted=len(written), duplicates=len(events) - len(written))

    def _existing_ids(self, ids: Sequence[str]) -> set[str]:
        if not ids or not self._has_stream():
            return set()
        found: set[str] = set()
        for start in range(0, len(ids), _PAGE):
            chunk = list(ids[start : start + _PAGE])
            response = self.client.search(
                index=self.stream,
                query={"terms": {"event_id": chunk}},
                source_includes=["event_id"],
                size=len(chunk),
            )
            found.update(hit["_source"]["event_id"] for hit in response["hits"]["hits"])
        return found

    def _has_stream(self) -> bool:
        return bool(self.client.indices.exists(index=self.stream))

    def _hits(self, query: dict[str, Any], limit: int | None) -> Iterator[dict[str, Any]]:
        """Hits of ``query`` in seq order, paged with ``search_after``."""
        if not self._has_stream():
            return
        after: list[Any] | None = None
        left = limit
        while left is None or left > 0:
            size = _PAGE if left is None else min(_PAGE, left)
            response = self.client.search(
                index=self.stream,
                query=query,
                sort=[{"seq": "asc"}],
                size=size,
                search_after=after,
                track_total_hits=False,
            )
            hits = response["hits"]["hits"]
            yield from hits
            if len(hits) < size:
                return
            after = hits[-1]["sort"]
            if left is not None:
                left -= len(hits)

    def read(
        self,
        *,
        after: int = 0,
        user_id: str | None = None,
        session_id: str | None = None,
        limit: int | None = None,
    ) -> list[StoredEvent]:
        if limit is not None and limit < 0:
            raise ValueError(f"limit must be >= 0, got {limit}")
        query = read_query(after=after, user_id=user_id, session_id=session_id)
        with _translate(self.url):
            return [_stored(hit["_source"]) for hit in self._hits(query, limit)]

    def revision(self) -> int:
        with _translate(self.url):
            if not self.client.indices.exists(index=self.counter):
                return 0
            return self._counter()[0]

    def erase_user(self, user_id: str) -> int:
        from elasticsearch import ApiError

        with _translate(self.url):
            if not self._has_stream():
                return 0
            sessions = sorted(
                {e.session_id for e in self.read(user_id=user_id) if e.session_id is not None}
            )
            query = erase_query(user_id, sessions)
            try:
                response = self.client.delete_by_query(
                    index=self.stream, query=query, refresh=True, conflicts="proceed"
                )
                deleted = int(response["deleted"])
            except ApiError as exc:
                if exc.meta.status not in (400, 404, 405):
                    raise
                # No reindex module (no _delete_by_query): find the ids, delete in bulk.
                targets = [(hit["_index"], hit["_id"]) for hit in self._hits(query, None)]
                deleted = self._delete(targets)
            if deleted:
                self._reserve(1)  # move the revision on, so caches keyed by it notice
        return deleted

    def _delete(self, targets: Sequence[tuple[str, str]]) -> int:
        if not targets:
            return 0
        actions = [{"delete": {"_index": index, "_id": id_}} for index, id_ in targets]
        response = self.client.bulk(operations=actions, refresh=True)
        return sum(1 for item in response["items"] if item["delete"].get("status") == 200)

    def count(self) -> int:
        with _translate(self.url):
            if not self._has_stream():
                return 0
            return int(self.client.count(index=self.stream)["count"])

    def drop(self) -> None:
        """Delete the stream, its template, policy and counter (tests, ``wipe``). A server
        without the data-streams API keeps an empty stream: its events are deleted."""
        from elasticsearch import ApiError

        with _translate(self.url):
            if self._has_stream():
                try:
                    self.client.indices.delete_data_stream(name=self.stream)
                except ApiError as exc:
                    if exc.meta.status not in (400, 404, 405):
                        raise
                    self._delete(
                        [(h["_index"], h["_id"]) for h in self._hits({"match_all": {}}, None)]
                    )
            for what in ("template", "policy"):
                try:
                    if what == "template":
                        self.client.indices.delete_index_template(name=self.template)
                    else:
                        self.client.ilm.delete_lifecycle(name=self.policy)
                except ApiError as exc:
                    if exc.meta.status not in (400, 404, 405):
                        raise
            self.client.indices.delete(index=self.counter, ignore_unavailable=True)
        self._ready = False

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


def _created(items: Sequence[Mapping[str, Any]]) -> list[tuple[str, str]]:
    """The (index, id) of the events a bulk response says were created."""
    return [
        (item["create"]["_index"], item["create"]["_id"])
        for item in items
        if item["create"].get("status") in (200, 201)
    ]
