"""Recording shop events: validate a batch, then append it to an :class:`EventStore`.

The same contract as the catalogue import (:mod:`catalogue.imports`): every item is
checked first (the event schema, then :func:`~ingest.events.check_events`: a known
product, not from the future, not older than the max age); a batch with any invalid item
is refused whole, and nothing of it is stored, unless ``skip_invalid`` (then the valid
events are appended and the invalid ones reported). A batch without a single valid event
stores nothing either way. The append itself is atomic and idempotent by ``event_id``.
"""

from __future__ import annotations

from collections.abc import Container, Sequence
from dataclasses import dataclass
from typing import Any

from ingest.event_store import EventStore
from ingest.events import DEFAULT_MAX_AGE_DAYS, EventBatch, check_events
from ingest.formats import RowError

__all__ = ["EventImportReport", "EventsRefused", "record_batch"]


@dataclass(frozen=True, slots=True)
class EventImportReport:
    """What recording a batch of events did."""

    source: str
    received: int  # items in the batch, valid or not
    accepted: int  # events stored
    duplicates: int  # valid events whose event_id the store already held
    rejected: tuple[RowError, ...]  # invalid items (stored nothing when refused)
    revision: int  # the store's revision afterwards

    def as_dict(self, *, position: str = "line") -> dict[str, Any]:
        """JSON-ready; ``position`` names the key of an item's place (``line`` in a
        file, ``index`` in a request's array)."""
        return {
            "source": self.source,
            "received": self.received,
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "rejected": [rejection(e, position=position) for e in self.rejected],
            "revision": self.revision,
        }


def rejection(error: RowError, *, position: str = "line") -> dict[str, Any]:
    return {position: error.line, "field": error.field, "reason": error.reason}


class EventsRefused(ValueError):
    """A batch had invalid events (or none valid); nothing of it was stored."""

    code = "events_refused"

    def __init__(self, source: str, errors: Sequence[RowError], *, received: int) -> None:
        self.source = source
        self.errors = tuple(errors)
        self.received = received
        shown = "\n".join(f"  {e}" for e in self.errors[:20])
        more = f"\n  ... and {len(self.errors) - 20} more" if len(self.errors) > 20 else ""
        if self.errors:
            message = (
                f"{source}: {len(self.errors)} invalid event(s) of {received}; nothing was "
                f"recorded.\n{shown}{more}\nFix them, or skip them (--skip-invalid, or "
                '"skip_invalid": true) to record only the valid ones.'
            )
        else:
            message = f"{source}: no events to record"
        super().__init__(message)


def record_batch(
    store: EventStore,
    batch: EventBatch,
    *,
    products: Container[str],
    now: float,
    max_age_days: float = DEFAULT_MAX_AGE_DAYS,
    skip_invalid: bool = False,
    source: str = "events",
) -> EventImportReport:
    """Check ``batch`` and append its valid events to ``store`` (see the module
    docstring). Raises :class:`EventsRefused` when nothing may be stored."""
    checked = check_events(batch, products=products, now=now, max_age_days=max_age_days)
    received = len(batch.events) + len({e.line for e in batch.errors})
    if (checked.errors and not skip_invalid) or not checked.events:
        raise EventsRefused(source, checked.errors, received=received)
    result = store.append(checked.events)
    return EventImportReport(
        source=source,
        received=received,
        accepted=result.accepted,
        duplicates=result.duplicates,
        rejected=checked.errors,
        revision=store.revision(),
    )
