"""Event log model: the event types and reading/writing JSONL logs."""

from __future__ import annotations

import json
from pathlib import Path

from ingest.events import AddToCart, Click, Event, Impression, Purchase, read_events, write_events


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
