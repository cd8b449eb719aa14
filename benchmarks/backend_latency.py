"""Search latency on the embedded backends vs Neo4j + Elasticsearch, in one run.

Imports the same generated catalogue into two homes (SQLite + tantivy/NumPy, and
Neo4j + Elasticsearch from scripts/servers), builds both (no judgments, so both rank
with the same `linear` fusion), then replays the real WANDS queries in-process against
both, alternating query by query so machine noise hits both alike.

    scripts/servers start
    python benchmarks/backend_latency.py --size demo
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import time
import uuid
from pathlib import Path

import numpy as np

from app.demo import write_generated
from app.engine import Engine
from app.settings import Settings
from ingest.formats import read_queries

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from reindex_times import commit, machine  # noqa: E402


def server_memory(neo4j: str, es: str) -> dict[str, object]:
    """The servers' own memory settings, as they report them (the figures depend on them:
    a 50k import needs a larger Neo4j heap than the default, docs/servers.md)."""
    from elasticsearch import Elasticsearch

    from kg.neo4j_store import open_driver

    with open_driver(neo4j, None, 10.0) as driver:
        records, _, _ = driver.execute_query(
            "SHOW SETTINGS YIELD name, value WHERE name IN $names RETURN name, value",
            names=[
                "server.memory.heap.max_size",
                "server.memory.pagecache.size",
                "server.memory.off_heap.transaction_max_size",
            ],
        )
    client = Elasticsearch(es)
    nodes = client.nodes.info(metric="jvm")["nodes"]
    client.close()
    return {
        "neo4j": {r["name"]: r["value"] for r in records},
        "elasticsearch_heap_max_mib": [
            n["jvm"]["mem"]["heap_max_in_bytes"] // 2**20 for n in nodes.values()
        ],
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--size", choices=["tiny", "demo", "bench"], default="demo")
    parser.add_argument("--neo4j", default="bolt://127.0.0.1:17687")
    parser.add_argument("--es", default="http://127.0.0.1:19200")
    parser.add_argument(
        "--queries",
        type=Path,
        default=next(
            (
                p
                for p in (
                    ROOT.parent / "shared/data/wands/query.csv",
                    Path("/work/shared/data/wands/query.csv"),
                )
                if p.is_file()
            ),
            ROOT.parent / "shared/data/wands/query.csv",
        ),
    )
    args = parser.parse_args()
    root = Path.home() / ".cache" / "kgsearch" / "bench" / f"backends-{args.size}"
    shutil.rmtree(root, ignore_errors=True)
    catalogue = root / "catalogue"
    write_generated(catalogue, size=args.size, seed=13, progress=lambda *_: None)
    tag = uuid.uuid4().hex[:8]
    settings = {
        "embedded": Settings(home=root / "embedded"),
        "neo4j+elasticsearch": Settings(
            home=root / "servers",
            graph_backend="neo4j",
            neo4j_uri=args.neo4j,
            neo4j_namespace=f"bench{tag}",
            search_backend="elasticsearch",
            elasticsearch_url=args.es,
            elasticsearch_prefix=f"kgbench-{tag}",
        ),
    }
    engines, build = {}, {}
    for name, s in settings.items():
        engine = Engine(s)
        started = time.perf_counter()
        engine.import_catalogue(catalogue / "product.csv")
        imported = time.perf_counter() - started
        manifest = engine.reindex()
        build[name] = {
            "import_s": round(imported, 1),
            **{k: round(v, 1) for k, v in manifest.seconds.items()},
        }
        engines[name] = engine
    queries = [q.query for q in read_queries(args.queries).records]
    services = {n: e.service()[0] for n, e in engines.items()}
    real = services["embedded"].encoder
    # What each query is searched as (spelling-corrected; both homes hold one catalogue,
    # so both correct alike), encoded once, before any timing.
    searched = {services["embedded"].spell(q).text for q in queries} | set(queries)
    vectors = {t: real.encode([t]) for t in searched}

    class Cached:  # same query vectors for both: compare the backends, not the encoder
        name, dim = real.name, real.dim

        def encode(self, texts, **_):  # type: ignore[no-untyped-def]
            if texts[0] not in vectors:  # not expected: counted, not hidden
                misses.append(texts[0])
                vectors[texts[0]] = real.encode(texts)
            return vectors[texts[0]]

    misses: list[str] = []

    for s in services.values():
        s.encoder = Cached()  # type: ignore[assignment]
        for q in queries[:20]:
            s.search(q)
    times: dict[str, list[float]] = {n: [] for n in services}
    for q in queries:
        for n, s in services.items():
            started = time.perf_counter()
            s.search(q, k=10)
            times[n].append((time.perf_counter() - started) * 1000)
    report = {
        "size": args.size,
        "commit": commit(),
        "machine": machine(),
        "server_memory": server_memory(args.neo4j, args.es),
        "queries": len(queries),
        "build": build,
        "search_ms_excluding_encoding": {
            n: {"p50": round(statistics.median(t), 2), "p99": round(float(np.quantile(t, 0.99)), 2)}
            for n, t in times.items()
        },
    }
    report["vector_cache_misses"] = len(misses)
    report["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    report["ratio_p50_servers_over_embedded"] = round(
        statistics.median(times["neo4j+elasticsearch"]) / statistics.median(times["embedded"]), 2
    )
    for e in engines.values():
        e.wipe()
    out = ROOT / "benchmarks" / "results" / f"backends-{args.size}.json"
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
