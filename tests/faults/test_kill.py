"""``kill -9`` a real ``kgsearch`` process in the middle of an import, a reindex and a
burst of edits, restart it, and check that nothing was half done (issue 17, faults).

Each kill lands at a point observed from outside the process: the import while it holds
the graph's write transaction; the reindex when its staging directory holds its first
file, then its manifest, then when the built version has been renamed into place; the
edits after a number of them were acknowledged, with more in flight. After the restart:

- the graph is exactly the state before the import or after it, never a part of it;
- the live index is a whole version (manifest, documents, opens, answers);
- the change log replays: rebuilding the graph from the log alone gives the graph;
- every acknowledged edit is there, and no edit is there in part.
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from conftest import SMALL_PRODUCTS
from faults.support import (
    assert_live_index_whole,
    assert_log_replays,
    call,
    free_port,
    graph_state,
    kill9,
    start,
    wait_healthy,
    wait_until,
    write_lock_held,
)

from app.engine import Engine
from app.settings import Settings
from ingest.formats import write_products
from ingest.records import ProductRecord
from kg.sqlite_store import SQLiteGraphStore
from search.encoder import MiniLMEncoder

IMPORT_ROWS = 800
BRANDS = ("Oakhaven", "Birchley")


@pytest.fixture(scope="module")
def base_home(tmp_path_factory: pytest.TempPathFactory, encoder: MiniLMEncoder) -> Iterator[Path]:
    """The 12 hand-written products, imported and indexed once; each test copies it."""
    home = tmp_path_factory.mktemp("fault-base")
    write_products(home / "small.csv", SMALL_PRODUCTS)
    engine = Engine(Settings(home=home), encoder=encoder)
    engine.import_catalogue(home / "small.csv")
    engine.reindex()
    engine.close()
    yield home


@pytest.fixture
def home(base_home: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "home"
    shutil.copytree(base_home, copy)
    return copy


def _graph(home: Path) -> SQLiteGraphStore:
    return SQLiteGraphStore(path=Settings(home=home).home / "graph.sqlite")


def _big_import(path: Path) -> Path:
    """Enough rows that writing their one atomic batch takes a moment to catch."""
    rows = [
        ProductRecord(
            product_id=f"K{i:05d}",
            name=f"Fault test sofa {i}",
            product_class="Sofas",
            category_path=("Furniture", "Living Room", "Sofas"),
            brand=BRANDS[i % 2],
            price=100.0 + i,
            features={"color": ("blue", "grey", "green")[i % 3]},
        )
        for i in range(IMPORT_ROWS)
    ]
    write_products(path, rows)
    return path


def test_kill_during_import_leaves_the_graph_before_or_after(
    home: Path, tmp_path: Path, encoder: MiniLMEncoder
) -> None:
    source = _big_import(tmp_path / "big.csv")
    store = _graph(home)
    before = graph_state(store), store.revision
    store.close()
    log = tmp_path / "import.log"

    proc = start(home, "import", str(source), log=log)
    caught = wait_until(write_lock_held(home / "graph.sqlite"), proc, timeout=120)
    kill9(proc)
    assert caught, f"the import ended before its write was caught:\n{log.read_text()[-2000:]}"

    store = _graph(home)
    assert (graph_state(store), store.revision) == before, "a killed import left a part"
    assert_log_replays(store)
    store.close()

    done = start(home, "import", str(source), log=log)  # the restart: run it again
    assert done.wait(timeout=300) == 0, log.read_text()[-2000:]
    store = _graph(home)
    products = {e.id for e in store.entities() if e.id.startswith("product:K")}
    assert len(products) == IMPORT_ROWS
    assert_log_replays(store)
    store.close()
    assert_live_index_whole(home, encoder)


@pytest.mark.parametrize(
    "point",
    ["documents", "manifest", "renamed"],
    ids=["staging-started", "staging-manifest", "version-renamed"],
)
def test_kill_during_reindex_keeps_a_whole_live_version(
    point: str, home: Path, tmp_path: Path, encoder: MiniLMEncoder
) -> None:
    versions = home / "index" / "versions"
    live_before = assert_live_index_whole(home, encoder)
    built = {p.name for p in versions.iterdir()}
    log = tmp_path / "reindex.log"

    marker = {"documents": "documents.jsonl", "manifest": "manifest.json"}.get(point)

    def reached() -> bool:
        if marker is None:  # renamed into place: the switch is next
            return any(p.name not in built and p.name.startswith("v") for p in versions.iterdir())
        return any((p / marker).exists() for p in versions.glob(".build-*"))

    proc = start(home, "reindex", log=log)
    caught = wait_until(reached, proc, timeout=300)
    kill9(proc)
    assert caught, f"the reindex ended before {point!r}:\n{log.read_text()[-2000:]}"

    live = assert_live_index_whole(home, encoder)
    assert live == live_before or live not in built  # the old version, or the whole new one

    again = start(home, "reindex", log=log)  # the restart: reindex again, from the leftovers
    assert again.wait(timeout=300) == 0, log.read_text()[-2000:]
    assert assert_live_index_whole(home, encoder) not in built
    assert not list(versions.glob(".build-*")), "a staging directory was left behind"


def test_kill_during_a_burst_of_edits_loses_no_acknowledged_edit(
    home: Path, tmp_path: Path, encoder: MiniLMEncoder
) -> None:
    """Four clients edit price and brand together (the brand follows the price's parity,
    so a half-applied edit shows); the server dies after 40 acknowledged edits."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = tmp_path / "serve.log"
    proc = start(home, "serve", "--port", str(port), "--workers", "1", log=log)
    wait_healthy(base, proc)
    pids = [p.product_id for p in SMALL_PRODUCTS[:4]]
    acknowledged: dict[str, int] = {}
    count = threading.Semaphore(0)
    lock = threading.Lock()

    def editor(pid: str) -> None:
        with httpx.Client(base_url=base, timeout=30) as client:
            step = 0
            while True:
                try:
                    view = call(client, "GET", f"/catalog/products/{pid}").json()
                    step += 1
                    price = float(1000 + step)
                    reply = call(
                        client,
                        "PATCH",
                        f"/catalog/products/{pid}",
                        {
                            "expected_version": view["version"],
                            "price": price,
                            "brand": BRANDS[step % 2],
                        },
                    )
                except httpx.HTTPError:
                    return  # the server is gone
                if reply.status_code == 200:
                    with lock:
                        acknowledged[pid] = step
                    count.release()

    clients = [threading.Thread(target=editor, args=(pid,)) for pid in pids]
    for t in clients:
        t.start()
    for _ in range(40):
        assert count.acquire(timeout=120), f"edits stalled:\n{log.read_text()[-2000:]}"
    kill9(proc)
    for t in clients:
        t.join(timeout=60)

    store = _graph(home)
    assert_log_replays(store)
    for pid in pids:
        entity = store.get(f"product:{pid}")
        assert entity is not None
        price = entity.properties.get("price")
        assert isinstance(price, float)
        step = int(price) - 1000
        assert step >= acknowledged.get(pid, 0), f"{pid}: acknowledged edit {step} lost"
        brands = [e.id for _, e in store.neighbours(entity.id) if e.id.startswith("brand:")]
        assert brands == [f"brand:{BRANDS[step % 2].lower()}"], f"{pid}: a half-applied edit"
    store.close()

    again = start(home, "serve", "--port", str(port), "--workers", "1", log=log)
    try:
        wait_healthy(base, again)
        with httpx.Client(base_url=base, timeout=30) as client:
            for pid in pids:
                view = call(client, "GET", f"/catalog/products/{pid}").json()
                hits = client.get("/search", params={"q": view["name"], "k": 20}).json()["hits"]
                found = next(h for h in hits if h["product_id"] == pid)
                assert found["price"] == view["price"]  # the index caught up
                assert found["brand"] == BRANDS[(int(found["price"]) - 1000) % 2]
    finally:
        kill9(again)
    assert_live_index_whole(home, encoder)
