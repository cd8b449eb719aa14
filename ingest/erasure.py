"""Erasing a shopper from the JSONL behaviour log (``<home>/events.jsonl``).

The event store erases its own copy (:meth:`ingest.event_store.EventStore.erase_user`);
the simulated behaviour log the offline trainers read is a plain file, rewritten here
without the shopper's lines: into a temporary file beside it, then renamed over it, so a
reader sees the old log or the new one, never half of one.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

__all__ = ["erase_from_log"]


def erase_from_log(path: Path, user_id: str) -> int:
    """Drop every line of ``path`` whose ``user_id`` is ``user_id``; return how many.
    Lines that are not JSON objects are kept as they are (the log's readers report them).
    A missing log erases nothing."""
    if not path.exists():
        return 0
    removed = 0
    kept: list[bytes] = []
    with path.open("rb") as handle:
        for line in handle:
            try:
                record = json.loads(line)
            except ValueError:
                kept.append(line)
                continue
            if isinstance(record, dict) and record.get("user_id") == user_id:
                removed += 1
            else:
                kept.append(line)
    if not removed:
        return 0
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            out.writelines(kept)
            out.flush()
            os.fsync(out.fileno())
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return removed
