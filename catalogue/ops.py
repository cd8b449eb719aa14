"""Catalog edits over any :class:`~kg.store.GraphStore`: validated, versioned, audited,
reversible.

``CatalogOps`` groups the operations by what they edit::

    ops = CatalogOps(store=graph)
    view = ops.products.get("S1")
    ops.products.update("S1", {"price": 799}, expected_version=view.version, actor="ana")
    ops.brands.merge("brand:oakhaven", "brand:oak-haven", expected_version=..., ...)
    ops.imports.run(Path("product.csv"), mode="replace", dry_run=True, actor="ana")
    ops.aliases.add("category:furniture/sofas", "couch", expected_version=..., actor="ana")
    ops.history.undo(1234, actor="ana")

Each edit is one atomic :class:`~kg.schema.WriteBatch`; an edit of an existing entity
names the version its editor read and is refused (``version_conflict``) if it moved.
Rule violations raise :class:`~catalogue.validation.CatalogError` with stable codes.
"""

from __future__ import annotations

from catalogue.aliases import AliasOps, AliasView
from catalogue.context import EDIT_MARK, RELATIONS_MARK, Context, EditResult
from catalogue.history import AuditEntry, History
from catalogue.imports import FieldChange, ImportMode, ImportOps, ImportReport, ProductChange
from catalogue.kinds import NAMED_KINDS
from catalogue.products import PRODUCT_FIELDS, ProductOps, ProductSummary, ProductView
from catalogue.relations import RelationOps, parse_relation
from catalogue.taxonomy import AttributeOps, Named, NamedOps
from kg.schema import EntityKind
from kg.store import GraphStore

__all__ = [
    "EDIT_MARK",
    "PRODUCT_FIELDS",
    "RELATIONS_MARK",
    "AliasView",
    "AuditEntry",
    "CatalogOps",
    "EditResult",
    "FieldChange",
    "ImportMode",
    "ImportReport",
    "Named",
    "NamedOps",
    "ProductChange",
    "ProductSummary",
    "ProductView",
    "parse_relation",
]


class CatalogOps:
    """Every catalog operation on one store. Safe to share between threads."""

    def __init__(self, *, store: GraphStore, max_delete_share: float = 0.1) -> None:
        self._ctx = Context(store=store, max_delete_share=max_delete_share)
        self.products = ProductOps(self._ctx)
        #: One :class:`NamedOps` per declared kind (:data:`~catalogue.kinds.NAMED_KINDS`).
        self.named: dict[EntityKind, NamedOps] = {
            spec.kind: NamedOps(self._ctx, spec) for spec in NAMED_KINDS
        }
        self.brands = self.named[EntityKind.BRAND]
        self.categories = self.named[EntityKind.CATEGORY]
        self.attributes = AttributeOps(self._ctx)
        self.aliases = AliasOps(self._ctx)
        trees = {ops.spec.parent: ops for ops in self.named.values() if ops.spec.parent}
        self.relations = RelationOps(self._ctx, self.products, trees)
        self.imports = ImportOps(self._ctx)
        self.history = History(self._ctx, self.relations)

    @property
    def store(self) -> GraphStore:
        return self._ctx.store

    @property
    def max_delete_share(self) -> float:
        return self._ctx.max_delete_share
