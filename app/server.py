"""Running the API server: how many worker processes, and how many threads each numeric
kernel may use inside one.

A search is a few milliseconds of single-threaded numpy, LightGBM and ONNX Runtime work.
Under concurrent requests, every library that sizes its own thread pool to the cores
(OpenBLAS, OpenMP in LightGBM, torch) multiplies the threads competing for the same two
cores: a 5k x 384 matrix product measured 50 ms instead of 4 ms that way. So the server
runs every kernel on one thread and gets its parallelism from requests instead: several
worker processes (``Settings.workers``; by default one per usable core), each with its
own engine. They share the index files (vectors ``mmap``-ed read-only, the tantivy
segments, the saved neighbour tables) through the page cache, so memory grows by each
worker's Python objects, not by another copy of the index. Catalog edits made through
one worker reach the others by the engine's periodic sync, as edits from the CLI do.
"""

from __future__ import annotations

import logging
import os
import socket
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import uvicorn
    from fastapi import FastAPI

    from app.engine import Engine

__all__ = [
    "SERIAL_KERNEL_ENV",
    "create_app_from_env",
    "serial_kernels",
    "serve",
    "tcp_listener",
    "usable_cores",
    "worker_count",
]

log = logging.getLogger(__name__)

#: Environment variables that size the thread pools of BLAS and OpenMP (read when a
#: library loads: set here, they also hold in worker processes started afterwards).
SERIAL_KERNEL_ENV = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def usable_cores() -> int:
    """The cores this process may run on (its affinity mask; the machine's count where
    the platform has no such mask)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def worker_count(setting: int) -> int:
    """``setting`` worker processes, or one per core this process may run on when 0."""
    return setting if setting > 0 else usable_cores()


def serial_kernels() -> None:
    """One thread per numeric kernel in this process and the processes it starts."""
    from threadpoolctl import threadpool_limits

    for name in SERIAL_KERNEL_ENV:
        os.environ[name] = "1"
    threadpool_limits(limits=1)  # the BLAS and OpenMP pools of libraries already loaded
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(1)


def create_app_from_env() -> FastAPI:
    """The app of one worker process (uvicorn's factory): its own engine, configured by
    the ``KGSEARCH_*`` environment the parent process set."""
    from app.api import create_app
    from app.engine import Engine
    from app.settings import Settings

    serial_kernels()
    engine = Engine(Settings())
    engine.freeze_heap = True
    return create_app(engine)


def serve(engine: Engine, host: str, port: int, *, workers: int) -> None:
    """Serve the API of ``engine``'s home on ``host:port`` with ``workers`` processes (one:
    in this process, with ``engine`` itself)."""
    import uvicorn

    from app.api import create_app

    serial_kernels()
    level = logging.getLevelName(logging.getLogger().getEffectiveLevel()).lower()
    if workers <= 1:
        engine.freeze_heap = True
        uvicorn.run(create_app(engine), host=host, port=port, log_level=level)
        return
    from uvicorn.supervisors import Multiprocess

    # Each worker builds its engine from the environment: carry what the CLI overrode.
    os.environ["KGSEARCH_HOME"] = str(engine.settings.home)
    engine.close()
    config = uvicorn.Config(
        "app.server:create_app_from_env",
        factory=True,
        workers=workers,
        host=host,
        port=port,
        log_level=level,
    )
    # What uvicorn.run does for workers > 1, with the listener made a TCP socket.
    Multiprocess(config, sockets=[tcp_listener(config)]).run()


def tcp_listener(config: uvicorn.Config) -> socket.socket:
    """The listening socket uvicorn binds for its worker processes, marked as TCP.

    uvicorn's ``Config.bind_socket`` leaves the socket's protocol at 0; connections
    accepted on it inherit that, and asyncio only turns Nagle's algorithm off
    (``TCP_NODELAY``) for sockets that say ``IPPROTO_TCP``. With Nagle on, every response
    on a kept-alive connection waited for the client's delayed ACK: a single client saw
    68 ms per search with two workers against 28 ms with one (uvicorn issue #3149, open
    in 0.54). The file descriptor is the same; only Python's record of it changes.
    uvloop (the default where installed) sets ``TCP_NODELAY`` itself; this covers the
    asyncio fallback."""
    sock = config.bind_socket()
    if sock.family not in (socket.AF_INET, socket.AF_INET6) or sock.proto != 0:
        return sock
    tcp = socket.socket(sock.family, sock.type, socket.IPPROTO_TCP, fileno=sock.detach())
    tcp.set_inheritable(True)
    return tcp
