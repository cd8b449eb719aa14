"""Event -> profile -> changed "for you" response: how long until a shopper's event shows.

On a demo home (its event store filled, e.g. by ``kgsearch demo``), through the app's HTTP
routes in process (FastAPI's test client): the recommendation models are fitted and the
live profiles built first (not timed). Then, ``--events`` times, for a shopper drawn
(seeded) from the store's shoppers and some new ones:

1. ``GET /recommendations/users/{id}`` before the event (not timed), then
2. timed: ``POST /events`` with one view / click / add-to-cart / purchase of a product the
   shopper has not touched, and ``GET /recommendations/users/{id}`` (which reads the new
   event from the store, rebuilds the shopper's profile, writes its graph edges and
   answers with the event as history);
3. the answer counts as changed when its items differ from the answer in 1, and the
   profile as updated when the graph's user edges include the new product.

Reports p50 / p95 / max of the timed part and of the two calls, the share of changed
answers and updated profiles. It writes events into the home: run it on a copy.
Writes benchmarks/results/profile-latency.json.

    python benchmarks/profile_latency.py --home /tmp/kg-demo-copy [--events 200]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import time
import uuid
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from app.api import create_app
from app.engine import Engine
from app.settings import Settings
from kg.schema import product_id as product_entity

ROOT = Path(__file__).resolve().parents[1]
TYPES = ("view", "view", "click", "click", "add_to_cart", "purchase")


def quantiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    at = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))]  # noqa: E731
    return {
        "p50_ms": round(statistics.median(ordered) * 1000, 2),
        "p95_ms": round(at(0.95) * 1000, 2),
        "max_ms": round(ordered[-1] * 1000, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument("--events", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--out", type=Path, default=ROOT / "benchmarks/results/profile-latency.json"
    )
    args = parser.parse_args()

    engine = Engine(Settings(home=args.home))
    started = time.perf_counter()
    recs = engine.recommendations()
    fit_s = time.perf_counter() - started
    started = time.perf_counter()
    engine.profiles().refresh()
    profiles_s = time.perf_counter() - started
    stored = engine.events.count()
    known = sorted(recs.behaviour.interactions.user_index)
    products = sorted(recs.space.items)
    rng = random.Random(args.seed)
    run = uuid.uuid4().hex[:8]
    timed: list[float] = []
    post_s: list[float] = []
    get_s: list[float] = []
    changed = updated = 0
    with TestClient(create_app(engine)) as client:
        for i in range(args.events):
            user = rng.choice(known) if known and rng.random() < 0.8 else f"new-{run}-{i % 40}"
            url = f"/recommendations/users/{user}"
            before = [x["product_id"] for x in client.get(url, params={"k": 10}).json()["items"]]
            product = rng.choice(products)
            event = {
                "type": rng.choice(TYPES),
                "user_id": user,
                "session_id": f"{user}-live",
                "product_id": product,
                "ts": time.time(),
                "event_id": f"latency-{run}-{i}",
            }
            t0 = time.perf_counter()
            response = client.post("/events", json={"events": [event]})
            t1 = time.perf_counter()
            answer = client.get(url, params={"k": 10})
            t2 = time.perf_counter()
            if response.status_code != 200 or answer.status_code != 200:
                raise SystemExit(f"request failed: {response.text} {answer.text}")
            timed.append(t2 - t0)
            post_s.append(t1 - t0)
            get_s.append(t2 - t1)
            after = [x["product_id"] for x in answer.json()["items"]]
            changed += after != before
            updated += product_entity(product) in engine.graph.user_profile(user)
    result: dict[str, Any] = {
        "home": str(args.home),
        "products": len(products),
        "events_in_store": stored,
        "fitted_users": len(known),
        "events": args.events,
        "fit_s": round(fit_s, 2),
        "first_profile_refresh_s": round(profiles_s, 2),
        "event_to_changed_response": quantiles(timed),
        "post_events": quantiles(post_s),
        "get_for_you": quantiles(get_s),
        "changed_share": round(changed / args.events, 3),
        "profile_updated_share": round(updated / args.events, 3),
        "graph_backend": engine.settings.graph_backend,
        "machine": {
            "cpus": os.cpu_count(),
            "load_1m": round(os.getloadavg()[0], 2),
            "python": platform.python_version(),
        },
    }
    engine.close()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
