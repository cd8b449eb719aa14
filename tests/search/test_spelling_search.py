"""Spelling correction, fuzzy recall and bad queries through the search service and API."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from app.api import create_app
from app.engine import Engine
from kg.documents import ProductDocument
from ranker.fusion import RRFRanker
from search.analysis import Analyzer
from search.encoder import MiniLMEncoder, product_text
from search.keyword import keyword_doc
from search.service import SearchService
from search.spelling import DEFAULT_EDIT_RULE, EditRule
from search.tantivy_index import TantivyKeywordIndex
from search.vector import NumpyVectorIndex


def test_misspelled_query_is_corrected_and_says_so(small_engine: Engine) -> None:
    service, _ = small_engine.service()
    typed = service.search("tufted velvet sfoa", k=3)
    assert typed.corrected_query == "tufted velvet sofa"
    assert typed.query == "tufted velvet sfoa"  # what the shopper typed stays visible
    assert "sofa" in typed.tokens and "sfoa" not in typed.tokens
    assert typed.hits[0].product_id == "S1"
    assert any("'sfoa' -> 'sofa'" in note for note in typed.notes)
    right = service.search("tufted velvet sofa", k=3)
    assert right.corrected_query is None
    assert [h.product_id for h in typed.hits] == [h.product_id for h in right.hits]


def test_exact_searches_as_typed(small_engine: Engine) -> None:
    service, _ = small_engine.service()
    exact = service.search("tufted velvet sfoa", k=3, exact=True)
    assert exact.corrected_query is None
    assert "sfoa" in exact.tokens
    assert not any("->" in note for note in exact.notes)


def test_only_typos_or_only_stop_words_still_answer(small_engine: Engine) -> None:
    service, _ = small_engine.service()
    nonsense = service.search("xqzvbn wqrtp", k=5)
    assert nonsense.corrected_query is None
    assert any("no product uses 'xqzvbn', 'wqrtp'" in note for note in nonsense.notes)
    stop = service.search("the of and to", k=5)
    assert stop.tokens == ()
    assert any("only stop words" in note for note in stop.notes)
    assert all(h.signals["bm25"] == 0 for h in stop.hits)  # meaning alone, if anything
    assert service.search("sfoa", k=5).corrected_query == "sofa"


def _service(
    encoder: MiniLMEncoder, docs: list[ProductDocument], fuzzy: EditRule | None = None
) -> SearchService:
    analyzer = Analyzer()
    keyword = TantivyKeywordIndex()
    keyword.upsert([keyword_doc(d, analyzer) for d in docs])
    vectors = NumpyVectorIndex(dim=encoder.dim)
    vectors.upsert([d.product_id for d in docs], encoder.encode([product_text(d) for d in docs]))
    return SearchService(
        keyword=keyword,
        vectors=vectors,
        encoder=encoder,
        analyzer=analyzer,
        documents=docs,
        ranker=RRFRanker(),
        fuzzy=fuzzy,
    )


def _doc(pid: str, name: str, cls: str) -> ProductDocument:
    return ProductDocument(pid, name, cls, ("Furniture", cls), "Oakhaven", {}, name)


def test_catalogue_edits_reach_the_corrector(encoder: MiniLMEncoder) -> None:
    service = _service(encoder, [_doc("A", "Oak dining table", "Tables")])
    assert service.search("ottomn", k=3).corrected_query is None
    service.apply([_doc("B", "Velvet ottoman", "Ottomans")], [])
    found = service.search("ottomn", k=3)
    assert found.corrected_query == "ottoman"
    assert found.hits[0].product_id == "B"
    service.apply([], ["B"])
    assert service.search("ottomn", k=3).corrected_query is None


def test_fuzzy_recall_finds_a_product_with_a_typo_in_its_name(encoder: MiniLMEncoder) -> None:
    docs = [_doc("A", "Walnut bookcase", "Bookcases"), _doc("B", "Walnut bookcsae", "Shelving")]
    service = _service(encoder, docs, fuzzy=DEFAULT_EDIT_RULE)
    fuzzy = service.candidates("bookcase")
    exact = service.candidates("bookcase", exact=True)
    at = {pid: i for i, pid in enumerate(fuzzy.product_ids)}
    assert fuzzy.signal("bm25_name")[at["B"]] > 0  # matched within two edits
    at = {pid: i for i, pid in enumerate(exact.product_ids)}
    assert exact.signal("bm25_name")[at["B"]] == 0


@pytest.fixture(scope="module")
def client(small_engine: Engine) -> Iterator[TestClient]:
    with TestClient(create_app(small_engine)) as c:
        yield c


def test_api_reports_corrected_query_and_honours_exact(client: TestClient) -> None:
    body = client.get("/search", params={"q": "tufted velvet sfoa", "k": 3}).json()
    assert body["corrected_query"] == "tufted velvet sofa"
    assert body["hits"][0]["product_id"] == "S1"
    exact = client.get("/search", params={"q": "tufted velvet sfoa", "k": 3, "exact": "true"})
    assert exact.status_code == 200 and exact.json()["corrected_query"] is None
    plain = client.get("/search", params={"q": "tufted velvet sofa", "k": 3}).json()
    assert plain["corrected_query"] is None
    for q in ("the of and", "xqzvbn", "zzzz qqqq"):
        r = client.get("/search", params={"q": q})
        assert r.status_code == 200, r.text
        assert r.json()["notes"]
