"""Event ingestion throughput on the embedded default (SQLite event store, WAL).

Generates valid shop events for the live index's products (seeded: random shoppers and
sessions, views, clicks, add-to-cart and purchases in the last day, a unique
``event_id`` each) and records them in batches of ``--batch`` events:

- through ``Engine.record_events`` (validation against the live products, the time rules,
  one atomic append per batch), from ``ShopEvent`` objects and from raw JSON objects
  (``parse_shop_events`` first, as ``kgsearch events import`` does);
- through ``POST /events`` (FastAPI's in-process test client: JSON encoding and decoding,
  the body checks, the same record path);
- the same batches again: every event a duplicate;
- through ``POST /events`` on a real server (uvicorn in a subprocess, the app as
  ``kgsearch serve`` runs it, warmed up; this process posts with httpx over loopback).

It writes into the home's event store: run it on a copy of a demo home. Writes
benchmarks/results/events-ingest.json.

    python benchmarks/events_ingest.py --home /tmp/kg-demo-copy [--events 50000]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from app.engine import Engine
from app.settings import Settings
from ingest.events import ShopEvent, parse_shop_events

ROOT = Path(__file__).resolve().parents[1]
TYPES = ("view", "view", "view", "click", "click", "add_to_cart", "purchase")


def make_events(products: list[str], n: int, *, seed: int, now: float) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    run = uuid.uuid4().hex[:8]  # ids unique across runs on one home
    events = []
    for i in range(n):
        user = f"B{rng.randrange(2_000):05d}"
        event: dict[str, Any] = {
            "type": rng.choice(TYPES),
            "user_id": user if rng.random() < 0.8 else None,
            "session_id": f"{user}-s{rng.randrange(5)}",
            "product_id": rng.choice(products),
            "ts": round(now - rng.uniform(0, 86_400), 3),
            "event_id": f"bench-{run}-{i}",
        }
        if event["type"] != "view":
            event |= {"query": "velvet sofa", "position": rng.randint(1, 10), "variant": "A"}
        events.append(event)
    return events


def batches(items: list[Any], size: int) -> list[list[Any]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def rate(label: str, n: int, call: Callable[[], tuple[int, int]]) -> dict[str, Any]:
    started, cpu = time.perf_counter(), time.process_time()
    accepted, duplicates = call()
    seconds, cpu_s = time.perf_counter() - started, time.process_time() - cpu
    row = {
        "path": label,
        "events": n,
        "accepted": accepted,
        "duplicates": duplicates,
        "seconds": round(seconds, 3),
        "events_per_s": round(n / seconds),
        # CPU seconds of this process (all its threads): what the rate would be on a
        # core of its own, whatever else the machine runs.
        "cpu_s": round(cpu_s, 3),
        "events_per_cpu_s": round(n / cpu_s),
    }
    print(json.dumps(row))
    return row


SERVER = """
import sys, uvicorn
from app.api import create_app
from app.engine import Engine
from app.settings import Settings
uvicorn.run(create_app(Engine(Settings(home=sys.argv[1]))), host="127.0.0.1",
            port=int(sys.argv[2]), log_level="warning")
"""


def storefront_key(home: Path) -> str:
    """A new ``storefront`` key of the benchmark's home (``POST /events`` needs one)."""
    from app.auth import KeyStore, Role

    made = KeyStore(path=home / "api_keys.json").create(
        user="benchmark", role=Role.STOREFRONT, created_by="benchmarks/events_ingest.py"
    )
    return made.key


def served_rate(home: Path, events: list[dict[str, Any]], size: int) -> dict[str, Any]:
    """``POST /events`` on uvicorn in another process (its CPU time is not counted)."""
    import socket
    import subprocess
    import sys

    import httpx

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-c", SERVER, str(home), str(port)], cwd=ROOT)
    url = f"http://127.0.0.1:{port}"
    headers = {"X-API-Key": storefront_key(home)}
    try:
        with httpx.Client(base_url=url, timeout=60, headers=headers) as client:
            deadline = time.monotonic() + 300
            while True:  # until the server has warmed up
                try:
                    if client.get("/health").json().get("status") == "ok":
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError("the server did not come up")
                time.sleep(0.5)
            client.post("/events", json={"events": events[:size]}).raise_for_status()
            rest = events[size:]

            def post() -> tuple[int, int]:
                accepted = duplicates = 0
                for chunk in batches(rest, size):
                    response = client.post("/events", json={"events": chunk})
                    response.raise_for_status()
                    body = response.json()
                    accepted += body["accepted"]
                    duplicates += body["duplicates"]
                return accepted, duplicates

            row = rate("POST /events (uvicorn in another process, httpx)", len(rest), post)
            row.pop("cpu_s"), row.pop("events_per_cpu_s")  # the server's CPU is elsewhere
            return row
    finally:
        server.terminate()
        server.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument("--events", type=int, default=50_000, help="per path")
    parser.add_argument("--batch", type=int, default=1_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    engine = Engine(Settings(home=args.home))
    service, manifest = engine.service()
    products = sorted(service.documents)
    now = time.time()
    size = args.batch

    def record_objects(events: list[dict[str, Any]]) -> tuple[int, int]:
        objects = [ShopEvent.model_validate(e) for e in events]
        accepted = duplicates = 0
        for chunk in batches(objects, size):
            report = engine.record_events(chunk)
            accepted, duplicates = accepted + report.accepted, duplicates + report.duplicates
        return accepted, duplicates

    def record_json(events: list[dict[str, Any]]) -> tuple[int, int]:
        accepted = duplicates = 0
        for chunk in batches(events, size):
            report = engine.record_events(parse_shop_events(chunk))
            accepted, duplicates = accepted + report.accepted, duplicates + report.duplicates
        return accepted, duplicates

    from fastapi.testclient import TestClient

    from app.api import create_app

    def post(client: TestClient, events: list[dict[str, Any]]) -> tuple[int, int]:
        accepted = duplicates = 0
        for chunk in batches(events, size):
            response = client.post("/events", json={"events": chunk})
            response.raise_for_status()
            body = response.json()
            accepted, duplicates = accepted + body["accepted"], duplicates + body["duplicates"]
        return accepted, duplicates

    n = args.events
    load_before = os.getloadavg()
    sets = [make_events(products, n, seed=args.seed + k, now=now) for k in range(3)]
    record_objects(make_events(products, size, seed=99, now=now))  # warm-up: open the store
    rows = [
        rate(
            "Engine.record_events (ShopEvent objects; validation included)",
            n,
            lambda: record_objects(sets[0]),
        ),
        rate("Engine.record_events (JSON objects, parsed)", n, lambda: record_json(sets[1])),
    ]
    # No lifespan (no `with`): the server's warm-up (rankers, recommendations) would
    # compete for the CPU with what is measured.
    client = TestClient(create_app(engine), headers={"X-API-Key": storefront_key(engine.home)})
    client.post("/events", json={"events": sets[2][:size]})  # warm-up
    rest = sets[2][size:]
    rows.append(rate("POST /events (in-process HTTP)", len(rest), lambda: post(client, rest)))
    rows.append(rate("POST /events, all duplicates", len(rest), lambda: post(client, rest)))
    served = make_events(products, n, seed=args.seed + 3, now=now)
    rows.append(served_rate(args.home, served, size))
    load = os.getloadavg()
    result = {
        "home": str(args.home),
        "index": manifest.version,
        "products": len(products),
        "batch": size,
        "store_events_after": engine.events.count(),
        "rows": rows,
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_average_before": [round(x, 2) for x in load_before],
            "load_average_after": [round(x, 2) for x in load],
        },
    }
    out = ROOT / "benchmarks" / "results" / "events-ingest.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
