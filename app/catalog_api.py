"""``/catalog/...`` (editors) and ``/admin/keys`` (admins): thin routes over
:class:`~catalogue.ops.CatalogOps`, each checking the caller's role, each write followed
by :meth:`Engine.sync` so the edit is searchable at once. :func:`install_catalog` adds
the routers, their error handlers and the console (``/console``) to the app."""

from __future__ import annotations

import json
import logging
import tempfile
import threading
from collections.abc import Callable
from email.parser import BytesParser
from email.policy import default as email_policy
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, FastAPI, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from app.auth import AuthError, KeyStore, Principal, Require, Role
from app.catalog_schemas import (
    IMPORT_BODY,
    AliasesOut,
    AliasListOut,
    AttributesOut,
    AuditOut,
    EditOut,
    ImportOut,
    KeyCreatedOut,
    KeyListOut,
    KeyRevokedOut,
    NamedListOut,
    ProductEditOut,
    ProductListOut,
    ProductOut,
    catalog_errors,
    product_body,
)
from app.engine import Engine
from catalogue.kinds import NAMED_KINDS, EntityKindSpec
from catalogue.ops import CatalogOps, EditResult, parse_relation
from catalogue.validation import CatalogError, Code
from ingest.versions import NoIndexError
from kg.store import VersionConflict

__all__ = ["CONSOLE_DIR", "admin_router", "install_catalog", "router"]

log = logging.getLogger(__name__)

CONSOLE_DIR = Path(__file__).resolve().parent / "console"

#: HTTP status of each catalog error code; any other code is 422 (a broken rule).
STATUS = {
    Code.NOT_FOUND: 404,
    Code.VERSION_CONFLICT: 409,
    Code.ALREADY_EXISTS: 409,
    Code.IN_USE: 409,
    Code.DELETE_LIMIT: 409,
    Code.NOT_UNDOABLE: 409,
    Code.ALIAS_TAKEN: 409,
}

router = APIRouter(prefix="/catalog", tags=["catalog"])
admin_router = APIRouter(prefix="/admin", tags=["admin"])
#: The statuses of a catalog write's errors: no such entity, a conflict, a broken rule.
WRITE_ERRORS = catalog_errors(404, 409, 422)

Editor = Annotated[Principal, Depends(Require(Role.EDITOR))]
Admin = Annotated[Principal, Depends(Require(Role.ADMIN))]


def _engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


def _catalog(request: Request) -> CatalogOps:
    state = request.app.state
    with state.catalog_lock:
        if state.catalog is None:
            engine = _engine(request)
            state.catalog = CatalogOps(
                store=engine.graph, max_delete_share=engine.settings.max_delete_share
            )
        ops: CatalogOps = state.catalog
        return ops


EngineDep = Annotated[Engine, Depends(_engine)]
CatalogDep = Annotated[CatalogOps, Depends(_catalog)]
Version = Annotated[int, Query(ge=0, description="The version you read (optimistic lock).")]
AllowNewKeys = Annotated[
    bool, Query(description="Allow attribute keys the product's class does not use yet.")
]


def _synced(engine: Engine, result: EditResult) -> dict[str, Any]:
    """Make the edit searchable now; say whether it is."""
    body: dict[str, Any] = result.as_dict()
    if not result.written:
        return {**body, "searchable": True}
    return _sync_after_write(engine, body)


def _sync_after_write(engine: Engine, body: dict[str, Any]) -> dict[str, Any]:
    """After a committed write: sync the live index and say in ``body`` whether the change
    is searchable. Never raises: the write is stored, so a sync failure (no index yet, a
    backend down) is a note, not an error; the next search's sync retries."""
    try:
        body["synced_products"] = engine.sync()
        body["searchable"] = True
    except NoIndexError as exc:
        body["searchable"] = False
        body["notes"] = [*body.get("notes", []), f"not searchable yet: {exc}"]
    except Exception as exc:
        log.exception("sync after a catalog write failed")
        body["searchable"] = False
        body["notes"] = [*body.get("notes", []), f"stored, not yet searchable: sync failed: {exc}"]
    return body


def _merged(
    merge: Callable[..., EditResult], eid: str, body: MergeIn, who: Principal, engine: Engine
) -> dict[str, Any]:
    """A merge route's work: ``body.source`` into ``eid`` (both at the versions read)."""
    result = merge(
        eid,
        body.source,
        expected_version=body.expected_version,
        loser_expected_version=body.source_expected_version,
        actor=who.user,
    )
    return _synced(engine, result)


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MergeIn(_In):
    source: str = Field(description="The duplicate to merge into the path's entity.")
    expected_version: int = Field(ge=0, description="Version of the entity in the path.")
    source_expected_version: int = Field(ge=0, description="Version of the source.")


class NameIn(_In):
    name: str


class RenameIn(_In):
    name: str
    expected_version: int = Field(ge=0)


class CategoryIn(NameIn):  # creates an entity of a kind in a tree (a category)
    parent: str | None = None


class CategoryPatch(_In):  # renames and/or moves an entity of a kind in a tree
    expected_version: int = Field(ge=0)
    name: str | None = None
    parent: str | None = Field(default=None, description="Move under it; null: to the top.")


class KeyRenameIn(_In):
    key: str
    new_key: str


class ValuePatch(_In):
    value: str
    expected_version: int = Field(ge=0)


class RelationIn(_In):
    source: str
    type: str
    target: str
    expected_version: int = Field(ge=0, description="Version of the source.")
    allow_new_keys: bool = False


class AliasIn(_In):
    alias: str
    expected_version: int = Field(ge=0)


class AliasesIn(_In):
    aliases: list[str] = Field(description="Every alias the entity keeps (replaces them).")
    expected_version: int = Field(ge=0)


class KeyIn(_In):
    # KeyStore.create's rule (app.auth), checked here so a bad name is a 422, not a crash.
    user: str = Field(
        min_length=1,
        max_length=100,
        pattern=r"^[^\x00-\x1f]*[^\s\x00-\x1f][^\x00-\x1f]*$",
        description="Who the key is for: 1-100 characters, no control characters.",
    )
    role: Role


# -- products -------------------------------------------------------------------------------


@router.get("/products", response_model=ProductListOut)
def list_products(
    _: Editor,
    catalog: CatalogDep,
    q: Annotated[str, Query(max_length=200)] = "",
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> Any:
    total, items = catalog.products.browse(q=q, limit=limit, offset=offset)
    return {"total": total, "offset": offset, "items": [i.as_dict() for i in items]}


@router.post(
    "/products",
    status_code=201,
    response_model=ProductEditOut,
    response_model_exclude_unset=True,
    responses=WRITE_ERRORS,
    openapi_extra=product_body(update=False),
)
def create_product(
    who: Editor,
    catalog: CatalogDep,
    engine: EngineDep,
    body: Annotated[dict[str, Any], Body()],
    allow_new_keys: AllowNewKeys = False,
) -> Any:
    result = catalog.products.create(body, actor=who.user, allow_new_keys=allow_new_keys)
    return {**_synced(engine, result), "product": catalog.products.get(result.entity_id).as_dict()}


@router.get(
    "/products/{product_id}",
    response_model=ProductOut,
    response_model_exclude_unset=True,
    responses=catalog_errors(404),
)
def get_product(product_id: str, _: Editor, catalog: CatalogDep) -> Any:
    return catalog.products.get(product_id).as_dict()


@router.patch(
    "/products/{product_id}",
    response_model=ProductEditOut,
    response_model_exclude_unset=True,
    responses=WRITE_ERRORS,
    openapi_extra=product_body(update=True),
)
def update_product(
    product_id: str,
    who: Editor,
    catalog: CatalogDep,
    engine: EngineDep,
    body: Annotated[dict[str, Any], Body(description="expected_version and the fields to set.")],
    allow_new_keys: AllowNewKeys = False,
) -> Any:
    changes = dict(body)
    expected = changes.pop("expected_version", None)
    if expected is None:
        raise CatalogError.one(
            Code.MISSING_FIELD,
            "expected_version is required: the version you read",
            field="expected_version",
            rule="required",
        )
    if not isinstance(expected, int) or isinstance(expected, bool) or expected < 0:
        raise CatalogError.one(
            Code.INVALID_VALUE,
            "expected_version must be a whole number >= 0",
            field="expected_version",
            rule="type",
        )
    result = catalog.products.update(
        product_id,
        changes,
        expected_version=expected,
        actor=who.user,
        allow_new_keys=allow_new_keys,
    )
    return {**_synced(engine, result), "product": catalog.products.get(result.entity_id).as_dict()}


@router.delete(
    "/products/{product_id}",
    response_model=EditOut,
    response_model_exclude_unset=True,
    responses=WRITE_ERRORS,
)
def delete_product(
    product_id: str, expected_version: Version, who: Editor, catalog: CatalogDep, engine: EngineDep
) -> Any:
    result = catalog.products.delete(product_id, expected_version=expected_version, actor=who.user)
    return _synced(engine, result)


@router.post(
    "/products/{product_id}/merge",
    response_model=EditOut,
    response_model_exclude_unset=True,
    responses=WRITE_ERRORS,
)
def merge_products(
    product_id: str, body: MergeIn, who: Editor, catalog: CatalogDep, engine: EngineDep
) -> Any:
    return _merged(catalog.products.merge, product_id, body, who, engine)


# -- named entities: the routes of each declared kind (catalogue.kinds.NAMED_KINDS) --------


def _typed(endpoint: Callable[..., Any], **types: Any) -> Callable[..., Any]:
    """``endpoint`` with the real types of the parameters that depend on the kind (the
    path parameter named after it, the body of a kind in a tree): FastAPI reads them."""
    endpoint.__annotations__.update(types)
    return endpoint


def _named_routes(spec: EntityKindSpec) -> None:
    """``GET/POST /<path>``, ``PATCH/DELETE /<path>/{<label>_id}`` (PATCH renames; in a
    tree it renames and/or moves) and, for a kind that merges, ``POST .../merge``."""
    kind, label = spec.kind, spec.label
    item = f"/{spec.path}/{{{label}_id{':path' if spec.tree else ''}}}"
    entity_id = Annotated[str, PathParam(alias=f"{label}_id")]

    def listed(_: Editor, catalog: CatalogDep) -> Any:
        return {"items": [e.as_dict() for e in catalog.named[kind].list()]}

    def create(body: NameIn, who: Editor, catalog: CatalogDep, engine: EngineDep) -> Any:
        parent = body.parent if isinstance(body, CategoryIn) else None
        result = catalog.named[kind].create(body.name, parent=parent, actor=who.user)
        return _synced(engine, result)

    def rename(
        eid: str, body: RenameIn, who: Editor, catalog: CatalogDep, engine: EngineDep
    ) -> Any:
        result = catalog.named[kind].rename(
            eid, body.name, expected_version=body.expected_version, actor=who.user
        )
        return _synced(engine, result)

    def update(
        eid: str, body: CategoryPatch, who: Editor, catalog: CatalogDep, engine: EngineDep
    ) -> Any:
        result = catalog.named[kind].update(
            eid,
            expected_version=body.expected_version,
            actor=who.user,
            name=body.name,
            parent=body.parent,
            move="parent" in body.model_fields_set,
        )
        return _synced(engine, result)

    def delete(
        eid: str, expected_version: Version, who: Editor, catalog: CatalogDep, engine: EngineDep
    ) -> Any:
        result = catalog.named[kind].delete(eid, expected_version=expected_version, actor=who.user)
        return _synced(engine, result)

    def merge(eid: str, body: MergeIn, who: Editor, catalog: CatalogDep, engine: EngineDep) -> Any:
        return _merged(catalog.named[kind].merge, eid, body, who, engine)

    router.add_api_route(
        f"/{spec.path}",
        listed,
        methods=["GET"],
        name=f"list_{spec.path}",
        response_model=NamedListOut,
        response_model_exclude_unset=True,
    )
    edit: dict[str, Any] = {
        "response_model": EditOut,
        "response_model_exclude_unset": True,
        "responses": WRITE_ERRORS,
    }
    router.add_api_route(
        f"/{spec.path}",
        _typed(create, body=CategoryIn if spec.tree else NameIn),
        methods=["POST"],
        status_code=201,
        name=f"create_{label}",
        **edit,
    )
    if spec.tree:
        router.add_api_route(
            item, _typed(update, eid=entity_id), methods=["PATCH"], name=f"update_{label}", **edit
        )
    else:
        router.add_api_route(
            item, _typed(rename, eid=entity_id), methods=["PATCH"], name=f"rename_{label}", **edit
        )
    router.add_api_route(
        item, _typed(delete, eid=entity_id), methods=["DELETE"], name=f"delete_{label}", **edit
    )
    if spec.mergeable:
        router.add_api_route(
            f"{item}/merge",
            _typed(merge, eid=entity_id),
            methods=["POST"],
            name=f"merge_{spec.path}",
            **edit,
        )


for _spec in NAMED_KINDS:
    _named_routes(_spec)


# -- attributes -----------------------------------------------------------------------------


@router.get("/attributes", response_model=AttributesOut, response_model_exclude_unset=True)
def list_attributes(
    _: Editor, catalog: CatalogDep, product_class: Annotated[str | None, Query()] = None
) -> Any:
    body: dict[str, Any] = {"keys": catalog.attributes.keys()}
    if product_class is not None:
        body["allowed_keys"] = catalog.attributes.allowed_keys(product_class)
    return body


@router.post(
    "/attributes/keys/rename",
    response_model=EditOut,
    response_model_exclude_unset=True,
    responses=WRITE_ERRORS,
)
def rename_attribute_key(
    body: KeyRenameIn, who: Editor, catalog: CatalogDep, engine: EngineDep
) -> Any:
    return _synced(engine, catalog.attributes.rename_key(body.key, body.new_key, actor=who.user))


@router.patch(
    "/attributes/{attribute_id}",
    response_model=EditOut,
    response_model_exclude_unset=True,
    responses=WRITE_ERRORS,
)
def rename_attribute_value(
    attribute_id: str, body: ValuePatch, who: Editor, catalog: CatalogDep, engine: EngineDep
) -> Any:
    result = catalog.attributes.rename_value(
        attribute_id, body.value, expected_version=body.expected_version, actor=who.user
    )
    return _synced(engine, result)


@router.post(
    "/attributes/{attribute_id}/merge",
    response_model=EditOut,
    response_model_exclude_unset=True,
    responses=WRITE_ERRORS,
)
def merge_attribute_values(
    attribute_id: str, body: MergeIn, who: Editor, catalog: CatalogDep, engine: EngineDep
) -> Any:
    return _merged(catalog.attributes.merge_values, attribute_id, body, who, engine)


# -- aliases --------------------------------------------------------------------------------

AliasEntity = Annotated[
    str, PathParam(description="brand:..., category:... (slashes allowed) or attr:key=value")
]


@router.get("/aliases", response_model=AliasListOut)
def list_aliases(_: Editor, catalog: CatalogDep) -> Any:
    return {"items": [v.as_dict() for v in catalog.aliases.list()]}


@router.get(
    "/aliases/{entity_id:path}", response_model=AliasesOut, responses=catalog_errors(404, 422)
)
def get_aliases(entity_id: AliasEntity, _: Editor, catalog: CatalogDep) -> Any:
    return catalog.aliases.get(entity_id).as_dict()


@router.post(
    "/aliases/{entity_id:path}",
    response_model=EditOut,
    response_model_exclude_unset=True,
    responses=WRITE_ERRORS,
)
def add_alias(
    entity_id: AliasEntity, body: AliasIn, who: Editor, catalog: CatalogDep, engine: EngineDep
) -> Any:
    result = catalog.aliases.add(
        entity_id, body.alias, expected_version=body.expected_version, actor=who.user
    )
    return _synced(engine, result)


@router.put(
    "/aliases/{entity_id:path}",
    response_model=EditOut,
    response_model_exclude_unset=True,
    responses=WRITE_ERRORS,
)
def set_aliases(
    entity_id: AliasEntity, body: AliasesIn, who: Editor, catalog: CatalogDep, engine: EngineDep
) -> Any:
    result = catalog.aliases.replace(
        entity_id, body.aliases, expected_version=body.expected_version, actor=who.user
    )
    return _synced(engine, result)


@router.delete(
    "/aliases/{entity_id:path}",
    response_model=EditOut,
    response_model_exclude_unset=True,
    responses=WRITE_ERRORS,
)
def remove_alias(
    entity_id: AliasEntity,
    alias: Annotated[str, Query(description="The alias to remove.")],
    expected_version: Version,
    who: Editor,
    catalog: CatalogDep,
    engine: EngineDep,
) -> Any:
    result = catalog.aliases.remove(
        entity_id, alias, expected_version=expected_version, actor=who.user
    )
    return _synced(engine, result)


# -- relations ------------------------------------------------------------------------------


@router.post(
    "/relations",
    response_model=EditOut,
    response_model_exclude_unset=True,
    responses=WRITE_ERRORS,
)
def relate(body: RelationIn, who: Editor, catalog: CatalogDep, engine: EngineDep) -> Any:
    relation = parse_relation(body.source, body.type, body.target)
    result = catalog.relations.relate(
        relation,
        expected_version=body.expected_version,
        actor=who.user,
        allow_new_keys=body.allow_new_keys,
    )
    return _synced(engine, result)


@router.delete(
    "/relations",
    response_model=EditOut,
    response_model_exclude_unset=True,
    responses=WRITE_ERRORS,
)
def unrelate(
    source: str,
    type: str,
    target: str,
    expected_version: Version,
    who: Editor,
    catalog: CatalogDep,
    engine: EngineDep,
) -> Any:
    relation = parse_relation(source, type, target)
    result = catalog.relations.unrelate(relation, expected_version=expected_version, actor=who.user)
    return _synced(engine, result)


# -- import ---------------------------------------------------------------------------------


def _bad_upload(message: str) -> CatalogError:
    return CatalogError.one(Code.INVALID_VALUE, message, field="file", rule="upload")


def _upload(content_type: str, raw: bytes, fmt: str | None) -> tuple[str, bytes]:
    """(file suffix, bytes) of an import body: multipart (field ``file``), JSON
    (``{"products": [...]}`` or ``{"format": ..., "content": ...}``), TSV or JSONL."""
    kind = content_type.split(";")[0].strip().lower()
    if kind == "multipart/form-data":
        message = BytesParser(policy=email_policy).parsebytes(
            b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + raw
        )
        for part in message.iter_parts():
            if part.get_param("name", header="content-disposition") == "file":
                name = part.get_filename() or ""
                data = part.get_payload(decode=True)
                suffix = ".jsonl" if (fmt or Path(name).suffix.lstrip(".")) == "jsonl" else ".csv"
                return suffix, data if isinstance(data, bytes) else b""
        raise _bad_upload("a multipart import needs a part named 'file'")
    if kind == "application/json":
        try:
            body = json.loads(raw or b"null")
        except json.JSONDecodeError as exc:
            raise _bad_upload(f"invalid JSON: {exc.msg}") from None
        if isinstance(body, dict) and isinstance(body.get("products"), list):
            lines = [json.dumps(p) for p in body["products"]]
            return ".jsonl", ("\n".join(lines) + "\n").encode()
        if isinstance(body, dict) and isinstance(body.get("content"), str):
            suffix = ".jsonl" if body.get("format", fmt) == "jsonl" else ".csv"
            return suffix, body["content"].encode()
        raise _bad_upload('a JSON import is {"products": [...]} or {"format", "content"}')
    if kind in ("application/x-ndjson", "application/jsonl") or fmt == "jsonl":
        return ".jsonl", raw
    if kind in ("text/tab-separated-values", "text/csv", "text/plain") or fmt == "tsv":
        return ".csv", raw
    raise _bad_upload(f"unsupported content type {kind!r}")


@router.post(
    "/import",
    response_model=ImportOut,
    response_model_exclude_unset=True,
    responses=WRITE_ERRORS,
    openapi_extra=IMPORT_BODY,
)
async def import_catalogue(
    request: Request,
    who: Editor,
    catalog: CatalogDep,
    engine: EngineDep,
    dry_run: bool = False,
    mode: Literal["upsert", "replace"] = "upsert",
    force: bool = False,
    skip_invalid: bool = False,
    allow_new_keys: bool = False,
    format: Annotated[Literal["tsv", "jsonl"] | None, Query()] = None,
) -> Any:
    raw = await request.body()  # at most settings.max_upload_bytes (app.limits)
    suffix, data = _upload(request.headers.get("content-type", ""), raw, format)

    def run() -> dict[str, Any]:
        with tempfile.TemporaryDirectory(prefix="kgsearch-import-") as tmp:
            path = Path(tmp) / f"upload{suffix}"
            path.write_bytes(data)
            report = catalog.imports.run(
                path,
                actor=who.user,
                mode=mode,
                dry_run=dry_run,
                force=force,
                skip_invalid=skip_invalid,
                allow_new_keys=allow_new_keys,
                source=f"upload{suffix}",
            )
        body: dict[str, Any] = report.as_dict()
        return _sync_after_write(engine, body) if report.written else body

    return await run_in_threadpool(run)


# -- audit and undo -------------------------------------------------------------------------


@router.get("/audit", response_model=AuditOut)
def audit(
    _: Editor,
    catalog: CatalogDep,
    entity_id: str | None = None,
    actor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> Any:
    if entity_id is not None and ":" not in entity_id:
        entity_id = f"product:{entity_id}"
    entries, more = catalog.history.audit(
        entity_id=entity_id, actor=actor, limit=limit, offset=offset
    )
    return {
        "items": [e.as_dict() for e in entries],
        "limit": limit,
        "offset": offset,
        "has_more": more,
        "next_offset": offset + limit if more else None,
    }


@router.post(
    "/undo/{change_id}",
    response_model=EditOut,
    response_model_exclude_unset=True,
    responses=WRITE_ERRORS,
)
def undo(change_id: int, who: Editor, catalog: CatalogDep, engine: EngineDep) -> Any:
    return _synced(engine, catalog.history.undo(change_id, actor=who.user))


# -- keys -----------------------------------------------------------------------------------


def _keys(request: Request) -> KeyStore:
    keys: KeyStore = request.app.state.key_store
    return keys


KeysDep = Annotated[KeyStore, Depends(_keys)]


@admin_router.post("/keys", status_code=201, response_model=KeyCreatedOut)
def create_key(body: KeyIn, who: Admin, keys: KeysDep) -> Any:
    created = keys.create(user=body.user, role=body.role, created_by=who.user)
    return {
        "key": created.key,
        "key_id": created.key_id,
        "user": created.user,
        "role": created.role.value,
        "created_at": created.created_at,
        "note": "store this key now: it is not shown again",
    }


@admin_router.get("/keys", response_model=KeyListOut, response_model_exclude_unset=True)
def list_keys(_: Admin, keys: KeysDep) -> Any:
    return {"items": keys.list()}


@admin_router.delete("/keys/{key_id}", response_model=KeyRevokedOut, responses=catalog_errors(404))
def revoke_key(key_id: str, _: Admin, keys: KeysDep) -> Any:
    if not keys.revoke(key_id):
        raise CatalogError.one(
            Code.NOT_FOUND, f"no active key {key_id!r}", field="key_id", rule="exists"
        )
    return {"key_id": key_id, "revoked": True}


# -- wiring ---------------------------------------------------------------------------------


def _error(status: int, code: str, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse(
        status_code=status, content={"error": {"code": code, "message": message, **extra}}
    )


async def _catalog_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, CatalogError)
    first = exc.issues[0]
    return _error(
        STATUS.get(first.code, 422),
        first.code.value,
        str(exc),
        field=first.field,
        entity_id=first.entity_id,
        rule=first.rule,
        issues=[i.as_dict() for i in exc.issues],
    )


async def _version_conflict(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, VersionConflict)
    return _error(409, exc.code, str(exc), field="expected_version", entity_id=exc.entity_id)


async def _auth_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AuthError)
    response = _error(exc.status, exc.code, str(exc), field="X-API-Key")
    if exc.status == 401:
        response.headers["WWW-Authenticate"] = "X-API-Key"
    if exc.retry_after is not None:
        response.headers["Retry-After"] = str(exc.retry_after)
    return response


def install_catalog(app: FastAPI) -> None:
    """Add the catalog and admin routers, their error handlers, and the console."""
    engine: Engine = app.state.engine
    settings = engine.settings
    bootstrap = settings.admin_api_key.get_secret_value() if settings.admin_api_key else None
    app.state.key_store = KeyStore(
        path=settings.api_keys_file or settings.data_dir / "api_keys.json",
        bootstrap_admin=bootstrap,
    )
    app.state.catalog = None
    app.state.catalog_lock = threading.Lock()
    app.add_exception_handler(CatalogError, _catalog_error)
    app.add_exception_handler(VersionConflict, _version_conflict)
    app.add_exception_handler(AuthError, _auth_error)
    app.include_router(router)
    app.include_router(admin_router)
    app.mount("/console", StaticFiles(directory=CONSOLE_DIR, html=True), name="console")
