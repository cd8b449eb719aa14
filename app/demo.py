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

__all__ = [
    "backfill_events",
    "prepare_demo",
    "seed_aliases",
    "simulate_behaviour",
    "train_recommendation_fusion",
    "write_generated",
]

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
        build["aliases"] = seed_aliases(engine)
        build["kge"] = engine.train_kge(model="TransE", dataset="graph", progress=progress)
        manifest = engine.reindex(progress=progress)
        marker_path.write_text(json.dumps(wanted))
        build.update(
            {
                "graph_revision": report.revision,
                "index": manifest.version,
                "seconds": {k: round(v, 1) for k, v in manifest.seconds.items()},
            }
        )
    if not reused or not engine.events_path.exists():
        build["events"] = simulate_behaviour(engine, seed=seed, users=_USERS[size])
        build["personal"] = _train_personal(engine)
    elif engine.events.count() == 0:  # a home simulated before there was an event store
        build["event_store"] = backfill_events(engine, seed=seed)
    if "events" in build or not (engine.recs_fusion_dir / "meta.json").exists():
        build["recs_fusion"] = train_recommendation_fusion(engine, seed=seed)
    samples: dict[str, str] = {}
    for query in engine.judged():
        if query.kind in SAMPLE_QUERY_KINDS and query.kind not in samples:
            samples[query.kind] = query.text
    return {"build": build, "sample_queries": list(samples.values())}


def seed_aliases(engine: Engine) -> dict[str, int]:
    """Give the graph the vocabulary's seeded aliases (``synthetic.aliases``: the held-out
    third stays out), through the catalog's own validation; an alias the catalogue
    refuses (a word that names another entity, say) is skipped and counted."""
    from catalogue.ops import CatalogOps
    from catalogue.validation import CatalogError
    from kg.schema import EntityKind, category_id
    from search.analysis import fold
    from synthetic.aliases import alias_seeds

    ops = CatalogOps(store=engine.graph)
    values = {
        (fold(str(e.properties.get("key", ""))), fold(str(e.properties.get("value", "")))): e.id
        for e in engine.graph.entities(EntityKind.ATTRIBUTE_VALUE)
    }
    counts = {"seeded": 0, "held_out": 0, "absent": 0, "refused": 0}
    for seed in alias_seeds():
        if seed.held_out:
            counts["held_out"] += 1
            continue
        found: str | None
        if seed.kind == "category":
            cid = category_id(seed.names)
            found = cid if engine.graph.get(cid) is not None else None
        else:
            key = fold(seed.key or "")
            found = next(
                (values[(key, fold(n))] for n in seed.names if (key, fold(n)) in values), None
            )
        if found is None:
            counts["absent"] += 1  # the generated catalogue has no such class or value
            continue
        try:
            version = ops.aliases.get(found).version
            ops.aliases.add(found, seed.alias, expected_version=version, actor="demo:aliases")
        except CatalogError:
            counts["refused"] += 1
            continue
        counts["seeded"] += 1
    return counts


def _train_personal(engine: Engine) -> dict[str, float] | str:
    """The personal stage of search, trained on the simulated log (its weights), or why not."""
    from ranker.personal import PersonalTrainingError

    try:
        return {k: round(v, 4) for k, v in engine.train_personal().weights.items()}
    except PersonalTrainingError as exc:
        return f"not trained: {exc}"


#: Simulated shoppers per catalogue size (each with 8 search sessions).
_USERS = {"tiny": 60, "demo": 400, "bench": 2000}
_SPREAD_DAYS = 30.0


def simulate_behaviour(engine: Engine, *, seed: int, users: int, sessions_per_user: int = 8) -> int:
    """Simulate shoppers searching the live index (:mod:`synthetic.behaviour`: position
    bias, favourite brands, price sensitivity), write their events to
    ``engine.events_path`` and make them the content of the event store
    (:func:`backfill_events`); return how many events. Sessions are spread uniformly over
    the last 30 days (seeded), so a time-based split has every shopper on both sides."""
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
    count = write_events(engine.events_path, spread)
    engine.drop_events()  # the simulated log replaces whatever the store held
    backfill_events(engine, seed=seed)
    return count


def backfill_events(engine: Engine, *, seed: int) -> dict[str, int]:
    """Record the simulated behaviour log in the event store through the one event import
    path (:meth:`Engine.record_events`), as a historical backfill: the max age is the log's
    own span, and each event gets the id ``sim-<seed>-<line>`` so that a second backfill
    stores nothing twice. Returns the import's counts."""
    import math
    import time

    from ingest.events import EventBatch, ShopEvent, read_events

    logged = read_events(engine.events_path)
    if logged.errors:
        raise ValueError(
            f"{engine.events_path}: {len(logged.errors)} invalid line(s), e.g. {logged.errors[0]}"
        )
    events = tuple(
        ShopEvent.from_logged(e, event_id=f"sim-{seed}-{n}")
        for n, e in enumerate(logged.records, start=1)
    )
    if not events:
        return {"accepted": 0, "duplicates": 0}
    now = time.time()
    oldest = min(e.ts for e in events)
    max_age_days = max(1.0, math.ceil((now - oldest) / 86_400.0) + 1)
    batch = EventBatch(events, tuple(range(1, len(events) + 1)), ())
    report = engine.record_events(
        batch, max_age_days=max_age_days, now=now, source=str(engine.events_path)
    )
    return {"accepted": report.accepted, "duplicates": report.duplicates}


def train_recommendation_fusion(engine: Engine, *, seed: int) -> dict[str, Any]:
    """Train the learned recommendation fusion on the event store (time-based split, see
    :mod:`recommend.fusion`) and save it where :meth:`Engine.recommendations` loads it.
    Returns what was trained (situations, lists, seconds)."""
    from recommend.live import train_live_fusion

    search, _ = engine.service()
    events = engine.events.read()
    if not events:
        return {"trained": [], "why": "the event store is empty"}
    model = train_live_fusion(search, engine.graph, events, engine.recs_fusion_dir, seed=seed)
    return {"trained": sorted(model.boosters), "seconds": model.meta["seconds"]}
