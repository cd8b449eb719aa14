"""Search latency and throughput on the embedded backends, plus full reindex time.

Builds (once, cached under ~/.cache/kgsearch/bench/<size>) a generated catalogue, imports
it, reindexes it (timed), then replays the real WANDS queries:
  1. in-process: SearchService.search, sequential;
  2. over HTTP: `kgsearch serve` in a subprocess, one client, sequential;
  3. throughput: 8 concurrent HTTP clients.
Prints a JSON report and writes it to benchmarks/results/search-<size>.json.

    python benchmarks/search_latency.py --size bench [--rebuild]
"""

from __future__ import annotations

import argparse
import collections
import http.client
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

import httpx

ROOT = Path(__file__).resolve().parents[1]
WANDS_QUERIES = next(
    (
        p
        for p in (
            ROOT.parent / "shared" / "data" / "wands" / "query.csv",
            Path("/work/shared/data/wands/query.csv"),
        )
        if p.is_file()
    ),
    ROOT.parent / "shared" / "data" / "wands" / "query.csv",
)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def summary(ms: list[float]) -> dict[str, float]:
    return {
        "n": len(ms),
        "p50_ms": round(percentile(ms, 50), 2),
        "p90_ms": round(percentile(ms, 90), 2),
        "p99_ms": round(percentile(ms, 99), 2),
        "mean_ms": round(statistics.fmean(ms), 2),
    }


def machine() -> dict[str, Any]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def load_queries(path: Path) -> list[str]:
    from ingest.formats import read_queries

    result = read_queries(path)
    if not result.records:
        raise SystemExit(f"no queries in {path}: {result.errors[:3]}")
    return [q.query for q in result.records]


def build(home: Path, size: str, rebuild: bool) -> dict[str, Any]:
    from app.demo import prepare_demo
    from app.engine import Engine
    from app.settings import Settings

    if rebuild:
        shutil.rmtree(home, ignore_errors=True)
    engine = Engine(Settings(home=home))
    started = time.perf_counter()
    last: dict[str, float] = {}

    def progress(stage: str, done: int, total: int) -> None:
        now = time.perf_counter()
        if now - last.get(stage, 0.0) > 10 or done == total:
            last[stage] = now
            print(f"  {stage}: {done}/{total}", file=sys.stderr, flush=True)

    info = prepare_demo(engine, size=size, seed=13, progress=progress)
    info["build"]["wall_seconds"] = round(time.perf_counter() - started, 1)
    _, manifest = engine.service()
    info["build"]["reindex_seconds"] = {k: round(v, 1) for k, v in manifest.seconds.items()}
    info["build"]["products"] = manifest.products
    engine.close()
    return info["build"]


def in_process(home: Path, queries: list[str]) -> dict[str, Any]:
    from app.engine import Engine
    from app.settings import Settings

    engine = Engine(Settings(home=home))
    service, _ = engine.service()
    for q in queries[:20]:
        service.search(q, k=10)  # warm up: model load, page cache
    times = []
    for q in queries:
        started = time.perf_counter()
        service.search(q, k=10)
        times.append((time.perf_counter() - started) * 1000)
    encode = []
    for q in queries:
        started = time.perf_counter()
        service.encoder.encode([q])
        encode.append((time.perf_counter() - started) * 1000)
    engine.close()
    return {"search": summary(times), "encode_query": summary(encode)}


def start_server(home: Path, port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "KGSEARCH_HOME": str(home), "KGSEARCH_PORT": str(port)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "app", "--quiet", "serve"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        if proc.poll() is not None:
            raise SystemExit("server exited during start-up")
        time.sleep(0.5)
    proc.kill()
    raise SystemExit("server did not answer /health within 120 s")


def over_http(port: int, queries: list[str]) -> dict[str, float]:
    """One httpx client (the figures recorded with this benchmark used it), after 20
    untimed searches."""
    times = []
    with http_searcher(port, "httpx") as search:
        for q in queries[:20]:
            search(q)
        for q in queries:
            started = time.perf_counter()
            status = search(q)
            times.append((time.perf_counter() - started) * 1000)
            if status != 200:
                raise RuntimeError(f"/search answered {status} for {q!r}")
    return summary(times)


#: The load generator's HTTP clients: ``stdlib`` (``http.client``, one kept-alive
#: connection per thread) costs ~0.3 ms of CPU a request on this machine, ``httpx`` ~1.8 ms.
#: The generator shares the server's two cores, so its own CPU is taken from the server.
LOAD_CLIENTS = ("stdlib", "httpx")


class _Search(Protocol):
    def __call__(self, query: str) -> int: ...


@contextmanager
def http_searcher(port: int, kind: str) -> Iterator[_Search]:
    """A function sending one ``/search`` on its own kept-alive connection; its status."""
    if kind == "httpx":
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
            yield lambda q: client.get("/search", params={"q": q, "k": 10}).status_code
        return
    if kind != "stdlib":
        raise ValueError(f"unknown load client {kind!r}; one of {LOAD_CLIENTS}")
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def search(q: str) -> int:
        conn.request("GET", "/search?" + urllib.parse.urlencode({"q": q, "k": 10}))
        response = conn.getresponse()
        response.read()
        return response.status

    try:
        yield search
    finally:
        conn.close()


@contextmanager
def connection_split(port: int, *, clients: int = 8) -> Iterator[collections.Counter[int]]:
    """While the block runs, twice a second: how many of the ``clients`` connections to
    ``port`` the busiest server process holds (``ss -tnp``; samples taken between a close
    and a reconnect, with fewer than ``clients - 2`` connections seen, are skipped). The
    counter maps that number to how many samples saw it: {4: 30} is an even split of 8
    over 2 workers throughout, {6: 30} a 6/2 split."""
    seen: collections.Counter[int] = collections.Counter()
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            try:
                listed = subprocess.run(
                    ["ss", "-tnpH", "state", "established", f"( sport = :{port} )"],
                    capture_output=True,
                    text=True,
                    check=False,
                ).stdout
            except FileNotFoundError:  # no iproute2 here: the split stays unknown ({})
                return
            held = collections.Counter(re.findall(r"pid=(\d+)", listed))
            if sum(held.values()) >= clients - 2:
                seen[max(held.values())] += 1
            stop.wait(0.5)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        yield seen
    finally:
        stop.set()
        sampler.join()


def throughput(
    port: int,
    queries: list[str],
    clients: int,
    rounds: int,
    *,
    keep_times: bool = False,
    client: str = "stdlib",
) -> dict[str, Any]:
    """``clients`` threads, each on its own kept-alive connection, each sending ``rounds``
    searches back to back. With ``keep_times`` the report carries every latency
    (``times_ms``), so that several runs can be pooled. ``client_cpu_ms`` is the load
    generator's own CPU a request (this process, all its threads)."""
    times: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()

    def worker(offset: int) -> None:
        mine = []
        with http_searcher(port, client) as search:
            for i in range(rounds):
                q = queries[(offset * 37 + i) % len(queries)]
                started = time.perf_counter()
                status = search(q)
                mine.append((time.perf_counter() - started) * 1000)
                if status != 200:
                    with lock:
                        errors.append(f"{status} for {q!r}")
        with lock:
            times.extend(mine)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(clients)]
    cpu = time.process_time()
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - started
    cpu = time.process_time() - cpu
    report: dict[str, Any] = {
        "clients": clients,
        "client": client,
        "requests": len(times),
        "errors": len(errors),
        "wall_s": round(wall, 3),
        "qps": round(len(times) / wall, 1),
        "client_cpu_ms": round(cpu / max(1, len(times)) * 1000, 2),
        **summary(times),
    }
    if keep_times:
        report["times_ms"] = times
    return report


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--size", choices=["tiny", "demo", "bench"], default="bench")
    parser.add_argument("--queries", type=Path, default=WANDS_QUERIES)
    parser.add_argument("--rebuild", action="store_true", help="rebuild the catalogue and index")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=60, help="requests per client")
    args = parser.parse_args()

    home = Path.home() / ".cache" / "kgsearch" / "bench" / args.size
    queries = load_queries(args.queries)
    report: dict[str, Any] = {"machine": machine(), "size": args.size, "queries": len(queries)}
    print(f"building {args.size} catalogue in {home} ...", file=sys.stderr)
    report["build"] = build(home, args.size, args.rebuild)
    print("in-process latency ...", file=sys.stderr)
    report["in_process"] = in_process(home, queries)
    print("HTTP latency and throughput ...", file=sys.stderr)
    server = start_server(home, args.port)
    try:
        report["http"] = over_http(args.port, queries)
        report["throughput"] = throughput(args.port, queries, args.clients, args.rounds)
    finally:
        server.terminate()
        server.wait(timeout=30)
    out = ROOT / "benchmarks" / "results" / f"search-{args.size}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
