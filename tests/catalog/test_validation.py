"""The schema rules as pure functions, and the index's look-ups."""

from __future__ import annotations

import pytest

from catalogue.validation import (
    CatalogError,
    Code,
    check_attribute_keys,
    check_category_parent,
    check_delete_share,
    check_product_record,
    check_relation_kinds,
    issue_from_store_error,
)
from kg.schema import Relation, RelationType
from kg.store import InvalidRelation, UnknownEntity, VersionConflict


def test_product_fields_reuse_the_record_rules() -> None:
    record = check_product_record(
        {"product_id": "P1", "name": "  Sofa  ", "price": 10}, entity_id="product:P1"
    )
    assert record.name == "Sofa"
    with pytest.raises(CatalogError) as exc:
        check_product_record(
            {"product_id": "P 1", "price": "x", "features": {"k": ""}}, entity_id="product:P1"
        )
    found = {(i.code, i.field) for i in exc.value.issues}
    assert (Code.MISSING_FIELD, "name") in found
    assert (Code.INVALID_VALUE, "price") in found
    assert (Code.INVALID_VALUE, "product_id") in found
    assert (Code.INVALID_VALUE, "attributes.k") in found
    assert exc.value.code == exc.value.issues[0].code.value


def test_attribute_keys_name_the_allowed_ones() -> None:
    issues = check_attribute_keys(
        product_class="Sofas",
        keys=["Color", "legs"],
        allowed={"color", "material"},
        entity_id="product:P1",
        allow_new_keys=False,
        line=3,
    )
    assert [(i.code, i.field, i.line) for i in issues] == [
        (Code.UNKNOWN_ATTRIBUTE_KEY, "attributes.legs", 3)
    ]
    assert "color, material" in issues[0].message and "'Sofas'" in issues[0].message
    assert not check_attribute_keys(
        product_class="Sofas", keys=["legs"], allowed=set(), entity_id=None, allow_new_keys=True
    )


def test_category_cycles() -> None:
    parents = {"category:a/b": "category:a", "category:a/b/c": "category:a/b"}
    assert check_category_parent("category:a", "category:a/b/c", parents)[0].code is (
        Code.CATEGORY_CYCLE
    )
    assert check_category_parent("category:a", "category:a", parents)
    assert not check_category_parent("category:a/b/c", "category:a", parents)
    assert not check_category_parent("category:a/b", None, parents)


def test_relation_kinds() -> None:
    assert not check_relation_kinds(Relation("product:1", RelationType.HAS_BRAND, "brand:x"))
    bad = check_relation_kinds(Relation("brand:x", RelationType.HAS_BRAND, "product:1"))
    assert {i.field for i in bad} == {"source", "target"}
    assert check_relation_kinds(Relation("thing:1", RelationType.HAS_BRAND, "brand:x"))


def test_delete_share() -> None:
    assert not check_delete_share(removed=1, total=10, max_share=0.1, force=False)
    assert check_delete_share(removed=2, total=10, max_share=0.1, force=False)[0].code is (
        Code.DELETE_LIMIT
    )
    assert not check_delete_share(removed=10, total=10, max_share=0.1, force=True)


def test_store_errors_become_issues() -> None:
    conflict = issue_from_store_error(VersionConflict("product:1", 1, 2))
    assert conflict.code is Code.VERSION_CONFLICT and conflict.field == "expected_version"
    created = issue_from_store_error(VersionConflict("brand:x", 0, 1), created={"brand:x"})
    assert created.code is Code.ALREADY_EXISTS
    assert issue_from_store_error(UnknownEntity("brand:x")).code is Code.UNKNOWN_ENTITY
    cycle = issue_from_store_error(InvalidRelation("making it a subcategory creates a cycle"))
    assert cycle.code is Code.CATEGORY_CYCLE
    assert issue_from_store_error(InvalidRelation("wrong kinds")).code is Code.INVALID_RELATION


def test_a_catalog_error_needs_an_issue() -> None:
    with pytest.raises(ValueError):
        CatalogError([])
