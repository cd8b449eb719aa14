"""Embedded ``GraphStore``: one SQLite file, networkx for path finding.

Writes go through one ``BEGIN IMMEDIATE`` transaction per :class:`WriteBatch`, so a
batch is stored whole or not at all, and concurrent writers are serialised by SQLite.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from itertools import islice, pairwise
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kg.schema import (
    ALIASES,
    Change,
    Entity,
    EntityKind,
    JsonValue,
    Relation,
    RelationType,
    WriteBatch,
    fold_alias,
)
from kg.store import (
    Direction,
    InvalidRelation,
    Subgraph,
    UnknownEntity,
    VersionConflict,
    bfs_subgraph,
    check_affinities,
    check_relations,
    check_user_id,
)

if TYPE_CHECKING:
    import networkx as nx  # imported where paths are found: it takes ~0.5 s to import

__all__ = ["SQLiteGraphStore"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS entities (
    id TEXT PRIMARY KEY, kind TEXT NOT NULL, props TEXT NOT NULL, version INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS entities_kind ON entities(kind);
CREATE TABLE IF NOT EXISTS relations (
    source TEXT NOT NULL, type TEXT NOT NULL, target TEXT NOT NULL,
    PRIMARY KEY (source, type, target)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS relations_target ON relations(target, type);
CREATE TABLE IF NOT EXISTS changes (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT NOT NULL, actor TEXT NOT NULL,
    op TEXT NOT NULL, entity_id TEXT NOT NULL, before TEXT, after TEXT, batch INTEGER
);
CREATE INDEX IF NOT EXISTS changes_entity ON changes(entity_id);
CREATE TABLE IF NOT EXISTS users (id TEXT PRIMARY KEY, updated REAL NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS user_affinities (
    user_id TEXT NOT NULL, target TEXT NOT NULL, weight REAL NOT NULL,
    PRIMARY KEY (user_id, target)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS user_affinities_target ON user_affinities(target);
"""

_CHUNK = 900  # stay under SQLite's bound-parameter limit


def _chunks(items: Sequence[str]) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


def _dump(value: Any) -> str | None:
    return None if value is None else json.dumps(value, sort_keys=True, separators=(",", ":"))


def _is_product(entity_id: str) -> bool:
    return entity_id.startswith("product:")


def _walks(node: str, parents: Mapping[str, list[str]]) -> Iterator[list[str]]:
    """Every shortest node sequence from ``node`` back to the breadth-first root."""
    if not parents[node]:
        yield [node]
        return
    for parent in parents[node]:
        for rest in _walks(parent, parents):
            yield [node, *rest]


class SQLiteGraphStore:
    """A :class:`~kg.store.GraphStore` in one SQLite file (``":memory:"`` for tests)."""

    def __init__(self, *, path: Path | str) -> None:
        self._path = str(path)
        if self._path != ":memory:":
            Path(self._path).parent.mkdir(parents=True, exist_ok=True)
            # Owner-only: SQLite gives its -wal and -shm files the database file's mode.
            os.close(os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600))
        self._lock = threading.RLock()
        self._db = sqlite3.connect(self._path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA foreign_keys=OFF")
        self._db.execute("PRAGMA secure_delete=ON")  # erased users leave no bytes behind
        self._db.executescript(_SCHEMA)
        self._migrate()
        self._nx_cache: tuple[int, nx.Graph] | None = None

    def _migrate(self) -> None:
        """Bring a file made by an older version up to this schema. Files from before
        change batches get the ``batch`` column; their old rows keep it NULL and read as
        one change per edit (``batch`` = ``seq``): how they were grouped was not kept."""
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(changes)")}
        if "batch" not in columns:
            self._db.execute("ALTER TABLE changes ADD COLUMN batch INTEGER")
        self._db.execute("CREATE INDEX IF NOT EXISTS changes_batch ON changes(batch)")

    # -- writes ---------------------------------------------------------------------------

    def write(self, batch: WriteBatch, *, actor: str) -> int:
        if not actor.strip():
            raise ValueError("actor must name who makes the change")
        with self._lock:
            cur = self._db.cursor()
            cur.execute("BEGIN IMMEDIATE")
            try:
                self._apply(cur, batch, actor)
            except BaseException:
                cur.execute("ROLLBACK")
                raise
            cur.execute("COMMIT")
            return self.revision

    def _existing(self, cur: sqlite3.Cursor, ids: Sequence[str]) -> dict[str, tuple[str, int]]:
        found: dict[str, tuple[str, int]] = {}
        for chunk in _chunks(list(dict.fromkeys(ids))):
            marks = ",".join("?" * len(chunk))
            for row in cur.execute(
                f"SELECT id, props, version FROM entities WHERE id IN ({marks})", chunk
            ):
                found[row[0]] = (row[1], row[2])
        return found

    def _apply(self, cur: sqlite3.Cursor, batch: WriteBatch, actor: str) -> None:
        now = datetime.now(UTC).isoformat(timespec="milliseconds")
        log: list[tuple[str, str, str, str, str | None, str | None]] = []

        existing = self._existing(cur, [w.id for w in batch.upserts])
        rows = []
        for w in batch.upserts:
            before = existing.get(w.id)
            version = before[1] if before else 0
            if w.expected_version is not None and w.expected_version != version:
                raise VersionConflict(w.id, w.expected_version, version)
            after = _dump(dict(w.properties))
            if before is not None and before[0] == after:
                continue  # no change, no new version
            existing[w.id] = (after or "{}", version + 1)
            rows.append((w.id, str(w.kind), after, version + 1))
            op = "update" if before else "create"
            log.append((now, actor, op, w.id, before[0] if before else None, after))
        cur.executemany(
            "INSERT INTO entities(id, kind, props, version) VALUES (?,?,?,?) "
            "ON CONFLICT(id) DO UPDATE SET props=excluded.props, version=excluded.version",
            rows,
        )

        if batch.deletes:
            gone = self._existing(cur, batch.deletes)
            for eid in batch.deletes:
                if eid not in gone:
                    raise UnknownEntity(eid, "cannot delete it")
                cur.execute("DELETE FROM relations WHERE source=? OR target=?", (eid, eid))
                cur.execute("DELETE FROM user_affinities WHERE target=?", (eid,))
                cur.execute("DELETE FROM entities WHERE id=?", (eid,))
                log.append((now, actor, "delete", eid, gone[eid][0], None))

        if batch.relate:
            self._check_relations(cur, batch.relate)
            for rel in batch.relate:
                cur.execute(
                    "INSERT OR IGNORE INTO relations(source, type, target) VALUES (?,?,?)",
                    (rel.source, str(rel.type), rel.target),
                )
                if cur.rowcount:
                    after = _dump({"type": str(rel.type), "target": rel.target})
                    log.append((now, actor, "relate", rel.source, None, after))
            if any(r.type is RelationType.SUBCATEGORY_OF for r in batch.relate):
                self._check_acyclic(
                    cur, [r for r in batch.relate if r.type is RelationType.SUBCATEGORY_OF]
                )

        for rel in batch.unrelate:
            cur.execute(
                "DELETE FROM relations WHERE source=? AND type=? AND target=?",
                (rel.source, str(rel.type), rel.target),
            )
            if cur.rowcount:
                removed = _dump({"type": str(rel.type), "target": rel.target})
                log.append((now, actor, "unrelate", rel.source, removed, None))

        # Every row of one write carries the write's first seq: its edit (batch) id. The
        # write holds the database's write lock, so AUTOINCREMENT numbers it from here.
        last = cur.execute("SELECT seq FROM sqlite_sequence WHERE name = 'changes'").fetchone()
        batch_id = (int(last[0]) if last else 0) + 1
        cur.executemany(
            "INSERT INTO changes(at, actor, op, entity_id, before, after, batch) "
            "VALUES (?,?,?,?,?,?,?)",
            [(*row, batch_id) for row in log],
        )

    def _check_relations(self, cur: sqlite3.Cursor, relations: Sequence[Relation]) -> None:
        ends = list({e for r in relations for e in (r.source, r.target)})
        check_relations(relations, self._existing(cur, ends))

    def _check_acyclic(self, cur: sqlite3.Cursor, added: Sequence[Relation]) -> None:
        parent = str(RelationType.SUBCATEGORY_OF)
        for rel in added:
            seen = {rel.source}
            frontier = [rel.target]
            while frontier:
                node = frontier.pop()
                if node == rel.source:
                    raise InvalidRelation(
                        f"making {rel.source!r} a subcategory of {rel.target!r} creates a cycle"
                    )
                if node in seen:
                    continue
                seen.add(node)
                frontier.extend(
                    r[0]
                    for r in cur.execute(
                        "SELECT target FROM relations WHERE source=? AND type=?", (node, parent)
                    )
                )

    # -- reads ----------------------------------------------------------------------------

    @staticmethod
    def _entity(row: tuple[str, str, str, int]) -> Entity:
        return Entity(
            id=row[0], kind=EntityKind(row[1]), properties=json.loads(row[2]), version=row[3]
        )

    def _query(self, sql: str, params: Iterable[object] = ()) -> list[Any]:
        with self._lock:
            return self._db.execute(sql, tuple(params)).fetchall()

    def get(self, entity_id: str) -> Entity | None:
        rows = self._query("SELECT id, kind, props, version FROM entities WHERE id=?", (entity_id,))
        return self._entity(rows[0]) if rows else None

    def get_many(self, entity_ids: Sequence[str]) -> dict[str, Entity]:
        out: dict[str, Entity] = {}
        for chunk in _chunks(list(dict.fromkeys(entity_ids))):
            marks = ",".join("?" * len(chunk))
            for row in self._query(
                f"SELECT id, kind, props, version FROM entities WHERE id IN ({marks})", chunk
            ):
                out[row[0]] = self._entity(row)
        return out

    def entities(self, kind: EntityKind | None = None) -> Iterator[Entity]:
        if kind is None:
            rows = self._query("SELECT id, kind, props, version FROM entities ORDER BY id")
        else:
            rows = self._query(
                "SELECT id, kind, props, version FROM entities WHERE kind=? ORDER BY id",
                (str(kind),),
            )
        return (self._entity(r) for r in rows)

    def count(self, kind: EntityKind | None = None) -> int:
        if kind is None:
            return int(self._query("SELECT COUNT(*) FROM entities")[0][0])
        return int(self._query("SELECT COUNT(*) FROM entities WHERE kind=?", (str(kind),))[0][0])

    def relations(self, relation: RelationType | None = None) -> Iterator[Relation]:
        if relation is None:
            rows = self._query(
                "SELECT source, type, target FROM relations ORDER BY source, type, target"
            )
        else:
            rows = self._query(
                "SELECT source, type, target FROM relations WHERE type=? ORDER BY source, target",
                (str(relation),),
            )
        return (Relation(r[0], RelationType(r[1]), r[2]) for r in rows)

    def neighbours(
        self, entity_id: str, *, relation: RelationType | None = None, direction: Direction = "out"
    ) -> list[tuple[Relation, Entity]]:
        if self.get(entity_id) is None:
            raise UnknownEntity(entity_id)
        rels: list[Relation] = []
        type_clause, type_params = ("AND type=?", [str(relation)]) if relation else ("", [])
        if direction in ("out", "both"):
            rows = self._query(
                f"SELECT source, type, target FROM relations WHERE source=? {type_clause}",
                [entity_id, *type_params],
            )
            rels.extend(Relation(r[0], RelationType(r[1]), r[2]) for r in rows)
        if direction in ("in", "both"):
            rows = self._query(
                f"SELECT source, type, target FROM relations WHERE target=? {type_clause}",
                [entity_id, *type_params],
            )
            rels.extend(Relation(r[0], RelationType(r[1]), r[2]) for r in rows)
        other = [r.target if r.source == entity_id else r.source for r in rels]
        found = self.get_many(other)
        pairs = [(r, found[o]) for r, o in zip(rels, other, strict=True) if o in found]
        return sorted(pairs, key=lambda p: (p[0].type, p[1].id))

    def subgraph(self, entity_ids: Sequence[str], *, hops: int = 1, limit: int = 500) -> Subgraph:
        return bfs_subgraph(self, entity_ids, hops=hops, limit=limit)

    def _graph(self) -> nx.Graph:
        import networkx as nx

        revision = self.revision
        if self._nx_cache is None or self._nx_cache[0] != revision:
            graph: nx.Graph = nx.Graph()
            for rel in self.relations():
                graph.add_edge(rel.source, rel.target, relation=rel)
            self._nx_cache = (revision, graph)
        return self._nx_cache[1]

    def paths(
        self, source: str, target: str, *, max_hops: int = 4, limit: int = 3
    ) -> list[list[Relation]]:
        for end in (source, target):
            if self.get(end) is None:
                raise UnknownEntity(end)
        import networkx as nx

        graph = self._graph()
        if source == target or source not in graph or target not in graph:
            return []
        try:
            found = sorted(islice(nx.all_shortest_paths(graph, source, target), limit))
        except nx.NetworkXNoPath:
            return []
        return [
            [graph.edges[a, b]["relation"] for a, b in pairwise(nodes)]
            for nodes in found[:limit]
            if len(nodes) - 1 <= max_hops
        ]

    def paths_to(
        self, target: str, sources: Sequence[str], *, max_hops: int = 3, limit: int = 2
    ) -> dict[str, list[list[Relation]]]:
        if self.get(target) is None:
            raise UnknownEntity(target)
        graph = self._graph()
        wanted = {s for s in sources if s != target and s in graph}
        if target not in graph or not wanted:
            return {}
        # Breadth first from the target, never through another product (a product hub
        # would make every level the whole graph), until every wanted source has a level.
        parents: dict[str, list[str]] = {target: []}
        frontier, hops = [target], 0
        while frontier and hops < max_hops and not wanted <= parents.keys():
            hops += 1
            level: dict[str, list[str]] = {}
            for node in frontier:
                for other in graph.adj[node]:
                    if other not in parents and (other in wanted or not _is_product(other)):
                        level.setdefault(other, []).append(node)
            parents.update(level)
            frontier = [n for n in level if n not in wanted and not _is_product(n)]
        out: dict[str, list[list[Relation]]] = {}
        for source in sorted(wanted & parents.keys()):
            walks = sorted(_walks(source, parents))[:limit]
            out[source] = [[graph.edges[a, b]["relation"] for a, b in pairwise(w)] for w in walks]
        return out

    def triples(self) -> Iterator[tuple[str, str, str]]:
        return ((r.source, str(r.type), r.target) for r in self.relations())

    def aliases(self) -> dict[str, tuple[str, ...]]:
        rows = self._query(
            "SELECT id, json_extract(props, ?) FROM entities "
            "WHERE kind != ? AND json_type(props, ?) = 'array' ORDER BY id",
            (f"$.{ALIASES}", str(EntityKind.PRODUCT), f"$.{ALIASES}"),
        )
        out = {row[0]: tuple(json.loads(row[1])) for row in rows}
        return {eid: names for eid, names in out.items() if names}

    def resolve_alias(self, alias: str) -> list[str]:
        rows = self._query(
            "SELECT DISTINCT e.id FROM entities e, json_each(e.props, ?) a "
            "WHERE e.kind != ? AND json_type(e.props, ?) = 'array' AND a.value = ? "
            "ORDER BY e.id",
            (f"$.{ALIASES}", str(EntityKind.PRODUCT), f"$.{ALIASES}", fold_alias(alias)),
        )
        return [r[0] for r in rows]

    def changes(
        self, *, since: int = 0, entity_id: str | None = None, batch: int | None = None
    ) -> Iterator[Change]:
        sql = (
            "SELECT seq, at, actor, op, entity_id, before, after, COALESCE(batch, seq) "
            "FROM changes WHERE seq > ?"
        )
        params: list[object] = [since]
        if entity_id is not None:
            sql += " AND entity_id = ?"
            params.append(entity_id)
        if batch is not None:
            sql += " AND (batch = ? OR (batch IS NULL AND seq = ?))"
            params += [batch, batch]
        for row in self._query(sql + " ORDER BY seq", params):
            before: dict[str, JsonValue] | None = json.loads(row[5]) if row[5] else None
            after: dict[str, JsonValue] | None = json.loads(row[6]) if row[6] else None
            yield Change(row[0], row[1], row[2], row[3], row[4], before, after, row[7])

    @property
    def revision(self) -> int:
        return int(self._query("SELECT COALESCE(MAX(seq), 0) FROM changes")[0][0])

    def drop(self) -> None:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                for table in ("relations", "entities", "changes", "user_affinities", "users"):
                    self._db.execute(f"DELETE FROM {table}")  # fixed table names
                self._db.execute("DELETE FROM sqlite_sequence WHERE name = 'changes'")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
            self._nx_cache = None

    # -- shopper profiles (their own tables: no revision, no change log) -------------------

    def put_user_profile(
        self, user_id: str, affinities: Mapping[str, float], *, updated: float
    ) -> int:
        check_user_id(user_id)
        check_affinities(affinities, updated)
        with self._lock:
            cur = self._db.cursor()
            cur.execute("BEGIN IMMEDIATE")
            try:
                present = self._existing(cur, list(affinities))
                rows = [(user_id, t, float(w)) for t, w in affinities.items() if t in present]
                cur.execute(
                    "INSERT INTO users(id, updated) VALUES (?, ?) "
                    "ON CONFLICT(id) DO UPDATE SET updated=excluded.updated",
                    (user_id, float(updated)),
                )
                cur.execute("DELETE FROM user_affinities WHERE user_id=?", (user_id,))
                cur.executemany(
                    "INSERT INTO user_affinities(user_id, target, weight) VALUES (?,?,?)", rows
                )
            except BaseException:
                cur.execute("ROLLBACK")
                raise
            cur.execute("COMMIT")
            return len(rows)

    def user_profile(self, user_id: str) -> dict[str, float]:
        rows = self._query(
            "SELECT target, weight FROM user_affinities WHERE user_id=? "
            "ORDER BY weight DESC, target",
            (user_id,),
        )
        return {r[0]: float(r[1]) for r in rows}

    def users(self) -> list[str]:
        return [r[0] for r in self._query("SELECT id FROM users ORDER BY id")]

    def delete_user(self, user_id: str) -> bool:
        with self._lock:
            cur = self._db.cursor()
            cur.execute("BEGIN IMMEDIATE")
            try:
                cur.execute("DELETE FROM user_affinities WHERE user_id=?", (user_id,))
                cur.execute("DELETE FROM users WHERE id=?", (user_id,))
                existed = cur.rowcount > 0
            except BaseException:
                cur.execute("ROLLBACK")
                raise
            cur.execute("COMMIT")
            if existed and self._path != ":memory:":
                self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # nor in the WAL file
            return existed

    def close(self) -> None:
        with self._lock:
            self._db.close()
