"""The SQLite event store: idempotency by event id, all-or-nothing appends, concurrent
writers (threads and processes), erasure and reopening."""

from __future__ import annotations

import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from ingest.es_event_store import erase_query, events_template, lifecycle_policy, read_query
from ingest.event_store import SQLiteEventStore, StoredEvent
from ingest.events import ShopEvent

ROOT = Path(__file__).resolve().parents[2]


def event(
    n: int, *, user: str | None = "U1", session: str | None = "s1", **extra: object
) -> ShopEvent:
    return ShopEvent.model_validate(
        {
            "type": "click",
            "user_id": user,
            "session_id": session,
            "product_id": f"P{n % 7}",
            "ts": 1_700_000_000.0 + n,
            **extra,
        }
    )


@pytest.fixture
def store(tmp_path: Path) -> SQLiteEventStore:
    return SQLiteEventStore(path=tmp_path / "events.sqlite")


def test_append_read_in_order_with_seq(store: SQLiteEventStore) -> None:
    assert store.revision() == 0 and store.count() == 0 and store.read() == []
    events = [event(n, event_id=f"e{n}") for n in range(5)]
    result = store.append(events)
    assert (result.accepted, result.duplicates) == (5, 0)
    stored = store.read()
    assert [e.seq for e in stored] == [1, 2, 3, 4, 5]
    assert all(isinstance(e, StoredEvent) for e in stored)
    # Everything the event carried comes back.
    assert [e.model_dump(exclude={"seq"}) for e in stored] == [e.model_dump() for e in events]
    assert store.revision() == 5
    assert [e.seq for e in store.read(after=3)] == [4, 5]
    assert [e.seq for e in store.read(after=1, limit=2)] == [2, 3]


def test_a_repeated_event_id_is_a_duplicate_not_an_error(store: SQLiteEventStore) -> None:
    first = store.append([event(1, event_id="a"), event(2, event_id="b")])
    assert (first.accepted, first.duplicates) == (2, 0)
    again = store.append([event(1, event_id="a"), event(3, event_id="c"), event(3, event_id="c")])
    assert (again.accepted, again.duplicates) == (1, 2)
    # Events without an id are never duplicates of each other.
    plain = store.append([event(4), event(4)])
    assert (plain.accepted, plain.duplicates) == (2, 0)
    assert sorted(e.event_id or "-" for e in store.read()) == ["-", "-", "a", "b", "c"]
    assert store.count() == 5


def test_an_append_that_fails_part_way_stores_nothing(store: SQLiteEventStore) -> None:
    store.append([event(0, event_id="before")])
    # An event that slipped past validation (no product) makes the database refuse it.
    broken = ShopEvent.model_construct(
        type="click", user_id="U1", session_id="s1", product_id=None, ts=1.0
    )
    with pytest.raises(Exception, match="NOT NULL"):
        store.append([event(1, event_id="x"), event(2, event_id="y"), broken])
    assert [e.event_id for e in store.read()] == ["before"]
    # The ids of the failed batch are still free.
    assert store.append([event(1, event_id="x")]).accepted == 1


def test_filters_by_user_and_session(store: SQLiteEventStore) -> None:
    store.append(
        [
            event(1, user="U1", session="a"),
            event(2, user="U2", session="b"),
            event(3, user=None, session="a"),
            event(4, user="U1", session="c"),
        ]
    )
    assert [e.ts for e in store.read(user_id="U1")] == [1_700_000_001.0, 1_700_000_004.0]
    assert [e.user_id for e in store.read(session_id="a")] == ["U1", None]
    assert [e.seq for e in store.read(user_id="U1", session_id="c")] == [4]
    assert store.read(user_id="nobody") == []


def test_erase_user_removes_their_events_and_their_sessions_anonymous_ones(
    store: SQLiteEventStore,
) -> None:
    store.append(
        [
            event(1, user="U1", session="a"),
            event(2, user="U2", session="b"),
            event(3, user=None, session="a"),  # anonymous, in U1's session
            event(4, user=None, session="z"),  # anonymous, elsewhere
            event(5, user="U1", session=None),
        ]
    )
    before = store.revision()
    assert store.erase_user("U1") == 3
    assert [(e.user_id, e.session_id) for e in store.read()] == [("U2", "b"), (None, "z")]
    assert store.revision() > before  # caches keyed by the revision notice the erasure
    assert store.erase_user("U1") == 0
    # Sequence numbers are never reused.
    store.append([event(6, user="U3")])
    assert store.read()[-1].seq > before


def test_reopen_keeps_events_and_sequence(tmp_path: Path) -> None:
    path = tmp_path / "events.sqlite"
    first = SQLiteEventStore(path=path)
    first.append([event(1, event_id="a"), event(2)])
    first.close()
    with pytest.raises(RuntimeError, match="closed"):
        first.count()
    second = SQLiteEventStore(path=path)
    assert second.count() == 2 and second.revision() == 2
    assert {p.name: stat.S_IMODE(p.stat().st_mode) for p in tmp_path.glob("events.sqlite*")} == {
        p.name: 0o600 for p in tmp_path.glob("events.sqlite*")
    }  # personal data: owner-only, WAL files included
    assert second.append([event(1, event_id="a")]).duplicates == 1
    second.append([event(3)])
    assert [e.seq for e in second.read()][-1] > 2
    revision = second.revision()
    second.drop()  # every event goes; the store stays usable, its revision moves on
    assert (second.count(), second.read()) == (0, [])
    assert second.revision() > revision
    assert second.append([event(1, event_id="a")]).accepted == 1


def test_two_threads_append_at_once(store: SQLiteEventStore, tmp_path: Path) -> None:
    other = SQLiteEventStore(path=tmp_path / "events.sqlite")  # a second connection too
    errors: list[BaseException] = []

    def write(target: SQLiteEventStore, name: str) -> None:
        try:
            for batch in range(20):
                target.append(
                    [event(i, user=name, event_id=f"{name}-{batch}-{i}") for i in range(25)]
                )
                # Every thread also re-sends one earlier batch: all duplicates.
                if batch == 10:
                    again = target.append(
                        [event(i, user=name, event_id=f"{name}-0-{i}") for i in range(25)]
                    )
                    assert again.accepted == 0
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [
        threading.Thread(target=write, args=(store, "A")),
        threading.Thread(target=write, args=(store, "B")),
        threading.Thread(target=write, args=(other, "C")),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    stored = store.read()
    assert len(stored) == store.count() == 3 * 20 * 25
    seqs = [e.seq for e in stored]
    assert seqs == sorted(set(seqs))
    # Each thread's batches stayed whole and in order.
    for name in "ABC":
        ids = [e.event_id for e in stored if e.user_id == name]
        assert ids == [f"{name}-{b}-{i}" for b in range(20) for i in range(25)]
    other.close()


WRITER = """
import sys
from ingest.event_store import SQLiteEventStore
from ingest.events import ShopEvent
store = SQLiteEventStore(path=sys.argv[1])
for b in range(10):
    store.append([ShopEvent(type="view", user_id=sys.argv[2], product_id="P1", ts=1.0 + i,
                            event_id=f"{sys.argv[2]}-{b}-{i}") for i in range(50)])
store.close()
"""


def test_two_processes_append_to_one_file(tmp_path: Path) -> None:
    path = tmp_path / "events.sqlite"
    SQLiteEventStore(path=path).close()
    procs = [
        subprocess.Popen([sys.executable, "-c", WRITER, str(path), name], cwd=ROOT)
        for name in ("X", "Y")
    ]
    assert [p.wait(timeout=60) for p in procs] == [0, 0]
    store = SQLiteEventStore(path=path)
    assert store.count() == 2 * 10 * 50
    assert len({e.event_id for e in store.read()}) == 1000


def test_elasticsearch_bodies() -> None:
    """The Elasticsearch store's request bodies (the store itself: tests/integration)."""
    assert erase_query("U1", []) == {
        "bool": {"should": [{"term": {"user_id": "U1"}}], "minimum_should_match": 1}
    }
    anonymous = erase_query("U1", ["s1"])["bool"]["should"][1]["bool"]
    assert anonymous["filter"] == [{"terms": {"session_id": ["s1"]}}]
    assert anonymous["must_not"] == [{"exists": {"field": "user_id"}}]
    assert read_query(after=5, user_id="U1")["bool"]["filter"] == [
        {"range": {"seq": {"gt": 5}}},
        {"term": {"user_id": "U1"}},
    ]
    policy = lifecycle_policy(30)
    assert policy["phases"]["delete"]["min_age"] == "30d"
    assert "rollover" in policy["phases"]["hot"]["actions"]
    template = events_template("p-events", "p-events-policy")
    assert template["data_stream"] == {} and template["index_patterns"] == ["p-events"]
    assert template["template"]["settings"]["index.lifecycle.name"] == "p-events-policy"
    assert "index.lifecycle.name" not in events_template("p-events", None)["template"]["settings"]
    assert template["template"]["mappings"]["dynamic"] == "strict"
