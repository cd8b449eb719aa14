"""``POST /events``: the storefront reports shopper events (views, clicks, add-to-cart,
purchases, impressions).

Body ``{"events": [...], "skip_invalid": false, "max_age_days": null}``, at most
:data:`MAX_EVENTS` events and :data:`MAX_BODY_BYTES` bytes. Every event is checked
(:class:`~ingest.events.ShopEvent`, then a known product and a plausible ``ts``); a batch
with an invalid event is refused whole (422, nothing stored) unless ``skip_invalid``.
Needs a ``storefront`` (or ``admin``) API key in ``X-API-Key``: events steer what every
shopper is shown, so an anonymous caller must not be able to write them. Answers 200
``{accepted, duplicates, rejected: [{index, field, reason}], revision}``;
errors in the API's one shape (``{"error": {"code", "message", "field", ...}}``), a
refused batch with its ``rejected`` items inside ``error``.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import JSONResponse

from app.api import EngineDep, _error
from app.auth import Principal, Require, Role
from app.engine import Engine
from app.schemas import ErrorOut, EventsOut
from ingest.event_import import EventsRefused, rejection

__all__ = ["MAX_BODY_BYTES", "MAX_EVENTS", "install_events", "router"]

router = APIRouter(tags=["events"])

Storefront = Annotated[Principal, Depends(Require(Role.STOREFRONT))]

#: The most events one request may carry.
MAX_EVENTS = 10_000
#: The largest request body accepted (10,000 events of about 400 bytes, with room).
MAX_BODY_BYTES = 8 * 1024 * 1024
_BODY_KEYS = frozenset({"events", "skip_invalid", "max_age_days"})


class BadEvents(ValueError):
    """The request itself (not one event in it) is wrong."""

    def __init__(self, status: int, code: str, message: str, field: str | None) -> None:
        self.status, self.code, self.field = status, code, field
        super().__init__(message)


async def _read(request: Request) -> bytes:
    """The request body, refused as soon as it passes :data:`MAX_BODY_BYTES`."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise _too_large()
    raw = bytearray()
    async for chunk in request.stream():
        raw.extend(chunk)
        if len(raw) > MAX_BODY_BYTES:
            raise _too_large()
    return bytes(raw)


def _body(raw: bytes) -> dict[str, Any]:
    try:
        body = json.loads(raw or b"null")
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        reason = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)
        raise BadEvents(400, "invalid_json", f"the body is not JSON: {reason}", None) from None
    if not isinstance(body, dict) or not isinstance(body.get("events"), list):
        raise BadEvents(
            422,
            "invalid_parameter",
            'the body must be a JSON object {"events": [...]} (a list of events)',
            "events",
        )
    unknown = sorted(set(body) - _BODY_KEYS)
    if unknown:
        raise BadEvents(
            422,
            "invalid_parameter",
            f"unknown key {unknown[0]!r}; allowed: {sorted(_BODY_KEYS)}",
            unknown[0],
        )
    if len(body["events"]) > MAX_EVENTS:
        raise BadEvents(
            413,
            "too_many_events",
            f"{len(body['events'])} events in one request; send at most {MAX_EVENTS} per request",
            "events",
        )
    if not isinstance(body.get("skip_invalid", False), bool):
        raise BadEvents(422, "invalid_parameter", "skip_invalid must be true or false", None)
    age = body.get("max_age_days")
    if age is not None and (isinstance(age, bool) or not isinstance(age, int | float) or age <= 0):
        raise BadEvents(
            422, "invalid_parameter", "max_age_days must be a positive number", "max_age_days"
        )
    return body


def _too_large() -> BadEvents:
    return BadEvents(
        413,
        "body_too_large",
        f"the body is larger than {MAX_BODY_BYTES} bytes; send the events in smaller batches",
        None,
    )


@router.post(
    "/events",
    response_model=EventsOut,
    responses={
        401: {"model": ErrorOut},
        403: {"model": ErrorOut},
        413: {"model": ErrorOut},
        422: {"model": ErrorOut},
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "required": ["events"],
                        "properties": {
                            "events": {
                                "type": "array",
                                "maxItems": MAX_EVENTS,
                                "items": {"$ref": "#/components/schemas/ShopEvent"},
                            },
                            "skip_invalid": {"type": "boolean", "default": False},
                            "max_age_days": {"type": "number", "exclusiveMinimum": 0},
                        },
                    }
                }
            },
        }
    },
)
async def post_events(request: Request, engine: EngineDep, _: Storefront) -> Any:
    """Record shopper events (durable, idempotent by ``event_id``, all or nothing)."""
    from starlette.concurrency import run_in_threadpool

    raw = await _read(request)
    return await run_in_threadpool(_record, engine, raw)  # off the event loop


def _record(engine: Engine, raw: bytes) -> dict[str, Any]:
    from ingest.events import parse_shop_events

    body = _body(raw)
    report = engine.record_events(
        parse_shop_events(body["events"], start=0),
        skip_invalid=body.get("skip_invalid", False),
        max_age_days=body.get("max_age_days"),
        source="POST /events",
    )
    out = report.as_dict(position="index")
    del out["source"]
    return out


async def _refused(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, EventsRefused)
    first = exc.errors[0] if exc.errors else None
    message = (
        f"{len(exc.errors)} invalid event(s) of {exc.received}; nothing was recorded. Fix "
        'them, or send "skip_invalid": true to record only the valid ones.'
        if exc.errors
        else "no events to record"
    )
    error = {
        "code": exc.code,
        "message": message,
        "field": first.field if first else "events",
        "rejected": [rejection(e, position="index") for e in exc.errors],
    }
    return JSONResponse(status_code=422, content={"error": error})


async def _bad_events(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, BadEvents)
    return _error(exc.status, exc.code, str(exc), exc.field)


def _shop_event_schema(app: FastAPI) -> None:
    """Put the ShopEvent JSON schema into the OpenAPI document (the route reads its body
    itself, to bound its size before parsing)."""
    from ingest.events import ShopEvent

    original = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = original()
            schema.setdefault("components", {}).setdefault("schemas", {})["ShopEvent"] = (
                ShopEvent.model_json_schema(ref_template="#/components/schemas/{model}")
            )
        return app.openapi_schema or {}

    app.openapi = openapi  # type: ignore[method-assign]


def install_events(app: FastAPI) -> None:
    """Add ``POST /events`` and its error handlers."""
    app.add_exception_handler(EventsRefused, _refused)
    app.add_exception_handler(BadEvents, _bad_events)
    app.include_router(router)
    _shop_event_schema(app)
