"""``GraphStore`` on Neo4j (Bolt, official driver): the production graph backend.

One namespace label per store (see :mod:`kg.cypher`). Writes run in one managed
transaction per batch: the namespace's meta node is updated first, which serialises
writers, so version checks cannot race; the driver retries transient failures with
bounded backoff; a domain error inside the transaction rolls all of it back.
"""

from __future__ import annotations

import contextlib
import json
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from kg import cypher
from kg.schema import (
    ALIASES,
    Change,
    Entity,
    EntityKind,
    Relation,
    RelationType,
    WriteBatch,
    fold_alias,
)
from kg.store import (
    BackendError,
    BackendUnavailable,
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
    from neo4j import Driver, ManagedTransaction

__all__ = ["Neo4jGraphStore", "open_driver", "translated_errors"]


def open_driver(uri: str, auth: tuple[str, str] | None, timeout_s: float) -> Driver:
    """A driver whose connection, pool and retry waits all end after ``timeout_s``, so
    a server that is down fails a request in seconds, not the driver's default minutes.

    The server's "unrecognized" notifications are turned off: a fresh namespace has no
    ``aliases`` property yet, and every read of it logged a warning that a property key
    does not exist. Deprecation and performance notifications still reach the log."""
    from neo4j import GraphDatabase, NotificationDisabledClassification

    return GraphDatabase.driver(
        uri,
        auth=auth,
        connection_timeout=timeout_s,
        connection_acquisition_timeout=timeout_s,
        max_transaction_retry_time=timeout_s,
        notifications_disabled_classifications=[NotificationDisabledClassification.UNRECOGNIZED],
    )


#: The server's refusals of a transaction that outgrew its memory: one transaction's
#: limit, or the pool all transactions share. Transient by their class, but the same
#: write fails again on retry, so they are answered as errors, with the fix.
_OUT_OF_MEMORY = frozenset(
    {
        "Neo.TransientError.General.MemoryPoolOutOfMemoryError",
        "Neo.TransientError.General.TransactionOutOfMemoryError",
    }
)
_TOO_BIG = (
    "the write is one transaction and needs more memory than the server allows it "
    "(dbms.memory.transaction.total.max, 70% of the heap by default); give Neo4j a "
    "larger heap (scripts/servers: KGSEARCH_NEO4J_HEAP; a 50k-product import needs "
    "more than 3g) or import the catalogue in parts"
)


@contextlib.contextmanager
def translated_errors(uri: str) -> Iterator[None]:
    """The driver's errors as the backend errors the API answers with: an unreachable
    server, or a transient error still failing after the driver's retries, is
    :class:`BackendUnavailable` (503); any other server error (authentication, a
    refused statement, a transaction too big for the server's memory) is
    :class:`BackendError` (502)."""
    from neo4j.exceptions import (
        DriverError,
        Neo4jError,
        ServiceUnavailable,
        SessionExpired,
        TransientError,
    )

    try:
        yield
    except TransientError as exc:
        if exc.code in _OUT_OF_MEMORY:
            raise BackendError("neo4j", f"{uri}: {_TOO_BIG} ({exc.code}: {exc.message})") from exc
        raise BackendUnavailable("neo4j", f"{uri}: {exc}") from exc
    except (ServiceUnavailable, SessionExpired, DriverError, OSError) as exc:
        raise BackendUnavailable("neo4j", f"{uri}: {exc}") from exc
    except Neo4jError as exc:
        raise BackendError("neo4j", f"{uri}: {exc}") from exc


_BATCH = 5_000


def _dump(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def _entity(row: Any) -> Entity:
    return Entity(
        id=row["id"],
        kind=EntityKind(row["kind"]),
        properties=json.loads(row["props"]),
        version=int(row["version"]),
    )


class Neo4jGraphStore:
    """A :class:`~kg.store.GraphStore` in Neo4j, isolated by ``namespace``."""

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
        cypher.label(namespace)  # validate now, not on first use
        if timeout_s <= 0:
            raise ValueError("timeout_s must be > 0")
        self._uri, self._namespace, self._database = uri, namespace, database
        self._auth = (user, password or "") if user else None
        self._timeout = timeout_s
        self._driver: Driver | None = None
        self._schema_ready = False

    # -- plumbing ---------------------------------------------------------------------------

    @property
    def namespace(self) -> str:
        return self._namespace

    def _connect(self) -> Driver:
        if self._driver is None:
            self._driver = open_driver(self._uri, self._auth, self._timeout)
        if not self._schema_ready:
            self._run_auto(cypher.constraints(self._namespace))
            self._schema_ready = True
        return self._driver

    def _run_auto(self, statements: Sequence[str]) -> None:
        assert self._driver is not None
        with translated_errors(self._uri), self._driver.session(database=self._database) as session:
            for statement in statements:
                session.run(statement).consume()

    def _read(self, query: str, **params: Any) -> list[Any]:
        from neo4j import READ_ACCESS

        driver = self._connect()
        with (
            translated_errors(self._uri),
            driver.session(database=self._database, default_access_mode=READ_ACCESS) as s,
        ):
            return list(s.execute_read(lambda tx: list(tx.run(query, **params))))

    # -- writes -----------------------------------------------------------------------------

    def write(self, batch: WriteBatch, *, actor: str) -> int:
        if not actor.strip():
            raise ValueError("actor must name who makes the change")
        driver = self._connect()
        with translated_errors(self._uri), driver.session(database=self._database) as session:
            return int(session.execute_write(self._apply, batch, actor))

    def _apply(self, tx: ManagedTransaction, batch: WriteBatch, actor: str) -> int:
        ns = self._namespace
        revision = int(tx.run(cypher.lock_meta(ns)).single(strict=True)["seq"])
        now = datetime.now(UTC).isoformat(timespec="milliseconds")
        log: list[dict[str, Any]] = []

        def record(op: str, entity_id: str, before: Any, after: Any) -> None:
            log.append(
                {
                    "at": now,
                    "actor": actor,
                    "op": op,
                    "entity_id": entity_id,
                    "before": before,
                    "after": after,
                    "batch": revision + 1,  # the edit's id: the first seq of this write
                }
            )

        ids = list(dict.fromkeys(w.id for w in batch.upserts))
        existing = {
            r["id"]: (r["props"], int(r["version"]))
            for r in tx.run(cypher.existing_entities(ns), ids=ids)
        }
        rows: dict[EntityKind, list[dict[str, Any]]] = defaultdict(list)
        for w in batch.upserts:
            before = existing.get(w.id)
            version = before[1] if before else 0
            if w.expected_version is not None and w.expected_version != version:
                raise VersionConflict(w.id, w.expected_version, version)
            after = _dump(dict(w.properties))
            if before is not None and before[0] == after:
                continue
            existing[w.id] = (after, version + 1)
            name = w.properties.get("name")
            aliases = w.properties.get(ALIASES) if w.kind is not EntityKind.PRODUCT else None
            rows[w.kind].append(
                {
                    "id": w.id,
                    "props": after,
                    "version": version + 1,
                    "name": name if isinstance(name, str) else None,
                    "aliases": aliases if isinstance(aliases, list) and aliases else None,
                }
            )
            record("update" if before else "create", w.id, before[0] if before else None, after)
        for kind, kind_rows in rows.items():
            for start in range(0, len(kind_rows), _BATCH):
                query, params = cypher.upsert_entities(ns, kind, kind_rows[start : start + _BATCH])
                tx.run(query, **params).consume()

        if batch.deletes:
            gone = {
                r["id"]: r["props"]
                for r in tx.run(cypher.existing_entities(ns), ids=list(batch.deletes))
            }
            for eid in batch.deletes:
                if eid not in gone:
                    raise UnknownEntity(eid, "cannot delete it")
                record("delete", eid, gone[eid], None)
            query, params = cypher.delete_entities(ns, list(batch.deletes))
            tx.run(query, **params).consume()

        if batch.relate:
            self._relate(tx, batch.relate, record)
        for rtype, pairs in _by_type(batch.unrelate).items():
            query, params = cypher.delete_relations(ns, rtype, pairs)
            for r in tx.run(query, **params):
                record(
                    "unrelate",
                    r["source"],
                    _dump({"type": rtype.value, "target": r["target"]}),
                    None,
                )

        if log:
            for start in range(0, len(log), _BATCH):
                tx.run(cypher.append_changes(ns), changes=log[start : start + _BATCH]).consume()
        return revision + len(log)

    def _relate(self, tx: ManagedTransaction, relations: Sequence[Relation], record: Any) -> None:
        ns = self._namespace
        ends = list({e for r in relations for e in (r.source, r.target)})
        present = {r["id"] for r in tx.run(cypher.existing_entities(ns), ids=ends)}
        check_relations(relations, present)
        for rtype, pairs in _by_type(relations).items():
            for start in range(0, len(pairs), _BATCH):
                chunk = pairs[start : start + _BATCH]
                query, params = cypher.existing_relations(ns, rtype, chunk)
                have = {(r["source"], r["target"]) for r in tx.run(query, **params)}
                new = [p for p in chunk if (p[0], p[1]) not in have]
                if not new:
                    continue
                query, params = cypher.create_relations(ns, rtype, new)
                tx.run(query, **params).consume()
                for source, target in new:
                    record("relate", source, None, _dump({"type": rtype.value, "target": target}))
            if rtype is RelationType.SUBCATEGORY_OF:
                sources = [p[0] for p in pairs]
                cyclic = tx.run(cypher.category_cycle(ns), ids=sources).single()
                if cyclic is not None:
                    raise InvalidRelation(
                        f"making {cyclic['id']!r} a subcategory there creates a cycle"
                    )

    # -- reads ------------------------------------------------------------------------------

    def get(self, entity_id: str) -> Entity | None:
        rows = self._read(cypher.existing_entities(self._namespace), ids=[entity_id])
        return _entity(rows[0]) if rows else None

    def get_many(self, entity_ids: Sequence[str]) -> dict[str, Entity]:
        ids = list(dict.fromkeys(entity_ids))
        return {
            r["id"]: _entity(r)
            for r in self._read(cypher.existing_entities(self._namespace), ids=ids)
        }

    def entities(self, kind: EntityKind | None = None) -> Iterator[Entity]:
        query = cypher.entities(self._namespace, by_kind=kind is not None)
        return iter([_entity(r) for r in self._read(query, kind=kind.value if kind else None)])

    def count(self, kind: EntityKind | None = None) -> int:
        query = cypher.count(self._namespace, by_kind=kind is not None)
        return int(self._read(query, kind=kind.value if kind else None)[0]["n"])

    def relations(self, relation: RelationType | None = None) -> Iterator[Relation]:
        rows = self._read(cypher.relations(self._namespace, relation))
        return iter([Relation(r["source"], RelationType(r["type"]), r["target"]) for r in rows])

    def neighbours(
        self, entity_id: str, *, relation: RelationType | None = None, direction: Direction = "out"
    ) -> list[tuple[Relation, Entity]]:
        if direction not in ("out", "in", "both"):
            raise ValueError(f"direction must be out, in or both, not {direction!r}")
        if self.get(entity_id) is None:
            raise UnknownEntity(entity_id)
        rows = self._read(cypher.neighbours(self._namespace, relation, direction), id=entity_id)
        pairs = {
            (Relation(r["source"], RelationType(r["type"]), r["target"]), r["id"]): _entity(r)
            for r in rows
        }
        return sorted(
            ((rel, e) for (rel, _), e in pairs.items()), key=lambda p: (p[0].type, p[1].id)
        )

    def subgraph(self, entity_ids: Sequence[str], *, hops: int = 1, limit: int = 500) -> Subgraph:
        return bfs_subgraph(self, entity_ids, hops=hops, limit=limit)

    def paths(
        self, source: str, target: str, *, max_hops: int = 4, limit: int = 3
    ) -> list[list[Relation]]:
        for end in (source, target):
            if self.get(end) is None:
                raise UnknownEntity(end)
        if source == target:
            return []
        rows = self._read(
            cypher.shortest_paths(self._namespace, max_hops),
            source=source,
            target=target,
            limit=limit,
        )
        paths = [[Relation(s, RelationType(t), o) for s, t, o in r["rels"]] for r in rows]
        return sorted(paths, key=lambda p: [(r.source, r.target) for r in p])

    def paths_to(
        self, target: str, sources: Sequence[str], *, max_hops: int = 3, limit: int = 2
    ) -> dict[str, list[list[Relation]]]:
        if self.get(target) is None:
            raise UnknownEntity(target)
        rows = self._read(
            cypher.shortest_paths_to(self._namespace, max_hops),
            sources=[s for s in dict.fromkeys(sources) if s != target],
            target=target,
            limit=limit,
        )
        found: dict[str, list[list[Relation]]] = defaultdict(list)
        for r in rows:
            found[r["source"]].append([Relation(s, RelationType(t), o) for s, t, o in r["rels"]])
        return {
            s: sorted(paths, key=lambda p: [(x.source, x.target) for x in p])
            for s, paths in found.items()
        }

    def triples(self) -> Iterator[tuple[str, str, str]]:
        return ((r.source, r.type.value, r.target) for r in self.relations())

    def aliases(self) -> dict[str, tuple[str, ...]]:
        rows = self._read(cypher.aliases(self._namespace))
        return {r["id"]: tuple(r["aliases"]) for r in rows}

    def resolve_alias(self, alias: str) -> list[str]:
        rows = self._read(cypher.resolve_alias(self._namespace), alias=fold_alias(alias))
        return [r["id"] for r in rows]

    def changes(
        self, *, since: int = 0, entity_id: str | None = None, batch: int | None = None
    ) -> Iterator[Change]:
        rows = self._read(
            cypher.changes(
                self._namespace, by_entity=entity_id is not None, by_batch=batch is not None
            ),
            since=since,
            entity_id=entity_id,
            batch=batch,
        )
        return iter(
            [
                Change(
                    r["seq"],
                    r["at"],
                    r["actor"],
                    r["op"],
                    r["entity_id"],
                    json.loads(r["before"]) if r["before"] else None,
                    json.loads(r["after"]) if r["after"] else None,
                    r["batch"],
                )
                for r in rows
            ]
        )

    @property
    def revision(self) -> int:
        rows = self._read(cypher.read_meta(self._namespace))
        return int(rows[0]["seq"]) if rows else 0

    def drop(self) -> None:
        """Delete everything in this namespace, its constraints and indexes."""
        self._connect()
        self._run_auto(cypher.drop(self._namespace))
        self._schema_ready = False

    # -- shopper profiles: (:KG_<ns>_User:User)-[:AFFINITY {weight}]->(entity) -------------
    # Written without taking the namespace's meta lock: no revision bump, no change log.

    def _write_user(self, work: Any, *args: Any) -> Any:
        driver = self._connect()
        with translated_errors(self._uri), driver.session(database=self._database) as session:
            return session.execute_write(work, *args)

    def put_user_profile(
        self, user_id: str, affinities: Mapping[str, float], *, updated: float
    ) -> int:
        check_user_id(user_id)
        check_affinities(affinities, updated)
        rows = [{"target": t, "weight": float(w)} for t, w in affinities.items()]
        replace, create = cypher.put_user_profile(self._namespace)

        def work(tx: ManagedTransaction) -> int:
            tx.run(replace, id=user_id, updated=float(updated)).consume()
            if not rows:
                return 0
            record = tx.run(create, id=user_id, rows=rows).single()
            return int(record["n"]) if record is not None else 0

        return int(self._write_user(work))

    def user_profile(self, user_id: str) -> dict[str, float]:
        rows = self._read(cypher.user_profile(self._namespace), id=user_id)
        return {r["target"]: float(r["weight"]) for r in rows}

    def users(self) -> list[str]:
        return [r["id"] for r in self._read(cypher.users(self._namespace))]

    def delete_user(self, user_id: str) -> bool:
        query = cypher.delete_user(self._namespace)

        def work(tx: ManagedTransaction) -> int:
            record = tx.run(query, id=user_id).single()
            return int(record["n"]) if record is not None else 0

        return bool(self._write_user(work))

    def close(self) -> None:
        if self._driver is not None:
            self._driver.close()
            self._driver = None


def _by_type(relations: Sequence[Relation]) -> dict[RelationType, list[list[str]]]:
    grouped: dict[RelationType, list[list[str]]] = defaultdict(list)
    for rel in dict.fromkeys(relations):
        grouped[rel.type].append([rel.source, rel.target])
    return grouped
