"""Latency of "similar items" and "for you" on a built demo home
(``kgsearch demo --size demo``, which also simulates the behaviour log).

Measures the recommendation service in-process and end to end through the HTTP API
(FastAPI's in-process test client: routing, validation, JSON), sequentially, one request
at a time: warm products, cold products (no interactions), known shoppers, unknown
shoppers on a product page. Also the service's build time (neighbour tables included)
and a rebuild (as after a change of the event log: the tables are reused), and the load
average before and after, since the machine is shared.
Writes benchmarks/results/recs-latency-<size>.json.

    python benchmarks/recs_latency.py --home /tmp/kg-demo [--requests 300] [--stand-in-encoder]

``--stand-in-encoder``: for a home indexed with :class:`StandInEncoder` (unit vectors
seeded by a hash of each text, 384-d like MiniLM) because encoding 50k products with
MiniLM did not fit a session on the shared machine; recommendation latency depends on the
vectors' shape, not their values (the neighbours it finds are not meaningful).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import random
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from app.engine import Engine
from app.settings import Settings
from recommend.diversity import Diversity

ROOT = Path(__file__).resolve().parents[1]


class StandInEncoder:
    """Not a text encoder: a seeded random unit vector per text (for latency only)."""

    name = "stand-in-hash-384"
    dim = 384

    def encode(
        self,
        texts: Sequence[str],
        *,
        batch_size: int = 64,
        progress: Callable[[int, int], None] | None = None,
    ) -> np.ndarray:
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            seed = int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")
            vector = np.random.default_rng(seed).standard_normal(self.dim)
            out[i] = vector / np.linalg.norm(vector)
        if progress is not None:
            progress(len(texts), len(texts))
        return out


def percentiles(samples: list[float]) -> dict[str, float]:
    values = np.asarray(samples)
    return {
        "p50_ms": round(float(np.percentile(values, 50)), 3),
        "p95_ms": round(float(np.percentile(values, 95)), 3),
        "p99_ms": round(float(np.percentile(values, 99)), 3),
        "mean_ms": round(float(values.mean()), 3),
        "n": len(samples),
    }


def timed(calls: list[Callable[[], object]]) -> dict[str, float]:
    for call in calls[:5]:
        call()  # warm caches
    samples, cpu = [], []
    for call in calls:
        started, started_cpu = time.perf_counter(), time.process_time()
        call()
        samples.append((time.perf_counter() - started) * 1000.0)
        cpu.append((time.process_time() - started_cpu) * 1000.0)
    # CPU time of this process (all its threads): what a request costs on a machine whose
    # other jobs stretch the wall-clock figures
    return {**percentiles(samples), "cpu_p50_ms": round(float(np.percentile(cpu, 50)), 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument("--requests", type=int, default=300, help="per kind of request")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--stand-in-encoder", action="store_true", help="see the docstring")
    args = parser.parse_args()
    load_before = os.getloadavg()
    engine = Engine(
        Settings(home=args.home), encoder=StandInEncoder() if args.stand_in_encoder else None
    )
    engine.refit_in_background = False
    search, manifest = engine.service()
    started = time.perf_counter()
    recs = engine.recommendations()
    build_s = time.perf_counter() - started
    from recommend.live import from_search

    events = engine.events.read()
    started = time.perf_counter()
    from_search(search, engine.graph, events)  # a second build: the tables are reused
    rebuild_s = time.perf_counter() - started
    rng = random.Random(args.seed)
    items = recs.space.items
    warm = [p for i, p in enumerate(items) if not recs.behaviour.is_cold(i)]
    cold = [p for i, p in enumerate(items) if recs.behaviour.is_cold(i)]
    users = list(recs.behaviour.interactions.users)
    n = args.requests
    capped = Diversity(brand_cap=2)

    def pick(pool: list[str]) -> list[str]:
        return [rng.choice(pool) for _ in range(n)] if pool else []

    warm_ids, cold_ids, user_ids, pages = pick(warm), pick(cold), pick(users), pick(list(items))
    in_process = {
        "similar (warm product)": timed([lambda p=p: recs.similar(p, k=10) for p in warm_ids]),
        "similar (cold product)": timed([lambda p=p: recs.similar(p, k=10) for p in cold_ids]),
        "for you (known shopper)": timed([lambda u=u: recs.for_user(u, k=10) for u in user_ids]),
        "for you (known shopper, page + brand cap 2)": timed(
            [
                lambda u=u, p=p: recs.for_user(u, k=10, context=p, diversity=capped)
                for u, p in zip(user_ids, pages, strict=True)
            ]
        ),
        "for you (unknown shopper on a page)": timed(
            [lambda p=p: recs.for_user("U-new", k=10, context=p) for p in pages]
        ),
    }
    from fastapi.testclient import TestClient

    from app.api import create_app

    with TestClient(create_app(engine)) as client:
        http = {
            "GET /recommendations/similar/{id}": timed(
                [lambda p=p: client.get(f"/recommendations/similar/{p}?k=10") for p in warm_ids]
            ),
            "GET /recommendations/similar/{id} (cold product)": timed(
                [lambda p=p: client.get(f"/recommendations/similar/{p}?k=10") for p in cold_ids]
            ),
            "GET /recommendations/users/{id}": timed(
                [lambda u=u: client.get(f"/recommendations/users/{u}?k=10") for u in user_ids]
            ),
            "GET /recommendations/users/{id} (unknown shopper on a page)": timed(
                [
                    lambda p=p: client.get(f"/recommendations/users/U-new?k=10&context={p}")
                    for p in pages
                ]
            ),
        }
    result = {
        "home": str(args.home),
        "encoder": "stand-in (random unit vectors)" if args.stand_in_encoder else "configured",
        "index": manifest.version,
        "products": len(items),
        "cold_products": len(cold),
        "shoppers": len(users),
        "events_used": recs.behaviour.counts["used"],
        "sources": sorted(recs.sources),
        "unavailable": recs.unavailable,
        "build_s": round(build_s, 2),
        "rebuild_s": round(rebuild_s, 2),
        "tables": {
            name: int(table.width)
            for name, source in recs.sources.items()
            if (table := getattr(source, "table", None)) is not None
        },
        "in_process": in_process,
        "http": http,
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_avg_before": [round(x, 2) for x in load_before],
            "load_avg_after": [round(x, 2) for x in os.getloadavg()],
        },
    }
    out = ROOT / "benchmarks" / "results" / f"recs-latency-{len(items)}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
