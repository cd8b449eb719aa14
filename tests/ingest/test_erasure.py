"""Erasing a shopper's lines from the JSONL behaviour log."""

from __future__ import annotations

import json
from pathlib import Path

from ingest.erasure import erase_from_log


def test_only_the_shoppers_lines_go_and_the_rest_stays_byte_for_byte(tmp_path: Path) -> None:
    log = tmp_path / "events.jsonl"
    lines = [
        json.dumps({"user_id": "U1", "type": "click", "product_id": "P1"}) + "\n",
        json.dumps({"user_id": "U2", "type": "click", "product_id": "P1"}) + "\n",
        "not json at all\n",
        json.dumps({"user_id": "U1", "type": "purchase", "product_id": "P2"}) + "\n",
        json.dumps({"user_id": "U10", "type": "view", "product_id": "P3"}),
    ]
    log.write_text("".join(lines))
    assert erase_from_log(log, "U1") == 2
    assert log.read_text() == lines[1] + lines[2] + lines[4]
    assert erase_from_log(log, "U1") == 0
    assert erase_from_log(tmp_path / "missing.jsonl", "U1") == 0
    assert [p.name for p in tmp_path.iterdir()] == ["events.jsonl"]  # no temporary left
