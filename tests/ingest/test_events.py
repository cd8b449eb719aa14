"""Event log model: the event types and reading/writing JSONL logs; shop events, their
reader and the rules they pass before they are stored."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ingest.event_import import EventsRefused, record_batch
from ingest.event_store import SQLiteEventStore
from ingest.events import (
    AddToCart,
    Click,
    Event,
    EventBatch,
    Impression,
    Purchase,
    ShopEvent,
    check_events,
    parse_shop_events,
    read_events,
    read_shop_events,
    write_events,
)


def test_event_json_round_trip(tmp_path: Path) -> None:
    common = {
        "session_id": "s1",
        "user_id": "u1",
        "query_id": "q1",
        "query": "oak table",
        "variant": "A",
        "ts": 1.5,
    }
    events: list[Event] = [
        Impression(**common, product_id="P001", position=1),  # type: ignore[arg-type]
        Click(**common, product_id="P001", position=1),  # type: ignore[arg-type]
        AddToCart(**common, product_id="P001", position=1),  # type: ignore[arg-type]
        Purchase(**common, product_id="P001", position=1),  # type: ignore[arg-type]
    ]
    path = tmp_path / "events.jsonl"
    assert write_events(path, events) == 4
    first = json.loads(path.read_text(encoding="utf-8").splitlines()[0])
    assert first["type"] == "impression" and first["position"] == 1
    result = read_events(path)
    assert result.ok
    assert list(result.records) == events
    assert [type(e).__name__ for e in result.records] == [
        "Impression",
        "Click",
        "AddToCart",
        "Purchase",
    ]


def test_read_events_reports_bad_lines_and_keeps_good_ones(tmp_path: Path) -> None:
    good = Click(
        session_id="s1",
        user_id="u1",
        query_id="q1",
        query="oak table",
        product_id="P001",
        position=2,
        variant="A",
        ts=3.0,
    )
    bad_position = json.loads(good.model_dump_json()) | {"position": 0}
    missing_user = {k: v for k, v in json.loads(good.model_dump_json()).items() if k != "user_id"}
    lines = [
        good.model_dump_json(),
        "",
        "{not json",
        json.dumps(json.loads(good.model_dump_json()) | {"type": "hover"}),
        json.dumps(bad_position),
        json.dumps(missing_user),
        "[1, 2]",
        good.model_dump_json(),
    ]
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = read_events(path)
    assert list(result.records) == [good, good]
    by_line = {e.line: e for e in result.errors}
    assert sorted(by_line) == [3, 4, 5, 6, 7]
    assert "invalid JSON" in by_line[3].reason
    assert "hover" in by_line[4].reason
    assert by_line[5].field == "position"
    assert by_line[6].field == "user_id" and "required" in by_line[6].reason.lower()
    assert str(by_line[5]).startswith("line 5: position:")


# -- shop events: the generalised model, its reader, the rules before an append ------------

NOW = 1_800_000_000.0
DAY = 86_400.0


def shop(**fields: object) -> dict[str, object]:
    return {"type": "view", "user_id": "U0042", "product_id": "P1", "ts": NOW - 60} | fields


def test_shop_event_accepts_a_view_without_query_and_an_anonymous_session() -> None:
    view = ShopEvent.model_validate(shop())
    assert view.query is None and view.position is None and view.session_id is None
    anonymous = ShopEvent.model_validate(shop(user_id=None, session_id="sess-1", type="click"))
    assert anonymous.user_id is None and anonymous.session_id == "sess-1"


def test_shop_event_rejects_what_is_wrong_with_the_field_named() -> None:
    batch = parse_shop_events(
        [
            shop(user_id=None),  # nobody
            shop(user_id="bad id with spaces"),
            shop(user_id="-starts-with-dash"),
            shop(type="hover"),
            shop(position=0),
            shop(colour="red"),
            shop(ts="yesterday"),
            ["not", "an", "object"],
            shop(),
        ]
    )
    assert batch.lines == (8,)
    fields = {(e.line, e.field) for e in batch.errors}
    assert (0, "event") in fields
    assert {(1, "user_id"), (2, "user_id"), (3, "type"), (4, "position")} <= fields
    assert {(5, "colour"), (6, "ts"), (7, "event")} <= fields
    nobody = next(e for e in batch.errors if e.line == 0)
    assert "user_id, a session_id or both" in nobody.reason
    assert "pattern" in next(e for e in batch.errors if e.line == 1).reason


def test_shop_event_from_a_logged_event_keeps_every_field() -> None:
    logged = Click(
        session_id="s1",
        user_id="u1",
        query_id="q1",
        query="oak table",
        product_id="P001",
        position=2,
        variant="A",
        ts=3.0,
    )
    converted = ShopEvent.from_logged(logged, event_id="sim-1")
    assert converted.model_dump() == logged.model_dump() | {"event_id": "sim-1"}


def test_read_shop_events_numbers_lines_and_reports_bad_json(tmp_path: Path) -> None:
    path = tmp_path / "shop.jsonl"
    path.write_text(
        "\n".join([json.dumps(shop()), "", "{oops", json.dumps(shop(product_id=""))]) + "\n"
    )
    batch = read_shop_events(path)
    assert batch.lines == (1,)
    assert [(e.line, e.field) for e in batch.errors] == [(3, "json"), (4, "product_id")]


def checked(items: list[dict[str, object]], **options: float) -> EventBatch:
    return check_events(parse_shop_events(items), products={"P1", "P2"}, now=NOW, **options)


def test_check_events_rules_unknown_product_future_and_too_old() -> None:
    result = checked(
        [
            shop(),
            shop(product_id="P999"),
            shop(ts=NOW + 4 * 60),  # within the 5 minutes of clock skew
            shop(ts=NOW + 6 * 60),
            shop(ts=(NOW + 6 * 60) * 1000),  # milliseconds
            shop(ts=NOW - 1_000 * DAY),
            shop(ts=NOW - 1_100 * DAY),  # older than the default 3 years
            {"type": "view"},
        ]
    )
    assert result.lines == (0, 2, 5)
    by_line = {e.line: e for e in result.errors}
    assert sorted(by_line) == [1, 3, 4, 6, 7]
    assert by_line[1].field == "product_id" and "unknown product 'P999'" in by_line[1].reason
    assert by_line[3].field == "ts" and "future" in by_line[3].reason
    assert "milliseconds" in by_line[4].reason
    assert by_line[6].field == "ts" and "--max-age-days" in by_line[6].reason
    # A historical backfill raises the max age.
    assert checked([shop(ts=NOW - 1_100 * DAY)], max_age_days=2_000).lines == (0,)
    assert checked([shop(ts=NOW - 2 * DAY)], max_age_days=1).lines == ()
    with pytest.raises(ValueError, match="max_age_days"):
        checked([shop()], max_age_days=0)


def test_record_batch_refuses_a_batch_with_an_invalid_event_unless_skip_invalid(
    tmp_path: Path,
) -> None:
    store = SQLiteEventStore(path=tmp_path / "events.sqlite")
    items = [shop(event_id="a"), shop(product_id="nope"), shop(event_id="b")]
    with pytest.raises(EventsRefused) as refused:
        record_batch(store, parse_shop_events(items, start=1), products={"P1"}, now=NOW)
    assert store.count() == 0
    assert [(e.line, e.field) for e in refused.value.errors] == [(2, "product_id")]
    assert refused.value.received == 3
    assert "line 2: product_id: unknown product 'nope'" in str(refused.value)

    report = record_batch(
        store, parse_shop_events(items, start=1), products={"P1"}, now=NOW, skip_invalid=True
    )
    assert (report.received, report.accepted, report.duplicates) == (3, 2, 0)
    assert [e.line for e in report.rejected] == [2]
    assert report.revision == store.revision() == 2
    again = record_batch(store, parse_shop_events(items[:1]), products={"P1"}, now=NOW)
    assert (again.accepted, again.duplicates) == (0, 1)
    assert again.as_dict(position="index")["rejected"] == []

    # Nothing valid at all: refused even with skip_invalid; an empty batch too.
    for batch in ([shop(product_id="nope")], []):
        with pytest.raises(EventsRefused):
            record_batch(
                store, parse_shop_events(batch), products={"P1"}, now=NOW, skip_invalid=True
            )
    assert store.count() == 2
