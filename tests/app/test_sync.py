"""Catalog edits reach search without a reindex, and survive a restart."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import SMALL_PRODUCTS

from app.engine import Engine
from app.settings import Settings
from catalogue.ops import CatalogOps
from ingest.formats import write_products
from kg.schema import (
    EntityKind,
    EntityWrite,
    Relation,
    RelationType,
    WriteBatch,
    attribute_id,
    brand_id,
)
from search.encoder import MiniLMEncoder
from search.filters import Filters


def built(home: Path, encoder: MiniLMEncoder) -> Engine:
    write_products(home / "p.csv", SMALL_PRODUCTS)
    engine = Engine(Settings(home=home), encoder=encoder)
    engine.import_catalogue(home / "p.csv")
    engine.reindex()
    return engine


def ids(engine: Engine, query: str, filters: Filters | None = None) -> list[str]:
    service, _ = engine.service()
    return [h.product_id for h in service.search(query, k=20, filters=filters).hits]


def add_hammock(engine: Engine) -> None:
    """A catalog import adds product H1, a Birchley hanging chair, to the graph."""
    from ingest.records import ProductRecord

    hammock = ProductRecord(
        product_id="H1",
        name="Macrame hanging chair",
        product_class="Hammocks",
        category_path=("Outdoor", "Hammocks"),
        brand="Birchley",
    )
    CatalogOps(store=engine.graph).imports.run([hammock], actor="editor")


def test_edit_is_searchable_within_2s_and_survives_restart(
    tmp_path: Path, encoder: MiniLMEncoder
) -> None:
    engine = built(tmp_path, encoder)
    blue = Filters(attributes={"color": frozenset({"blue"})})
    green = Filters(attributes={"color": frozenset({"emerald green"})})
    assert "S1" in ids(engine, "sofa", blue)

    entity = engine.graph.get("product:S1")
    assert entity is not None
    engine.graph.write(
        WriteBatch(
            upserts=(
                EntityWrite(
                    "product:S1",
                    EntityKind.PRODUCT,
                    {**entity.properties, "name": "Tufted emerald sofa"},
                    expected_version=entity.version,
                ),
                EntityWrite(
                    attribute_id("color", "emerald green"),
                    EntityKind.ATTRIBUTE_VALUE,
                    {"key": "color", "value": "emerald green"},
                ),
            ),
            relate=(
                Relation(
                    "product:S1", RelationType.HAS_ATTRIBUTE, attribute_id("color", "emerald green")
                ),
            ),
            unrelate=(
                Relation("product:S1", RelationType.HAS_ATTRIBUTE, attribute_id("color", "blue")),
            ),
        ),
        actor="editor",
    )
    assert engine.sync() == 1  # the edit is live now; benchmarks/edits.py times it
    assert ids(engine, "emerald sofa")[0] == "S1"
    assert "S1" in ids(engine, "sofa", green)
    assert "S1" not in ids(engine, "sofa", blue)
    assert engine.sync() == 0  # nothing new

    restarted = Engine(Settings(home=tmp_path), encoder=encoder)
    assert ids(restarted, "emerald sofa")[0] == "S1"
    assert "S1" not in ids(restarted, "sofa", blue)


def test_new_and_deleted_products_follow_the_graph(tmp_path: Path, encoder: MiniLMEncoder) -> None:
    engine = built(tmp_path, encoder)

    add_hammock(engine)
    engine.graph.write(WriteBatch(deletes=("product:L1",)), actor="editor")
    assert engine.sync() == 2
    assert ids(engine, "macrame hanging chair")[0] == "H1"
    assert "L1" not in ids(engine, "brass table lamp")
    service, _ = engine.service()
    assert "H1" in service.documents and "L1" not in service.documents
    restarted = Engine(Settings(home=tmp_path), encoder=encoder)
    assert "L1" not in ids(restarted, "brass table lamp")
    assert ids(restarted, "macrame hanging chair")[0] == "H1"


def test_kge_artefact_joins_the_index_and_new_products_get_stale_vectors(
    tmp_path: Path, encoder: MiniLMEncoder
) -> None:
    engine = built(tmp_path, encoder)
    result = engine.train_kge(model="TransE", dataset="graph", epochs=5, device="cpu")
    assert result["model"] == "TransE" and result["saved_to"]
    engine.reindex()
    service, _ = engine.service()
    assert service.graph is not None and service.graph.embeddings is not None
    c = service.candidates("oakhaven chair")
    assert c.signal("kge_available").max() == 1.0
    assert c.signal("kge_brand").max() > 0

    from ingest.records import ProductRecord

    CatalogOps(store=engine.graph).imports.run(
        [
            ProductRecord(
                product_id="N9",
                name="Oak side table",
                product_class="End Tables",
                category_path=("Furniture", "Living Room", "End Tables"),
                brand="Oakhaven",
            )
        ],
        actor="editor",
    )
    engine.sync()
    embeddings = service.graph.embeddings
    from kg.kge import KGEmbeddings

    assert isinstance(embeddings, KGEmbeddings)
    assert embeddings.has("product:N9") and "product:N9" in embeddings.stale

    # Renamed, the brand keeps its graph id, which its embedding is keyed by; the linker
    # names it by the new name's id. The kge_* signals follow the rename.
    ops = CatalogOps(store=engine.graph)
    oakhaven = brand_id("Oakhaven")
    ops.brands.rename(
        oakhaven, "Oakridge", expected_version=ops.brands.get(oakhaven).version, actor="ana"
    )
    engine.sync()
    service, _ = engine.service()
    assert brand_id("Oakridge") in {e for e, _, _ in service.search("oakridge chair").entities}
    c = service.candidates("oakridge chair")
    assert c.signal("kge_brand").max() > 0 and c.signal("kge_similarity").max() > 0


def test_an_edit_that_touches_no_alias_does_not_reapply_the_aliases(
    tmp_path: Path, encoder: MiniLMEncoder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Giving a service the catalogue's aliases again costs a 50k catalogue's edit 35 ms:
    a sync does it only when a change since the last time touched an alias."""
    import ingest.sync as sync

    engine = built(tmp_path, encoder)
    engine.service()
    applied: list[int] = []
    real = sync.apply_names

    def counted(service: object, store: object) -> int:
        applied.append(1)
        return real(service, store)  # type: ignore[arg-type]

    monkeypatch.setattr(sync, "apply_names", counted)
    ops = CatalogOps(store=engine.graph)
    ops.products.update(
        "S1", {"price": 123.0}, expected_version=ops.products.get("S1").version, actor="ana"
    )
    assert engine.sync() == 1 and applied == []  # a price: the aliases stand

    brand = next(e for e in engine.graph.entities(EntityKind.BRAND))
    ops.aliases.add(
        brand.id, "Zorblax", expected_version=ops.aliases.get(brand.id).version, actor="ana"
    )
    assert engine.sync() == 0 and len(applied) == 1  # an alias: applied, nothing re-encoded
    service, _ = engine.service()
    linked = {e for e, _, _ in service.search("zorblax", k=5).entities}
    assert brand.id in linked

    # Renamed, the brand keeps its graph id and its alias: the alias now stands for the
    # new name, which its products' documents carry (search ids come from names).
    version = ops.brands.get(brand.id).version
    ops.brands.rename(brand.id, "Quuxcraft", expected_version=version, actor="ana")
    engine.sync()
    assert len(applied) == 2
    service, _ = engine.service()
    result = service.search("zorblax", k=5, ranker=None)
    assert brand_id("Quuxcraft") in {e for e, _, _ in result.entities}
    assert result.hits and result.hits[0].brand == "Quuxcraft"
    assert result.hits[0].signals["bm25_brand"] > 0


def test_profiles_follow_catalog_edits(tmp_path: Path, encoder: MiniLMEncoder) -> None:
    """A shopper's profile is built from the live catalogue, not from the one its
    service first saw: an event on a product added since counts, and a renamed brand's
    affinity is held under its new name."""
    import time

    from ingest.events import ShopEvent

    engine = built(tmp_path, encoder)
    now = time.time()

    def event(product: str, ago_s: float) -> ShopEvent:
        return ShopEvent(type="purchase", user_id="U9", session_id="S9", product_id=product,
                         ts=now - ago_s)  # fmt: skip

    engine.record_events([event("S1", 60)])
    first = engine.shopper_profile("U9")  # the profile service exists from here on
    assert first.events == 1
    add_hammock(engine)
    engine.sync()
    engine.record_events([event("H1", 30)])
    profile = engine.shopper_profile("U9")
    assert profile.events == 2 and "H1" in profile.recent
    assert profile.brands.get("Birchley", 0.0) > 0

    ops = CatalogOps(store=engine.graph)
    birchley = brand_id("Birchley")
    ops.brands.rename(
        birchley, "Larchley", expected_version=ops.brands.get(birchley).version, actor="ana"
    )
    engine.sync()
    renamed = engine.shopper_profile("U9")
    assert "Birchley" not in renamed.brands and renamed.brands.get("Larchley", 0.0) > 0
    # The graph's copy of the profile names entities by graph id: the renamed brand keeps
    # its node (brand:birchley), which the name-derived id (brand:larchley) is not.
    engine.record_events([event("S1", 10)])
    assert engine.shopper_profile("U9").events == 3
    edges = engine.graph.user_profile("U9")
    assert edges.get(birchley, 0.0) > 0 and brand_id("Larchley") not in edges
