"""From catalogue records to one atomic graph write."""

from __future__ import annotations

from collections.abc import Iterable

from ingest.records import ProductRecord
from kg.schema import (
    EntityKind,
    EntityWrite,
    JsonValue,
    Relation,
    RelationType,
    WriteBatch,
    attribute_id,
    brand_id,
    category_id,
    product_id,
)

__all__ = ["catalogue_batch"]


def catalogue_batch(products: Iterable[ProductRecord]) -> WriteBatch:
    """One atomic batch creating every product with its brand, categories and attributes."""
    upserts: dict[str, EntityWrite] = {}
    relations: list[Relation] = []
    for p in products:
        pid = product_id(p.product_id)
        props: dict[str, JsonValue] = {
            "product_id": p.product_id,
            "name": p.name,
            "product_class": p.product_class,
            "description": p.description,
            "price": p.price,
            "rating_count": p.rating_count,
            "average_rating": p.average_rating,
            "review_count": p.review_count,
        }
        upserts[pid] = EntityWrite(pid, EntityKind.PRODUCT, props)
        if p.brand:
            bid = brand_id(p.brand)
            upserts.setdefault(bid, EntityWrite(bid, EntityKind.BRAND, {"name": p.brand}))
            relations.append(Relation(pid, RelationType.HAS_BRAND, bid))
        for depth in range(1, len(p.category_path) + 1):
            path = p.category_path[:depth]
            cid = category_id(path)
            if cid not in upserts:
                upserts[cid] = EntityWrite(
                    cid, EntityKind.CATEGORY, {"name": path[-1], "depth": depth}
                )
                if depth > 1:
                    relations.append(
                        Relation(cid, RelationType.SUBCATEGORY_OF, category_id(path[:-1]))
                    )
        if p.category_path:
            relations.append(Relation(pid, RelationType.IN_CATEGORY, category_id(p.category_path)))
        for key, value in p.features.items():
            aid = attribute_id(key, value)
            upserts.setdefault(
                aid, EntityWrite(aid, EntityKind.ATTRIBUTE_VALUE, {"key": key, "value": value})
            )
            relations.append(Relation(pid, RelationType.HAS_ATTRIBUTE, aid))
    return WriteBatch(upserts=tuple(upserts.values()), relate=tuple(dict.fromkeys(relations)))
