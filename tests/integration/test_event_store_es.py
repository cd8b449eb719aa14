"""The Elasticsearch event store on a real server: a data stream with its template,
idempotent appends (also across a rollover), reads in seq order, erasure."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import unique_namespace

from app.engine import Engine
from app.settings import Settings
from ingest.es_event_store import ElasticsearchEventStore
from ingest.events import ShopEvent

pytestmark = pytest.mark.integration


def event(
    n: int, *, user: str | None = "U1", session: str | None = "s1", **extra: object
) -> ShopEvent:
    return ShopEvent.model_validate(
        {
            "type": "click",
            "user_id": user,
            "session_id": session,
            "product_id": f"P{n}",
            "ts": 1_700_000_000.0 + n,
            **extra,
        }
    )


@pytest.fixture
def store(es_url: str) -> Iterator[ElasticsearchEventStore]:
    store = ElasticsearchEventStore(url=es_url, prefix=unique_namespace("kgtest-"))
    yield store
    store.drop()
    store.close()


def test_a_data_stream_with_template_and_idempotent_appends(
    store: ElasticsearchEventStore,
) -> None:
    assert (store.count(), store.revision(), store.read()) == (0, 0, [])
    result = store.append([event(1, event_id="a"), event(2), event(3, event_id="a")])
    assert (result.accepted, result.duplicates) == (2, 1)
    resolved = store.client.indices.resolve_index(name=store.stream)
    assert [d["name"] for d in resolved["data_streams"]] == [store.stream]
    template = store.client.indices.get_index_template(name=store.template)
    assert "data_stream" in template["index_templates"][0]["index_template"]

    again = store.append([event(1, event_id="a"), event(4, event_id="b")])
    assert (again.accepted, again.duplicates) == (1, 1)
    stored = store.read()
    assert [e.seq for e in stored] == sorted(e.seq for e in stored)
    assert [e.product_id for e in stored] == ["P1", "P2", "P4"]
    assert stored[0].model_dump(exclude={"seq"}) == event(1, event_id="a").model_dump()
    assert store.revision() == stored[-1].seq == 3
    assert [e.product_id for e in store.read(after=stored[0].seq, limit=1)] == ["P2"]


def test_a_large_append_goes_in_several_requests_and_stays_all_or_nothing(
    store: ElasticsearchEventStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An append is split into bulk requests of BULK_OPERATIONS events (here 2), so a large
    import stays under Elasticsearch's request size limit; when a later request fails,
    the events the earlier ones stored are taken out again."""
    import search.es_index as es_index

    monkeypatch.setattr(es_index, "BULK_OPERATIONS", 2)
    result = store.append([event(n, event_id=f"e{n}") for n in range(5)])
    assert (result.accepted, store.count()) == (5, 5)
    assert [e.product_id for e in store.read()] == [f"P{n}" for n in range(5)]

    bulk, calls = store.client.bulk, []

    def second_request_fails(**kwargs: object) -> object:
        calls.append(kwargs)
        if len(calls) == 2:
            raise ConnectionError("the server went away")
        return bulk(**kwargs)

    monkeypatch.setattr(store.client, "bulk", second_request_fails)
    with pytest.raises(ConnectionError):
        store.append([event(n, event_id=f"f{n}") for n in range(5, 10)])
    assert store.count() == 5  # the first request's two events were deleted again


def test_a_duplicate_in_an_older_backing_index_is_still_found(
    store: ElasticsearchEventStore,
) -> None:
    store.append([event(1, event_id="old")])
    store.client.indices.rollover(alias=store.stream)  # a new write index
    result = store.append([event(1, event_id="old"), event(2, event_id="new")])
    assert (result.accepted, result.duplicates) == (1, 1)
    assert store.count() == 2


def test_concurrent_appends_get_distinct_sequence_numbers(
    store: ElasticsearchEventStore,
) -> None:
    store.ensure()

    def write(name: str) -> None:
        for b in range(3):
            store.append([event(i, user=name, event_id=f"{name}-{b}-{i}") for i in range(5)])

    threads = [threading.Thread(target=write, args=(n,)) for n in ("A", "B")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seqs = [e.seq for e in store.read()]
    assert len(seqs) == len(set(seqs)) == 30


def test_erase_user_deletes_their_events_and_their_sessions_anonymous_ones(
    store: ElasticsearchEventStore,
) -> None:
    store.append(
        [
            event(1, user="U1", session="a"),
            event(2, user="U2", session="b"),
            event(3, user=None, session="a"),
            event(4, user=None, session="z"),
        ]
    )
    before = store.revision()
    assert store.erase_user("U1") == 2
    assert [(e.user_id, e.session_id) for e in store.read()] == [("U2", "b"), (None, "z")]
    assert store.read(user_id="U1") == []
    assert store.revision() > before
    assert store.erase_user("U1") == 0


def test_engine_uses_the_data_stream_on_the_elasticsearch_backend(
    es_url: str, tmp_path: Path
) -> None:
    settings = Settings(
        home=tmp_path,
        search_backend="elasticsearch",
        elasticsearch_url=es_url,
        elasticsearch_prefix=unique_namespace("kgtest-"),
    )
    engine = Engine(settings)
    store = engine.events
    assert isinstance(store, ElasticsearchEventStore)
    assert store.stream == f"{settings.elasticsearch_prefix}-events"
    store.append([event(1, event_id="x")])
    assert engine.events.count() == 1
    engine.wipe()  # drops the stream's events, template and counter
    assert ElasticsearchEventStore(url=es_url, prefix=settings.elasticsearch_prefix).count() == 0
