"""Product fields given by name: brands and categories resolved to ids, the rules that
every product keeps a category, and how a merge combines two products' fields."""

from __future__ import annotations

from collections.abc import Mapping

from catalogue.index import CatalogIndex
from catalogue.validation import CatalogError, Code, Issue
from ingest.records import MAX_COUNT
from kg.schema import JsonValue

__all__ = ["issue", "merge_fields", "orphan", "resolve_brand", "resolve_category", "text_of"]


def issue(code: Code, message: str, eid: str | None, fld: str, rule: str) -> CatalogError:
    return CatalogError([Issue(code, message, eid, fld, rule)])


def text_of(props: Mapping[str, JsonValue], key: str) -> str:
    value = props.get(key)
    return value if isinstance(value, str) else ""


def orphan(eid: str) -> CatalogError:
    return issue(
        Code.ORPHAN_PRODUCT,
        f"product {eid!r} needs a category: every product must keep one",
        eid,
        "category",
        "product_has_category",
    )


def resolve_brand(idx: CatalogIndex, value: object, eid: str | None) -> str | None:
    """A brand given by id (``brand:...``) or by name; ``None`` means no brand."""
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise issue(Code.INVALID_VALUE, "brand must be a name or a brand id", eid, "brand", "type")
    value = value.strip()
    found = value if value.startswith("brand:") and idx.exists(value) else idx.brand_named(value)
    if found is None:
        raise issue(
            Code.UNKNOWN_ENTITY,
            f"brand {value!r} does not exist; create it first",
            eid,
            "brand",
            "relation_targets_exist",
        )
    return found


def resolve_category(idx: CatalogIndex, value: object, eid: str | None) -> str:
    """A category given by id (``category:...``) or by its path of names."""
    if value is None:
        raise orphan(eid or "")
    if isinstance(value, str) and value.startswith("category:"):
        if not idx.exists(value):
            raise issue(
                Code.UNKNOWN_ENTITY,
                f"category {value!r} does not exist; create it first",
                eid,
                "category",
                "relation_targets_exist",
            )
        return value
    if isinstance(value, str):
        value = [p for p in value.split("/") if p.strip()]
    if not isinstance(value, list) or not value or not all(isinstance(p, str) for p in value):
        raise issue(
            Code.INVALID_VALUE,
            "category must be a category id or a path of names (a list or 'A / B / C')",
            eid,
            "category",
            "type",
        )
    found = idx.category_at(value)
    if found is None:
        raise issue(
            Code.UNKNOWN_ENTITY,
            f"category {' / '.join(value)!r} does not exist; create it first",
            eid,
            "category",
            "relation_targets_exist",
        )
    return found


def merge_fields(props: dict[str, JsonValue], loser: Mapping[str, JsonValue]) -> list[str]:
    notes = []
    for key in ("description", "product_class"):
        if not text_of(props, key) and text_of(loser, key):
            props[key] = loser[key]
            notes.append(f"{key} taken from the merged product")
    for key in ("price",):
        if props.get(key) is None and loser.get(key) is not None:
            props[key] = loser[key]
            notes.append(f"{key} taken from the merged product")
    w_n, l_n = _int(props.get("rating_count")), _int(loser.get("rating_count"))
    w_avg, l_avg = _num(props.get("average_rating")), _num(loser.get("average_rating"))
    if w_avg is not None and l_avg is not None and w_n + l_n > 0:
        props["average_rating"] = round((w_avg * w_n + l_avg * l_n) / (w_n + l_n), 3)
    elif w_avg is None and l_avg is not None:
        props["average_rating"] = l_avg
    # Two valid counts may add up past the record's bound: the merged product must stay valid.
    props["rating_count"] = min(MAX_COUNT, w_n + l_n)
    props["review_count"] = min(
        MAX_COUNT, _int(props.get("review_count")) + _int(loser.get("review_count"))
    )
    merged = props.get("merged_from")
    earlier = [m for m in merged if isinstance(m, str)] if isinstance(merged, list) else []
    lost = loser.get("product_id")
    merged_from: list[JsonValue] = [*earlier, lost if isinstance(lost, str) else ""]
    props["merged_from"] = merged_from
    return notes


def _int(value: JsonValue) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _num(value: JsonValue) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
