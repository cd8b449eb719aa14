"""JSON shapes of the ``/catalog`` and ``/admin/keys`` responses.

They are the routes' ``response_model``: FastAPI checks each answer against them and the
OpenAPI document describes them, so clients (and the schemathesis fuzz test) know what
comes back. The routes return the ``as_dict()`` of the catalogue's objects; the routes
serialise with ``response_model_exclude_unset`` so a key an answer does not carry (a brand's
``parent``, ``synced_products`` of an edit that wrote nothing) stays absent rather than
``null``."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from app.schemas import ErrorBody
from catalogue.products import SCALAR_FIELDS
from ingest.records import ProductRecord

__all__ = [
    "IMPORT_BODY",
    "AliasListOut",
    "AliasesOut",
    "AttributesOut",
    "AuditOut",
    "CatalogErrorOut",
    "EditOut",
    "ImportOut",
    "KeyCreatedOut",
    "KeyListOut",
    "KeyRevokedOut",
    "NamedListOut",
    "ProductEditOut",
    "ProductListOut",
    "ProductOut",
    "catalog_errors",
    "product_body",
]


class IssueOut(BaseModel):
    """One broken rule of a refused edit or of an imported row (``line``)."""

    code: str
    message: str
    entity_id: str | None = None
    field: str | None = None
    rule: str | None = None
    line: int | None = None


class CatalogErrorBody(ErrorBody):
    entity_id: str | None = None
    rule: str | None = None
    issues: list[IssueOut] = Field(default_factory=list, description="Every broken rule.")


class CatalogErrorOut(BaseModel):
    error: CatalogErrorBody


def catalog_errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` of a route: its catalog error statuses in the project's error shape."""
    why = {
        404: "No such entity (or change).",
        409: "A version conflict, a name already taken, an entity in use, a delete limit.",
        422: "The edit breaks a catalogue rule or a parameter is invalid.",
    }
    return {s: {"model": CatalogErrorOut, "description": why.get(s, "")} for s in statuses}


class EditOut(BaseModel):
    """What a write did (:class:`~catalogue.context.EditResult`) and whether search sees it."""

    entity_id: str
    version: int | None = Field(description="The entity's version after; null once deleted.")
    revision: int = Field(description="The graph's revision after the write.")
    written: bool = Field(description="False when the edit changed nothing.")
    notes: list[str] = Field(default_factory=list)
    searchable: bool = Field(description="The live index already includes the change.")
    synced_products: int | None = Field(default=None, description="Products the sync updated.")


class RelationOut(BaseModel):
    source: str
    type: str
    target: str


class ProductOut(BaseModel):
    """A product as an editor sees it: its fields, version, brand, category, attributes."""

    model_config = ConfigDict(extra="allow")  # a stored field this model does not name yet

    entity_id: str
    product_id: str
    version: int
    name: str | None = None
    product_class: str | None = None
    description: str | None = None
    price: float | None = None
    average_rating: float | None = None
    rating_count: int | None = None
    review_count: int | None = None
    brand: str | None
    brand_id: str | None
    category: str | None
    category_path: list[str]
    attributes: dict[str, str]
    attribute_ids: dict[str, str]
    relations: list[RelationOut]


class ProductEditOut(EditOut):
    product: ProductOut


class ProductSummaryOut(BaseModel):
    product_id: str
    name: str
    product_class: str
    version: int


class ProductListOut(BaseModel):
    total: int
    offset: int
    items: list[ProductSummaryOut]


class NamedOut(BaseModel):
    """A brand, a category...: ``parent`` and ``path`` only for a kind in a tree."""

    entity_id: str
    name: str
    version: int
    products: int
    parent: str | None = None
    path: list[str] | None = None


class NamedListOut(BaseModel):
    items: list[NamedOut]


class AliasesOut(BaseModel):
    """An entity's aliases (:class:`~catalogue.aliases.AliasView`)."""

    entity_id: str
    kind: str
    name: str
    aliases: list[str]
    version: int


class AliasListOut(BaseModel):
    items: list[AliasesOut]


class AttributeValueOut(BaseModel):
    entity_id: str
    value: str
    products: int


class AttributeKeyOut(BaseModel):
    values: list[AttributeValueOut]
    classes: list[str]


class AttributesOut(BaseModel):
    keys: dict[str, AttributeKeyOut]
    allowed_keys: list[str] | None = Field(
        default=None, description="Keys the asked product_class uses (with product_class only)."
    )


class FieldChangeOut(BaseModel):
    field: str
    before: Any = None
    after: Any = None


class ProductChangeOut(BaseModel):
    product_id: str
    fields: list[FieldChangeOut]


class ImportCountsOut(BaseModel):
    added: int
    changed: int
    removed: int
    unchanged: int
    invalid: int


class ImportOut(BaseModel):
    """An import's report; after a write, also whether search sees it."""

    source: str
    mode: Literal["upsert", "replace"]
    dry_run: bool
    written: bool
    revision: int | None
    counts: ImportCountsOut
    added: list[str]
    changed: list[ProductChangeOut]
    removed: list[str]
    invalid: list[IssueOut]
    refused: list[IssueOut]
    searchable: bool | None = None
    synced_products: int | None = None
    notes: list[str] | None = None


class DiffOut(BaseModel):
    before: Any = None
    after: Any = None


class AuditEntryOut(BaseModel):
    seq: int
    at: str
    actor: str
    op: str
    entity_id: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    diff: dict[str, DiffOut]
    edit: int = Field(
        description="The edit (one atomic write) the change belongs to: the seq of its first "
        "change. Undoing any change of an edit reverts all of it."
    )


class AuditOut(BaseModel):
    items: list[AuditEntryOut]
    limit: int
    offset: int
    has_more: bool
    next_offset: int | None


class KeyCreatedOut(BaseModel):
    key: str = Field(description="The key itself: shown once, store it now.")
    key_id: str
    user: str
    role: str
    created_at: str
    note: str


class KeyInfoOut(BaseModel):
    """A key without its secret, hash or salt."""

    key_id: str
    user: str
    role: str
    created_at: str | None = None
    created_by: str | None = None
    revoked: bool = False


class KeyListOut(BaseModel):
    items: list[KeyInfoOut]


class KeyRevokedOut(BaseModel):
    key_id: str
    revoked: bool


def product_body(*, update: bool) -> dict[str, Any]:
    """``openapi_extra`` of the product create (``update=False``) and update routes: the
    body's fields (their bounds are :class:`~ingest.records.ProductRecord`'s), so a client
    and the fuzz test see what is accepted. The routes read the body as a mapping and
    :class:`~catalogue.products.ProductOps` validates it; this only documents it."""
    record = ProductRecord.model_json_schema()
    defs = record.get("$defs", {})
    fields = {k: record["properties"][k] for k in SCALAR_FIELDS if k in record["properties"]}
    names = {"type": "array", "items": {"type": "string", "minLength": 1}}
    properties: dict[str, Any] = {
        **fields,
        "brand": {"anyOf": [{"type": "string"}, {"type": "null"}], "description": "Name or id."},
        "category": {"anyOf": [{"type": "string"}, names], "description": "Id or path of names."},
        "attributes": {
            "type": "object",
            "additionalProperties": {"anyOf": [{"type": "string"}, {"type": "null"}]},
            "description": "key: value (null removes the key in an update).",
        },
    }
    if update:
        properties["expected_version"] = {"type": "integer", "minimum": 0}
        required = ["expected_version"]
    else:
        properties["product_id"] = record["properties"]["product_id"]
        required = ["product_id", "name", "category"]
    schema = {"type": "object", "properties": properties, "required": required}
    if defs:
        schema["$defs"] = defs
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


#: ``openapi_extra`` of ``POST /catalog/import``: the body forms it reads (it reads the raw
#: body itself, so FastAPI cannot infer them).
IMPORT_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "anyOf": [
                        {
                            "type": "object",
                            "properties": {"products": {"type": "array", "items": {}}},
                            "required": ["products"],
                        },
                        {
                            "type": "object",
                            "properties": {
                                "format": {"enum": ["tsv", "jsonl"]},
                                "content": {"type": "string"},
                            },
                            "required": ["content"],
                        },
                    ]
                }
            },
            "text/tab-separated-values": {"schema": {"type": "string"}},
            "application/x-ndjson": {"schema": {"type": "string"}},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {"file": {"type": "string", "format": "binary"}},
                    "required": ["file"],
                }
            },
        },
    }
}
