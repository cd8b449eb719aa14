"""The demo job: generate a catalogue, import it into the graph, build the index, and
simulate a shopper behaviour log so that recommendations have data from the first run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from app.engine import Engine
from ingest.formats import write_labels, write_products, write_queries
from ingest.progress import Progress
from synthetic.generator import CatalogSize, generate_catalog

__all__ = ["prepare_demo", "simulate_behaviour", "write_generated"]

SAMPLE_QUERY_KINDS = ("category", "attribute", "brand", "descriptive", "misspelled")


def write_generated(out_dir: Path, *, size: str, seed: int, progress: Progress) -> dict[str, int]:
    """Generate a catalogue and write ``product.csv``, ``query.csv``, ``label.csv``."""
    catalog = generate_catalog(
        size=_size(size), seed=seed, progress=lambda d, t: progress("generate", d, t)
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    write_products(out_dir / "product.csv", catalog.products)
    write_queries(out_dir / "query.csv", catalog.queries)
    write_labels(out_dir / "label.csv", catalog.labels)
    return {
        "products": len(catalog.products),
        "queries": len(catalog.queries),
        "labels": len(catalog.labels),
    }


def _size(size: str) -> CatalogSize:
    if size == "tiny":
        return "tiny"
    if size == "demo":
        return "demo"
    if size == "bench":
        return "bench"
    raise ValueError(f"size must be tiny, demo or bench, not {size!r}")


def prepare_demo(
    engine: Engine, *, size: str, seed: int, progress: Progress, fresh: bool = False
) -> dict[str, Any]:
    """Make ``engine.home`` hold the generated catalogue, its graph and a live index.

    A second run with the same size and seed reuses what the first one built."""
    marker_path = engine.catalogue_dir / "GENERATED.json"
    wanted = {"size": size, "seed": seed}
    marker = json.loads(marker_path.read_text()) if marker_path.exists() else None
    if fresh:
        engine.wipe()
        marker = None
    reused = marker == wanted and engine.versions.live() is not None
    build: dict[str, Any] = {"size": size, "seed": seed, "reused": reused}
    if not reused:
        if (marker is not None and marker != wanted) or (marker is None and engine.graph.count()):
            raise ValueError(
                f"{engine.home} already holds another catalogue ({marker or 'imported data'}); "
                "pass --fresh to replace it, or --home DIR to use another directory"
            )
        build.update(write_generated(engine.catalogue_dir, size=size, seed=seed, progress=progress))
        report = engine.import_catalogue(engine.catalogue_dir / "product.csv")
        build["kge"] = engine.train_kge(model="TransE", dataset="graph", progress=progress)
        manifest = engine.reindex(progress=progress)
        marker_path.write_text(json.dumps(wanted))
    if not reused or not engine.events_path.exists():
        build["events"] = simulate_behaviour(engine, seed=seed, users=_USERS[size])
        build.update(
            {
                "graph_revision": report.revision,
                "index": manifest.version,
                "seconds": {k: round(v, 1) for k, v in manifest.seconds.items()},
            }
        )
    samples: dict[str, str] = {}
    for query in engine.judged():
        if query.kind in SAMPLE_QUERY_KINDS and query.kind not in samples:
            samples[query.kind] = query.text
    return {"build": build, "sample_queries": list(samples.values())}


#: Simulated shoppers per catalogue size (each with 8 search sessions).
_USERS = {"tiny": 60, "demo": 400, "bench": 2000}
_SPREAD_DAYS = 30.0


def simulate_behaviour(engine: Engine, *, seed: int, users: int, sessions_per_user: int = 8) -> int:
    """Simulate shoppers searching the live index (:mod:`synthetic.behaviour`: position
    bias, favourite brands, price sensitivity) and write their events to
    ``engine.events_path``; return how many events. Sessions are spread uniformly over the
    last 30 days (seeded), so a time-based split has every shopper on both sides."""
    import random

    from ingest.events import write_events
    from ingest.formats import read_products
    from synthetic.behaviour import SimulatorConfig, simulate

    service, _ = engine.service()
    queries = [q for q in engine.judged() if q.grades]
    if not queries:
        raise ValueError(f"no judged queries in {engine.catalogue_dir}: cannot simulate shoppers")
    products = {
        p.product_id: p for p in read_products(engine.catalogue_dir / "product.csv").records
    }
    pages: dict[str, list[str]] = {}

    def ranking(text: str) -> list[str]:
        if text not in pages:
            hits = service.search(text, k=10).hits
            pages[text] = [h.product_id for h in hits if h.product_id in products]
        return pages[text]

    config = SimulatorConfig(
        users=users, sessions_per_user=sessions_per_user, shuffle_fraction=0.2, seed=seed
    )
    events = simulate(
        queries=queries,
        products=products,
        rankings={"live": ranking},
        assign=lambda _: "live",
        config=config,
    )
    rng = random.Random(f"kgsearch-demo-spread:{seed}")
    first: dict[str, float] = {}
    for event in events:
        first.setdefault(event.session_id, event.ts)
    start = config.start_ts
    shift = {
        session: start + rng.uniform(0.0, _SPREAD_DAYS * 86_400.0) - ts
        for session, ts in first.items()
    }
    spread = sorted(
        (e.model_copy(update={"ts": round(e.ts + shift[e.session_id], 3)}) for e in events),
        key=lambda e: (e.ts, e.session_id),
    )
    return write_events(engine.events_path, spread)
