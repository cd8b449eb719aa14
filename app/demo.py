"""The demo job: generate a catalogue, import it into the graph, build the index."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from app.engine import Engine
from ingest.formats import write_labels, write_products, write_queries
from ingest.progress import Progress
from synthetic.generator import CatalogSize, generate_catalog

__all__ = ["prepare_demo", "write_generated"]

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
