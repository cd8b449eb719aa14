"""Latency of "similar items" and "for you" on a built demo home
(``kgsearch demo --size demo``, which also simulates the behaviour log).

Measures the recommendation service in-process and end to end through the HTTP API
(FastAPI's in-process test client: routing, validation, JSON), sequentially, one request
at a time: warm products, cold products (no interactions), known shoppers, unknown
shoppers on a product page. Writes benchmarks/results/recs-latency-<size>.json.

    python benchmarks/recs_latency.py --home /tmp/kg-demo [--requests 300]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from app.engine import Engine
from app.settings import Settings
from recommend.diversity import Diversity

ROOT = Path(__file__).resolve().parents[1]


def percentiles(samples: list[float]) -> dict[str, float]:
    values = np.asarray(samples)
    return {
        "p50_ms": round(float(np.percentile(values, 50)), 3),
        "p99_ms": round(float(np.percentile(values, 99)), 3),
        "mean_ms": round(float(values.mean()), 3),
        "n": len(samples),
    }


def timed(calls: list[Callable[[], object]]) -> dict[str, float]:
    for call in calls[:5]:
        call()  # warm caches
    samples = []
    for call in calls:
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1000.0)
    return percentiles(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument("--requests", type=int, default=300, help="per kind of request")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    engine = Engine(Settings(home=args.home))
    _, manifest = engine.service()
    started = time.perf_counter()
    recs = engine.recommendations()
    build_s = time.perf_counter() - started
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
            "GET /recommendations/users/{id}": timed(
                [lambda u=u: client.get(f"/recommendations/users/{u}?k=10") for u in user_ids]
            ),
        }
    result = {
        "home": str(args.home),
        "index": manifest.version,
        "products": len(items),
        "cold_products": len(cold),
        "shoppers": len(users),
        "events_used": recs.behaviour.counts["used"],
        "sources": sorted(recs.sources),
        "unavailable": recs.unavailable,
        "build_s": round(build_s, 2),
        "in_process": in_process,
        "http": http,
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_avg_1m": round(os.getloadavg()[0], 2),
        },
    }
    out = ROOT / "benchmarks" / "results" / f"recs-latency-{len(items)}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
