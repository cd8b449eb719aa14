"""What every group of catalog operations shares: the store, the index, one edit lock,
version checks, and the write that turns store errors into catalog issues."""

from __future__ import annotations

import threading
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from catalogue.index import CatalogIndex
from catalogue.validation import CatalogError, Code, issue_from_store_error
from kg.schema import Entity, EntityKind, EntityWrite, JsonValue, Relation, WriteBatch, slug
from kg.store import GraphError, GraphStore

__all__ = ["EDIT_MARK", "RELATIONS_MARK", "Context", "EditResult", "public"]

#: Written into every entity an edit modifies: the version the edit produces. It makes
#: each edit change the properties, so the version always moves (a relation-only edit
#: would otherwise leave it, and a second editor holding the same version would win too).
EDIT_MARK = "_edit_version"
#: Written into an entity just before it is deleted, in the same batch: its relations, so
#: the delete's change-log entry holds them and an undo can restore them.
RELATIONS_MARK = "_deleted_relations"


def public(props: Mapping[str, JsonValue]) -> dict[str, JsonValue]:
    """Properties without the bookkeeping ones (``_``-prefixed)."""
    return {k: v for k, v in props.items() if not k.startswith("_")}


@dataclass(frozen=True, slots=True)
class EditResult:
    """What an edit did: the entity, its version after (``None`` once deleted), the
    store's revision after the write, and notes (e.g. relations an undo could not restore)."""

    entity_id: str
    version: int | None
    revision: int
    notes: tuple[str, ...] = ()
    written: bool = True

    def as_dict(self) -> dict[str, JsonValue]:
        return {
            "entity_id": self.entity_id,
            "version": self.version,
            "revision": self.revision,
            "written": self.written,
            "notes": list(self.notes),
        }


class Context:
    """The store, the index kept current from its change log, and the edit lock.

    Operations validate against the index and write under the lock, so in one process a
    check and its write are not interleaved with another edit; across processes the
    store's version checks and atomic batches hold."""

    def __init__(self, *, store: GraphStore, max_delete_share: float) -> None:
        if not 0.0 <= max_delete_share <= 1.0:
            raise ValueError("max_delete_share must be between 0 and 1")
        self.store = store
        self.max_delete_share = max_delete_share
        self.index = CatalogIndex()
        self._lock = threading.RLock()

    @contextmanager
    def editing(self) -> Iterator[CatalogIndex]:
        """Hold the edit lock with the index caught up with the store."""
        with self._lock:
            self.index.refresh(self.store)
            yield self.index

    # -- reads and checks -----------------------------------------------------------------

    def entity(self, eid: str, kind: EntityKind) -> Entity:
        found = self.store.get(eid)
        if found is None or found.kind is not kind:
            raise CatalogError.one(
                Code.NOT_FOUND,
                f"{kind.value.lower()} {eid!r} does not exist",
                entity_id=eid,
                field="id",
                rule="exists",
            )
        return found

    @staticmethod
    def check_version(entity: Entity, expected: int, *, field: str = "expected_version") -> None:
        if entity.version != expected:
            raise CatalogError.one(
                Code.VERSION_CONFLICT,
                f"{entity.id!r} is at version {entity.version}, not {expected}: it changed "
                "since you read it; read it again and re-apply your edit",
                entity_id=entity.id,
                field=field,
                rule="optimistic_concurrency",
            )

    @staticmethod
    def bumped(
        entity: Entity, props: Mapping[str, JsonValue], expected: int | None = None
    ) -> EntityWrite:
        """An upsert of ``entity`` with ``props``, conditional on the version read."""
        version = entity.version if expected is None else expected
        return EntityWrite(
            entity.id,
            entity.kind,
            {**props, EDIT_MARK: version + 1},
            expected_version=version,
        )

    @staticmethod
    def created(eid: str, kind: EntityKind, props: Mapping[str, JsonValue]) -> EntityWrite:
        return EntityWrite(eid, kind, {**props, EDIT_MARK: 1}, expected_version=0)

    def deletion(
        self, entity: Entity, relations: Sequence[Relation], expected: int | None = None
    ) -> WriteBatch:
        """A batch deleting ``entity`` that first records its relations in it."""
        snapshot: list[JsonValue] = [[r.source, r.type.value, r.target] for r in relations]
        props: dict[str, JsonValue] = {**entity.properties, RELATIONS_MARK: snapshot}
        return WriteBatch(upserts=(self.bumped(entity, props, expected),), deletes=(entity.id,))

    def fresh_id(self, base: str) -> str:
        """``base``, or ``base-2``, ``base-3``... if an entity holds that id already."""
        if not self.index.exists(base):
            return base
        n = 2
        while self.index.exists(f"{base}-{n}"):
            n += 1
        return f"{base}-{n}"

    @staticmethod
    def slug_of(text: str) -> str:
        return slug(text)

    # -- writes ---------------------------------------------------------------------------

    def write(self, batch: WriteBatch, *, actor: str, creates: Collection[str] = ()) -> int:
        """Write atomically; a store error becomes a :class:`CatalogError`."""
        if not actor.strip():
            raise CatalogError.one(
                Code.MISSING_FIELD, "actor must name who makes the change", field="actor"
            )
        try:
            return self.store.write(batch, actor=actor)
        except CatalogError:
            raise
        except GraphError as exc:
            raise CatalogError([issue_from_store_error(exc, created=creates)]) from exc

    def result(self, eid: str, revision: int, notes: Sequence[str] = ()) -> EditResult:
        after = self.store.get(eid)
        return EditResult(eid, after.version if after else None, revision, tuple(notes))

    def unchanged(self, entity: Entity, note: str) -> EditResult:
        return EditResult(entity.id, entity.version, self.store.revision, (note,), written=False)
