"""``/merchandising/rules``: merchandising rules over HTTP, thin routes over
:class:`~app.rules_ops.RuleOps`, for the ``merchandiser`` role (``admin`` too).

Errors are JSON with a stable code: 404 (no such rule or change), 409 (a stale version, a
pin slot another rule holds, a publish that lowers judged NDCG@10 by more than the
margin without ``force``, an undo of a rule changed since), 422 (a malformed rule, or one
naming an unknown brand, category, attribute value, relation or product).
"""

from __future__ import annotations

import threading
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from app.auth import Principal, Require, Role
from app.engine import Engine
from app.rules_ops import RuleError, RuleOps, change_dict, record_dict
from app.schemas import ErrorOut
from kg.rule_store import RuleOp
from search.rules import RuleSpec

__all__ = ["install_rules", "router"]

router = APIRouter(prefix="/merchandising/rules", tags=["merchandising"])

Merchandiser = Annotated[Principal, Depends(Require(Role.MERCHANDISER))]


def _ops(request: Request) -> RuleOps:
    state = request.app.state
    with state.rules_lock:
        if state.rules is None:
            engine: Engine = state.engine
            state.rules = RuleOps(engine)
        ops: RuleOps = state.rules
        return ops


RulesDep = Annotated[RuleOps, Depends(_ops)]


class RuleUpdateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    expected_version: int = Field(ge=1, description="The version you read (optimistic lock).")
    rule: RuleSpec


class PublishIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    force: bool = Field(
        default=False, description="Publish even when judged NDCG@10 falls beyond the margin."
    )
    expected_version: int | None = Field(default=None, ge=1)


# -- answers: the shapes of record_dict, change_dict and Preview.as_dict -------------------
# The routes serialise with ``response_model_exclude_unset``, so a stored rule comes back
# exactly as stored (ids resolved, no null for a field it does not set).


class RuleOut(BaseModel):
    """A rule, its state and both copies (:func:`~app.rules_ops.record_dict`)."""

    id: int
    version: int = Field(description="Send it back as expected_version to change the rule.")
    state: Literal["draft", "published", "changed"] = Field(
        description="draft: never published; changed: the draft differs from what is live."
    )
    draft: RuleSpec = Field(description="The rule being edited, names resolved to ids.")
    published: RuleSpec | None = Field(description="What search applies; null until published.")
    published_at: str | None
    published_by: str | None


class RuleListOut(BaseModel):
    items: list[RuleOut]
    total: int
    limit: int
    offset: int
    has_more: bool
    next_offset: int | None


class RuleChangeOut(BaseModel):
    """One entry of the rules' change log, newest first (:func:`~app.rules_ops.change_dict`)."""

    seq: int = Field(description="The change's id: POST /merchandising/rules/undo/{seq}.")
    at: str
    actor: str
    op: RuleOp
    rule_id: int
    note: str
    before: dict[str, Any] | None = Field(description="The stored rule before; null: created.")
    after: dict[str, Any] | None = Field(description="The stored rule after; null: deleted.")


class RuleAuditOut(BaseModel):
    items: list[RuleChangeOut]
    limit: int
    offset: int
    has_more: bool
    next_offset: int | None


class UndoOut(BaseModel):
    undone: int = Field(description="The change undone.")
    rule: RuleOut | None = Field(description="The rule as restored; null when it was deleted.")


class RuleDeletedOut(BaseModel):
    id: int
    deleted: bool


class JudgedChangeOut(BaseModel):
    """A judged query whose top 10 the rule changes."""

    query: str
    query_id: str
    before: list[str]
    after: list[str]
    ndcg_at_10_before: float | None
    ndcg_at_10_after: float | None


class LoggedChangeOut(BaseModel):
    """A logged query whose top 10 the rule changes; ``count``: how often it was searched."""

    query: str
    count: int
    before: list[str]
    after: list[str]


class PreviewOut(BaseModel):
    """What publishing the draft would change (:class:`~app.rules_ops.Preview`)."""

    rule_id: int
    judged_queries: int
    judged_in_scope: int
    ndcg_at_10_before: float | None
    ndcg_at_10_after: float | None
    ndcg_at_10_delta: float
    changed_judged: list[JudgedChangeOut]
    logged_queries: int
    changed_logged: list[LoggedChangeOut]


class PublishedOut(RuleOut):
    preview: PreviewOut = Field(description="The preview the publish was checked against.")


def _errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` of a route: the :class:`RuleError` statuses it answers."""
    why = {
        404: "No such rule (or rule change).",
        409: "A stale expected_version, a pin slot another rule holds, an NDCG@10 drop "
        "beyond the margin without force, or an undo of a rule changed since.",
        422: "A malformed rule, or one naming an unknown brand, category, value or product.",
    }
    return {s: {"model": ErrorOut, "description": why[s]} for s in statuses}


@router.get("", response_model=RuleListOut, response_model_exclude_unset=True)
def list_rules(
    _: Merchandiser,
    rules: RulesDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> Any:
    page, total = rules.page(limit=limit, offset=offset)
    more = offset + limit < total
    return {
        "items": [record_dict(r) for r in page],
        "total": total,
        "limit": limit,
        "offset": offset,
        "has_more": more,
        "next_offset": offset + limit if more else None,
    }


@router.post(
    "",
    status_code=201,
    response_model=RuleOut,
    response_model_exclude_unset=True,
    responses=_errors(409, 422),
)
def create_rule(body: RuleSpec, who: Merchandiser, rules: RulesDep) -> Any:
    return record_dict(rules.create(body, actor=who.user))


@router.get("/audit", response_model=RuleAuditOut)
def audit(
    _: Merchandiser,
    rules: RulesDep,
    rule_id: int | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> Any:
    changes, more = rules.audit(rule_id=rule_id, limit=limit, offset=offset)
    return {
        "items": [change_dict(c) for c in changes],
        "limit": limit,
        "offset": offset,
        "has_more": more,
        "next_offset": offset + limit if more else None,
    }


@router.post(
    "/undo/{change_id}",
    response_model=UndoOut,
    response_model_exclude_unset=True,
    responses=_errors(404, 409),
)
def undo(change_id: int, who: Merchandiser, rules: RulesDep) -> Any:
    restored = rules.undo(change_id, actor=who.user)
    return {"undone": change_id, "rule": record_dict(restored) if restored else None}


@router.get(
    "/{rule_id}", response_model=RuleOut, response_model_exclude_unset=True, responses=_errors(404)
)
def get_rule(rule_id: int, _: Merchandiser, rules: RulesDep) -> Any:
    return record_dict(rules.get(rule_id))


@router.put(
    "/{rule_id}",
    response_model=RuleOut,
    response_model_exclude_unset=True,
    responses=_errors(404, 409, 422),
)
def update_rule(rule_id: int, body: RuleUpdateIn, who: Merchandiser, rules: RulesDep) -> Any:
    record = rules.update(
        rule_id, body.rule, expected_version=body.expected_version, actor=who.user
    )
    return record_dict(record)


@router.delete("/{rule_id}", response_model=RuleDeletedOut, responses=_errors(404, 409))
def delete_rule(
    rule_id: int,
    who: Merchandiser,
    rules: RulesDep,
    expected_version: Annotated[int | None, Query(ge=1)] = None,
) -> Any:
    rules.delete(rule_id, expected_version=expected_version, actor=who.user)
    return {"id": rule_id, "deleted": True}


@router.post("/{rule_id}/preview", response_model=PreviewOut, responses=_errors(404))
def preview_rule(rule_id: int, _: Merchandiser, rules: RulesDep) -> Any:
    return rules.preview(rule_id).as_dict()


@router.post(
    "/{rule_id}/publish",
    response_model=PublishedOut,
    response_model_exclude_unset=True,
    responses=_errors(404, 409),
)
def publish_rule(
    rule_id: int, who: Merchandiser, rules: RulesDep, body: PublishIn | None = None
) -> Any:
    body = body or PublishIn()
    record, preview = rules.publish(
        rule_id, actor=who.user, force=body.force, expected_version=body.expected_version
    )
    return {**record_dict(record), "preview": preview.as_dict()}


async def _rule_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RuleError)
    return JSONResponse(
        status_code=exc.status,
        content={"error": {"code": exc.code, "message": str(exc), "field": exc.field}},
    )


def install_rules(app: FastAPI) -> None:
    """Add ``/merchandising/rules`` and its error handler (auth errors are the catalog's)."""
    app.state.rules = None
    app.state.rules_lock = threading.Lock()
    app.add_exception_handler(RuleError, _rule_error)
    app.include_router(router)
