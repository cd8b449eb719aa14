"""Searches read one consistent catalogue snapshot while edits land (issue 17, item 8).

A writer thread deletes and re-adds products through ``SearchService.apply`` (the path
catalog edits take) while reader threads search. Every search must succeed, and every
hit must match, field for field, one snapshot that was live while that search ran.
"""

from __future__ import annotations

import dataclasses
import threading
from pathlib import Path

from conftest import SMALL_PRODUCTS

from app.engine import Engine
from app.settings import Settings
from ingest.formats import write_products
from kg.documents import ProductDocument
from search.encoder import MiniLMEncoder
from search.filters import Filters
from search.service import SearchResult, SearchService, Snapshot

ROUNDS = 60
QUERIES = (
    ("sofa", None),
    ("velvet chair", None),
    ("bed", Filters(price_min=1, price_max=100_000)),
    ("table", Filters(brand=frozenset({"oakhaven"}))),
    ("lamp", None),
)


def _service(home: Path, encoder: MiniLMEncoder) -> tuple[Engine, SearchService]:
    write_products(home / "p.csv", SMALL_PRODUCTS)
    engine = Engine(Settings(home=home), encoder=encoder)
    engine.import_catalogue(home / "p.csv")
    engine.reindex()
    return engine, engine.service()[0]


def _writer(
    service: SearchService, originals: list[ProductDocument], history: dict[int, Snapshot]
) -> None:
    """Each round deletes half the products and re-adds the other half with a new price
    and name, so a hit tells which snapshot it came from."""
    for i in range(1, ROUNDS + 1):
        gone = originals[i % 2 :: 2]
        back = [
            dataclasses.replace(d, price=float(1000 + i), name=f"{d.name} r{i}")
            for d in originals[(i + 1) % 2 :: 2]
        ]
        service.apply(back, [d.product_id for d in gone])
        snapshot = service.snapshot
        history[snapshot.generation] = snapshot


def _matches(result: SearchResult, snapshot: Snapshot) -> bool:
    docs = snapshot.documents
    return all(
        h.product_id in docs
        and docs[h.product_id].name == h.name
        and docs[h.product_id].price == h.price
        for h in result.hits
    )


def test_searches_during_edits_see_one_snapshot(tmp_path: Path, encoder: MiniLMEncoder) -> None:
    engine, service = _service(tmp_path, encoder)
    originals = sorted(service.documents.values(), key=lambda d: d.product_id)
    history: dict[int, Snapshot] = {service.snapshot.generation: service.snapshot}
    seen: list[tuple[int, int, SearchResult]] = []
    errors: list[BaseException] = []
    done = threading.Event()

    def reader() -> None:
        i = 0
        while not done.is_set():
            query, filters = QUERIES[i % len(QUERIES)]
            i += 1
            try:
                before = service.snapshot.generation
                result = service.search(query, k=20, filters=filters, brand_cap=i % 3 or None)
                seen.append((before, service.snapshot.generation, result))
            except BaseException as exc:  # every failure is the finding
                errors.append(exc)

    readers = [threading.Thread(target=reader) for _ in range(2)]
    for t in readers:
        t.start()
    try:
        _writer(service, originals, history)
    finally:
        done.set()
        for t in readers:
            t.join()
        engine.close()

    assert not errors, f"{len(errors)} searches failed during edits, first: {errors[0]!r}"
    assert len(seen) > ROUNDS // 4, "the readers hardly overlapped the writer"
    raced = 0
    for before, after, result in seen:
        live = [history[g] for g in range(before, after + 1)]
        assert any(_matches(result, s) for s in live), (
            f"a search for {result.query!r} returned hits from no single snapshot of "
            f"generations {before}..{after}: {[(h.product_id, h.name) for h in result.hits]}"
        )
        raced += after > before
    assert raced, "no search overlapped an edit; the test proves nothing"


def test_a_snapshot_is_not_changed_by_later_edits(tmp_path: Path, encoder: MiniLMEncoder) -> None:
    engine, service = _service(tmp_path, encoder)
    try:
        old = service.snapshot
        doc = old.documents["S1"]
        brand = doc.brand or ""
        service.apply([dataclasses.replace(doc, brand="Nobrand")], ["S2"])
        assert old.documents["S1"].brand == brand and "S2" in old.documents
        assert "S1" in old.filters.allowed(Filters(brand=frozenset({brand})))
        assert "S1" not in old.filters.allowed(Filters(brand=frozenset({"Nobrand"})))
        new = service.snapshot
        assert new.generation == old.generation + 1
        assert "S2" not in new.documents and new.documents["S1"].brand == "Nobrand"
        assert new.filters.allowed(Filters(brand=frozenset({"nobrand"}))) == {"S1"}
        if old.graph is not None and new.graph is not None:
            assert "S2" in old.graph.products_of(_category_of(doc))
            assert "S2" not in new.graph.products_of(_category_of(doc))
        hits = {h.product_id for h in service.search("sofa", k=20).hits}
        assert "S2" not in hits
    finally:
        engine.close()


def _category_of(doc: ProductDocument) -> str:
    from kg.schema import category_id

    return category_id(doc.category_path[:1])
