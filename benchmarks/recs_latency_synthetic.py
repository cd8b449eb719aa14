"""In-process latency of "similar items" and "for you" at bench size (50k products) without
a built index: the bench catalogue's real graph (the SQLite store `kgsearch demo --size
bench` imports first), stand-in vectors (seeded random unit vectors, 384-d like MiniLM)
and a seeded synthetic behaviour log (2,000 shoppers x 8 sessions in two favourite leaf
categories each, clicks with add-to-cart and purchases). No KG embeddings.

For when encoding 50k products and training TransE on their graph does not fit (a shared
two-core machine): latency depends on the shapes (products, vector width, interactions),
not on the vectors' values; the neighbours it finds are not meaningful.

    python benchmarks/recs_latency_synthetic.py --graph /tmp/recs50k/graph.sqlite \\
        [--requests 200] [--tables-dir /tmp/recs-tables]

Writes benchmarks/results/recs-latency-<products>-synthetic.json.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kg.documents import product_documents
from kg.sqlite_store import SQLiteGraphStore
from recommend.diversity import Diversity
from recommend.interactions import shop_behaviour
from recommend.service import build_recommendations
from recommend.sources import ItemSpace, SourceInputs
from search.filters import FilterIndex
from search.vector import NumpyVectorIndex

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Event:
    type: str
    user_id: str | None
    session_id: str | None
    product_id: str
    ts: float


def timed(calls: list[Callable[[], object]]) -> dict[str, float]:
    for call in calls[:5]:
        call()
    wall, cpu = [], []
    for call in calls:
        started, started_cpu = time.perf_counter(), time.process_time()
        call()
        wall.append((time.perf_counter() - started) * 1000.0)
        cpu.append((time.process_time() - started_cpu) * 1000.0)
    return {
        **{f"p{q}_ms": round(float(np.percentile(wall, q)), 3) for q in (50, 95, 99)},
        "cpu_p50_ms": round(float(np.percentile(cpu, 50)), 3),
        "n": len(wall),
    }


def simulate(space: ItemSpace, seed: int) -> list[Event]:
    by_category: dict[str, list[str]] = {}
    for pid in space.items:
        path = space.documents[pid].category_path
        by_category.setdefault(path[-1] if path else "-", []).append(pid)
    categories = sorted(by_category)
    rng = random.Random(seed)
    now = 1_764_000_000.0
    events: list[Event] = []
    for u in range(2000):
        favourites = rng.sample(categories, 2)
        for s in range(8):
            pool = by_category[rng.choice(favourites)]
            ts = now - rng.uniform(0, 30 * 86_400)
            session = f"S{u}-{s}"
            for k in range(rng.randint(2, 6)):
                head = min(int(rng.paretovariate(1.2)) - 1, len(pool) - 1)
                pid = pool[head] if rng.random() < 0.7 else rng.choice(pool)
                events.append(Event("click", f"U{u}", session, pid, ts + k))
                if rng.random() < 0.2:
                    events.append(Event("add_to_cart", f"U{u}", session, pid, ts + k + 0.5))
                if rng.random() < 0.08:
                    events.append(Event("purchase", f"U{u}", session, pid, ts + k + 0.7))
    return events


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--graph", type=Path, required=True, help="a bench home's graph.sqlite")
    parser.add_argument("--requests", type=int, default=200, help="per kind of request")
    parser.add_argument("--tables-dir", type=Path, default=None, help="save/reuse tables here")
    parser.add_argument("--seed", type=int, default=13)
    args = parser.parse_args()
    load_before = os.getloadavg()
    store = SQLiteGraphStore(path=args.graph)
    started = time.perf_counter()
    documents = {d.product_id: d for d in product_documents(store)}
    documents_s = time.perf_counter() - started
    space = ItemSpace(items=tuple(sorted(documents)), documents=documents)
    rng = np.random.default_rng(args.seed)
    vectors = rng.standard_normal((len(space), 384)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    index = NumpyVectorIndex(dim=384)
    index.upsert(list(space.items), vectors)
    events = simulate(space, args.seed)
    behaviour = shop_behaviour(events, space.items)
    inputs = SourceInputs(
        space=space,
        behaviour=behaviour,
        graph=store,
        vectors=index,
        vector_of=index.vector,
        seed=0,
        tables_dir=args.tables_dir,
    )
    filters = FilterIndex(list(documents.values()))
    started = time.perf_counter()
    recs = build_recommendations(inputs, filters=filters)
    build_s = time.perf_counter() - started
    started = time.perf_counter()
    build_recommendations(inputs, filters=filters)  # as after a change of the event log
    rebuild_s = time.perf_counter() - started
    warm = [p for i, p in enumerate(space.items) if not behaviour.is_cold(i)]
    cold = [p for i, p in enumerate(space.items) if behaviour.is_cold(i)]
    users = list(behaviour.interactions.users)
    pick = random.Random(args.seed)

    def sample(pool: list[str]) -> list[str]:
        return [pick.choice(pool) for _ in range(args.requests)]

    warm_ids, cold_ids, user_ids, pages = (
        sample(warm),
        sample(cold),
        sample(users),
        sample(list(space.items)),
    )
    capped = Diversity(brand_cap=2)
    result = {
        "graph": str(args.graph),
        "encoder": "stand-in (random unit vectors)",
        "products": len(space),
        "events": len(events),
        "cold_products": len(cold),
        "shoppers": len(users),
        "sources": sorted(recs.sources),
        "unavailable": recs.unavailable,
        "documents_s": round(documents_s, 2),
        "build_s": round(build_s, 2),
        "rebuild_s": round(rebuild_s, 2),
        "in_process": {
            "similar (warm product)": timed([lambda p=p: recs.similar(p, k=10) for p in warm_ids]),
            "similar (cold product)": timed([lambda p=p: recs.similar(p, k=10) for p in cold_ids]),
            "for you (known shopper)": timed(
                [lambda u=u: recs.for_user(u, k=10) for u in user_ids]
            ),
            "for you (known shopper, page + brand cap 2)": timed(
                [
                    lambda u=u, p=p: recs.for_user(u, k=10, context=p, diversity=capped)
                    for u, p in zip(user_ids, pages, strict=True)
                ]
            ),
            "for you (unknown shopper on a page)": timed(
                [lambda p=p: recs.for_user("U-new", k=10, context=p) for p in pages]
            ),
        },
        "machine": {
            "cpus": os.cpu_count(),
            "load_avg_before": [round(x, 2) for x in load_before],
            "load_avg_after": [round(x, 2) for x in os.getloadavg()],
        },
    }
    out = ROOT / "benchmarks" / "results" / f"recs-latency-{len(space)}-synthetic.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
