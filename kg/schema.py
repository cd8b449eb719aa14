"""The product graph's schema: entity kinds, relation types and the small value types
every :class:`~kg.store.GraphStore` backend reads and writes.

Entity ids are strings with a kind prefix (``product:P000123``, ``brand:oakhaven``,
``category:furniture/living-room-furniture``, ``attr:color=blue``) so they are stable
across backends and never database-internal ids.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal, TypeAlias

__all__ = [
    "ALIASES",
    "Change",
    "Entity",
    "EntityKind",
    "EntityWrite",
    "JsonValue",
    "Relation",
    "RelationType",
    "WriteBatch",
    "attribute_id",
    "brand_id",
    "category_id",
    "check_aliases_property",
    "fold_alias",
    "product_id",
    "slug",
]

JsonValue: TypeAlias = str | int | float | bool | list["JsonValue"] | dict[str, "JsonValue"] | None


class EntityKind(StrEnum):
    PRODUCT = "Product"
    BRAND = "Brand"
    CATEGORY = "Category"
    ATTRIBUTE_VALUE = "AttributeValue"


class RelationType(StrEnum):
    HAS_BRAND = "HAS_BRAND"  # Product -> Brand
    IN_CATEGORY = "IN_CATEGORY"  # Product -> Category (its leaf)
    SUBCATEGORY_OF = "SUBCATEGORY_OF"  # Category -> parent Category
    HAS_ATTRIBUTE = "HAS_ATTRIBUTE"  # Product -> AttributeValue


#: Which kinds each relation may connect (source kind, target kind).
RELATION_ENDPOINTS: Mapping[RelationType, tuple[EntityKind, EntityKind]] = {
    RelationType.HAS_BRAND: (EntityKind.PRODUCT, EntityKind.BRAND),
    RelationType.IN_CATEGORY: (EntityKind.PRODUCT, EntityKind.CATEGORY),
    RelationType.SUBCATEGORY_OF: (EntityKind.CATEGORY, EntityKind.CATEGORY),
    RelationType.HAS_ATTRIBUTE: (EntityKind.PRODUCT, EntityKind.ATTRIBUTE_VALUE),
}

_PREFIX: Mapping[EntityKind, str] = {
    EntityKind.PRODUCT: "product:",
    EntityKind.BRAND: "brand:",
    EntityKind.CATEGORY: "category:",
    EntityKind.ATTRIBUTE_VALUE: "attr:",
}


def slug(text: str) -> str:
    """Lowercase ASCII slug: ``"Chairs & Seating"`` -> ``"chairs-seating"``."""
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", folded.lower()).strip("-") or "x"


#: The property under which a brand, category or attribute value keeps its aliases: a list
#: of distinct folded texts (see :func:`fold_alias`); products carry none.
ALIASES = "aliases"

_SPACES = re.compile(r"\s+")


def fold_alias(text: str) -> str:
    """How an alias is stored and compared: NFKD with the accents dropped, lowercase,
    spaces collapsed (``" Canapé  Lit "`` -> ``"canape lit"``). The same folding as the
    search analyser's first step, so a stored alias meets the query words it should."""
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    return _SPACES.sub(" ", folded).strip()


def check_aliases_property(entity_id: str, value: JsonValue) -> tuple[str, ...]:
    """The aliases an entity's ``aliases`` property holds; ``ValueError`` saying what is
    wrong when it is not a list of distinct, non-empty, folded texts."""
    if not isinstance(value, list):
        raise ValueError(f"{entity_id}: {ALIASES} must be a list of texts, not {value!r}")
    texts = [a for a in value if isinstance(a, str)]
    if len(texts) != len(value):
        raise ValueError(f"{entity_id}: {ALIASES} must be a list of texts, not {value!r}")
    bad = [a for a in texts if not a or fold_alias(a) != a]
    if bad:
        raise ValueError(
            f"{entity_id}: alias {bad[0]!r} is not folded; store fold_alias(text) "
            f"({fold_alias(bad[0])!r})"
        )
    if len(set(texts)) != len(texts):
        raise ValueError(f"{entity_id}: {ALIASES} lists an alias twice: {texts!r}")
    return tuple(texts)


def product_id(pid: str) -> str:
    return f"product:{pid}"


def brand_id(name: str) -> str:
    return f"brand:{slug(name)}"


def category_id(path: tuple[str, ...]) -> str:
    return "category:" + "/".join(slug(p) for p in path)


def attribute_id(key: str, value: str) -> str:
    return f"attr:{slug(key)}={slug(value)}"


def kind_of(entity_id: str) -> EntityKind:
    for kind, prefix in _PREFIX.items():
        if entity_id.startswith(prefix):
            return kind
    raise ValueError(
        f"entity id {entity_id!r} has no known kind prefix (one of {sorted(_PREFIX.values())})"
    )


@dataclass(frozen=True, slots=True)
class Entity:
    """A node of the graph as stored: its id, kind, properties and version."""

    id: str
    kind: EntityKind
    properties: Mapping[str, JsonValue]
    version: int


@dataclass(frozen=True, slots=True)
class EntityWrite:
    """An upsert of one entity. ``expected_version`` makes it conditional:
    ``0`` means "must not exist yet", ``n`` means "must be at version n"."""

    id: str
    kind: EntityKind
    properties: Mapping[str, JsonValue]
    expected_version: int | None = None

    def __post_init__(self) -> None:
        if kind_of(self.id) is not self.kind:
            raise ValueError(f"entity id {self.id!r} does not match kind {self.kind}")
        if self.expected_version is not None and self.expected_version < 0:
            raise ValueError("expected_version must be >= 0")
        if ALIASES in self.properties and self.kind is not EntityKind.PRODUCT:
            check_aliases_property(self.id, self.properties[ALIASES])


@dataclass(frozen=True, slots=True, order=True)
class Relation:
    source: str
    type: RelationType
    target: str


@dataclass(frozen=True, slots=True)
class WriteBatch:
    """Changes applied atomically: all of them or none."""

    upserts: tuple[EntityWrite, ...] = ()
    deletes: tuple[str, ...] = ()
    relate: tuple[Relation, ...] = ()
    unrelate: tuple[Relation, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.upserts or self.deletes or self.relate or self.unrelate)


ChangeOp = Literal["create", "update", "delete", "relate", "unrelate"]


@dataclass(frozen=True, slots=True)
class Change:
    """One entry of the change log."""

    seq: int
    at: str
    actor: str
    op: ChangeOp
    entity_id: str
    before: Mapping[str, JsonValue] | None = None
    after: Mapping[str, JsonValue] | None = field(default=None)
    #: The edit it belongs to: the seq of the first change of the same ``write``. Undo
    #: reverts a whole edit; changes logged before edits had ids are one edit each.
    batch: int = 0
