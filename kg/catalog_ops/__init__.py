"""Catalog edits over any :class:`~kg.store.GraphStore`: validated, versioned, audited,
reversible.

``CatalogOps`` groups the operations by what they edit::

    ops = CatalogOps(store=graph)
    view = ops.products.get("S1")
    ops.products.update("S1", {"price": 799}, expected_version=view.version, actor="ana")
    ops.brands.merge("brand:oakhaven", "brand:oak-haven", expected_version=..., ...)
    ops.imports.run(Path("product.csv"), mode="replace", dry_run=True, actor="ana")
    ops.history.undo(1234, actor="ana")

Each edit is one atomic :class:`~kg.schema.WriteBatch`; an edit of an existing entity
names the version its editor read and is refused (``version_conflict``) if it moved.
Rule violations raise :class:`~kg.validation.CatalogError` with stable codes.
"""

from __future__ import annotations

from kg.catalog_ops.context import EDIT_MARK, RELATIONS_MARK, Context, EditResult
from kg.catalog_ops.history import AuditEntry, History
from kg.catalog_ops.imports import FieldChange, ImportMode, ImportOps, ImportReport, ProductChange
from kg.catalog_ops.products import PRODUCT_FIELDS, ProductOps, ProductSummary, ProductView
from kg.catalog_ops.relations import RelationOps, parse_relation
from kg.catalog_ops.taxonomy import AttributeOps, BrandOps, CategoryOps, Named
from kg.store import GraphStore

__all__ = [
    "EDIT_MARK",
    "PRODUCT_FIELDS",
    "RELATIONS_MARK",
    "AuditEntry",
    "CatalogOps",
    "EditResult",
    "FieldChange",
    "ImportMode",
    "ImportReport",
    "Named",
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
        self.brands = BrandOps(self._ctx)
        self.categories = CategoryOps(self._ctx)
        self.attributes = AttributeOps(self._ctx)
        self.relations = RelationOps(self._ctx, self.products, self.categories)
        self.imports = ImportOps(self._ctx)
        self.history = History(self._ctx, self.relations)

    @property
    def store(self) -> GraphStore:
        return self._ctx.store

    @property
    def max_delete_share(self) -> float:
        return self._ctx.max_delete_share
