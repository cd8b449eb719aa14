"""How kept-alive clients sit on the server's workers, with and without the server
closing connections after ``KGSEARCH_KEEPALIVE_REQUESTS`` requests.

    python benchmarks/worker_balance.py --home /tmp/home50k [--settings 0,100]
        [--cycles 3] [--rounds 250]

For each cycle and each setting in turn (alternated, so both see the same machine):
``kgsearch serve --workers 2`` on ``--home`` (read, not changed), a short warm-up load,
then 8 clients each sending ``--rounds`` searches on kept-alive connections (the WANDS
queries). Twice a second, ``ss`` says which worker holds each of the 8 connections;
the report gives, per run, how often the busiest worker held 4, 5, 6... of them, with
the run's QPS and p50/p99. The kernel hands a new connection to whichever worker accepts
first, so without recycling a run keeps the split it started with. Writes
benchmarks/results/worker-balance-<products>.json.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import re
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from reindex_times import commit, dirty, machine  # noqa: E402
from search_latency import WANDS_QUERIES, load_queries, throughput  # noqa: E402
from speed import load, start_server  # noqa: E402

CLIENTS = 8


def connections_by_worker(port: int) -> collections.Counter[str]:
    """Established connections to ``port``, counted by the process that holds them."""
    listed = subprocess.run(
        ["ss", "-tnpH", "state", "established", f"( sport = :{port} )"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return collections.Counter(re.findall(r"pid=(\d+)", listed))


def one_run(home: Path, port: int, queries: list[str], rounds: int) -> dict[str, Any]:
    server = start_server(home, port, 2)
    busiest: list[int] = []
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            held = connections_by_worker(port)
            if sum(held.values()) >= CLIENTS - 2:  # not between a close and a reconnect
                busiest.append(max(held.values()))
            stop.wait(0.5)

    try:
        throughput(port, queries, clients=CLIENTS, rounds=20)  # warm both workers
        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        run = throughput(port, queries, clients=CLIENTS, rounds=rounds)
        stop.set()
        sampler.join()
    finally:
        server.terminate()
        server.wait(timeout=60)
    return {
        "qps": run["qps"],
        "p50_ms": run["p50_ms"],
        "p99_ms": run["p99_ms"],
        "errors": run["errors"],
        "busiest_worker_connections": dict(sorted(collections.Counter(busiest).items())),
        "load": load(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument("--settings", default="0,100", help="KGSEARCH_KEEPALIVE_REQUESTS values")
    parser.add_argument("--cycles", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=250, help="searches per client")
    parser.add_argument("--port", type=int, default=8792)
    args = parser.parse_args()

    queries = load_queries(WANDS_QUERIES)
    settings = [int(s) for s in args.settings.split(",")]
    runs: dict[int, list[dict[str, Any]]] = {s: [] for s in settings}
    report: dict[str, Any] = {
        "machine": machine(),
        "commit": commit(),
        "uncommitted_changes": dirty(),
        "load_at_start": load(),
        "clients": CLIENTS,
        "rounds": args.rounds,
    }
    for cycle in range(args.cycles):
        for setting in settings:
            os.environ["KGSEARCH_KEEPALIVE_REQUESTS"] = str(setting)
            done = one_run(args.home, args.port, queries, args.rounds)
            runs[setting].append(done)
            print(f"cycle {cycle} keepalive_requests={setting}: {done}", file=sys.stderr)
    report["runs"] = {str(s): r for s, r in runs.items()}
    report["mean_qps"] = {
        str(s): round(sum(r["qps"] for r in done) / len(done), 1) for s, done in runs.items()
    }
    from app.engine import Engine
    from app.settings import Settings

    engine = Engine(Settings(home=args.home))
    products = engine.service()[1].products
    engine.close()
    out = ROOT / "benchmarks" / "results" / f"worker-balance-{products}.json"
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
