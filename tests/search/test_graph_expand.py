"""Graph expansion's order: the summed confidence of the query's links a product has,
then popularity, then id; a filter keeps its order; an edited copy reorders while the
original (a search in flight holds it) keeps its own."""

from __future__ import annotations

import dataclasses

from kg.documents import ProductDocument
from kg.schema import EntityKind, attribute_id, brand_id, category_id
from search.analysis import Analyzer
from search.graph_signals import GraphSignals, QueryGraph
from search.linking import EntityLink, EntityLinker


def doc(pid: str, brand: str, color: str, ratings: int) -> ProductDocument:
    return ProductDocument(
        product_id=pid,
        name=f"{color} chair {pid}",
        product_class="Chairs",
        category_path=("Furniture", "Chairs"),
        brand=brand,
        attributes={"color": color},
        rating_count=ratings,
    )


DOCS = [
    doc("p1", "Acme", "blue", 5),
    doc("p2", "Acme", "red", 50),
    doc("p3", "Zeta", "blue", 50),
    doc("p4", "Zeta", "blue", 5),
    doc("p5", "Acme", "blue", 5),
    doc("p6", "Zeta", "red", 5),
]


def link(entity_id: str, kind: EntityKind, confidence: float) -> EntityLink:
    return EntityLink(entity_id, kind, entity_id, None, entity_id, confidence)


ACME = link(brand_id("Acme"), EntityKind.BRAND, 0.9)
BLUE = link(attribute_id("color", "blue"), EntityKind.ATTRIBUTE_VALUE, 0.8)
RED = link(attribute_id("color", "red"), EntityKind.ATTRIBUTE_VALUE, 0.8)
CHAIRS = link(category_id(("Furniture", "Chairs")), EntityKind.CATEGORY, 1.0)


def signals(docs: list[ProductDocument], expand_k: int = 100) -> GraphSignals:
    linker = EntityLinker.from_documents(docs, analyzer=Analyzer())
    return GraphSignals(linker=linker, documents={d.product_id: d for d in docs}, expand_k=expand_k)


def test_one_link_orders_by_popularity_then_id() -> None:
    graph = signals(DOCS)
    assert graph.expand(QueryGraph((CHAIRS,)), None) == ["p2", "p3", "p1", "p4", "p5", "p6"]
    assert graph.expand(QueryGraph((ACME,)), None) == ["p2", "p1", "p5"]
    assert signals(DOCS, expand_k=2).expand(QueryGraph((CHAIRS,)), None) == ["p2", "p3"]


def test_several_links_order_by_summed_confidence_first() -> None:
    graph = signals(DOCS)
    # Acme and blue: p1, p5 (1.7); Acme only p2 (0.9); blue only p3, p4 (0.8).
    assert graph.expand(QueryGraph((ACME, BLUE)), None) == ["p1", "p5", "p2", "p3", "p4"]
    assert graph.expand(QueryGraph((BLUE, ACME)), None) == ["p1", "p5", "p2", "p3", "p4"]


def test_a_filter_keeps_the_order_of_what_it_lets_through() -> None:
    graph = signals(DOCS)
    allowed = frozenset({"p3", "p5", "p6"})
    assert graph.expand(QueryGraph((ACME, BLUE)), allowed) == ["p5", "p3"]
    assert graph.expand(QueryGraph((CHAIRS,)), allowed) == ["p3", "p5", "p6"]
    assert graph.expand(QueryGraph((ACME,)), frozenset()) == []


def test_an_edited_copy_reorders_and_the_original_does_not() -> None:
    graph = signals(DOCS)
    before = graph.expand(QueryGraph((ACME, BLUE)), None)  # caches the ranked postings
    popular_p5 = dataclasses.replace(DOCS[4], rating_count=500)
    new = graph.updated([popular_p5, doc("p7", "Acme", "blue", 1)], ["p1"])
    assert new.expand(QueryGraph((ACME, BLUE)), None) == ["p5", "p7", "p2", "p3", "p4"]
    assert graph.expand(QueryGraph((ACME, BLUE)), None) == before
    graph.update([popular_p5], [])  # in place, as a reindex's own copy is
    assert graph.expand(QueryGraph((ACME, BLUE)), None) == ["p5", "p1", "p2", "p3", "p4"]
    assert graph.expand(QueryGraph((RED,)), None) == ["p2", "p6"]
    graph.update([], ["p6"])
    assert graph.expand(QueryGraph((RED,)), None) == ["p2"]
