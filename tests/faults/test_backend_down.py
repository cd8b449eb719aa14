"""A backend server stops mid-traffic (issue 17, faults): requests that need it answer 503
in the error shape, nothing answers 5xx otherwise, and once the server is back the same
``kgsearch`` process (no restart) answers them again.

Each server (Neo4j behind the graph, Elasticsearch behind search) is a private one that
``scripts/servers`` starts for the test on free ports and its own run directory
(``KGSEARCH_SERVERS_RUN``), never the shared ones the other integration tests use; it
comes back on its old data (``KGSEARCH_SERVERS_KEEP_DATA``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from conftest import SMALL_PRODUCTS, unique_namespace
from faults.support import call, free_port, kill9, start, wait_healthy, wait_until

from app.engine import Engine
from app.settings import Settings
from ingest.formats import write_products
from search.encoder import MiniLMEncoder

pytestmark = pytest.mark.integration

SERVERS = Path(__file__).resolve().parents[2] / "scripts" / "servers"


@dataclass(frozen=True)
class PrivateServer:
    name: str  # as scripts/servers names it
    address: str
    env: dict[str, str]

    def servers(self, command: str, *, keep_data: bool = False) -> None:
        env = {**self.env, **({"KGSEARCH_SERVERS_KEEP_DATA": "1"} if keep_data else {})}
        done = subprocess.run(
            [str(SERVERS), command, self.name], env=env, capture_output=True, text=True, timeout=400
        )
        assert done.returncode == 0, f"scripts/servers {command} {self.name}: {done.stderr[-2000:]}"


def _private(name: str, run: Path) -> PrivateServer:
    ports = {
        "neo4j": {"KGSEARCH_NEO4J_BOLT_PORT": str(free_port())},
        "elasticsearch": {
            "KGSEARCH_ES_HTTP_PORT": str(free_port()),
            "KGSEARCH_ES_TRANSPORT_PORT": str(free_port()),
        },
    }[name]
    env = {
        **os.environ,
        **ports,
        "KGSEARCH_SERVERS_RUN": str(run),
        "KGSEARCH_SERVERS_START_TIMEOUT": "300",  # a JVM on a busy 2-core machine
    }
    port = next(iter(ports.values()))
    address = f"bolt://127.0.0.1:{port}" if name == "neo4j" else f"http://127.0.0.1:{port}"
    return PrivateServer(name, address, env)


@pytest.fixture(params=["neo4j", "elasticsearch"])
def server(request: pytest.FixtureRequest) -> Iterator[PrivateServer]:
    """A server of this test's own; in CI a failure to start fails, elsewhere it skips."""
    # Under /tmp itself, not pytest's private directory: when the tests run as root,
    # Elasticsearch runs as its own user, which must reach the run directory.
    run = Path(tempfile.mkdtemp(prefix=f"kgsearch-faults-{request.param}-"))
    run.chmod(0o755)
    server = _private(str(request.param), run)
    try:
        server.servers("start")
    except (AssertionError, subprocess.TimeoutExpired) as exc:
        message = f"could not start a private {server.name}: {exc}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    yield server
    server.servers("stop")
    shutil.rmtree(run, ignore_errors=True)


@dataclass
class Seen:
    path: str
    status: int
    code: str | None


def _traffic(base: str, seen: list[Seen], stop: threading.Event) -> None:
    """A client reading a product, searching and asking for health, over and over."""
    paths = ("/catalog/products/S1", "/search?q=velvet+sofa&k=3", "/health")
    with httpx.Client(base_url=base, timeout=60) as client:
        while not stop.is_set():
            for path in paths:
                reply = call(client, "GET", path)
                body = reply.json()
                error = body.get("error") if isinstance(body, dict) else None
                seen.append(Seen(path, reply.status_code, error and error.get("code")))
            time.sleep(0.05)


#: What each backend serves: the settings that put it behind kgsearch, and the request
#: that needs it (it must answer 503 while the server is down and 200 once it is back).
_USES = {
    "neo4j": ("/catalog", {"graph_backend": "neo4j", "neo4j_uri": "{address}"}),
    "elasticsearch": (
        "/search",
        {"search_backend": "elasticsearch", "elasticsearch_url": "{address}"},
    ),
}


def test_backend_down_mid_traffic_gives_503_then_recovers_without_restart(
    server: PrivateServer, tmp_path: Path, encoder: MiniLMEncoder
) -> None:
    needing, fields = _USES[server.name]
    namespace = unique_namespace("down")
    chosen: dict[str, str] = {k: v.format(address=server.address) for k, v in fields.items()}
    chosen["neo4j_namespace" if server.name == "neo4j" else "elasticsearch_prefix"] = namespace
    backend = {f"KGSEARCH_{k.upper()}": v for k, v in chosen.items()}
    home = tmp_path / "home"
    settings = Settings(home=home, **chosen)  # type: ignore[arg-type]
    home.mkdir()
    write_products(home / "small.csv", SMALL_PRODUCTS)
    engine = Engine(settings, encoder=encoder)
    engine.import_catalogue(home / "small.csv")
    engine.reindex()
    engine.close()

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = tmp_path / "serve.log"
    proc = start(home, "serve", "--port", str(port), "--workers", "1", log=log, **backend)
    seen: list[Seen] = []
    stop = threading.Event()
    client = threading.Thread(target=_traffic, args=(base, seen, stop))
    try:
        wait_healthy(base, proc)
        client.start()
        assert wait_until(lambda: len(seen) >= 9, proc, timeout=120, poll=0.1)
        up_before = len(seen)

        server.servers("stop")

        def refused() -> bool:  # the request that needs the server, not any request
            return any(s.status == 503 and s.path.startswith(needing) for s in seen[up_before:])

        # Other requests may see the outage first (search reads the rule store, which lives
        # beside the graph); the server comes back only once the one that needs it failed.
        assert wait_until(refused, proc, timeout=120, poll=0.2), (
            f"no 503 for {needing} while {server.name} was down:\n{log.read_text()[-2000:]}"
        )
        down_from = next(i for i, s in enumerate(seen) if i >= up_before and s.status == 503)

        server.servers("start", keep_data=True)
        back = len(seen)

        def answers_again() -> bool:
            return any(s.status == 200 and s.path.startswith(needing) for s in seen[back:])

        assert wait_until(answers_again, proc, timeout=180, poll=0.2), (
            f"kgsearch did not recover after {server.name} came back:\n{log.read_text()[-2000:]}"
        )
        assert proc.poll() is None, "kgsearch was restarted or died"
    finally:
        stop.set()
        if client.is_alive():
            client.join(timeout=90)
        kill9(proc)

    assert all(s.status == 200 for s in seen[:up_before]), seen[:up_before]
    failures = [s for s in seen if s.status != 200]
    assert failures, "the outage was never seen"
    assert all(s.status == 503 and s.code == "backend_unavailable" for s in failures), [
        (s.path, s.status, s.code) for s in failures if s.status != 503
    ]
    assert any(s.path.startswith(needing) for s in seen[down_from:] if s.status == 503)
    last = {s.path.split("?")[0]: s.status for s in seen}
    assert set(last.values()) == {200}, last  # every kind of request answers again
