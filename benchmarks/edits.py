"""Catalog edit benchmarks: single edits per second, bulk import rows per second, and
edit-to-searchable latency, on the embedded backends (SQLite graph, tantivy + NumPy
index) and, when a Neo4j answers, the edit operations on Neo4j.

The 5k-product demo catalogue is built once (``prepare_demo``, size ``demo``, seed 13)
into ~/.cache/kgsearch/bench/edits-demo, then copied into a temp home per run so every
run starts from the same graph and index. Prints a JSON report and writes it to
benchmarks/results/edits.json.

    python benchmarks/edits.py [--edits 200] [--latency-edits 50] [--bulk-rows 1000]
                               [--neo4j-uri bolt://127.0.0.1:17687 | --no-neo4j]

With ``--home HOME`` (a built home of any size, e.g. the 50k one ``benchmarks/speed.py``
uses), it only times the sync of single price edits on a temp copy of that home: the
part of an edit that grows with the catalogue.

    python benchmarks/edits.py --home HOME [--sync-edits 40] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from reindex_times import commit, dirty  # noqa: E402

from app.api import create_app  # noqa: E402
from app.auth import KeyStore, Role  # noqa: E402
from app.demo import prepare_demo  # noqa: E402
from app.engine import Engine  # noqa: E402
from app.settings import Settings  # noqa: E402
from catalogue.ops import CatalogOps  # noqa: E402
from ingest.formats import read_products, write_products  # noqa: E402
from ingest.records import ProductRecord  # noqa: E402
from kg.store import GraphStore  # noqa: E402

CACHE = Path(os.environ.get("KGSEARCH_CACHE", Path.home() / ".cache" / "kgsearch"))


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def summary(ms: list[float]) -> dict[str, float]:
    return {
        "n": len(ms),
        "p50_ms": round(percentile(ms, 50), 2),
        "p95_ms": round(percentile(ms, 95), 2),
        "mean_ms": round(statistics.fmean(ms), 2),
        "per_second": round(1000 / statistics.fmean(ms), 1),
    }


def machine() -> dict[str, Any]:
    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def progress(stage: str, done: int, total: int) -> None:
    if total and done == total:
        print(f"  {stage}: {total}", file=sys.stderr)


def built_home() -> Path:
    """The demo catalogue with its live index, built once and kept."""
    home = CACHE / "bench" / "edits-demo"
    engine = Engine(Settings(home=home))
    started = time.perf_counter()
    summary_ = prepare_demo(engine, size="demo", seed=13, progress=progress)
    engine.close()
    if not summary_["build"]["reused"]:
        print(f"built the demo home in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    return home


# -- measurements ---------------------------------------------------------------------------


def single_edits(ops: CatalogOps, ids: list[str], n: int) -> dict[str, float]:
    """Read a product, change its price with the version read: validate + one batch."""
    rng = random.Random(13)
    ms = []
    for pid in rng.sample(ids, n):
        started = time.perf_counter()
        view = ops.products.get(pid)
        price = view.fields.get("price")
        new = round((price if isinstance(price, int | float) else 10.0) * 1.01 + 1, 2)
        ops.products.update(pid, {"price": new}, expected_version=view.version, actor="bench")
        ms.append((time.perf_counter() - started) * 1000)
    return summary(ms)


def bulk_file(path: Path, catalogue: Path, rows: int) -> Path:
    """``rows`` rows: 80 % existing products with a new price, 20 % new products."""
    products = list(read_products(catalogue).records)
    rng = random.Random(7)
    changed = [
        p.model_copy(update={"price": round((p.price or 10.0) * 1.05, 2)})
        for p in rng.sample(products, int(rows * 0.8))
    ]
    new = [
        p.model_copy(update={"product_id": f"NEW{i:05d}", "name": f"{p.name} mk{i}"})
        for i, p in enumerate(rng.sample(products, rows - len(changed)))
    ]
    write_products(path, [*changed, *new])
    return path


def bulk_import(ops: CatalogOps, path: Path, rows: int) -> dict[str, float]:
    started = time.perf_counter()
    dry = ops.imports.run(path, actor="bench", dry_run=True)
    dry_s = time.perf_counter() - started
    started = time.perf_counter()
    report = ops.imports.run(path, actor="bench")
    write_s = time.perf_counter() - started
    assert report.written and not report.invalid, report.invalid[:3]
    return {
        "rows": rows,
        "added": len(dry.added),
        "changed": len(dry.changed),
        "dry_run_s": round(dry_s, 2),
        "write_s": round(write_s, 2),
        "dry_run_rows_per_s": round(rows / dry_s, 1),
        "rows_per_s": round(rows / write_s, 1),
    }


def edit_to_searchable(engine: Engine, ids: list[str], n: int) -> dict[str, Any]:
    """Through the API (auth, validation, write, sync): PATCH a product's name with a
    unique token, then search for the token until the product is the top hit (ranked by
    keyword: the tuned rankers weigh in signals a made-up token does not move)."""
    from fastapi.testclient import TestClient

    key = KeyStore(path=engine.home / "api_keys.json").create(
        user="bench", role=Role.EDITOR, created_by="bench"
    )
    headers = {"X-API-Key": key.key}
    rng = random.Random(29)
    ms, patch_ms = [], []
    with TestClient(create_app(engine)) as client:
        client.get("/search", params={"q": "warm up"})
        for i, pid in enumerate(rng.sample(ids, n)):
            token = f"zephyrine{uuid.uuid4().hex[:6]}"
            view = client.get(f"/catalog/products/{pid}", headers=headers).json()
            started = time.perf_counter()
            r = client.patch(
                f"/catalog/products/{pid}",
                json={"expected_version": view["version"], "name": f"{token} {view['name']}"},
                headers=headers,
            )
            assert r.status_code == 200, r.text
            patch_ms.append((time.perf_counter() - started) * 1000)
            while True:
                params = {"q": token, "k": 1, "ranker": "bm25"}
                hits = client.get("/search", params=params).json()["hits"]
                if hits and hits[0]["product_id"] == pid.removeprefix("product:"):
                    break
                if time.perf_counter() - started > 10:
                    raise RuntimeError(
                        f"edit {i} of {pid} not searchable after 10 s: {r.json()} / {hits}"
                    )
            ms.append((time.perf_counter() - started) * 1000)
    return {"edit_to_searchable": summary(ms), "patch_with_sync": summary(patch_ms)}


def neo4j_store(uri: str) -> GraphStore | None:
    try:
        from neo4j import GraphDatabase

        with GraphDatabase.driver(uri, auth=None, connection_timeout=5) as driver:
            driver.verify_connectivity()
    except Exception as exc:
        print(f"neo4j not measured: {type(exc).__name__}: {exc}", file=sys.stderr)
        return None
    from kg.neo4j_store import Neo4jGraphStore

    return Neo4jGraphStore(uri=uri, namespace=f"bench{uuid.uuid4().hex[:10]}")


def neo4j_run(uri: str, catalogue: Path, bulk: Path, args: argparse.Namespace) -> dict[str, Any]:
    store = neo4j_store(uri)
    if store is None:
        return {"skipped": f"no Neo4j at {uri}"}
    from kg.neo4j_store import Neo4jGraphStore

    assert isinstance(store, Neo4jGraphStore)
    try:
        records: list[ProductRecord] = list(read_products(catalogue).records)
        ops = CatalogOps(store=store)
        started = time.perf_counter()
        ops.imports.run(catalogue, actor="bench")
        load_s = time.perf_counter() - started
        ops.products.get(f"product:{records[0].product_id}")  # the index catches up once
        ids = [f"product:{r.product_id}" for r in records]
        return {
            "uri": uri,
            "load_s": round(load_s, 1),
            "single_edit": single_edits(ops, ids, args.edits),
            "bulk_import": bulk_import(ops, bulk, args.bulk_rows),
        }
    finally:
        store.drop()
        store.close()


def sync_latency(source: Path, n: int, seed: int = 31) -> dict[str, Any]:
    """Time ``engine.sync()`` after each of ``n`` price edits of random products (after 5
    untimed ones), on a temp copy of the built home ``source``."""
    with tempfile.TemporaryDirectory(prefix="kgsearch-sync-") as tmp:
        home = Path(tmp) / "home"
        shutil.copytree(source, home)
        engine = Engine(Settings(home=home))
        service, _ = engine.service()
        service.search("warm up")
        engine.sync()  # whatever the home's log holds beyond its index
        ops = CatalogOps(store=engine.graph)
        rng = random.Random(seed)
        ids = sorted(service.documents)

        def edit(pid: str) -> float:
            version = ops.products.get(pid).version
            ops.products.update(
                pid, {"price": round(10 + 990 * rng.random(), 2)}, expected_version=version,
                actor="bench",
            )  # fmt: skip
            started = time.perf_counter()
            synced = engine.sync()
            assert synced == 1, synced
            return (time.perf_counter() - started) * 1000

        for pid in rng.sample(ids, 5):
            edit(pid)
        ms = [edit(pid) for pid in rng.sample(ids, n)]
        products = len(ids)
        engine.close()
    return {"products": products, "sync_after_one_edit": summary(ms)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--edits", type=int, default=200)
    parser.add_argument("--latency-edits", type=int, default=50)
    parser.add_argument("--bulk-rows", type=int, default=1000)
    parser.add_argument("--neo4j-uri", default="bolt://127.0.0.1:17687")
    parser.add_argument("--no-neo4j", action="store_true")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "edits.json")
    parser.add_argument("--home", type=Path, help="only time an edit's sync on a copy of HOME")
    parser.add_argument("--sync-edits", type=int, default=40)
    args = parser.parse_args()
    if args.home is not None:
        load = os.getloadavg()[0]
        timed = sync_latency(args.home, args.sync_edits)
        timed.update(
            machine=machine(), commit=commit(), uncommitted_changes=dirty(), load_before=load
        )
        timed["load_after"] = os.getloadavg()[0]
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(timed, indent=2) + "\n")
        print(json.dumps(timed, indent=2))
        return

    cached = built_home()
    report: dict[str, Any] = {"machine": machine(), "catalogue": "demo (seed 13)"}
    with tempfile.TemporaryDirectory(prefix="kgsearch-edits-") as tmp:
        home = Path(tmp) / "home"
        shutil.copytree(cached, home)
        engine = Engine(Settings(home=home))
        catalogue = home / "catalogue" / "product.csv"
        ids = [f"product:{r.product_id}" for r in read_products(catalogue).records]
        report["products"] = len(ids)
        engine.service()  # open the live index and load the encoder before timing
        engine.encoder.encode(["warm up"])
        ops = CatalogOps(store=engine.graph)
        started = time.perf_counter()
        ops.products.get(ids[0])
        report["index_first_read_s"] = round(time.perf_counter() - started, 2)
        bulk = bulk_file(Path(tmp) / "bulk.csv", catalogue, args.bulk_rows)
        embedded: dict[str, Any] = {"single_edit": single_edits(ops, ids, args.edits)}
        embedded["bulk_import"] = bulk_import(ops, bulk, args.bulk_rows)
        started = time.perf_counter()
        embedded["bulk_import"]["synced_products"] = engine.sync()
        embedded["bulk_import"]["sync_s"] = round(time.perf_counter() - started, 2)
        embedded.update(edit_to_searchable(engine, ids, args.latency_edits))
        report["embedded"] = embedded
        engine.close()
        if not args.no_neo4j:
            report["neo4j"] = neo4j_run(args.neo4j_uri, catalogue, bulk, args)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
