"""Aliases: other words shoppers use for a brand, category (a product class is a leaf
category) or attribute value (``couch`` for Sofas, ``tap`` for Faucets).

An alias is an entity property (:data:`~kg.schema.ALIASES`, a list of folded texts), so it
is written like any other edit: one atomic batch, conditional on the version the editor
read, in the change log, undone by ``ops.history.undo``. Search picks the aliases up from
the graph on its next sync (entity linking and query expansion), without a reindex.

Rules, checked before anything is written (texts are compared folded: case, accents and
spaces do not count):

- an alias that is another entity's name (or attribute value) or another entity's alias
  would make a query word ambiguous: ``alias_taken`` (409), naming both entities;
- an alias that is the entity's own name says nothing: ``invalid_value`` (422);
- an alias that is the name of an entity which itself has this entity's name as an alias
  (``couch`` -> Sofas while Couches has the alias ``sofas``) would send each word to the
  other: ``alias_cycle`` (422).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from catalogue.context import Context, EditResult
from catalogue.index import CatalogIndex
from catalogue.validation import CatalogError, Code, Issue
from kg.schema import (
    ALIASES,
    Entity,
    EntityKind,
    JsonValue,
    WriteBatch,
    fold_alias,
    kind_of,
)

__all__ = ["ALIAS_KINDS", "MAX_ALIASES", "MAX_ALIAS_CHARS", "AliasOps", "AliasView", "alias_issues"]

#: The kinds of entity that carry aliases (a product class is a leaf category).
ALIAS_KINDS = (EntityKind.BRAND, EntityKind.CATEGORY, EntityKind.ATTRIBUTE_VALUE)
MAX_ALIAS_CHARS = 100
MAX_ALIASES = 50


@dataclass(frozen=True, slots=True)
class AliasView:
    """An entity's aliases as an editor sees them, with the version to edit them at."""

    entity_id: str
    kind: EntityKind
    name: str
    aliases: tuple[str, ...]
    version: int

    def as_dict(self) -> dict[str, JsonValue]:
        return {
            "entity_id": self.entity_id,
            "kind": self.kind.value,
            "name": self.name,
            "aliases": list(self.aliases),
            "version": self.version,
        }


def _name_of(idx: CatalogIndex, eid: str) -> str:
    """The text an entity is known by: a brand's or category's name, a value's value."""
    if eid in idx.attribute:
        return idx.attribute[eid][1]
    return idx.names.get(eid, "")


def _stored(entity: Entity) -> tuple[str, ...]:
    value = entity.properties.get(ALIASES)
    return tuple(a for a in value if isinstance(a, str)) if isinstance(value, list) else ()


def _text(value: object, eid: str) -> str:
    """One alias as typed -> folded, or a 422 saying what is wrong with it."""
    if not isinstance(value, str) or not fold_alias(value):
        raise CatalogError.one(
            Code.INVALID_VALUE,
            "an alias must be non-empty text",
            entity_id=eid,
            field="alias",
            rule="required",
        )
    if len(value) > MAX_ALIAS_CHARS or any(ord(c) < 32 for c in value):
        raise CatalogError.one(
            Code.INVALID_VALUE,
            f"an alias must be at most {MAX_ALIAS_CHARS} characters without control characters",
            entity_id=eid,
            field="alias",
            rule="length",
        )
    return fold_alias(value)


class _Holders:
    """Who holds each folded text in the catalogue: as a name, as an alias."""

    def __init__(self, idx: CatalogIndex, aliases: Mapping[str, Iterable[str]]) -> None:
        self.names: dict[str, set[str]] = defaultdict(set)
        for eid, kind in idx.kinds.items():
            if kind in ALIAS_KINDS:
                name = fold_alias(_name_of(idx, eid))
                if name:
                    self.names[name].add(eid)
        self.aliases: dict[str, set[str]] = defaultdict(set)
        self.of: dict[str, set[str]] = {}
        for eid, texts in aliases.items():
            self.of[eid] = set(texts)
            for text in texts:
                self.aliases[text].add(eid)


def alias_issues(
    idx: CatalogIndex,
    aliases: Mapping[str, Iterable[str]],
    eid: str,
    wanted: Iterable[str],
    *,
    field: str = "alias",
) -> list[Issue]:
    """The rules of the module docstring for ``eid`` carrying the folded aliases
    ``wanted``, given every entity's current ``aliases`` (the store's)."""
    holders = _Holders(idx, aliases)
    own = fold_alias(_name_of(idx, eid))
    issues: list[Issue] = []
    for text in wanted:
        if text == own:
            issues.append(
                Issue(
                    Code.INVALID_VALUE,
                    f"alias {text!r} is the name of {eid} itself; an alias is another word for it",
                    eid,
                    field,
                    "alias_not_own_name",
                )
            )
            continue
        named = sorted(holders.names.get(text, set()) - {eid})
        cyclic = [other for other in named if own and own in holders.of.get(other, set())]
        if cyclic:
            issues.append(
                Issue(
                    Code.ALIAS_CYCLE,
                    f"alias {text!r} of {eid} is the name of {cyclic[0]}, which has "
                    f"{eid}'s name {own!r} as an alias: each would send shoppers to the "
                    f"other; remove the alias {own!r} from {cyclic[0]} first",
                    eid,
                    field,
                    "alias_acyclic",
                )
            )
            continue
        taken = named or sorted(holders.aliases.get(text, set()) - {eid})
        if taken:
            how = "the name" if named else "an alias"
            issues.append(
                Issue(
                    Code.ALIAS_TAKEN,
                    f"alias {text!r} of {eid} is {how} of {taken[0]} already; a query word "
                    "must lead to one entity (remove it there, or merge the two)",
                    taken[0],
                    field,
                    "alias_unique",
                )
            )
    return issues


class AliasOps:
    """List, add, remove and replace the aliases of brands, categories and values."""

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx

    def list(self) -> list[AliasView]:
        """Every entity that has aliases, by id."""
        with self._ctx.editing():
            found = self._ctx.store.get_many(sorted(self._ctx.store.aliases()))
            return [self._view(e) for e in sorted(found.values(), key=lambda e: e.id)]

    def get(self, eid: str) -> AliasView:
        with self._ctx.editing():
            return self._view(self._entity(eid))

    def add(self, eid: str, alias: object, *, expected_version: int, actor: str) -> EditResult:
        """Give the entity one more alias (already there: nothing is written)."""
        text = _text(alias, eid)
        with self._ctx.editing():
            current = _stored(self._entity(eid))
        if text in current:
            return self._ctx.unchanged(self._entity(eid), "alias already there")
        return self.replace(eid, [*current, text], expected_version=expected_version, actor=actor)

    def remove(self, eid: str, alias: object, *, expected_version: int, actor: str) -> EditResult:
        text = _text(alias, eid)
        with self._ctx.editing():
            current = _stored(self._entity(eid))
        if text not in current:
            raise CatalogError.one(
                Code.NOT_FOUND,
                f"{eid} has no alias {text!r} (it has {list(current)})",
                entity_id=eid,
                field="alias",
                rule="exists",
            )
        rest = [a for a in current if a != text]
        return self.replace(eid, rest, expected_version=expected_version, actor=actor)

    def replace(
        self, eid: str, aliases: object, *, expected_version: int, actor: str
    ) -> EditResult:
        """Set the entity's aliases to ``aliases`` (folded, duplicates dropped, sorted)."""
        if not isinstance(aliases, list | tuple):
            raise CatalogError.one(
                Code.INVALID_VALUE,
                "aliases must be a list of texts",
                entity_id=eid,
                field="aliases",
                rule="type",
            )
        wanted = sorted({_text(a, eid) for a in aliases})
        if len(wanted) > MAX_ALIASES:
            raise CatalogError.one(
                Code.INVALID_VALUE,
                f"an entity has at most {MAX_ALIASES} aliases, not {len(wanted)}",
                entity_id=eid,
                field="aliases",
                rule="count",
            )
        with self._ctx.editing() as idx:
            entity = self._entity(eid)
            self._ctx.check_version(entity, expected_version)
            if list(_stored(entity)) == wanted:
                return self._ctx.unchanged(entity, "same aliases")
            issues = alias_issues(idx, self._ctx.store.aliases(), eid, wanted)
            if issues:
                raise CatalogError(issues)
            props: dict[str, JsonValue] = dict(entity.properties)
            if wanted:
                props[ALIASES] = list(wanted)
            else:
                props.pop(ALIASES, None)
            batch = WriteBatch(upserts=(self._ctx.bumped(entity, props),))
            return self._ctx.result(eid, self._ctx.write(batch, actor=actor))

    # -- helpers ----------------------------------------------------------------------------

    def _entity(self, eid: str) -> Entity:
        try:
            kind = kind_of(eid)
        except ValueError as exc:
            raise CatalogError.one(
                Code.INVALID_VALUE, str(exc), entity_id=eid, field="id", rule="id_form"
            ) from None
        if kind not in ALIAS_KINDS:
            raise CatalogError.one(
                Code.INVALID_VALUE,
                f"{eid} is a {kind.value}; aliases belong to brands, categories and "
                "attribute values (a product is found by its own words)",
                entity_id=eid,
                field="id",
                rule="alias_kinds",
            )
        return self._ctx.entity(eid, kind)

    def _view(self, entity: Entity) -> AliasView:
        return AliasView(
            entity.id,
            entity.kind,
            _name_of(self._ctx.index, entity.id),
            _stored(entity),
            entity.version,
        )
