"""`kgsearch serve --workers N`: N worker processes answer like the in-process service, and
every numeric kernel runs on one thread in them."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from app.engine import Engine
from app.server import tcp_listener, worker_count

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(c) for c in path.read_text().split()] if path.exists() else []


def test_worker_count_defaults_to_the_usable_cores() -> None:
    assert worker_count(3) == 3
    assert worker_count(0) == len(os.sched_getaffinity(0))


def test_the_workers_listener_gives_accepted_connections_tcp_nodelay() -> None:
    """uvicorn binds the workers' socket with protocol 0, and asyncio then leaves Nagle's
    algorithm on for every connection it accepts (uvicorn issue #3149): each kept-alive
    response waited ~40 ms for the client's delayed ACK. The listener the server hands
    its workers is marked TCP, so asyncio turns Nagle off; the raw uvicorn one does not."""
    import asyncio

    import uvicorn

    def nodelay_of_accepted(listener: socket.socket) -> int:
        async def accept_one() -> int:
            seen: asyncio.Future[int] = asyncio.get_running_loop().create_future()

            class Probe(asyncio.Protocol):
                def connection_made(self, transport: asyncio.BaseTransport) -> None:
                    sock = transport.get_extra_info("socket")
                    seen.set_result(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
                    transport.close()

            server = await asyncio.get_running_loop().create_server(Probe, sock=listener)
            with socket.create_connection(listener.getsockname()[:2]):
                value = await asyncio.wait_for(seen, 10)
            server.close()
            return value

        return asyncio.run(accept_one())

    fixed = tcp_listener(uvicorn.Config("app.server:create_app_from_env", port=free_port()))
    assert fixed.proto == socket.IPPROTO_TCP and fixed.get_inheritable()
    assert nodelay_of_accepted(fixed) != 0
    raw = uvicorn.Config("app.server:create_app_from_env", port=free_port()).bind_socket()
    assert raw.proto == 0  # the uvicorn behaviour this works around; drop it once fixed
    assert nodelay_of_accepted(raw) == 0


def test_the_server_runs_on_httptools_and_uvloop() -> None:
    """Both are dependencies, and uvicorn's "auto" settings pick them: the C HTTP parser
    and libuv's loop took 2.3 ms of server CPU off a 50k search (docs/benchmarks.md).
    Without them uvicorn falls back to h11 and asyncio silently; this says so instead."""
    import uvicorn
    import uvloop
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    config = uvicorn.Config("app.server:create_app_from_env", port=free_port())
    config.load()
    assert config.http_protocol_class is HttpToolsProtocol
    assert config.get_loop_factory() is uvloop.new_event_loop


def test_serial_kernels_limit_every_pool_to_one_thread() -> None:
    """In a fresh process (it changes process-wide state): BLAS pools already loaded and
    those of libraries loaded afterwards both run one thread."""
    code = (
        "import json, numpy\n"
        "from app.server import serial_kernels\n"
        "serial_kernels()\n"
        "import lightgbm  # loads OpenMP after the limit was set\n"
        "from threadpoolctl import threadpool_info\n"
        "print(json.dumps([p['num_threads'] for p in threadpool_info()]))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.endswith("_NUM_THREADS")}
    run = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    threads = json.loads(run.stdout.strip().splitlines()[-1])
    assert threads and set(threads) == {1}


def test_two_workers_answer_like_the_service(small_engine: Engine) -> None:
    port = free_port()
    env = {**os.environ, "KGSEARCH_LOG_LEVEL": "WARNING"}
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "app",
            "--home",
            str(small_engine.home),
            "serve",
            "--workers",
            "2",
            "--port",
            str(port),
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                stderr = server.stderr.read().decode() if server.stderr else ""
                pytest.fail(f"server did not come up: {stderr[-2000:]}")
            time.sleep(0.5)
        # uvicorn's supervisor starts the workers as children of the server process.
        commands = [Path(f"/proc/{c}/cmdline").read_bytes() for c in children(server.pid)]
        workers = [c for c in commands if b"spawn_main" in c]  # not the resource tracker
        assert len(workers) == 2, commands
        service, _ = small_engine.service()
        for query in ("velvet sofa", "oak table", "lamp"):
            expected = [h.product_id for h in service.search(query, k=5).hits]
            for _ in range(4):  # requests spread over the workers
                body = httpx.get(
                    f"http://127.0.0.1:{port}/search", params={"q": query, "k": 5}, timeout=30
                ).json()
                assert [h["product_id"] for h in body["hits"]] == expected
    finally:
        server.terminate()
        server.wait(timeout=60)
