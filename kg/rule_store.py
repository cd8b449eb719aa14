"""Where merchandising rules are kept: versioned records with a change log, on SQLite or
Neo4j, beside the product graph rather than in it.

A rule is not a catalogue entity: it has no relations, must never reach the KGE triples,
the product documents or the catalog console, and its edits must not move the graph's
revision (which would make every search sync). So each backend keeps rules in a store of
their own (a SQLite file; Neo4j nodes under their own labels, outside the namespace's
entity label) with the same discipline as the graph: a version per record, optimistic
concurrency, and an append-only change log from which the audit and undo are read.

The store treats a rule's body as opaque JSON; what a rule means lives in
:mod:`search.rules`, and the checks against the catalogue in the application.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

from kg import cypher
from kg.neo4j_store import open_driver, translated_errors
from kg.schema import JsonValue
from kg.store import GraphError

if TYPE_CHECKING:
    from neo4j import Driver, ManagedTransaction

__all__ = [
    "Neo4jRuleStore",
    "RuleChange",
    "RuleConflict",
    "RuleRecord",
    "RuleStore",
    "SQLiteRuleStore",
    "UnknownRule",
]

RuleOp = Literal["create", "update", "delete"]


class UnknownRule(GraphError, KeyError):
    code = "unknown_rule"

    def __init__(self, rule_id: int) -> None:
        self.rule_id = rule_id
        super().__init__(f"no rule #{rule_id}; list the rules to see their ids")

    def __str__(self) -> str:
        return str(self.args[0])


class RuleConflict(GraphError):
    """The rule is not at the version the caller read (or exists when it must not)."""

    code = "version_conflict"

    def __init__(self, rule_id: int, expected: int, actual: int) -> None:
        self.rule_id, self.expected, self.actual = rule_id, expected, actual
        super().__init__(
            f"rule #{rule_id} is at version {actual}, not {expected}: it changed since you "
            "read it; read it again and re-apply your edit"
        )


@dataclass(frozen=True, slots=True)
class RuleRecord:
    id: int
    version: int
    body: Mapping[str, JsonValue]


@dataclass(frozen=True, slots=True)
class RuleChange:
    """One entry of the rules' change log; ``note`` says what the edit was for (publish,
    undo of #n) where the op alone does not."""

    seq: int
    at: str
    actor: str
    op: RuleOp
    rule_id: int
    before: Mapping[str, JsonValue] | None
    after: Mapping[str, JsonValue] | None
    note: str = ""


@runtime_checkable
class RuleStore(Protocol):
    def put(
        self,
        rule_id: int | None,
        body: Mapping[str, JsonValue],
        *,
        expected_version: int | None,
        actor: str,
        note: str = "",
    ) -> RuleRecord:
        """Create (``rule_id`` None: a new id, never reused; or an id with
        ``expected_version=0``: that rule again, after its deletion) or replace a rule.
        Raises :class:`RuleConflict` when ``expected_version`` is not the stored one, and
        :class:`UnknownRule` for an update of a missing rule."""
        ...

    def delete(
        self, rule_id: int, *, expected_version: int | None, actor: str, note: str = ""
    ) -> None: ...

    def get(self, rule_id: int) -> RuleRecord | None: ...

    def rules(self) -> list[RuleRecord]:
        """Every rule, by id."""
        ...

    def changes(self, *, since: int = 0, rule_id: int | None = None) -> list[RuleChange]:
        """The change log after ``since``, oldest first."""
        ...

    @property
    def revision(self) -> int:
        """The sequence number of the last change (0 when there was none)."""
        ...

    def drop(self) -> None:
        """Delete every rule and change (ids and the revision restart); for tests and demos."""
        ...

    def close(self) -> None: ...


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def _dump(value: Mapping[str, JsonValue] | None) -> str | None:
    return None if value is None else json.dumps(value, sort_keys=True, separators=(",", ":"))


def _load(text: str | None) -> dict[str, JsonValue] | None:
    return None if text is None else dict(json.loads(text))


def _check_write(actor: str, expected_version: int | None) -> None:
    if not actor.strip():
        raise ValueError("actor must name who makes the change")
    if expected_version is not None and expected_version < 0:
        raise ValueError("expected_version must be >= 0")


_SQLITE_SCHEMA = """
CREATE TABLE IF NOT EXISTS rules (
    id INTEGER PRIMARY KEY, version INTEGER NOT NULL, body TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS rule_ids (id INTEGER PRIMARY KEY AUTOINCREMENT);
CREATE TABLE IF NOT EXISTS rule_changes (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT NOT NULL, actor TEXT NOT NULL,
    op TEXT NOT NULL, rule_id INTEGER NOT NULL, before TEXT, after TEXT, note TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS rule_changes_rule ON rule_changes(rule_id);
"""


class SQLiteRuleStore:
    """A :class:`RuleStore` in one SQLite file (``":memory:"`` for tests); one
    ``BEGIN IMMEDIATE`` transaction per write, so concurrent writers are serialised."""

    def __init__(self, *, path: Path | str) -> None:
        self._path = str(path)
        if self._path != ":memory:":
            Path(self._path).parent.mkdir(parents=True, exist_ok=True)
            os.close(os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600))
        self._lock = threading.RLock()
        self._db = sqlite3.connect(self._path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(_SQLITE_SCHEMA)

    def _write(self, work: Any) -> Any:
        with self._lock:
            cur = self._db.cursor()
            cur.execute("BEGIN IMMEDIATE")
            try:
                out = work(cur)
            except BaseException:
                cur.execute("ROLLBACK")
                raise
            cur.execute("COMMIT")
            return out

    @staticmethod
    def _log(
        cur: sqlite3.Cursor,
        actor: str,
        op: RuleOp,
        rule_id: int,
        before: str | None,
        after: str | None,
        note: str,
    ) -> None:
        cur.execute(
            "INSERT INTO rule_changes (at, actor, op, rule_id, before, after, note) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (_now(), actor, op, rule_id, before, after, note),
        )

    def put(
        self,
        rule_id: int | None,
        body: Mapping[str, JsonValue],
        *,
        expected_version: int | None,
        actor: str,
        note: str = "",
    ) -> RuleRecord:
        _check_write(actor, expected_version)
        after = _dump(body)
        assert after is not None

        def work(cur: sqlite3.Cursor) -> RuleRecord:
            rid = rule_id
            if rid is None:
                cur.execute("INSERT INTO rule_ids DEFAULT VALUES")
                rid = int(cur.lastrowid or 0)
                row = None
            else:
                row = cur.execute("SELECT version, body FROM rules WHERE id = ?", (rid,)).fetchone()
            version = int(row[0]) if row else 0
            if expected_version is not None and expected_version != version:
                raise RuleConflict(rid, expected_version, version)
            if row is None and rule_id is not None:
                known = cur.execute("SELECT 1 FROM rule_ids WHERE id = ?", (rid,)).fetchone()
                if known is None or expected_version != 0:
                    raise UnknownRule(rid)
            if row is not None and row[1] == after:
                return RuleRecord(rid, version, dict(body))
            cur.execute(
                "INSERT OR REPLACE INTO rules (id, version, body) VALUES (?, ?, ?)",
                (rid, version + 1, after),
            )
            op: RuleOp = "update" if row else "create"
            self._log(cur, actor, op, rid, row[1] if row else None, after, note)
            return RuleRecord(rid, version + 1, dict(body))

        record: RuleRecord = self._write(work)
        return record

    def delete(
        self, rule_id: int, *, expected_version: int | None, actor: str, note: str = ""
    ) -> None:
        _check_write(actor, expected_version)

        def work(cur: sqlite3.Cursor) -> None:
            row = cur.execute("SELECT version, body FROM rules WHERE id = ?", (rule_id,)).fetchone()
            if row is None:
                raise UnknownRule(rule_id)
            if expected_version is not None and expected_version != int(row[0]):
                raise RuleConflict(rule_id, expected_version, int(row[0]))
            cur.execute("DELETE FROM rules WHERE id = ?", (rule_id,))
            self._log(cur, actor, "delete", rule_id, row[1], None, note)

        self._write(work)

    def get(self, rule_id: int) -> RuleRecord | None:
        with self._lock:
            row = self._db.execute(
                "SELECT id, version, body FROM rules WHERE id = ?", (rule_id,)
            ).fetchone()
        return None if row is None else RuleRecord(int(row[0]), int(row[1]), json.loads(row[2]))

    def rules(self) -> list[RuleRecord]:
        with self._lock:
            rows = self._db.execute("SELECT id, version, body FROM rules ORDER BY id").fetchall()
        return [RuleRecord(int(r[0]), int(r[1]), json.loads(r[2])) for r in rows]

    def changes(self, *, since: int = 0, rule_id: int | None = None) -> list[RuleChange]:
        query = "SELECT seq, at, actor, op, rule_id, before, after, note FROM rule_changes "
        query += "WHERE seq > ?" + (" AND rule_id = ?" if rule_id is not None else "")
        params: tuple[int, ...] = (since,) if rule_id is None else (since, rule_id)
        with self._lock:
            rows = self._db.execute(query + " ORDER BY seq", params).fetchall()
        return [
            RuleChange(int(r[0]), r[1], r[2], r[3], int(r[4]), _load(r[5]), _load(r[6]), r[7])
            for r in rows
        ]

    @property
    def revision(self) -> int:
        with self._lock:
            row = self._db.execute("SELECT max(seq) FROM rule_changes").fetchone()
        return int(row[0] or 0)

    def drop(self) -> None:
        def work(cur: sqlite3.Cursor) -> None:
            for table in ("rules", "rule_ids", "rule_changes"):
                cur.execute(f"DELETE FROM {table}")
            cur.execute("DELETE FROM sqlite_sequence WHERE name IN ('rule_ids', 'rule_changes')")

        self._write(work)

    def close(self) -> None:
        with self._lock:
            self._db.close()


# -- Neo4j ----------------------------------------------------------------------------------


def _labels(namespace: str) -> tuple[str, str, str]:
    """(rule, change, meta) labels: beside the namespace's entity label, never under it, so
    graph reads, paths and the KGE triples never meet a rule."""
    base = cypher.label(namespace)
    return f"{base}_Rule", f"{base}_RuleChange", f"{base}_RuleMeta"


class Neo4jRuleStore:
    """A :class:`RuleStore` in Neo4j, in the graph store's namespace. Every write updates
    the one meta node first (which serialises writers), then checks versions."""

    def __init__(
        self,
        *,
        uri: str,
        namespace: str = "main",
        user: str | None = None,
        password: str | None = None,
        database: str | None = None,
        timeout_s: float = 10.0,
    ) -> None:
        self._rule, self._change, self._meta = _labels(namespace)
        if timeout_s <= 0:
            raise ValueError("timeout_s must be > 0")
        self._uri, self._database, self._timeout = uri, database, timeout_s
        self._auth = (user, password or "") if user else None
        self._driver: Driver | None = None
        self._schema_ready = False
        ns = cypher.label(namespace).lower()
        self._constraints = {
            f"{ns}_rule_id": f"FOR (r:{self._rule}) REQUIRE r.id IS UNIQUE",
            f"{ns}_rule_change_seq": f"FOR (c:{self._change}) REQUIRE c.seq IS UNIQUE",
            f"{ns}_rule_meta_key": f"FOR (m:{self._meta}) REQUIRE m.key IS UNIQUE",
        }

    def _schema(self, *, drop: bool = False) -> None:
        """Unique ids, sequence numbers and one meta node (so concurrent first writers
        cannot each MERGE one); schema statements run outside a data transaction."""
        assert self._driver is not None
        with translated_errors(self._uri), self._driver.session(database=self._database) as session:
            for name, body in self._constraints.items():
                statement = (
                    f"DROP CONSTRAINT {name} IF EXISTS"
                    if drop
                    else f"CREATE CONSTRAINT {name} IF NOT EXISTS {body}"
                )
                session.run(statement).consume()

    def _connect(self) -> Driver:
        if self._driver is None:
            self._driver = open_driver(self._uri, self._auth, self._timeout)
        if not self._schema_ready:
            self._schema()
            self._schema_ready = True
        return self._driver

    def _session(self, work: Any, *args: Any, read: bool = False) -> Any:
        from neo4j import READ_ACCESS, WRITE_ACCESS

        driver = self._connect()
        mode = READ_ACCESS if read else WRITE_ACCESS
        with (
            translated_errors(self._uri),
            driver.session(database=self._database, default_access_mode=mode) as s,
        ):
            run = s.execute_read if read else s.execute_write
            return run(work, *args)

    def _lock(self, tx: ManagedTransaction) -> tuple[int, int]:
        row = tx.run(
            f"MERGE (m:{self._meta} {{key: 'rules'}}) ON CREATE SET m.seq = 0, m.next_id = 0 "
            "SET m.writes = coalesce(m.writes, 0) + 1 RETURN m.seq AS seq, m.next_id AS next_id"
        ).single(strict=True)
        return int(row["seq"]), int(row["next_id"])

    def _log(
        self,
        tx: ManagedTransaction,
        seq: int,
        actor: str,
        op: RuleOp,
        rule_id: int,
        before: str | None,
        after: str | None,
        note: str,
    ) -> None:
        tx.run(
            f"MATCH (m:{self._meta} {{key: 'rules'}}) SET m.seq = $seq "
            f"CREATE (:{self._change} {{seq: $seq, at: $at, actor: $actor, op: $op, "
            "rule_id: $rule_id, before: $before, after: $after, note: $note})",
            seq=seq + 1,
            at=_now(),
            actor=actor,
            op=op,
            rule_id=rule_id,
            before=before,
            after=after,
            note=note,
        ).consume()

    def _current(self, tx: ManagedTransaction, rule_id: int) -> tuple[int, str] | None:
        row = tx.run(
            f"MATCH (r:{self._rule} {{id: $id}}) RETURN r.version AS version, r.body AS body",
            id=rule_id,
        ).single()
        return None if row is None else (int(row["version"]), str(row["body"]))

    def put(
        self,
        rule_id: int | None,
        body: Mapping[str, JsonValue],
        *,
        expected_version: int | None,
        actor: str,
        note: str = "",
    ) -> RuleRecord:
        _check_write(actor, expected_version)
        after = _dump(body)
        assert after is not None

        def work(tx: ManagedTransaction) -> RuleRecord:
            seq, next_id = self._lock(tx)
            rid = rule_id
            if rid is None:
                rid = next_id + 1
                tx.run(
                    f"MATCH (m:{self._meta} {{key: 'rules'}}) SET m.next_id = $id", id=rid
                ).consume()
                row = None
            else:
                row = self._current(tx, rid)
            version = row[0] if row else 0
            if expected_version is not None and expected_version != version:
                raise RuleConflict(rid, expected_version, version)
            if row is None and rule_id is not None and (rid > next_id or expected_version != 0):
                raise UnknownRule(rid)
            if row is not None and row[1] == after:
                return RuleRecord(rid, version, dict(body))
            tx.run(
                f"MERGE (r:{self._rule} {{id: $id}}) SET r.version = $version, r.body = $body",
                id=rid,
                version=version + 1,
                body=after,
            ).consume()
            op: RuleOp = "update" if row else "create"
            self._log(tx, seq, actor, op, rid, row[1] if row else None, after, note)
            return RuleRecord(rid, version + 1, dict(body))

        record: RuleRecord = self._session(work)
        return record

    def delete(
        self, rule_id: int, *, expected_version: int | None, actor: str, note: str = ""
    ) -> None:
        _check_write(actor, expected_version)

        def work(tx: ManagedTransaction) -> None:
            seq, _ = self._lock(tx)
            row = self._current(tx, rule_id)
            if row is None:
                raise UnknownRule(rule_id)
            if expected_version is not None and expected_version != row[0]:
                raise RuleConflict(rule_id, expected_version, row[0])
            tx.run(f"MATCH (r:{self._rule} {{id: $id}}) DELETE r", id=rule_id).consume()
            self._log(tx, seq, actor, "delete", rule_id, row[1], None, note)

        self._session(work)

    def _read(self, query: str, **params: Any) -> list[Any]:
        def work(tx: ManagedTransaction) -> list[Any]:
            return list(tx.run(query, **params))

        rows: list[Any] = self._session(work, read=True)
        return rows

    def get(self, rule_id: int) -> RuleRecord | None:
        rows = self._read(
            f"MATCH (r:{self._rule} {{id: $id}}) RETURN r.id AS id, r.version AS version, "
            "r.body AS body",
            id=rule_id,
        )
        return _record(rows[0]) if rows else None

    def rules(self) -> list[RuleRecord]:
        rows = self._read(
            f"MATCH (r:{self._rule}) RETURN r.id AS id, r.version AS version, r.body AS body "
            "ORDER BY id"
        )
        return [_record(r) for r in rows]

    def changes(self, *, since: int = 0, rule_id: int | None = None) -> list[RuleChange]:
        where = " AND c.rule_id = $rule_id" if rule_id is not None else ""
        rows = self._read(
            f"MATCH (c:{self._change}) WHERE c.seq > $since{where} RETURN c.seq AS seq, "
            "c.at AS at, c.actor AS actor, c.op AS op, c.rule_id AS rule_id, "
            "c.before AS before, c.after AS after, c.note AS note ORDER BY seq",
            since=since,
            rule_id=rule_id,
        )
        return [
            RuleChange(
                int(r["seq"]),
                r["at"],
                r["actor"],
                r["op"],
                int(r["rule_id"]),
                _load(r["before"]),
                _load(r["after"]),
                r["note"] or "",
            )
            for r in rows
        ]

    @property
    def revision(self) -> int:
        rows = self._read(f"MATCH (m:{self._meta} {{key: 'rules'}}) RETURN m.seq AS seq")
        return int(rows[0]["seq"]) if rows else 0

    def drop(self) -> None:
        def work(tx: ManagedTransaction) -> None:
            for label in (self._rule, self._change, self._meta):
                tx.run(f"MATCH (n:{label}) DETACH DELETE n").consume()

        self._session(work)
        self._schema(drop=True)
        self._schema_ready = False

    def close(self) -> None:
        if self._driver is not None:
            self._driver.close()
            self._driver = None


def _record(row: Any) -> RuleRecord:
    return RuleRecord(int(row["id"]), int(row["version"]), json.loads(row["body"]))
