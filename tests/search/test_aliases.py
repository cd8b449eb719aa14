"""Aliases in entity linking and query expansion (search.linking, search.aliases), and
the contradiction signal (search.graph_signals)."""

from __future__ import annotations

import numpy as np
import pytest

from kg.documents import ProductDocument
from kg.schema import attribute_id, brand_id, category_id
from search.aliases import apply_aliases
from search.analysis import Analyzer
from search.graph_signals import GRAPH_SIGNALS, GraphSignals
from search.linking import ALIAS_CONFIDENCE, EntityLinker
from search.spelling import SpellCorrector

SOFAS = category_id(("Furniture", "Sofas"))
FAUCETS = category_id(("Bath", "Faucets"))
BLUE, GREEN = attribute_id("color", "blue"), attribute_id("color", "green")
WHITE_FINISH = attribute_id("finish", "white")
ACME = brand_id("Acme")

DOCS = [
    ProductDocument(
        "P1", "Tufted sofa", "Sofas", ("Furniture", "Sofas"), "Acme", {"color": "blue"}
    ),
    ProductDocument(
        "P2", "Track arm sofa", "Sofas", ("Furniture", "Sofas"), None, {"color": "green"}
    ),
    ProductDocument("P3", "Plain sofa", "Sofas", ("Furniture", "Sofas"), None, {}),
    ProductDocument(
        "P4", "Bath mixer", "Faucets", ("Bath", "Faucets"), "Acme", {"finish": "white"}
    ),
]


@pytest.fixture
def linker() -> EntityLinker:
    return EntityLinker.from_documents(DOCS, analyzer=Analyzer())


def _links(linker: EntityLinker, query: str) -> dict[str, float]:
    return {x.entity_id: x.confidence for x in linker.link(query)}


def test_an_alias_links_its_entity_below_an_exact_name(linker: EntityLinker) -> None:
    assert FAUCETS not in _links(linker, "spigot")
    linker.set_aliases({FAUCETS: ("spigot",), BLUE: ("midnight navy",)})
    links = _links(linker, "midnight navy spigot")
    assert links[FAUCETS] == pytest.approx(ALIAS_CONFIDENCE)
    assert links[BLUE] == pytest.approx(0.9 * ALIAS_CONFIDENCE)  # the value prior
    assert _links(linker, "faucets")[FAUCETS] == 1.0 > links[FAUCETS]
    # A misspelled alias still links, fuzzily and lower.
    fuzzy = _links(linker, "midnigt navy sofa")
    assert 0.6 < fuzzy[BLUE] < links[BLUE]


def test_aliases_are_replaced_whole_and_unknown_entities_wait(linker: EntityLinker) -> None:
    linker.set_aliases({SOFAS: ("canape",), "category:garden": ("yard",)})
    assert linker.alias_count == 1
    assert SOFAS in _links(linker, "velvet canape")
    linker.set_aliases({})
    assert SOFAS not in _links(linker, "velvet canape")
    # An alias of an entity no product uses yet links once a product brings it.
    linker.set_aliases({category_id(("Garden",)): ("yard",)})
    assert linker.alias_count == 0
    linker.add_documents([ProductDocument("P9", "Bench", "Garden", ("Garden",), None)])
    assert category_id(("Garden",)) in _links(linker, "yard bench")


def test_expand_tokens_adds_the_entitys_name_once(linker: EntityLinker) -> None:
    analyzer = Analyzer()
    linker.set_aliases({FAUCETS: ("spigot",), ACME: ("acme co",)})
    tokens = analyzer.tokens("chrome spigot")
    assert linker.expand_tokens(tokens) == [*tokens, *analyzer.tokens("Faucets")]
    assert linker.expand_tokens(analyzer.tokens("faucet spigot")) == analyzer.tokens(
        "faucet spigot"
    )
    assert linker.expand_tokens(["sofa"]) == ["sofa"]


def test_apply_aliases_teaches_the_spelling_corrector() -> None:
    linker = EntityLinker.from_documents(DOCS, analyzer=Analyzer())
    graph = GraphSignals(linker=linker, documents={d.product_id: d for d in DOCS})

    class Service:
        def __init__(self) -> None:
            self.graph = graph
            self.spelling = SpellCorrector(DOCS, analyzer=Analyzer())

    service = Service()
    # "mixr" (a shop's nickname for its faucets, say) is one edit from "mixer".
    assert service.spelling.correct("mixr").text == "mixer"
    assert apply_aliases(service, {FAUCETS: ("mixr",)}) == 1
    assert service.spelling.correct("mixr").text == "mixr"
    assert FAUCETS in {x.entity_id for x in graph.understand("mixr").links}


def test_contradiction_is_another_value_of_the_same_key_not_a_missing_one(
    linker: EntityLinker,
) -> None:
    graph = GraphSignals(linker=linker, documents={d.product_id: d for d in DOCS})
    assert "contradict_attribute" in GRAPH_SIGNALS
    ids = ["P1", "P2", "P3", "P4"]
    signals = graph.signals(ids, graph.understand("blue sofa"), set())
    np.testing.assert_allclose(signals["contradict_attribute"], [0.0, 1.0, 0.0, 0.0])
    np.testing.assert_allclose(signals["match_attribute"], [1.0, 0.0, 0.0, 0.0])
    # No attribute in the query: nothing is contradicted.
    plain = graph.signals(ids, graph.understand("sofa"), set())
    assert not plain["contradict_attribute"].any()


def test_contradiction_follows_edits_and_leaves_the_old_snapshot_alone(
    linker: EntityLinker,
) -> None:
    graph = GraphSignals(linker=linker, documents={d.product_id: d for d in DOCS})
    recoloured = ProductDocument(
        "P2", "Track arm sofa", "Sofas", ("Furniture", "Sofas"), None, {"color": "blue"}
    )
    uncoloured = ProductDocument("P2", "Track arm sofa", "Sofas", ("Furniture", "Sofas"), None)
    ids = ["P1", "P2"]
    for doc, expected in ((recoloured, [0.0, 0.0]), (uncoloured, [0.0, 0.0])):
        after = graph.updated([doc], ())
        signals = after.signals(ids, after.understand("blue sofa"), set())
        np.testing.assert_allclose(signals["contradict_attribute"], expected)
    before = graph.signals(ids, graph.understand("blue sofa"), set())
    np.testing.assert_allclose(before["contradict_attribute"], [0.0, 1.0])  # still green
    gone = graph.updated((), ["P2"])
    assert not gone.signals(ids, gone.understand("blue sofa"), set())["contradict_attribute"].any()


def test_an_ambiguous_span_is_contradicted_only_when_no_reading_fits() -> None:
    docs = [
        *DOCS,
        ProductDocument(
            "P5", "White sofa", "Sofas", ("Furniture", "Sofas"), None, {"color": "white"}
        ),
    ]
    linker = EntityLinker.from_documents(docs, analyzer=Analyzer())
    graph = GraphSignals(linker=linker, documents={d.product_id: d for d in docs})
    qgraph = graph.understand("white")
    assert {x.entity_id for x in qgraph.links} >= {WHITE_FINISH, attribute_id("color", "white")}
    signals = graph.signals(["P1", "P4", "P5", "P3"], qgraph, set())
    # P1 is blue (a colour, not white; no finish): contradicted. P4 has a white finish and
    # P5 a white colour: each fits one reading. P3 has no colour or finish.
    np.testing.assert_allclose(signals["contradict_attribute"], [1.0, 0.0, 0.0, 0.0])
