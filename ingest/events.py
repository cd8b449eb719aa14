"""Shopper events: the logged event types and the JSONL event log, and the generalised
:class:`ShopEvent` that the storefront posts and the event store keeps.

A log is a sequence of events, one JSON object a line, each with a ``type`` of
``impression``, ``click``, ``add_to_cart`` or ``purchase``. Every event names its
session, user, query, product, the 1-based position the product was shown at and the
A/B variant the user was bucketed into. Logs come from the storefront or from the
simulator in :mod:`synthetic.behaviour`; :mod:`ranker.clicks` and :mod:`ranker.ab` read
them (duck-typed: ``ranker`` does not import ``ingest``).

:class:`ShopEvent` generalises a logged event: a ``view`` of a product page has no query
or position, an anonymous shopper has a session but no user id, and an ``event_id`` makes
a repeated delivery harmless. :func:`read_shop_events` and :func:`parse_shop_events` read
them with a :class:`~ingest.formats.RowError` per bad item; :func:`check_events` applies
the rules an event must pass before it is stored (a known product, a plausible time).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Container, Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Annotated, Literal, TypeAlias

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator

from ingest.formats import ReadResult, RowError

__all__ = [
    "DEFAULT_MAX_AGE_DAYS",
    "MAX_FUTURE_S",
    "SHOP_EVENT_TYPES",
    "USER_ID_PATTERN",
    "AddToCart",
    "Click",
    "Event",
    "EventBatch",
    "Impression",
    "Purchase",
    "ShopEvent",
    "check_events",
    "parse_shop_events",
    "read_events",
    "read_shop_events",
    "write_events",
]

Ident = Annotated[str, Field(min_length=1, max_length=128)]


class _EventBase(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    session_id: Ident
    user_id: Ident
    query_id: Ident
    query: Annotated[str, Field(min_length=1, max_length=1_000)]
    product_id: Ident
    position: Annotated[int, Field(ge=1)]
    variant: Ident
    ts: Annotated[float, Field(ge=0, allow_inf_nan=False)]


class Impression(_EventBase):
    """The product was shown on the result page at ``position``."""

    type: Literal["impression"] = "impression"


class Click(_EventBase):
    """The user clicked the product shown at ``position``."""

    type: Literal["click"] = "click"


class AddToCart(_EventBase):
    """The user added the clicked product to the cart."""

    type: Literal["add_to_cart"] = "add_to_cart"


class Purchase(_EventBase):
    """The user bought the product (always after an add-to-cart in simulated logs)."""

    type: Literal["purchase"] = "purchase"


Event: TypeAlias = Annotated[Impression | Click | AddToCart | Purchase, Field(discriminator="type")]


@cache
def _event_adapter() -> TypeAdapter[Event]:
    return TypeAdapter(Event)


def write_events(path: Path, events: Iterable[Event]) -> int:
    """Write ``events`` to ``path`` as JSONL (one event a line); return how many."""
    count = 0
    with path.open("w", encoding="utf-8") as handle:
        for event in events:
            handle.write(event.model_dump_json())
            handle.write("\n")
            count += 1
    return count


def read_events(path: Path) -> ReadResult[Event]:
    """Read a JSONL event log, validating every line.

    Blank lines are skipped. A line that is not JSON or not a valid event becomes a
    :class:`~ingest.formats.RowError` (line number, field, reason) and the reading goes on,
    so the caller decides whether to refuse the log or use the valid events.
    """
    adapter = _event_adapter()
    events: list[Event] = []
    errors: list[RowError] = []
    with path.open(encoding="utf-8") as handle:
        for line, text in enumerate(handle, start=1):
            if not text.strip():
                continue
            try:
                obj = json.loads(text)
            except json.JSONDecodeError as exc:
                errors.append(RowError(line, "json", f"invalid JSON: {exc.msg}"))
                continue
            try:
                events.append(adapter.validate_python(obj))
            except ValidationError as exc:
                for err in exc.errors():
                    loc = [str(part) for part in err["loc"]]
                    # The discriminated union prefixes field errors with the event type.
                    if len(loc) > 1 and isinstance(obj, dict) and loc[0] == obj.get("type"):
                        loc = loc[1:]
                    errors.append(RowError(line, ".".join(loc) or "event", err["msg"]))
    return ReadResult(tuple(events), tuple(errors))


# -- the generalised event: what the storefront posts and the event store keeps -------------

#: The allowed form of a shopper id (the API answers 422 to any other).
USER_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:@-]{0,127}$"
#: Event types a :class:`ShopEvent` may have.
SHOP_EVENT_TYPES = ("impression", "view", "click", "add_to_cart", "purchase")

ShopEventType: TypeAlias = Literal["impression", "view", "click", "add_to_cart", "purchase"]


class ShopEvent(BaseModel):
    """One shopper event as the storefront reports it: the behaviour log's schema
    generalised, so that a product-page ``view`` without a query is an event too.

    At least one of ``user_id`` and ``session_id`` names who acted (an anonymous shopper
    has a session only). ``ts`` is epoch seconds. ``event_id``, when given, makes the
    event idempotent: the store keeps the first event with an id and counts later ones as
    duplicates."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    type: ShopEventType
    user_id: Annotated[str, Field(pattern=USER_ID_PATTERN)] | None = None
    session_id: Ident | None = None
    product_id: Ident
    ts: Annotated[float, Field(ge=0, allow_inf_nan=False)]
    query: Annotated[str, Field(min_length=1, max_length=1_000)] | None = None
    query_id: Ident | None = None
    position: Annotated[int, Field(ge=1)] | None = None
    variant: Ident | None = None
    event_id: Ident | None = None

    @model_validator(mode="after")
    def _someone(self) -> ShopEvent:
        if self.user_id is None and self.session_id is None:
            raise ValueError("an event needs a user_id, a session_id or both")
        return self

    @classmethod
    def from_logged(cls, event: Event, *, event_id: str | None = None) -> ShopEvent:
        """The simulator's (or a search log's) logged event as a shop event."""
        return cls(
            type=event.type,
            user_id=event.user_id,
            session_id=event.session_id,
            product_id=event.product_id,
            ts=event.ts,
            query=event.query,
            query_id=event.query_id,
            position=event.position,
            variant=event.variant,
            event_id=event_id,
        )


@dataclass(frozen=True, slots=True)
class EventBatch:
    """Shop events read from a file or a request, each with where it came from (the
    file's line, or the request's 0-based index), and a :class:`RowError` for each item
    that was not a valid event."""

    events: tuple[ShopEvent, ...]
    lines: tuple[int, ...]
    errors: tuple[RowError, ...]

    @property
    def ok(self) -> bool:
        return not self.errors


def _shop_event_errors(line: int, exc: ValidationError) -> list[RowError]:
    errors = []
    for err in exc.errors():
        field = ".".join(str(part) for part in err["loc"]) or "event"
        reason = err["msg"].removeprefix("Value error, ")
        errors.append(RowError(line, field, reason))
    return errors


def parse_shop_events(items: Iterable[object], *, start: int = 0) -> EventBatch:
    """Validate decoded JSON objects as :class:`ShopEvent` s, numbering them from
    ``start`` (0 for a request's array; files use :func:`read_shop_events`)."""
    events: list[ShopEvent] = []
    lines: list[int] = []
    errors: list[RowError] = []
    for line, obj in enumerate(items, start=start):
        _parse_one(line, obj, events, lines, errors)
    return EventBatch(tuple(events), tuple(lines), tuple(errors))


def _parse_one(
    line: int, obj: object, events: list[ShopEvent], lines: list[int], errors: list[RowError]
) -> None:
    if not isinstance(obj, dict):
        errors.append(RowError(line, "event", f"an event is a JSON object, not {_kind(obj)}"))
        return
    try:
        events.append(ShopEvent.model_validate(obj))
    except ValidationError as exc:
        errors.extend(_shop_event_errors(line, exc))
        return
    lines.append(line)


def _kind(obj: object) -> str:
    if isinstance(obj, list):
        return "an array"
    if isinstance(obj, str):
        return "a string"
    if obj is None:
        return "null"
    return f"a {type(obj).__name__}"


def read_shop_events(
    path: Path, *, progress: Callable[[int, int], None] | None = None
) -> EventBatch:
    """Read a JSONL file of shop events (one JSON object a line; blank lines skipped),
    validating every line; errors carry the 1-based line number. ``progress(done, total)``
    is called with bytes read, every 10,000 lines."""
    events: list[ShopEvent] = []
    lines: list[int] = []
    errors: list[RowError] = []
    total = path.stat().st_size
    done = 0
    with path.open("rb") as handle:
        for line, raw in enumerate(handle, start=1):
            done += len(raw)
            if progress is not None and line % 10_000 == 0:
                progress(done, total)
            if not raw.strip():
                continue
            try:
                obj = json.loads(raw)
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                reason = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)
                errors.append(RowError(line, "json", f"invalid JSON: {reason}"))
                continue
            _parse_one(line, obj, events, lines, errors)
    if progress is not None:
        progress(total, total)
    return EventBatch(tuple(events), tuple(lines), tuple(errors))


# -- validation before an append -------------------------------------------------------------

#: How far in the future an event's ``ts`` may be (clock skew between shop and engine).
MAX_FUTURE_S = 300.0
#: The default oldest event accepted, in days (about 3 years); backfills pass more.
DEFAULT_MAX_AGE_DAYS = 1_095.0


def check_events(
    batch: EventBatch,
    *,
    products: Container[str],
    now: float,
    max_age_days: float = DEFAULT_MAX_AGE_DAYS,
    max_future_s: float = MAX_FUTURE_S,
) -> EventBatch:
    """The events of ``batch`` that may be stored, and the rest as errors (with the
    batch's own errors, in line order). The rules, in this order:

    - ``product_id`` must be a product the live index holds;
    - ``ts`` may be at most ``max_future_s`` (5 minutes) after ``now``;
    - ``ts`` may be at most ``max_age_days`` before ``now`` (historical backfills raise it).

    Pure: the caller passes the clock and the products."""
    if not (math.isfinite(max_age_days) and max_age_days > 0):
        raise ValueError(f"max_age_days must be a positive number, got {max_age_days}")
    if not (math.isfinite(max_future_s) and max_future_s >= 0):
        raise ValueError(f"max_future_s must be a number >= 0, got {max_future_s}")
    latest = now + max_future_s
    oldest = now - max_age_days * 86_400.0
    events: list[ShopEvent] = []
    lines: list[int] = []
    errors = list(batch.errors)
    for line, event in zip(batch.lines, batch.events, strict=True):
        if event.product_id not in products:
            errors.append(RowError(line, "product_id", f"unknown product {event.product_id!r}"))
        elif event.ts > latest:
            ahead = event.ts - now
            errors.append(
                RowError(
                    line,
                    "ts",
                    f"{ahead:.0f} s in the future (at most {max_future_s:.0f} s allowed); "
                    "is the sender's clock right, and is ts in seconds, not milliseconds?",
                )
            )
        elif event.ts < oldest:
            age = (now - event.ts) / 86_400.0
            errors.append(
                RowError(
                    line,
                    "ts",
                    f"{age:.0f} days old (at most {max_age_days:g} allowed); "
                    "pass a larger max age (--max-age-days) for a historical backfill",
                )
            )
        else:
            events.append(event)
            lines.append(line)
    errors.sort(key=lambda e: e.line)
    return EventBatch(tuple(events), tuple(lines), tuple(errors))
