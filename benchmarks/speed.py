"""Issue 14's figures in one run, on a copy of a built home.

    python benchmarks/speed.py --home /tmp/home5k [--work DIR] [--full | --no-reindex]
        [--workers 1,2]

``--home`` is a home that ``kgsearch demo`` built (never changed: it is copied to
``--work``, default a temp directory removed afterwards). In order:

1. two reindexes with no change (vectors and trained rankers reused when their inputs
   are unchanged; the first trains when the home predates the training fingerprint)
   and, with ``--full``, a full one (every product encoded, rankers trained);
2. in-process over the WANDS queries: bare BM25 (analysis + the keyword index's top-K,
   no encoder, no ranker) and the full hybrid search with the version's default ranker
   (lambdamart), p50/p99 and their ratio;
3. for each ``--workers`` count: ``kgsearch serve --workers N``, one sequential client
   (p50/p99) and ``--runs`` load runs of 8 concurrent clients (QPS, p50/p99 pooled over
   the runs, and each run's) with each load client in turn: ``http.client`` (the
   headline: ~0.3 ms of CPU a request) and ``httpx`` (~1.8 ms, the figures before
   2026-12-03); the generator runs on the server's two cores, so its own CPU is in the
   report (``client_cpu_ms``). Meanwhile it samples the server's memory over
   every process of it: the peak RSS sum (which counts the index pages the workers share
   once per worker) and, once after the load, the PSS sum (shared pages split between
   their processes).

The load average before and after each step is part of the report: this machine is
shared, and its figures are only comparable under similar load. Writes
benchmarks/results/speed-<products>.json (speed-<products>-<tag>.json with ``--tag``).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from reindex_times import commit, dirty, machine  # noqa: E402
from search_latency import (  # noqa: E402
    LOAD_CLIENTS,
    WANDS_QUERIES,
    connection_split,
    http_searcher,
    load_queries,
    summary,
    throughput,
)

GOALS = {
    "hybrid_over_bm25_p50": 1.5,
    "http_8_clients_qps": 40.0,
    "http_8_clients_p99_ms": 150.0,
    "peak_rss_gib": 1.5,
    "no_change_reindex_s": 60.0,
    "full_reindex_s": 600.0,
}


def load() -> float:
    return round(os.getloadavg()[0], 2)


def reindexes(home: Path, full: bool) -> dict[str, Any]:
    from app.engine import Engine
    from app.settings import Settings

    out: dict[str, Any] = {}
    engine = Engine(Settings(home=home))
    # Twice: the first records the training fingerprint when the copied home predates it
    # (it then trains: what every no-change reindex cost before), the second reuses.
    runs: list[tuple[str, dict[str, bool]]] = [("no_change_1", {}), ("no_change_2", {})]
    if full:
        runs.append(("full", {"reuse_vectors": False, "retrain": True}))
    for name, options in runs:
        before = load()
        started = time.perf_counter()
        manifest = engine.reindex(**options)
        out[name] = {
            "seconds": round(time.perf_counter() - started, 1),
            "stages": {k: round(v, 1) for k, v in manifest.seconds.items()},
            "vectors_encoded": manifest.vectors_encoded,
            "rankers_reused_from": manifest.rankers_reused_from,
            "load_before": before,
            "load_after": load(),
        }
        print(f"  reindex {name}: {out[name]['seconds']} s", file=sys.stderr, flush=True)
    engine.close()
    return out


def in_process(home: Path, queries: list[str]) -> dict[str, Any]:
    from app.engine import Engine
    from app.server import serial_kernels
    from app.settings import Settings

    serial_kernels()  # as the server runs
    engine = Engine(Settings(home=home))
    service, manifest = engine.service()
    for q in queries[:20]:
        service.search(q, k=10)  # warm up: model load, page cache
    before = load()
    bare, full = [], []
    for q in queries:
        started = time.perf_counter()
        service.keyword.search(service.analyzer.tokens(q), k=service.recall_k)
        bare.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        service.search(q, k=10)
        full.append((time.perf_counter() - started) * 1000)
    engine.close()
    b, f = summary(bare), summary(full)
    return {
        "ranker": manifest.default_ranker,
        "bm25": b,
        "hybrid": f,
        "hybrid_over_bm25_p50": round(f["p50_ms"] / max(b["p50_ms"], 1e-6), 2),
        "load_before": before,
        "load_after": load(),
    }


def _tree(pid: int) -> list[int]:
    """``pid`` and its descendants."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        try:
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except OSError:
            continue
        found.append(current)
        todo.extend(int(c) for c in children)
    return found


def _rss_kib(pid: int) -> int:
    """RSS of ``pid`` and its descendants (KiB): cheap to read (``/proc/PID/status``), so
    it is sampled throughout. The sum counts the index pages the workers share once per
    worker."""
    return _proc_sum(pid, "status", "VmRSS:")


def _pss_kib(pid: int) -> int:
    """PSS of ``pid`` and its descendants (KiB): each shared page split between the
    processes that map it, so the sum is what the server holds. Read once, after the
    load, not sampled during it: to answer, the kernel walks every mapping of the
    process under its memory-map lock, which the server's own allocations need."""
    return _proc_sum(pid, "smaps_rollup", "Pss:")


def _proc_sum(pid: int, name: str, key: str) -> int:
    total = 0
    for current in _tree(pid):
        try:
            for line in Path(f"/proc/{current}/{name}").read_text().splitlines():
                if line.startswith(key):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total


def _cpu_s(pid: int) -> float:
    """CPU seconds used so far by ``pid`` and its descendants."""
    ticks = 0
    for current in _tree(pid):
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


def _settle(pid: int, *, idle_s: float = 3.0, timeout_s: float = 300.0) -> float:
    """Wait until the server stops using CPU (every worker done starting: the first
    /health answer comes from one worker while another may still be loading its engine,
    which would compete with the first measurements). Returns the seconds waited."""
    started = time.time()
    last = _cpu_s(pid)
    while time.time() - started < timeout_s:
        time.sleep(idle_s)
        now = _cpu_s(pid)
        if now - last < 0.05 * idle_s:
            break
        last = now
    return round(time.time() - started, 1)


def _start(home: Path, port: int, workers: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "KGSEARCH_HOME": str(home), "KGSEARCH_PORT": str(port)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "app", "--quiet", "serve", "--workers", str(workers)],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 300
    while time.time() < deadline:
        try:
            ready = httpx.get(f"http://127.0.0.1:{port}/health", timeout=2)
            if ready.status_code == 200 and ready.json().get("warm", True):
                return proc
        except (httpx.HTTPError, ValueError):
            pass
        if proc.poll() is not None:
            raise SystemExit("server exited during start-up")
        time.sleep(1)
    proc.kill()
    raise SystemExit("server did not answer /health within 300 s")


def eight_clients(port: int, queries: list[str], *, runs: int) -> dict[str, dict[str, Any]]:
    """For each load client (``search_latency.LOAD_CLIENTS``, in turn), ``runs`` load runs
    of 8 clients x 40 searches, each on fresh connections: the pooled figures (QPS over
    the runs' summed wall time, percentiles over every request) and each run's own. One
    run is not enough: the kernel hands each new connection to whichever worker accepts
    first, so one run's 8 kept-alive connections may sit 6 on one worker and 2 on the
    other, and its QPS and p99 move with that split. Each run records the split it had
    (``busiest_worker_connections``, :func:`search_latency.connection_split`)."""
    each: dict[str, list[dict[str, Any]]] = {kind: [] for kind in LOAD_CLIENTS}
    for _ in range(runs):
        for kind in LOAD_CLIENTS:  # alternated, so both see the same machine
            with connection_split(port) as split:
                run = throughput(port, queries, clients=8, rounds=40, keep_times=True, client=kind)
            run["busiest_worker_connections"] = dict(sorted(split.items()))
            each[kind].append(run)
    out = {}
    for kind, done in each.items():
        times = [t for run in done for t in run.pop("times_ms")]
        wall = sum(run["wall_s"] for run in done)
        out[kind] = {
            "clients": 8,
            "client": kind,
            "runs": runs,
            "requests": len(times),
            "errors": sum(run["errors"] for run in done),
            "qps": round(len(times) / wall, 1),
            "client_cpu_ms": round(
                sum(r["client_cpu_ms"] * r["requests"] for r in done) / len(times), 2
            ),
            **summary(times),
            "each_run": [
                {
                    k: run[k]
                    for k in ("qps", "p50_ms", "p99_ms", "errors", "busiest_worker_connections")
                }
                for run in done
            ],
        }
    return out


def over_http(
    home: Path, queries: list[str], workers: int, port: int, *, runs: int = 3
) -> dict[str, Any]:
    server = _start(home, port, workers)
    peak = [0]
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            peak[0] = max(peak[0], _rss_kib(server.pid))
            stop.wait(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    settled = _settle(server.pid)
    try:
        with http_searcher(port, LOAD_CLIENTS[0]) as search:
            for q in queries[:40]:  # warm every worker
                if search(q) != 200:
                    raise RuntimeError(f"/search failed for {q!r}")
            before = load()
            one = []
            for q in queries:
                started = time.perf_counter()
                if search(q) != 200:
                    raise RuntimeError(f"/search failed for {q!r}")
                one.append((time.perf_counter() - started) * 1000)
        eight = eight_clients(port, queries, runs=runs)
        after = load()
        pss = _pss_kib(server.pid)
    finally:
        stop.set()
        sampler.join()
        server.terminate()
        server.wait(timeout=60)
    return {
        "workers": workers,
        "settled_after_s": settled,
        "one_client": summary(one),
        "eight_clients": eight[LOAD_CLIENTS[0]],
        "eight_clients_httpx": eight["httpx"],
        "peak_rss_mib": round(peak[0] / 1024, 1),
        "pss_after_load_mib": round(pss / 1024, 1),
        "load_before": before,
        "load_after": after,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument("--work", type=Path, default=None)
    parser.add_argument("--queries", type=Path, default=WANDS_QUERIES)
    parser.add_argument("--full", action="store_true", help="also time a full reindex")
    parser.add_argument(
        "--no-reindex",
        action="store_true",
        help="skip the reindex step (at 50k the first no-change reindex after a code change "
        "retrains the rankers: ~10 minutes that say nothing about serving)",
    )
    parser.add_argument("--workers", default="1,2", help="worker counts to serve with")
    parser.add_argument("--port", type=int, default=8791)
    parser.add_argument(
        "--runs", type=int, default=3, help="8-client load runs per worker count, pooled"
    )
    parser.add_argument("--tag", default="", help="writes speed-<products>-<tag>.json")
    args = parser.parse_args()

    work = args.work or Path(tempfile.mkdtemp(prefix="kgsearch-speed-"))
    home = work / "home"
    shutil.rmtree(home, ignore_errors=True)
    shutil.copytree(args.home, home, symlinks=True)
    queries = load_queries(args.queries)
    report: dict[str, Any] = {
        "machine": machine(),
        "commit": commit(),
        "uncommitted_changes": dirty(),
        "queries": len(queries),
        "load_at_start": load(),
        "goals": GOALS,
    }
    try:
        if args.no_reindex:
            report["reindex"] = "not run (--no-reindex)"
        else:
            print("reindex ...", file=sys.stderr, flush=True)
            report["reindex"] = reindexes(home, args.full)
        print("in-process ...", file=sys.stderr, flush=True)
        report["in_process"] = in_process(home, queries)
        report["http"] = []
        for workers in [int(w) for w in args.workers.split(",")]:
            print(f"HTTP with {workers} worker(s) ...", file=sys.stderr, flush=True)
            report["http"].append(over_http(home, queries, workers, args.port, runs=args.runs))
        from app.engine import Engine
        from app.settings import Settings

        engine = Engine(Settings(home=home))
        report["products"] = engine.service()[1].products
        engine.close()
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    report["load_at_end"] = load()
    name = f"speed-{report['products']}{'-' + args.tag if args.tag else ''}.json"
    out = ROOT / "benchmarks" / "results" / name
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
