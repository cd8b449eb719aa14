"""The event store: the durable, append-only log of shopper events (:class:`ShopEvent`).

:class:`EventStore` is the seam; two backends implement it:

- :class:`SQLiteEventStore` (the embedded default, ``<home>/events.sqlite``): WAL, one
  ``BEGIN IMMEDIATE`` transaction per append (all of a batch or none of it), a unique
  index on ``event_id`` (a repeated id is a duplicate, not an error), ``AUTOINCREMENT``
  sequence numbers (never reused, even after an erasure), a busy timeout so several
  threads and processes can append to one file.
- :class:`ElasticsearchEventStore` (production): a data stream ``<prefix>-events`` in
  :mod:`ingest.es_event_store`.

Every stored event gets a ``seq``, increasing in the order of appends; readers page
through the log with ``read(after=seq)``. ``revision()`` is the newest sequence number
the store has handed out, moved on by one more by an erasure that deleted something, so a
cache keyed by it notices appends and erasures alike. The store is append-only except for
:meth:`EventStore.erase_user` (a shopper's right to be forgotten).
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Protocol

from pydantic import Field

from ingest.events import ShopEvent

__all__ = [
    "EVENT_FIELDS",
    "AppendResult",
    "EventStore",
    "SQLiteEventStore",
    "StoredEvent",
]

#: The fields of a :class:`ShopEvent`, in the order the stores keep them.
EVENT_FIELDS = (
    "type",
    "user_id",
    "session_id",
    "product_id",
    "ts",
    "query",
    "query_id",
    "position",
    "variant",
    "event_id",
)


class StoredEvent(ShopEvent):
    """A :class:`ShopEvent` as the store holds it, with its sequence number."""

    seq: Annotated[int, Field(gt=0)]


@dataclass(frozen=True, slots=True)
class AppendResult:
    """What an append did: events stored, and events whose ``event_id`` the store
    already held (or that repeated an id earlier in the same batch)."""

    accepted: int
    duplicates: int


class EventStore(Protocol):
    """An append-only shopper event log (see the module docstring)."""

    def append(self, events: Sequence[ShopEvent]) -> AppendResult:
        """Store ``events`` atomically (all or nothing) in their order."""
        ...

    def read(
        self,
        *,
        after: int = 0,
        user_id: str | None = None,
        session_id: str | None = None,
        limit: int | None = None,
    ) -> list[StoredEvent]:
        """Events with ``seq > after`` (of one user and/or session), ordered by seq."""
        ...

    def revision(self) -> int:
        """The newest sequence number (0 when nothing was ever stored)."""
        ...

    def erase_user(self, user_id: str) -> int:
        """Delete every event of ``user_id`` (and the anonymous events of the sessions
        they used); return how many were deleted."""
        ...

    def count(self) -> int: ...

    def drop(self) -> None:
        """Delete every event (``kgsearch demo`` replacing its simulated log, ``wipe``).
        The store stays usable; its revision moves on, so caches notice."""
        ...

    def close(self) -> None: ...


_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    type TEXT NOT NULL,
    user_id TEXT,
    session_id TEXT,
    product_id TEXT NOT NULL,
    ts REAL NOT NULL,
    query TEXT,
    query_id TEXT,
    position INTEGER,
    variant TEXT,
    event_id TEXT,
    received REAL NOT NULL DEFAULT ((julianday('now') - 2440587.5) * 86400.0)
);
CREATE UNIQUE INDEX IF NOT EXISTS events_event_id ON events (event_id)
    WHERE event_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS events_user ON events (user_id, seq) WHERE user_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS events_session ON events (session_id, seq)
    WHERE session_id IS NOT NULL;
"""

_COLUMNS = ", ".join(EVENT_FIELDS)
_INSERT = (
    f"INSERT INTO events ({_COLUMNS}) VALUES ({', '.join('?' * len(EVENT_FIELDS))}) "
    "ON CONFLICT (event_id) WHERE event_id IS NOT NULL DO NOTHING"
)


class SQLiteEventStore:
    """The embedded event store: one SQLite file in WAL mode (see the module docstring).

    Safe to share between threads (one connection behind a lock) and to open from several
    processes (SQLite's file locks; a writer waits up to ``busy_timeout_s``)."""

    def __init__(self, *, path: Path | str, busy_timeout_s: float = 30.0) -> None:
        if busy_timeout_s <= 0:
            raise ValueError(f"busy_timeout_s must be > 0, got {busy_timeout_s}")
        self.path = path
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            # Owner-only: shoppers' events are personal data (the -wal/-shm files follow).
            os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
        self._lock = threading.Lock()
        conn = sqlite3.connect(
            str(path), check_same_thread=False, isolation_level=None, timeout=busy_timeout_s
        )
        conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_s * 1000)}")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = FULL")  # a committed append survives a power cut
        conn.execute("PRAGMA secure_delete = ON")  # erased events are overwritten, not left
        with self._write(conn):
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)
        self._conn: sqlite3.Connection | None = conn

    @property
    def conn(self) -> sqlite3.Connection:
        if self._conn is None:
            raise RuntimeError(f"event store {self.path} is closed")
        return self._conn

    @contextmanager
    def _write(self, conn: sqlite3.Connection | None = None) -> Iterator[sqlite3.Connection]:
        """One write transaction, taken at once (``BEGIN IMMEDIATE``): other writers
        wait; an exception rolls everything back."""
        conn = conn or self.conn
        with self._lock:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def append(self, events: Sequence[ShopEvent]) -> AppendResult:
        if not events:
            return AppendResult(0, 0)
        rows = [
            (
                e.type,
                e.user_id,
                e.session_id,
                e.product_id,
                e.ts,
                e.query,
                e.query_id,
                e.position,
                e.variant,
                e.event_id,
            )
            for e in events
        ]
        with self._write() as conn:
            accepted = conn.executemany(_INSERT, rows).rowcount
        return AppendResult(accepted=accepted, duplicates=len(rows) - accepted)

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
        where, params = ["seq > ?"], [after]
        if user_id is not None:
            where.append("user_id = ?")
            params.append(user_id)  # type: ignore[arg-type]
        if session_id is not None:
            where.append("session_id = ?")
            params.append(session_id)  # type: ignore[arg-type]
        sql = f"SELECT seq, {_COLUMNS} FROM events WHERE {' AND '.join(where)} ORDER BY seq"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        with self._lock:
            rows = self.conn.execute(sql, params).fetchall()
        # The rows were validated on the way in: build them without validating again.
        return [StoredEvent.model_construct(**_row(r)) for r in rows]

    def revision(self) -> int:
        with self._lock:
            row = self.conn.execute(
                "SELECT seq FROM sqlite_sequence WHERE name = 'events'"
            ).fetchone()
        return int(row[0]) if row else 0

    def erase_user(self, user_id: str) -> int:
        with self._write() as conn:
            sessions = [
                r[0]
                for r in conn.execute(
                    "SELECT DISTINCT session_id FROM events "
                    "WHERE user_id = ? AND session_id IS NOT NULL",
                    (user_id,),
                )
            ]
            deleted = conn.execute("DELETE FROM events WHERE user_id = ?", (user_id,)).rowcount
            for session in sessions:
                deleted += conn.execute(
                    "DELETE FROM events WHERE session_id = ? AND user_id IS NULL", (session,)
                ).rowcount
            if deleted:  # move the revision on, so caches keyed by it notice
                conn.execute("UPDATE sqlite_sequence SET seq = seq + 1 WHERE name = 'events'")
        if deleted:
            with self._lock:  # and leave no copy of the deleted pages in the WAL
                self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return deleted

    def count(self) -> int:
        with self._lock:
            return int(self.conn.execute("SELECT COUNT(*) FROM events").fetchone()[0])

    def drop(self) -> None:
        with self._write() as conn:
            conn.execute("DELETE FROM events")
            conn.execute("UPDATE sqlite_sequence SET seq = seq + 1 WHERE name = 'events'")
        with self._lock:
            self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None


def _row(row: tuple[Any, ...]) -> dict[str, Any]:
    return dict(zip(("seq", *EVENT_FIELDS), row, strict=True))
