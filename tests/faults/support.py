"""Helpers of the fault tests: a real ``kgsearch`` process to kill, the points to kill it
at (each observed from outside, so no test hook runs in production), and the checks that
follow a restart (the change log replays onto the graph; the live index is whole)."""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import httpx

from app.engine import Engine
from app.settings import Settings
from kg.schema import JsonValue
from kg.store import GraphStore
from search.encoder import Encoder

KGSEARCH = str(Path(sys.executable).with_name("kgsearch"))
ADMIN_KEY = "fault-tests-admin-key-0123456789"

Triple = tuple[str, str, str]


def environment(home: Path, **extra: str) -> dict[str, str]:
    """The environment of a ``kgsearch`` child: this one's, on ``home``, offline."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KGSEARCH_")}
    for keep in ("KGSEARCH_MODEL_CACHE", "KGSEARCH_ONNX_CACHE"):
        if keep in os.environ:
            env[keep] = os.environ[keep]
    env.update(
        KGSEARCH_HOME=str(home),
        KGSEARCH_ADMIN_API_KEY=ADMIN_KEY,
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        PYTHONUNBUFFERED="1",
        **extra,
    )
    return env


def start(home: Path, *args: str, log: Path, **env: str) -> subprocess.Popen[bytes]:
    """Start ``kgsearch ARGS`` on ``home`` in its own process group, output to ``log``."""
    with log.open("ab") as out:
        return subprocess.Popen(
            [KGSEARCH, *args],
            env=environment(home, **env),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def kill9(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL the child (no cleanup runs in it) and reap it."""
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)


def wait_until(
    done: Callable[[], bool], proc: subprocess.Popen[bytes], *, timeout: float, poll: float = 0.002
) -> bool:
    """Poll ``done`` until it holds (True) or ``proc`` ends or time runs out (False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        if done():
            return True
        time.sleep(poll)
    return False


def write_lock_held(db: Path) -> Callable[[], bool]:
    """A probe that is true while another connection holds ``db``'s write transaction
    open: the moment an atomic batch is being written."""
    probe = sqlite3.connect(db, timeout=0, isolation_level=None, check_same_thread=False)

    def held() -> bool:
        try:
            probe.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            return "locked" in str(exc) or "busy" in str(exc)
        probe.execute("ROLLBACK")
        return False

    return held


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_healthy(base: str, proc: subprocess.Popen[bytes], *, timeout: float = 120) -> None:
    """Wait until the server answers ``/health`` with status ok (warm-up done)."""

    def ready() -> bool:
        try:
            return bool(httpx.get(f"{base}/health", timeout=2).json().get("status") == "ok")
        except (httpx.HTTPError, ValueError):
            return False

    if not wait_until(ready, proc, timeout=timeout, poll=0.2):
        raise AssertionError(f"server at {base} not healthy (exit code {proc.poll()})")


# -- checks after a restart ------------------------------------------------------------------


def replay(store: GraphStore) -> tuple[dict[str, dict[str, JsonValue]], set[Triple]]:
    """The graph the change log describes, rebuilt from it alone."""
    entities: dict[str, dict[str, JsonValue]] = {}
    relations: set[Triple] = set()
    for change in store.changes():
        if change.op in ("create", "update"):
            assert change.after is not None
            entities[change.entity_id] = dict(change.after)
        elif change.op == "delete":
            entities.pop(change.entity_id)
            relations = {r for r in relations if change.entity_id not in (r[0], r[2])}
        else:
            body = change.after if change.op == "relate" else change.before
            assert body is not None
            triple = (change.entity_id, str(body["type"]), str(body["target"]))
            if change.op == "relate":
                relations.add(triple)
            else:
                relations.discard(triple)
    return entities, relations


def graph_state(store: GraphStore) -> tuple[dict[str, dict[str, JsonValue]], set[Triple]]:
    entities = {e.id: dict(e.properties) for e in store.entities()}
    relations = {(r.source, r.type.value, r.target) for r in store.relations()}
    return entities, relations


def assert_log_replays(store: GraphStore) -> None:
    """Every logged change is in the graph and the graph holds nothing unlogged."""
    logged, live = replay(store), graph_state(store)
    assert logged[0] == live[0], "entities differ from the change log's replay"
    assert logged[1] == live[1], "relations differ from the change log's replay"


def assert_live_index_whole(home: Path, encoder: Encoder) -> str:
    """The live pointer names a built version that opens, holds what its manifest says,
    and answers a query; returns its name."""
    engine = Engine(Settings(home=home), encoder=encoder)
    try:
        live = engine.versions.live()
        assert live is not None, "no live index version after the restart"
        assert not live.startswith("."), f"the live pointer names a staging dir {live!r}"
        manifest = engine.versions.manifest(live)
        assert manifest.version == live
        service, opened = engine.service()
        assert opened.version == live
        docs = (engine.versions.dir / live / "documents.jsonl").read_text().splitlines()
        assert len(docs) == manifest.products
        assert service.search("sofa", k=3).hits, "the live version answers no query"
        return live
    finally:
        engine.close()


def call(
    client: httpx.Client, method: str, path: str, body: Mapping[str, Any] | None = None
) -> httpx.Response:
    return client.request(method, path, json=body, headers={"X-API-Key": ADMIN_KEY})
