"""The GraphStore contract: every backend subclasses :class:`GraphStoreContract` once and
provides a ``store`` fixture yielding an empty store."""

from __future__ import annotations

import threading

import pytest

from kg.schema import (
    EntityKind,
    EntityWrite,
    Relation,
    RelationType,
    WriteBatch,
    attribute_id,
    brand_id,
    category_id,
    product_id,
)
from kg.store import GraphStore, InvalidRelation, UnknownEntity, VersionConflict

P1, P2 = product_id("P1"), product_id("P2")
ACME = brand_id("Acme")
FURN, SOFAS = category_id(("Furniture",)), category_id(("Furniture", "Sofas"))
BLUE = attribute_id("color", "blue")


def seed_batch() -> WriteBatch:
    return WriteBatch(
        upserts=(
            EntityWrite(P1, EntityKind.PRODUCT, {"name": "Blue sofa", "price": 499.0}),
            EntityWrite(P2, EntityKind.PRODUCT, {"name": "Red sofa"}),
            EntityWrite(ACME, EntityKind.BRAND, {"name": "Acme"}),
            EntityWrite(FURN, EntityKind.CATEGORY, {"name": "Furniture"}),
            EntityWrite(SOFAS, EntityKind.CATEGORY, {"name": "Sofas"}),
            EntityWrite(BLUE, EntityKind.ATTRIBUTE_VALUE, {"key": "color", "value": "blue"}),
        ),
        relate=(
            Relation(P1, RelationType.HAS_BRAND, ACME),
            Relation(P2, RelationType.HAS_BRAND, ACME),
            Relation(P1, RelationType.IN_CATEGORY, SOFAS),
            Relation(P2, RelationType.IN_CATEGORY, SOFAS),
            Relation(SOFAS, RelationType.SUBCATEGORY_OF, FURN),
            Relation(P1, RelationType.HAS_ATTRIBUTE, BLUE),
        ),
    )


class GraphStoreContract:
    @pytest.fixture
    def seeded(self, store: GraphStore) -> GraphStore:
        store.write(seed_batch(), actor="test")
        return store

    def test_is_a_graph_store(self, store: GraphStore) -> None:
        assert isinstance(store, GraphStore)
        assert store.revision == 0
        assert store.count() == 0

    def test_write_then_read(self, seeded: GraphStore) -> None:
        entity = seeded.get(P1)
        assert entity is not None
        assert entity.kind is EntityKind.PRODUCT
        assert entity.properties["name"] == "Blue sofa"
        assert entity.version == 1
        assert seeded.count(EntityKind.PRODUCT) == 2
        assert seeded.count() == 6
        assert seeded.get("product:nope") is None
        assert set(seeded.get_many([P1, P2, "product:nope"])) == {P1, P2}

    def test_update_bumps_version_and_logs_before_after(self, seeded: GraphStore) -> None:
        seeded.write(
            WriteBatch(upserts=(EntityWrite(P1, EntityKind.PRODUCT, {"name": "Navy sofa"}, 1),)),
            actor="alice",
        )
        entity = seeded.get(P1)
        assert entity is not None and entity.version == 2
        last = list(seeded.changes(entity_id=P1))[-1]
        assert (last.op, last.actor) == ("update", "alice")
        assert last.before is not None and last.before["name"] == "Blue sofa"
        assert last.after is not None and last.after["name"] == "Navy sofa"

    def test_unchanged_upsert_keeps_version(self, seeded: GraphStore) -> None:
        before = seeded.revision
        seeded.write(
            WriteBatch(upserts=(EntityWrite(ACME, EntityKind.BRAND, {"name": "Acme"}),)), actor="t"
        )
        entity = seeded.get(ACME)
        assert entity is not None and entity.version == 1
        assert seeded.revision == before

    def test_stale_version_is_refused_and_nothing_changes(self, seeded: GraphStore) -> None:
        revision = seeded.revision
        batch = WriteBatch(
            upserts=(
                EntityWrite(P2, EntityKind.PRODUCT, {"name": "changed"}),
                EntityWrite(P1, EntityKind.PRODUCT, {"name": "stale edit"}, expected_version=7),
            )
        )
        with pytest.raises(VersionConflict) as info:
            seeded.write(batch, actor="bob")
        assert (info.value.expected, info.value.actual) == (7, 1)
        p2 = seeded.get(P2)
        assert p2 is not None and p2.properties["name"] == "Red sofa"
        assert seeded.revision == revision

    def test_create_only_if_absent(self, seeded: GraphStore) -> None:
        with pytest.raises(VersionConflict):
            seeded.write(
                WriteBatch(upserts=(EntityWrite(P1, EntityKind.PRODUCT, {"name": "x"}, 0),)),
                actor="t",
            )

    def test_relation_to_missing_entity_is_refused_atomically(self, seeded: GraphStore) -> None:
        new = product_id("P3")
        batch = WriteBatch(
            upserts=(EntityWrite(new, EntityKind.PRODUCT, {"name": "Lamp"}),),
            relate=(Relation(new, RelationType.HAS_BRAND, brand_id("Nobody")),),
        )
        with pytest.raises(UnknownEntity, match="brand:nobody"):
            seeded.write(batch, actor="t")
        assert seeded.get(new) is None

    def test_relation_between_wrong_kinds_is_refused(self, seeded: GraphStore) -> None:
        with pytest.raises(InvalidRelation):
            seeded.write(
                WriteBatch(relate=(Relation(P1, RelationType.HAS_BRAND, SOFAS),)), actor="t"
            )

    def test_category_cycle_is_refused(self, seeded: GraphStore) -> None:
        with pytest.raises(InvalidRelation, match="cycle"):
            seeded.write(
                WriteBatch(relate=(Relation(FURN, RelationType.SUBCATEGORY_OF, SOFAS),)), actor="t"
            )
        assert [r.target for r in seeded.relations(RelationType.SUBCATEGORY_OF)] == [FURN]

    def test_neighbours_by_direction_and_type(self, seeded: GraphStore) -> None:
        out = seeded.neighbours(P1)
        assert {(r.type, e.id) for r, e in out} == {
            (RelationType.HAS_BRAND, ACME),
            (RelationType.IN_CATEGORY, SOFAS),
            (RelationType.HAS_ATTRIBUTE, BLUE),
        }
        inbound = seeded.neighbours(ACME, direction="in", relation=RelationType.HAS_BRAND)
        assert {e.id for _, e in inbound} == {P1, P2}
        with pytest.raises(UnknownEntity):
            seeded.neighbours("product:nope")

    def test_subgraph_hops(self, seeded: GraphStore) -> None:
        one = seeded.subgraph([P1], hops=1)
        assert {e.id for e in one.entities} == {P1, ACME, SOFAS, BLUE}
        two = seeded.subgraph([P1], hops=2)
        assert {P2, FURN} <= {e.id for e in two.entities}
        assert all(r.source in {e.id for e in two.entities} for r in two.relations)

    def test_paths_between_products(self, seeded: GraphStore) -> None:
        paths = seeded.paths(P1, P2, max_hops=2, limit=5)
        assert len(paths) == 2  # through the brand and through the category
        assert all(len(p) == 2 for p in paths)
        assert {p[0].target for p in paths} == {ACME, SOFAS}
        assert seeded.paths(P1, P2, max_hops=1) == []

    def test_paths_to_from_several_sources(self, seeded: GraphStore) -> None:
        found = seeded.paths_to(P2, [ACME, FURN, BLUE, P2, "brand:nope"], max_hops=3, limit=2)
        # blue reaches P2 only through P1 (blue <- P1 -> Acme <- P2): no path through another
        # product; the target itself and unknown ids are left out too
        assert set(found) == {ACME, FURN}
        as_triples = {
            s: [[(r.source, r.type, r.target) for r in p] for p in paths]
            for s, paths in found.items()
        }
        assert as_triples[ACME] == [[(P2, RelationType.HAS_BRAND, ACME)]]
        assert as_triples[FURN] == [
            [(SOFAS, RelationType.SUBCATEGORY_OF, FURN), (P2, RelationType.IN_CATEGORY, SOFAS)]
        ]
        assert seeded.paths_to(P2, [FURN], max_hops=1) == {}
        assert seeded.paths_to(P1, [ACME, SOFAS, BLUE], limit=1).keys() == {ACME, SOFAS, BLUE}
        with pytest.raises(UnknownEntity):
            seeded.paths_to("product:nope", [ACME])

    def test_delete_removes_relations_and_is_logged(self, seeded: GraphStore) -> None:
        seeded.write(WriteBatch(deletes=(P1,)), actor="carol")
        assert seeded.get(P1) is None
        assert all(P1 not in (r.source, r.target) for r in seeded.relations())
        assert list(seeded.changes(entity_id=P1))[-1].op == "delete"
        with pytest.raises(UnknownEntity):
            seeded.write(WriteBatch(deletes=(P1,)), actor="carol")

    def test_unrelate(self, seeded: GraphStore) -> None:
        seeded.write(
            WriteBatch(unrelate=(Relation(P1, RelationType.HAS_ATTRIBUTE, BLUE),)), actor="t"
        )
        assert BLUE not in {e.id for _, e in seeded.neighbours(P1)}
        assert list(seeded.changes(entity_id=P1))[-1].op == "unrelate"

    def test_triples_and_change_log(self, seeded: GraphStore) -> None:
        triples = set(seeded.triples())
        assert (P1, "HAS_BRAND", ACME) in triples
        assert len(triples) == 6
        changes = list(seeded.changes())
        assert [c.seq for c in changes] == sorted(c.seq for c in changes)
        assert changes[-1].seq == seeded.revision
        assert {c.op for c in changes} == {"create", "relate"}
        assert list(seeded.changes(since=seeded.revision)) == []

    def test_every_change_of_one_write_carries_its_edit_id(self, seeded: GraphStore) -> None:
        """The batch id is the write's first seq; ``changes(batch=)`` gives that write's
        changes and no other's (undo reverts a whole edit by it)."""
        seed = list(seeded.changes())
        assert {c.batch for c in seed} == {seed[0].seq}
        start = seeded.revision
        seeded.write(
            WriteBatch(
                upserts=(EntityWrite(P1, EntityKind.PRODUCT, {"name": "Blue sofa", "price": 1.0}),),
                unrelate=(Relation(P1, RelationType.HAS_ATTRIBUTE, BLUE),),
            ),
            actor="ana",
        )
        seeded.write(WriteBatch(deletes=(P2,)), actor="bob")
        first, second = list(seeded.changes(since=start))[:2], list(seeded.changes())[-1:]
        assert [(c.op, c.batch) for c in first] == [
            ("update", start + 1),
            ("unrelate", start + 1),
        ]
        assert [(c.op, c.batch) for c in second] == [("delete", start + 3)]
        assert list(seeded.changes(since=start, batch=start + 1)) == first
        assert list(seeded.changes(since=0, batch=start + 3)) == second
        assert list(seeded.changes(since=0, batch=start + 2)) == []  # not an edit's id
        assert list(seeded.changes(since=0, batch=seed[0].seq)) == seed

    def test_drop_empties_the_store_and_keeps_it_usable(self, seeded: GraphStore) -> None:
        seeded.drop()
        assert seeded.count() == 0
        assert seeded.revision == 0
        assert list(seeded.relations()) == [] and list(seeded.changes()) == []
        assert seeded.get(P1) is None
        seeded.write(seed_batch(), actor="t")
        assert seeded.get(P1) is not None and seeded.revision > 0

    def test_empty_actor_is_refused(self, store: GraphStore) -> None:
        with pytest.raises(ValueError, match="actor"):
            store.write(seed_batch(), actor=" ")

    def test_concurrent_conditional_edits_lose_no_update(self, seeded: GraphStore) -> None:
        """Eight writers race to edit version 1: exactly one wins, the rest get a conflict."""
        results: list[str] = []
        lock = threading.Lock()

        def edit(i: int) -> None:
            try:
                seeded.write(
                    WriteBatch(
                        upserts=(EntityWrite(P1, EntityKind.PRODUCT, {"name": f"v{i}"}, 1),)
                    ),
                    actor=f"w{i}",
                )
                outcome = "ok"
            except VersionConflict:
                outcome = "conflict"
            with lock:
                results.append(outcome)

        threads = [threading.Thread(target=edit, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert results.count("ok") == 1 and results.count("conflict") == 7
        entity = seeded.get(P1)
        assert entity is not None and entity.version == 2

    # -- shopper profiles: user nodes with weighted AFFINITY edges -------------------------

    def test_user_profile_round_trip_without_touching_the_catalogue(
        self, seeded: GraphStore
    ) -> None:
        revision, changes = seeded.revision, len(list(seeded.changes()))
        relations = sorted(seeded.relations())
        stored = seeded.put_user_profile(
            "U0042", {ACME: 1.0, SOFAS: 0.5, BLUE: 0.25, P1: 0.75}, updated=1_700_000_000.0
        )
        assert stored == 4
        profile = seeded.user_profile("U0042")
        assert profile == {ACME: 1.0, P1: 0.75, SOFAS: 0.5, BLUE: 0.25}
        assert list(profile) == [ACME, P1, SOFAS, BLUE]  # strongest first
        assert seeded.users() == ["U0042"]
        # not a catalogue edit: no revision bump, no change, invisible to entity reads
        assert seeded.revision == revision and len(list(seeded.changes())) == changes
        assert sorted(seeded.relations()) == relations
        assert seeded.count() == 6
        assert {e.id for _, e in seeded.neighbours(ACME, direction="both")} == {P1, P2}
        assert all(len(p) == 2 for p in seeded.paths(P1, P2))  # not through the user

    def test_put_user_profile_replaces_and_skips_missing_entities(self, seeded: GraphStore) -> None:
        seeded.put_user_profile("U1", {ACME: 1.0, SOFAS: 0.5}, updated=1.0)
        stored = seeded.put_user_profile("U1", {BLUE: 1.0, brand_id("Gone"): 0.5}, updated=2.0)
        assert stored == 1
        assert seeded.user_profile("U1") == {BLUE: 1.0}
        seeded.put_user_profile("U2", {ACME: 0.3}, updated=2.0)
        assert seeded.users() == ["U1", "U2"]
        assert seeded.user_profile("U2") == {ACME: 0.3}

    def test_unknown_user_has_an_empty_profile(self, seeded: GraphStore) -> None:
        assert seeded.user_profile("nobody") == {}
        assert seeded.delete_user("nobody") is False

    def test_delete_user_erases_node_and_edges(self, seeded: GraphStore) -> None:
        seeded.put_user_profile("U1", {ACME: 1.0, P1: 0.5}, updated=1.0)
        seeded.put_user_profile("U2", {ACME: 1.0}, updated=1.0)
        revision = seeded.revision
        assert seeded.delete_user("U1") is True
        assert seeded.user_profile("U1") == {} and seeded.users() == ["U2"]
        assert seeded.user_profile("U2") == {ACME: 1.0}
        assert seeded.revision == revision
        assert seeded.get(ACME) is not None  # the entities stay

    def test_deleting_an_entity_drops_affinities_to_it(self, seeded: GraphStore) -> None:
        seeded.put_user_profile("U1", {P2: 1.0, ACME: 0.5}, updated=1.0)
        seeded.write(WriteBatch(deletes=(P2,)), actor="t")
        assert seeded.user_profile("U1") == {ACME: 0.5}

    def test_drop_erases_users(self, seeded: GraphStore) -> None:
        seeded.put_user_profile("U1", {ACME: 1.0}, updated=1.0)
        seeded.drop()
        assert seeded.users() == [] and seeded.user_profile("U1") == {}

    def test_bad_user_ids_and_weights_are_refused(self, seeded: GraphStore) -> None:
        for bad in ("", "-leading-dash", "has space", "x" * 129, "U1\n"):
            with pytest.raises(ValueError, match="user id"):
                seeded.put_user_profile(bad, {ACME: 1.0}, updated=1.0)
        for weight in (0.0, -0.5, 1.5, float("nan")):
            with pytest.raises(ValueError, match="weights"):
                seeded.put_user_profile("U1", {ACME: weight}, updated=1.0)
        assert seeded.users() == []

    # -- aliases --------------------------------------------------------------------------

    def _alias(self, store: GraphStore, eid: str, aliases: list[str]) -> None:
        entity = store.get(eid)
        assert entity is not None
        props = {**entity.properties, "aliases": aliases}
        store.write(
            WriteBatch(upserts=(EntityWrite(eid, entity.kind, props, entity.version),)),
            actor="ana",
        )

    def test_aliases_are_stored_versioned_logged_and_resolved(self, seeded: GraphStore) -> None:
        assert seeded.aliases() == {}
        assert seeded.resolve_alias("couch") == []
        self._alias(seeded, SOFAS, ["couch", "canape"])
        self._alias(seeded, BLUE, ["navy blue"])
        assert seeded.aliases() == {SOFAS: ("couch", "canape"), BLUE: ("navy blue",)}
        entity = seeded.get(SOFAS)
        assert entity is not None and entity.version == 2
        last = list(seeded.changes(entity_id=SOFAS))[-1]
        assert last.op == "update" and last.after is not None
        assert last.after["aliases"] == ["couch", "canape"]
        # Look-ups fold case, accents and spaces the way the aliases were stored.
        assert seeded.resolve_alias("Couch") == [SOFAS]
        assert seeded.resolve_alias("CANAPÉ") == [SOFAS]
        assert seeded.resolve_alias("  Navy   Blue ") == [BLUE]
        assert seeded.resolve_alias("sofas") == []  # a name is not an alias

    def test_aliases_follow_updates_and_deletes(self, seeded: GraphStore) -> None:
        self._alias(seeded, ACME, ["acme co"])
        self._alias(seeded, ACME, [])
        assert seeded.aliases() == {}
        assert seeded.resolve_alias("acme co") == []
        self._alias(seeded, FURN, ["home furniture"])
        seeded.write(WriteBatch(deletes=(P1, P2, SOFAS)), actor="t")
        seeded.write(WriteBatch(deletes=(FURN,)), actor="t")
        assert seeded.aliases() == {}
        assert seeded.resolve_alias("home furniture") == []

    def test_unfolded_or_repeated_aliases_are_refused(self) -> None:
        for bad in (["Couch"], ["café"], ["couch", "couch"], [""], "couch", [3]):
            with pytest.raises(ValueError, match="alias"):
                EntityWrite(SOFAS, EntityKind.CATEGORY, {"name": "Sofas", "aliases": bad})

    def test_a_few_products_documents_equal_the_whole_scans(self, store: GraphStore) -> None:
        """An edit's sync builds its few products' documents from their own relations;
        a bulk build scans every relation. Both must give the same documents, on each
        backend, including where two values of one key compete (the same one wins)."""
        from conftest import TINY

        from catalogue.ops import CatalogOps
        from kg.documents import FEW_PRODUCTS, product_documents

        CatalogOps(store=store).imports.run(TINY / "product.csv", actor="test")
        first = next(iter(product_documents(store)))
        key = next(iter(first.attributes))
        other = attribute_id(key, "a second value")
        store.write(
            WriteBatch(
                upserts=(
                    EntityWrite(
                        other, EntityKind.ATTRIBUTE_VALUE, {"key": key, "value": "a second value"}
                    ),
                ),
                relate=(Relation(first.entity_id, RelationType.HAS_ATTRIBUTE, other),),
            ),
            actor="test",
        )
        scanned = {d.product_id: d for d in product_documents(store)}
        ids = sorted(scanned)
        assert len(ids) > 2 * FEW_PRODUCTS  # both reads are exercised below
        for start in range(0, len(ids), FEW_PRODUCTS):
            few = ids[start : start + FEW_PRODUCTS]
            assert {d.product_id: d for d in product_documents(store, few)} == {
                p: scanned[p] for p in few
            }
        many = ids[: FEW_PRODUCTS + 1]  # the scan, for a given set
        assert product_documents(store, many) == [scanned[p] for p in many]
        assert product_documents(store, [first.product_id]) == [scanned[first.product_id]]

    def test_search_ids_follow_renames(self, seeded: GraphStore) -> None:
        """Search derives an entity's id from its current name (documents carry names);
        a rename keeps the graph's id, so search_ids maps one to the other."""
        from kg.documents import search_ids

        assert search_ids(seeded, [ACME, SOFAS, BLUE, "brand:nowhere"]) == {
            ACME: ACME,
            SOFAS: SOFAS,
            BLUE: BLUE,
            "brand:nowhere": "brand:nowhere",
        }
        from kg.documents import product_documents

        assert all(d.graph_ids is None for d in product_documents(seeded))  # nothing renamed
        renames = (
            EntityWrite(ACME, EntityKind.BRAND, {"name": "Zenith"}),
            EntityWrite(FURN, EntityKind.CATEGORY, {"name": "Home"}),
            EntityWrite(BLUE, EntityKind.ATTRIBUTE_VALUE, {"key": "color", "value": "navy"}),
        )
        seeded.write(WriteBatch(upserts=renames), actor="test")
        assert search_ids(seeded, [ACME, SOFAS, FURN, BLUE]) == {
            ACME: brand_id("Zenith"),
            SOFAS: category_id(("Home", "Sofas")),
            FURN: category_id(("Home",)),
            BLUE: attribute_id("color", "navy"),
        }
        from kg.documents import renamed_ids

        # What the embeddings (keyed by graph id) are looked up by: renamed entities only;
        # products and unknown kinds are skipped.
        assert renamed_ids(seeded, [ACME, SOFAS, FURN, BLUE, "product:P1"]) == {
            brand_id("Zenith"): ACME,
            category_id(("Home", "Sofas")): SOFAS,
            category_id(("Home",)): FURN,
            attribute_id("color", "navy"): BLUE,
        }
        # Documents carry the same map for their own entities (what a shopper's affinities
        # are written back to the graph under), whichever way they are read.
        expected = {
            "Blue sofa": {
                brand_id("Zenith"): ACME,
                category_id(("Home",)): FURN,
                category_id(("Home", "Sofas")): SOFAS,
                attribute_id("color", "navy"): BLUE,
            },
            "Red sofa": {
                brand_id("Zenith"): ACME,
                category_id(("Home",)): FURN,
                category_id(("Home", "Sofas")): SOFAS,
            },
        }
        scanned = {d.name: d.graph_ids for d in product_documents(seeded)}
        few = {d.name: d.graph_ids for d in product_documents(seeded, ["P1", "P2"])}
        assert scanned == few == expected
        blue = next(d for d in product_documents(seeded) if d.name == "Blue sofa")
        assert blue.graph_id(brand_id("Zenith")) == ACME
        assert blue.graph_id(brand_id("Acme")) == brand_id("Acme")  # not one of its renames
