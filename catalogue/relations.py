"""Relate and unrelate, with kind checks and the catalogue's cardinalities.

A product has one category, at most one brand and at most one value per attribute key;
a category has at most one parent. Relating such a relation replaces the one there (in
the same batch, both logged), so ``relate`` after ``unrelate`` restores an edit exactly.
Unrelating a product's category is refused (``orphan_product``).
"""

from __future__ import annotations

from collections.abc import Mapping

from catalogue.context import Context, EditResult
from catalogue.products import ProductOps
from catalogue.taxonomy import NamedOps
from catalogue.validation import CatalogError, Code, check_relation_kinds, raise_issues
from kg.schema import EntityKind, Relation, RelationType

__all__ = ["RelationOps", "parse_relation"]


def parse_relation(source: object, rtype: object, target: object) -> Relation:
    """A relation from untrusted text, with its kinds checked."""
    if not all(isinstance(x, str) and x for x in (source, rtype, target)):
        raise CatalogError.one(
            Code.MISSING_FIELD,
            "a relation needs source, type and target",
            field="relation",
            rule="required",
        )
    try:
        kind = RelationType(str(rtype).upper())
    except ValueError:
        raise CatalogError.one(
            Code.INVALID_RELATION,
            f"unknown relation type {rtype!r}; one of {', '.join(t.value for t in RelationType)}",
            field="type",
            rule="relation_types",
        ) from None
    relation = Relation(str(source), kind, str(target))
    raise_issues(check_relation_kinds(relation))
    return relation


class RelationOps:
    def __init__(
        self, ctx: Context, products: ProductOps, trees: Mapping[RelationType, NamedOps]
    ) -> None:
        self._ctx = ctx
        self._products = products
        self._trees = trees  # a tree's parent relation -> the ops that move its nodes

    def relate(
        self,
        relation: Relation,
        *,
        expected_version: int,
        actor: str,
        allow_new_keys: bool = False,
    ) -> EditResult:
        """Add ``relation`` (replacing the one it supersedes); ``expected_version`` is the
        source's."""
        raise_issues(check_relation_kinds(relation))
        tree = self._trees.get(relation.type)
        if tree is not None:
            return tree.update(
                relation.source,
                expected_version=expected_version,
                actor=actor,
                parent=relation.target,
                move=True,
            )
        with self._ctx.editing() as idx:
            entity = self._ctx.entity(relation.source, EntityKind.PRODUCT)
            self._ctx.check_version(entity, expected_version)
            if not idx.exists(relation.target):
                raise CatalogError.one(
                    Code.UNKNOWN_ENTITY,
                    f"{relation.target!r} does not exist",
                    entity_id=relation.target,
                    field="target",
                    rule="relation_targets_exist",
                )
            plan = self._products.current(idx, entity)
            if relation.type is RelationType.HAS_BRAND:
                plan.brand = relation.target
            elif relation.type is RelationType.IN_CATEGORY:
                plan.category = relation.target
            else:
                key = idx.attribute[relation.target][0]
                for existing in [k for k in plan.attrs if k.casefold() == key.casefold()]:
                    del plan.attrs[existing]
                plan.attrs[key] = relation.target
            return self._products.commit(
                idx,
                entity,
                plan,
                actor=actor,
                allow_new_keys=allow_new_keys,
                note="relation exists already",
            )

    def unrelate(self, relation: Relation, *, expected_version: int, actor: str) -> EditResult:
        """Remove ``relation``; ``expected_version`` is the source's."""
        raise_issues(check_relation_kinds(relation))
        with self._ctx.editing() as idx:
            if relation.target not in idx.targets(relation.source, relation.type):
                raise CatalogError.one(
                    Code.UNKNOWN_RELATION,
                    f"{relation.source} -{relation.type.value}-> {relation.target} does not exist",
                    entity_id=relation.source,
                    field="relation",
                    rule="exists",
                )
        tree = self._trees.get(relation.type)
        if tree is not None:
            return tree.update(
                relation.source, expected_version=expected_version, actor=actor, move=True
            )
        with self._ctx.editing() as idx:
            entity = self._ctx.entity(relation.source, EntityKind.PRODUCT)
            self._ctx.check_version(entity, expected_version)
            plan = self._products.current(idx, entity)
            if relation.type is RelationType.HAS_BRAND:
                plan.brand = None
            elif relation.type is RelationType.IN_CATEGORY:
                plan.category = None
            else:
                plan.attrs = {k: a for k, a in plan.attrs.items() if a != relation.target}
            return self._products.commit(
                idx, entity, plan, actor=actor, allow_new_keys=True, note="no change"
            )
