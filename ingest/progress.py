"""How long jobs report progress: a callback ``(stage, done, total)``; the CLI draws bars."""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["Progress", "no_progress"]

Progress = Callable[[str, int, int], None]


def no_progress(stage: str, done: int, total: int) -> None:
    """A :data:`Progress` that reports nothing."""
    return
