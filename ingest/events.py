"""Shopper events: the event types and the JSONL event log.

A log is a sequence of events, one JSON object a line, each with a ``type`` of
``impression``, ``click``, ``add_to_cart`` or ``purchase``. Every event names its
session, user, query, product, the 1-based position the product was shown at and the
A/B variant the user was bucketed into. Logs come from the storefront or from the
simulator in :mod:`synthetic.behaviour`; :mod:`ranker.clicks` and :mod:`ranker.ab` read
them (duck-typed: ``ranker`` does not import ``ingest``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import Annotated, Literal, TypeAlias

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from ingest.formats import ReadResult, RowError

__all__ = [
    "AddToCart",
    "Click",
    "Event",
    "Impression",
    "Purchase",
    "read_events",
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
