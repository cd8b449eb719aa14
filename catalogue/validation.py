"""Schema rules for catalog edits, and the errors they raise.

Every rule violation is an :class:`Issue` with a stable ``code`` (see :class:`Code`), the
entity it concerns, the field and the rule, so the API can answer with JSON and the CLI
with a message. A :class:`CatalogError` carries one or more issues; when it is raised
nothing was written.

The rules are pure functions over plain values; :mod:`catalogue.ops` gathers the values
from the graph (the current catalogue) and calls them before it writes.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from pydantic import ValidationError

from ingest.records import ProductRecord
from kg.schema import RELATION_ENDPOINTS, JsonValue, Relation, kind_of
from kg.store import GraphError, InvalidRelation, UnknownEntity, VersionConflict

__all__ = [
    "CatalogError",
    "Code",
    "Issue",
    "check_attribute_keys",
    "check_category_parent",
    "check_delete_share",
    "check_product_record",
    "check_relation_kinds",
    "issue_from_store_error",
    "raise_issues",
]


class Code(StrEnum):
    """Stable error codes of the catalog (the ``code`` of JSON error bodies)."""

    MISSING_FIELD = "missing_field"
    INVALID_VALUE = "invalid_value"
    UNKNOWN_FIELD = "unknown_field"
    UNKNOWN_ATTRIBUTE_KEY = "unknown_attribute_key"
    UNKNOWN_ENTITY = "unknown_entity"  # a reference (brand, category, target) to nothing
    NOT_FOUND = "not_found"  # the entity the request is about does not exist
    UNKNOWN_RELATION = "unknown_relation"
    INVALID_RELATION = "invalid_relation"
    CATEGORY_CYCLE = "category_cycle"
    ORPHAN_PRODUCT = "orphan_product"
    ALREADY_EXISTS = "already_exists"
    IN_USE = "in_use"
    VERSION_CONFLICT = "version_conflict"
    DELETE_LIMIT = "delete_limit"
    NOT_UNDOABLE = "not_undoable"
    ALIAS_TAKEN = "alias_taken"  # another entity's name or alias (see catalogue.aliases)
    ALIAS_CYCLE = "alias_cycle"


@dataclass(frozen=True, slots=True)
class Issue:
    """One broken rule: what (``code``), about which entity and field, under which rule."""

    code: Code
    message: str
    entity_id: str | None = None
    field: str | None = None
    rule: str = ""
    line: int | None = None  # for rows of an imported file

    def as_dict(self) -> dict[str, JsonValue]:
        out: dict[str, JsonValue] = {
            "code": self.code.value,
            "message": self.message,
            "entity_id": self.entity_id,
            "field": self.field,
            "rule": self.rule,
        }
        if self.line is not None:
            out["line"] = self.line
        return out

    def __str__(self) -> str:
        where = f"line {self.line}: " if self.line is not None else ""
        return f"{where}{self.message}"


class CatalogError(GraphError):
    """A catalog edit broke one or more rules; nothing of it was written."""

    def __init__(self, issues: Sequence[Issue]) -> None:
        if not issues:
            raise ValueError("a CatalogError needs at least one issue")
        self.issues = tuple(issues)
        first = self.issues[0]
        self.code = first.code.value
        self.field = first.field
        self.entity_id = first.entity_id
        more = len(self.issues) - 1
        tail = f" (and {more} more issue{'s' if more > 1 else ''})" if more else ""
        super().__init__(f"{first}{tail}")

    @classmethod
    def one(
        cls,
        code: Code,
        message: str,
        *,
        entity_id: str | None = None,
        field: str | None = None,
        rule: str = "",
    ) -> CatalogError:
        return cls([Issue(code, message, entity_id, field, rule)])


def raise_issues(issues: Iterable[Issue]) -> None:
    """Raise a :class:`CatalogError` if there is any issue."""
    found = list(issues)
    if found:
        raise CatalogError(found)


# -- products ------------------------------------------------------------------------------

#: ProductRecord's field names as the catalog API calls them.
API_FIELD = {"features": "attributes", "category_path": "category"}


def _pydantic_issues(exc: ValidationError, entity_id: str | None) -> list[Issue]:
    issues = []
    for err in exc.errors():
        loc = [str(p) for p in err["loc"]]
        field = ".".join([API_FIELD.get(loc[0], loc[0]), *loc[1:]]) if loc else None
        kind = err["type"]
        if kind == "missing":
            code, rule = Code.MISSING_FIELD, "required"
        elif kind == "extra_forbidden":
            code, rule = Code.UNKNOWN_FIELD, "known_fields"
        else:
            code, rule = Code.INVALID_VALUE, kind
        issues.append(Issue(code, f"{field}: {err['msg']}", entity_id, field, rule))
    return issues


def check_product_record(fields: Mapping[str, Any], *, entity_id: str | None) -> ProductRecord:
    """Validate a product's fields with :class:`ProductRecord` (types, required fields,
    ranges, control characters); raise :class:`CatalogError` naming each bad field."""
    try:
        return ProductRecord.model_validate(dict(fields))
    except ValidationError as exc:
        raise CatalogError(_pydantic_issues(exc, entity_id)) from None


def check_attribute_keys(
    *,
    product_class: str,
    keys: Iterable[str],
    allowed: Collection[str],
    entity_id: str | None,
    allow_new_keys: bool,
    line: int | None = None,
) -> list[Issue]:
    """Each key must be one the product's class already uses in the catalogue, unless
    ``allow_new_keys``. The message names the allowed keys."""
    if allow_new_keys:
        return []
    allowed_folded = {k.casefold() for k in allowed}
    shown = ", ".join(sorted(allowed)) or "none yet"
    return [
        Issue(
            Code.UNKNOWN_ATTRIBUTE_KEY,
            f"attribute key {key!r} is not used by class {product_class!r} "
            f"(allowed: {shown}); pass allow_new_keys to add it",
            entity_id,
            f"attributes.{key}",
            "allowed_keys_per_class",
            line,
        )
        for key in keys
        if key.casefold() not in allowed_folded
    ]


# -- relations and the category tree -------------------------------------------------------


def check_relation_kinds(relation: Relation) -> list[Issue]:
    """The relation's ends must be of the kinds its type connects."""
    want_source, want_target = RELATION_ENDPOINTS[relation.type]
    issues = []
    for end, want, field in (
        (relation.source, want_source, "source"),
        (relation.target, want_target, "target"),
    ):
        try:
            kind = kind_of(end)
        except ValueError as exc:
            issues.append(Issue(Code.INVALID_RELATION, str(exc), end, field, "id_prefix"))
            continue
        if kind is not want:
            issues.append(
                Issue(
                    Code.INVALID_RELATION,
                    f"{relation.type.value} connects {want_source} -> {want_target}; "
                    f"{end!r} is a {kind}",
                    end,
                    field,
                    "relation_endpoints",
                )
            )
    return issues


def check_category_parent(
    category: str, parent: str | None, parents: Mapping[str, str]
) -> list[Issue]:
    """Moving ``category`` under ``parent`` must not create a cycle (``parents`` maps each
    category to its current parent)."""
    node, seen = parent, set()
    while node is not None and node not in seen:
        if node == category:
            return [
                Issue(
                    Code.CATEGORY_CYCLE,
                    f"making {category!r} a subcategory of {parent!r} creates a cycle "
                    f"({parent!r} is {category!r} or lies below it)",
                    category,
                    "parent",
                    "acyclic_hierarchy",
                )
            ]
        seen.add(node)
        node = parents.get(node)
    return []


def check_delete_share(*, removed: int, total: int, max_share: float, force: bool) -> list[Issue]:
    """An import may delete at most ``max_share`` of the products unless forced."""
    if force or total == 0 or removed / total <= max_share:
        return []
    return [
        Issue(
            Code.DELETE_LIMIT,
            f"the import would delete {removed} of {total} products "
            f"({removed / total:.1%} > {max_share:.0%}); pass force to do it anyway",
            None,
            "mode",
            "max_delete_share",
        )
    ]


def issue_from_store_error(exc: GraphError, *, created: Collection[str] = ()) -> Issue:
    """The issue a store error stands for; ``created`` names ids the batch meant to create
    (a version conflict on those means someone created them first)."""
    if isinstance(exc, VersionConflict):
        if exc.entity_id in created:
            return Issue(
                Code.ALREADY_EXISTS,
                f"{exc.entity_id!r} already exists",
                exc.entity_id,
                "id",
                "unique_id",
            )
        return Issue(
            Code.VERSION_CONFLICT,
            str(exc),
            exc.entity_id,
            "expected_version",
            "optimistic_concurrency",
        )
    if isinstance(exc, UnknownEntity):
        return Issue(Code.UNKNOWN_ENTITY, str(exc), exc.entity_id, None, "relation_targets_exist")
    if isinstance(exc, InvalidRelation):
        if "cycle" in str(exc):
            return Issue(Code.CATEGORY_CYCLE, str(exc), None, "parent", "acyclic_hierarchy")
        return Issue(Code.INVALID_RELATION, str(exc), None, None, "relation_endpoints")
    return Issue(Code.INVALID_VALUE, str(exc), None, None, exc.code)
