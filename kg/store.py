"""The ``GraphStore`` seam: what every graph backend (SQLite, Neo4j) provides."""

from __future__ import annotations

import math
import re
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable

from kg.schema import (
    RELATION_ENDPOINTS,
    Change,
    Entity,
    EntityKind,
    Relation,
    RelationType,
    WriteBatch,
    kind_of,
)

__all__ = [
    "USER_ID_PATTERN",
    "BackendError",
    "BackendUnavailable",
    "Direction",
    "GraphError",
    "GraphStore",
    "InvalidRelation",
    "Subgraph",
    "UnknownEntity",
    "VersionConflict",
    "bfs_subgraph",
    "check_affinities",
    "check_relations",
    "check_user_id",
]

Direction = Literal["out", "in", "both"]


class GraphError(Exception):
    """Base class of graph errors; ``code`` is stable for JSON error bodies."""

    code = "graph_error"


class UnknownEntity(GraphError, KeyError):
    code = "unknown_entity"

    def __init__(self, entity_id: str, context: str = "") -> None:
        self.entity_id = entity_id
        where = f" ({context})" if context else ""
        super().__init__(f"entity {entity_id!r} does not exist{where}")

    def __str__(self) -> str:
        return str(self.args[0])


class VersionConflict(GraphError):
    code = "version_conflict"

    def __init__(self, entity_id: str, expected: int, actual: int) -> None:
        self.entity_id, self.expected, self.actual = entity_id, expected, actual
        super().__init__(
            f"entity {entity_id!r} is at version {actual}, not {expected}: "
            "it changed since you read it; read it again and re-apply your edit"
        )


class InvalidRelation(GraphError, ValueError):
    code = "invalid_relation"


@dataclass(frozen=True, slots=True)
class Subgraph:
    entities: tuple[Entity, ...]
    relations: tuple[Relation, ...]


@runtime_checkable
class GraphStore(Protocol):
    """The product graph: source of truth, versioned per entity, with a change log."""

    def write(self, batch: WriteBatch, *, actor: str) -> int:
        """Apply ``batch`` atomically; return the store's revision after it.

        Raises :class:`UnknownEntity` (a relation to a missing entity, a delete of a
        missing entity), :class:`VersionConflict` or :class:`InvalidRelation`; on any
        error nothing of the batch is stored."""
        ...

    def get(self, entity_id: str) -> Entity | None: ...

    def get_many(self, entity_ids: Sequence[str]) -> dict[str, Entity]: ...

    def entities(self, kind: EntityKind | None = None) -> Iterator[Entity]: ...

    def count(self, kind: EntityKind | None = None) -> int: ...

    def relations(self, relation: RelationType | None = None) -> Iterator[Relation]: ...

    def neighbours(
        self, entity_id: str, *, relation: RelationType | None = None, direction: Direction = "out"
    ) -> list[tuple[Relation, Entity]]: ...

    def subgraph(
        self, entity_ids: Sequence[str], *, hops: int = 1, limit: int = 500
    ) -> Subgraph: ...

    def paths(
        self, source: str, target: str, *, max_hops: int = 4, limit: int = 3
    ) -> list[list[Relation]]:
        """Up to ``limit`` of the shortest paths (all of the same, minimal length; direction
        ignored), each a list of relations; ``[]`` when the shortest is over ``max_hops``."""
        ...

    def paths_to(
        self, target: str, sources: Sequence[str], *, max_hops: int = 3, limit: int = 2
    ) -> dict[str, list[list[Relation]]]:
        """For each of ``sources`` (a query's linked entities, say), up to ``limit`` of its
        shortest paths to ``target`` that pass through no other product, each a list of
        relations from the source (direction ignored): how the target itself relates to
        the source (its facts, the category tree), not what it shares with another
        product. Sources with no such path within ``max_hops``, not in the store, or equal
        to ``target`` are left out; raises :class:`UnknownEntity` for an unknown
        ``target``. One round trip on a server backend, not one per source."""
        ...

    def triples(self) -> Iterator[tuple[str, str, str]]: ...

    # -- aliases: the ``aliases`` property of brands, categories and attribute values -------
    # Written like any property (versioned, logged); these reads answer without a scan of
    # the caller's. The stored aliases are folded (kg.schema.fold_alias); products have none.

    def aliases(self) -> dict[str, tuple[str, ...]]:
        """Every non-product entity that carries aliases -> its aliases, by entity id."""
        ...

    def resolve_alias(self, alias: str) -> list[str]:
        """The ids of the entities carrying ``alias`` (folded first), sorted; ``[]`` if none."""
        ...

    def changes(
        self, *, since: int = 0, entity_id: str | None = None, batch: int | None = None
    ) -> Iterator[Change]:
        """The change log after ``since``, oldest first; only ``entity_id``'s changes, and
        only the changes of the edit ``batch`` (:attr:`Change.batch`: one ``write``), when
        given."""
        ...

    @property
    def revision(self) -> int:
        """The sequence number of the last change (0 for an empty store)."""
        ...

    def drop(self) -> None:
        """Delete every entity, relation, change and user profile of this store (its
        revision restarts at 0); the store stays usable. For wiping a demo or a test."""
        ...

    # -- shopper profiles: user nodes with weighted AFFINITY edges to entities -------------
    # They are not catalogue edits: they neither bump the revision nor enter the change log,
    # and entities(), relations(), neighbours() and paths() never see them.

    def put_user_profile(
        self, user_id: str, affinities: Mapping[str, float], *, updated: float
    ) -> int:
        """Replace the user's affinity edges with ``affinities`` (entity id -> weight in
        (0, 1]); entities not in the graph (deleted since) are skipped. Returns how many
        edges are stored. Raises ``ValueError`` for a malformed user id or weight."""
        ...

    def user_profile(self, user_id: str) -> dict[str, float]:
        """The user's affinity edges, strongest first; ``{}`` for an unknown user."""
        ...

    def users(self) -> list[str]:
        """Every user with a stored profile, sorted."""
        ...

    def delete_user(self, user_id: str) -> bool:
        """Erase the user's node and edges; ``False`` when there was none."""
        ...

    def close(self) -> None: ...


class BackendUnavailable(RuntimeError):
    """A backend server (Neo4j, Elasticsearch) cannot be reached or timed out after retries.

    Raised by every production backend, not only graph ones; the API answers 503."""

    code = "backend_unavailable"

    def __init__(self, backend: str, detail: str) -> None:
        self.backend = backend
        super().__init__(f"{backend} is unavailable: {detail}")


class BackendError(RuntimeError):
    """A backend server answered, but with an error that retrying will not fix (a query it
    refuses, an authentication failure): the API answers 502 naming the backend."""

    code = "backend_error"

    def __init__(self, backend: str, detail: str) -> None:
        self.backend = backend
        super().__init__(f"{backend} answered with an error: {detail}")


def bfs_subgraph(
    store: GraphStore, entity_ids: Sequence[str], *, hops: int, limit: int
) -> Subgraph:
    """Breadth-first ``hops`` around ``entity_ids`` (both directions), at most ``limit``
    entities; shared by the backends, which differ only in how they fetch neighbours."""
    if hops < 0 or limit < 1:
        raise ValueError("hops must be >= 0 and limit >= 1")
    found = store.get_many(entity_ids)
    missing = [i for i in entity_ids if i not in found]
    if missing:
        raise UnknownEntity(missing[0])
    seen: dict[str, Entity] = {i: found[i] for i in entity_ids}
    relations: set[Relation] = set()
    frontier = list(seen)
    for _ in range(hops):
        nxt: list[str] = []
        for node in frontier:
            for rel, other in store.neighbours(node, direction="both"):
                if other.id not in seen:
                    if len(seen) >= limit:
                        continue
                    seen[other.id] = other
                    nxt.append(other.id)
                relations.add(rel)
        frontier = nxt
    rels = tuple(sorted(r for r in relations if r.source in seen and r.target in seen))
    return Subgraph(tuple(seen.values()), rels)


#: The allowed form of a user id (the same rule as the events'); the API answers 422 otherwise.
USER_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:@-]{0,127}$")


def check_user_id(user_id: str) -> str:
    """Return ``user_id`` if it has the allowed form, else raise ``ValueError`` saying it."""
    if not isinstance(user_id, str) or not USER_ID_PATTERN.fullmatch(user_id):
        raise ValueError(
            f"user id {user_id!r} is not of the allowed form: 1-128 characters, letters, digits "
            "and _ . : @ -, starting with a letter or digit"
        )
    return user_id


def check_affinities(affinities: Mapping[str, float], updated: float) -> None:
    """Refuse weights outside (0, 1] and a non-finite ``updated``; shared by the backends."""
    if not math.isfinite(updated):
        raise ValueError(f"updated must be a finite timestamp, not {updated}")
    bad = {k: w for k, w in affinities.items() if not (0.0 < w <= 1.0)}
    if bad:
        sample = dict(list(bad.items())[:3])
        raise ValueError(f"affinity weights must be in (0, 1]; got {sample}")


def check_relations(relations: Sequence[Relation], present: Collection[str]) -> None:
    """Refuse relations between the wrong kinds of entity, or to an entity not in
    ``present`` (the ids the backend found); shared by every graph backend."""
    for rel in relations:
        want_source, want_target = RELATION_ENDPOINTS[rel.type]
        for end, want in ((rel.source, want_source), (rel.target, want_target)):
            try:
                kind = kind_of(end)
            except ValueError as exc:
                raise InvalidRelation(str(exc)) from None
            if kind is not want:
                raise InvalidRelation(
                    f"{rel.type} connects {want_source} -> {want_target}; {end!r} is a {kind}"
                )
    for rel in relations:
        for end in (rel.source, rel.target):
            if end not in present:
                raise UnknownEntity(end, f"in relation {rel.source} -{rel.type}-> {rel.target}")
