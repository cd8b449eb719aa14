"""The named entities the catalog team edits (brands, categories), one declaration each.

A named entity has a ``name``, is linked from products by one relation, and may sit in a
tree (a ``parent`` relation). :class:`~catalogue.taxonomy.NamedOps` runs the operations
of any such kind (list, create, rename/move, merge, delete) from its declaration, and the
catalog API routes and CLI commands are generated from :data:`NAMED_KINDS`: adding a kind
is adding one :class:`EntityKindSpec` here.

This module imports only :mod:`kg.schema`, so the CLI can build its commands without
loading the catalogue operations.
"""

from __future__ import annotations

from dataclasses import dataclass

from kg.schema import EntityKind, RelationType, kind_of

__all__ = ["BRAND", "CATEGORY", "NAMED_KINDS", "EntityKindSpec"]


@dataclass(frozen=True, slots=True)
class EntityKindSpec:
    """How one kind of named entity behaves in the catalogue.

    ``path`` names its API routes (``/catalog/<path>``) and CLI group; ``label`` is the
    word messages use; ``products`` is the relation from a product to it. ``parent``,
    when set, is the child -> parent relation of a tree of them (names are unique among
    siblings, and a move may not create a cycle); without it, names are unique in the
    whole kind. ``required``: every product needs one, so deleting one that products use
    would orphan them (``orphan_product``) rather than being ``in_use``. ``mergeable``:
    duplicates merge (their products are re-linked to the one kept); not in a tree.
    A bad declaration raises ``ValueError`` at once.
    """

    kind: EntityKind
    path: str
    label: str
    products: RelationType
    parent: RelationType | None = None
    required: bool = False
    mergeable: bool = False

    def __post_init__(self) -> None:
        try:
            prefixed = kind_of(f"{self.prefix}x") is self.kind
        except ValueError:
            prefixed = False
        if not prefixed:
            raise ValueError(f"{self.kind} ids do not start with {self.prefix!r}")
        if self.kind in (EntityKind.PRODUCT, EntityKind.ATTRIBUTE_VALUE):
            raise ValueError(f"{self.kind} is not a named entity")
        if self.parent not in (None, RelationType.SUBCATEGORY_OF):
            raise ValueError("a tree's parent relation is SUBCATEGORY_OF (the index follows it)")
        if self.mergeable and self.parent is not None:
            raise ValueError("entities in a tree do not merge (their children would need a home)")

    @property
    def prefix(self) -> str:
        """The id prefix: ``brand:``."""
        return f"{self.label}:"

    @property
    def tree(self) -> bool:
        return self.parent is not None


BRAND = EntityKindSpec(
    kind=EntityKind.BRAND,
    path="brands",
    label="brand",
    products=RelationType.HAS_BRAND,
    mergeable=True,
)
CATEGORY = EntityKindSpec(
    kind=EntityKind.CATEGORY,
    path="categories",
    label="category",
    products=RelationType.IN_CATEGORY,
    parent=RelationType.SUBCATEGORY_OF,
    required=True,
)

#: Every named kind, in the order the API and the CLI list them.
NAMED_KINDS: tuple[EntityKindSpec, ...] = (BRAND, CATEGORY)
