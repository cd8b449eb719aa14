"""Cypher for the Neo4j graph store, built by pure functions (unit-tested as strings).

Every node of a store lives under one namespace label (``KG_<namespace>``), so several
stores (one per test, or staging beside live) share a database without seeing each
other. Labels and relationship types are never taken from user input: namespaces are
validated, kinds and relation types come from the schema's enums.
"""

from __future__ import annotations

import re
from typing import Any

from kg.schema import EntityKind, RelationType

__all__ = [
    "Statement",
    "constraints",
    "create_relations",
    "existing_relations",
    "label",
    "upsert_entities",
]

Statement = tuple[str, dict[str, Any]]

_NAMESPACE = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,40}$")


def label(namespace: str) -> str:
    if not _NAMESPACE.match(namespace):
        raise ValueError(
            f"namespace {namespace!r} must start with a letter and hold only letters, "
            "digits and underscores (at most 41 characters)"
        )
    return f"KG_{namespace}"


def meta_label(namespace: str) -> str:
    return f"{label(namespace)}_Meta"


def change_label(namespace: str) -> str:
    return f"{label(namespace)}_Change"


def user_label(namespace: str) -> str:
    """Shopper nodes: ``(:KG_<ns>_User:User {id, updated})-[:AFFINITY {weight}]->(entity)``.
    Not under the namespace's entity label, so entity reads and paths never meet them."""
    return f"{label(namespace)}_User"


#: The relationship type of a shopper's weighted edges (not a catalogue :class:`RelationType`).
AFFINITY = "AFFINITY"


def constraints(namespace: str) -> list[str]:
    ns = label(namespace)
    return [
        f"CREATE CONSTRAINT {ns.lower()}_id IF NOT EXISTS FOR (n:{ns}) REQUIRE n.id IS UNIQUE",
        f"CREATE CONSTRAINT {ns.lower()}_change_seq IF NOT EXISTS "
        f"FOR (c:{change_label(namespace)}) REQUIRE c.seq IS UNIQUE",
        f"CREATE CONSTRAINT {ns.lower()}_meta_key IF NOT EXISTS "
        f"FOR (m:{meta_label(namespace)}) REQUIRE m.key IS UNIQUE",
        f"CREATE INDEX {ns.lower()}_kind IF NOT EXISTS FOR (n:{ns}) ON (n.kind)",
        f"CREATE INDEX {ns.lower()}_change_entity IF NOT EXISTS "
        f"FOR (c:{change_label(namespace)}) ON (c.entity_id)",
        f"CREATE CONSTRAINT {ns.lower()}_user_id IF NOT EXISTS "
        f"FOR (u:{user_label(namespace)}) REQUIRE u.id IS UNIQUE",
    ]


def lock_meta(namespace: str) -> str:
    """Take the namespace's write lock: every writer updates the one meta node first."""
    return (
        f"MERGE (m:{meta_label(namespace)} {{key: 'meta'}}) "
        "ON CREATE SET m.seq = 0 SET m.writes = coalesce(m.writes, 0) + 1 RETURN m.seq AS seq"
    )


def read_meta(namespace: str) -> str:
    return f"MATCH (m:{meta_label(namespace)} {{key: 'meta'}}) RETURN m.seq AS seq"


def existing_entities(namespace: str) -> str:
    return (
        f"UNWIND $ids AS id MATCH (n:{label(namespace)} {{id: id}}) "
        "RETURN n.id AS id, n.kind AS kind, n.props AS props, n.version AS version"
    )


def upsert_entities(namespace: str, kind: EntityKind, rows: list[dict[str, Any]]) -> Statement:
    """``rows``: ``{id, props (JSON text), name, aliases, version}``; one kind per
    statement. ``name`` and ``aliases`` (a list of folded texts, or null) are copies of
    properties kept as native ones, so Cypher can match them (``'couch' IN n.aliases``)."""
    query = (
        f"UNWIND $rows AS r MERGE (n:{label(namespace)} {{id: r.id}}) "
        f"SET n:{kind.value}, n.kind = $kind, n.props = r.props, n.name = r.name, "
        "n.aliases = r.aliases, n.version = r.version"
    )
    return query, {"rows": rows, "kind": kind.value}


def delete_entities(namespace: str, ids: list[str]) -> Statement:
    return (
        f"UNWIND $ids AS id MATCH (n:{label(namespace)} {{id: id}}) DETACH DELETE n",
        {"ids": ids},
    )


def _from_source(namespace: str, rel: str) -> str:
    """``(a)-[rel]->(b)`` for a ``[source id, target id]`` pair ``p``, walked from the
    source: a seek on ``a``'s id (the hint), then ``a``'s few relations, keeping the
    one to ``b``. Without the hint the planner scanned the whole id index once per pair
    (it will not seek on ``p[0]`` on its own), or sought ``b`` and walked all of a
    popular attribute value's products: a 50k import on Neo4j spent minutes in one
    batch of this check (2026-12-02). Every source kind (product, child category) has a
    handful of relations; targets can have thousands. ``b`` needs no label: a relation
    only ever joins two entities of one namespace (:func:`create_relations`)."""
    ns = label(namespace)
    return (
        f"UNWIND $pairs AS p MATCH (a:{ns} {{id: p[0]}})-{rel}->(b) "
        f"USING INDEX SEEK a:{ns}(id) WHERE b.id = p[1] "
    )


def existing_relations(namespace: str, rtype: RelationType, pairs: list[list[str]]) -> Statement:
    return (
        _from_source(namespace, f"[:{rtype.value}]") + "RETURN a.id AS source, b.id AS target",
        {"pairs": pairs},
    )


def create_relations(namespace: str, rtype: RelationType, pairs: list[list[str]]) -> Statement:
    ns = label(namespace)
    return (
        f"UNWIND $pairs AS p MATCH (a:{ns} {{id: p[0]}}), (b:{ns} {{id: p[1]}}) "
        f"CREATE (a)-[:{rtype.value}]->(b)",
        {"pairs": pairs},
    )


def delete_relations(namespace: str, rtype: RelationType, pairs: list[list[str]]) -> Statement:
    return (
        _from_source(namespace, f"[r:{rtype.value}]")
        + "DELETE r RETURN a.id AS source, b.id AS target",
        {"pairs": pairs},
    )


def category_cycle(namespace: str) -> str:
    ns = label(namespace)
    return (
        f"UNWIND $ids AS id MATCH (c:{ns} {{id: id}}) "
        f"WHERE EXISTS {{ MATCH (c)-[:{RelationType.SUBCATEGORY_OF.value}*1..64]->(c) }} "
        "RETURN c.id AS id LIMIT 1"
    )


def append_changes(namespace: str) -> str:
    return (
        f"MATCH (m:{meta_label(namespace)} {{key: 'meta'}}) "
        "SET m.seq = m.seq + size($changes) WITH m, m.seq - size($changes) AS base "
        f"UNWIND range(0, size($changes) - 1) AS i WITH base, i, $changes[i] AS c "
        f"CREATE (:{change_label(namespace)} {{seq: base + i + 1, at: c.at, actor: c.actor, "
        "op: c.op, entity_id: c.entity_id, before: c.before, after: c.after, batch: c.batch})"
    )


def entities(namespace: str, *, by_kind: bool) -> str:
    where = "WHERE n.kind = $kind " if by_kind else ""
    return (
        f"MATCH (n:{label(namespace)}) {where}"
        "RETURN n.id AS id, n.kind AS kind, n.props AS props, n.version AS version ORDER BY n.id"
    )


def aliases(namespace: str) -> str:
    """Every non-product entity with aliases, and its aliases (the native list property)."""
    return (
        f"MATCH (n:{label(namespace)}) WHERE n.kind <> 'Product' AND size(n.aliases) > 0 "
        "RETURN n.id AS id, n.aliases AS aliases ORDER BY n.id"
    )


def resolve_alias(namespace: str) -> str:
    """The entities whose aliases hold ``$alias`` (already folded)."""
    return (
        f"MATCH (n:{label(namespace)}) WHERE n.kind <> 'Product' AND $alias IN n.aliases "
        "RETURN n.id AS id ORDER BY n.id"
    )


def count(namespace: str, *, by_kind: bool) -> str:
    where = "WHERE n.kind = $kind " if by_kind else ""
    return f"MATCH (n:{label(namespace)}) {where}RETURN count(n) AS n"


def relations(namespace: str, rtype: RelationType | None) -> str:
    ns = label(namespace)
    rel = f"[r:{rtype.value}]" if rtype else "[r]"
    return (
        f"MATCH (a:{ns})-{rel}->(b:{ns}) "
        "RETURN a.id AS source, type(r) AS type, b.id AS target ORDER BY source, type, target"
    )


def neighbours(namespace: str, rtype: RelationType | None, direction: str) -> str:
    ns = label(namespace)
    rel = f"[r:{rtype.value}]" if rtype else "[r]"
    pattern = {
        "out": f"(a:{ns} {{id: $id}})-{rel}->(b:{ns})",
        "in": f"(a:{ns} {{id: $id}})<-{rel}-(b:{ns})",
        "both": f"(a:{ns} {{id: $id}})-{rel}-(b:{ns})",
    }[direction]
    return (
        f"MATCH {pattern} RETURN startNode(r).id AS source, type(r) AS type, "
        "endNode(r).id AS target, b.id AS id, b.kind AS kind, b.props AS props, "
        "b.version AS version"
    )


_CATALOGUE_TYPES = "|".join(t.value for t in RelationType)


def shortest_paths(namespace: str, max_hops: int) -> str:
    if not 1 <= max_hops <= 10:
        raise ValueError("max_hops must be between 1 and 10")
    ns = label(namespace)
    return (
        f"MATCH (a:{ns} {{id: $source}}), (b:{ns} {{id: $target}}) "
        f"MATCH p = allShortestPaths((a)-[:{_CATALOGUE_TYPES}*..{max_hops}]-(b)) "
        "RETURN [r IN relationships(p) | [startNode(r).id, type(r), endNode(r).id]] AS rels "
        "LIMIT $limit"
    )


def shortest_paths_to(namespace: str, max_hops: int) -> str:
    """Up to ``$limit`` shortest paths from each of ``$sources`` to ``$target`` through no
    other product, in one query."""
    if not 1 <= max_hops <= 10:
        raise ValueError("max_hops must be between 1 and 10")
    ns = label(namespace)
    return (
        f"MATCH (b:{ns} {{id: $target}}) UNWIND $sources AS source "
        f"MATCH (a:{ns} {{id: source}}) "
        "CALL (a, b) { "
        f"MATCH p = allShortestPaths((a)-[:{_CATALOGUE_TYPES}*..{max_hops}]-(b)) "
        "WHERE none(n IN nodes(p)[1..-1] WHERE n.kind = 'Product') "
        "RETURN p LIMIT $limit } "
        "RETURN a.id AS source, "
        "[r IN relationships(p) | [startNode(r).id, type(r), endNode(r).id]] AS rels"
    )


def changes(namespace: str, *, by_entity: bool, by_batch: bool = False) -> str:
    """The change log after ``$since``; changes logged before edits had ids (no ``batch``)
    read as one edit each."""
    where = " AND c.entity_id = $entity_id" if by_entity else ""
    if by_batch:  # an edit's rows start at its id
        where += " AND c.seq >= $batch AND coalesce(c.batch, c.seq) = $batch"
    return (
        f"MATCH (c:{change_label(namespace)}) WHERE c.seq > $since{where} "
        "RETURN c.seq AS seq, c.at AS at, c.actor AS actor, c.op AS op, "
        "c.entity_id AS entity_id, c.before AS before, c.after AS after, "
        "coalesce(c.batch, c.seq) AS batch ORDER BY c.seq"
    )


def drop(namespace: str) -> list[str]:
    """Statements that remove a namespace entirely (batched deletes, then its schema)."""
    ns = label(namespace)
    out = [
        f"MATCH (n:{lbl}) CALL (n) {{ DETACH DELETE n }} IN TRANSACTIONS OF 10000 ROWS"
        for lbl in (ns, change_label(namespace), meta_label(namespace), user_label(namespace))
    ]
    out += [
        f"DROP CONSTRAINT {ns.lower()}_id IF EXISTS",
        f"DROP CONSTRAINT {ns.lower()}_change_seq IF EXISTS",
        f"DROP CONSTRAINT {ns.lower()}_meta_key IF EXISTS",
        f"DROP INDEX {ns.lower()}_kind IF EXISTS",
        f"DROP INDEX {ns.lower()}_change_entity IF EXISTS",
        f"DROP CONSTRAINT {ns.lower()}_user_id IF EXISTS",
    ]
    return out


def put_user_profile(namespace: str) -> list[str]:
    """Statements (one transaction) that replace a user's affinity edges: ``$id``,
    ``$updated``, ``$rows`` (``{target, weight}``); the last returns how many were stored."""
    users, ns = user_label(namespace), label(namespace)
    return [
        f"MERGE (u:{users} {{id: $id}}) SET u:User, u.updated = $updated "
        f"WITH u OPTIONAL MATCH (u)-[a:{AFFINITY}]->() DELETE a",
        f"MATCH (u:{users} {{id: $id}}) UNWIND $rows AS r MATCH (e:{ns} {{id: r.target}}) "
        f"CREATE (u)-[:{AFFINITY} {{weight: r.weight}}]->(e) RETURN count(*) AS n",
    ]


def user_profile(namespace: str) -> str:
    return (
        f"MATCH (:{user_label(namespace)} {{id: $id}})-[a:{AFFINITY}]->(e:{label(namespace)}) "
        "RETURN e.id AS target, a.weight AS weight ORDER BY weight DESC, target"
    )


def users(namespace: str) -> str:
    return f"MATCH (u:{user_label(namespace)}) RETURN u.id AS id ORDER BY id"


def delete_user(namespace: str) -> str:
    return f"MATCH (u:{user_label(namespace)} {{id: $id}}) DETACH DELETE u RETURN count(*) AS n"
