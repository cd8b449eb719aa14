"""A serving engine freezes its long-lived objects once they are loaded (``gc.freeze``),
so full collections under load do not re-scan the index; the CLI and tests do not."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

import app.server
from app.engine import Engine


@pytest.fixture
def unfrozen() -> Iterator[None]:
    gc.unfreeze()
    yield
    gc.unfreeze()  # leave the test session's collector as it was


def _frozen(obj: object) -> bool:
    """Tracked, but in none of the collector's generations: in the permanent one."""
    return gc.is_tracked(obj) and not any(o is obj for o in gc.get_objects())


def test_off_unless_serving(tiny_engine: Engine, unfrozen: None) -> None:
    assert tiny_engine.freeze_heap is False
    tiny_engine.warm_up()
    assert gc.get_freeze_count() == 0


def test_the_warm_up_freezes_what_it_loaded(tiny_engine: Engine, unfrozen: None) -> None:
    tiny_engine.freeze_heap = True
    try:
        tiny_engine.warm_up()
        service, _ = tiny_engine.service()
        assert gc.get_freeze_count() > 10_000
        assert _frozen(service.documents)
        assert not _frozen([["made after the freeze"]])
    finally:
        tiny_engine.freeze_heap = False


def test_a_server_worker_engine_freezes(
    monkeypatch: pytest.MonkeyPatch, tiny_engine: Engine
) -> None:
    monkeypatch.setenv("KGSEARCH_HOME", str(tiny_engine.home))
    monkeypatch.setattr(app.server, "serial_kernels", lambda: None)  # process-wide
    worker = app.server.create_app_from_env()
    engine: Engine = worker.state.engine
    try:
        assert engine.freeze_heap is True
    finally:
        engine.close()
