"""The KeywordIndex contract; backends provide an empty ``index`` fixture."""

from __future__ import annotations

import itertools

import pytest

from search.analysis import Analyzer
from search.keyword import (
    DEFAULT_FIELD_WEIGHTS,
    FUZZY_SCORE,
    KEYWORD_FIELDS,
    KeywordDoc,
    KeywordIndex,
)
from search.spelling import DEFAULT_EDIT_RULE

ANALYZER = Analyzer()


def doc(
    pid: str, name: str, *, brand: str = "", description: str = "", attrs: str = ""
) -> KeywordDoc:
    fields = dict.fromkeys(KEYWORD_FIELDS, "")
    fields.update(
        name=ANALYZER.text(name),
        brand=ANALYZER.text(brand),
        description=ANALYZER.text(description),
        attributes=ANALYZER.text(attrs),
    )
    return KeywordDoc(pid, fields)


DOCS = [
    doc("P1", "Blue velvet sofa", brand="Oakhaven", attrs="color blue material velvet"),
    doc("P2", "Grey linen couch", brand="Birchley", description="A soft sofa for small rooms"),
    doc("P3", "Oak dining table", brand="Oakhaven", attrs="material oak"),
    doc("P4", "Table lamp", description="brass base"),
]


class KeywordIndexContract:
    @pytest.fixture
    def filled(self, index: KeywordIndex) -> KeywordIndex:
        index.upsert(DOCS)
        return index

    def test_is_a_keyword_index(self, index: KeywordIndex) -> None:
        assert isinstance(index, KeywordIndex)
        assert index.count() == 0
        assert index.search(["sofa"], k=5) == []

    def test_search_ranks_matches(self, filled: KeywordIndex) -> None:
        hits = filled.search(ANALYZER.tokens("blue sofa"), k=10)
        ids = [pid for pid, _ in hits]
        assert ids[0] == "P1"
        assert set(ids) == {"P1", "P2"}  # "couch" and "sofa" share a synonym
        assert all(a[1] >= b[1] for a, b in itertools.pairwise(hits))

    def test_k_limits_and_validates(self, filled: KeywordIndex) -> None:
        assert len(filled.search(ANALYZER.tokens("oak table lamp sofa"), k=2)) == 2
        with pytest.raises(ValueError):
            filled.search(["sofa"], k=0)
        assert filled.search([], k=5) == []

    def test_field_scores_add_up_to_search_score(self, filled: KeywordIndex) -> None:
        tokens = ANALYZER.tokens("oakhaven oak sofa")
        combined = dict(filled.search(tokens, k=10))
        per_field = filled.field_scores(tokens, list(combined))
        assert set(per_field) == set(KEYWORD_FIELDS)
        for pid, score in combined.items():
            total = sum(
                DEFAULT_FIELD_WEIGHTS[f] * per_field[f].get(pid, 0.0) for f in KEYWORD_FIELDS
            )
            assert total == pytest.approx(score, rel=1e-4)
        assert per_field["brand"]["P3"] > 0
        assert "P4" not in per_field["name"]

    def test_field_scores_only_for_asked_ids(self, filled: KeywordIndex) -> None:
        per_field = filled.field_scores(ANALYZER.tokens("oak"), ["P3"])
        assert set(per_field["name"]) == {"P3"}

    def test_upsert_replaces_and_delete_removes(self, filled: KeywordIndex) -> None:
        filled.upsert([doc("P4", "Floor lamp")])
        assert filled.count() == 4
        assert filled.search(["tabl"], k=10) != []
        assert "P4" not in {p for p, _ in filled.search(ANALYZER.tokens("table"), k=10)}
        filled.delete(["P1", "P404"])
        assert filled.count() == 3
        assert "P1" not in {p for p, _ in filled.search(ANALYZER.tokens("blue sofa"), k=10)}

    def test_fuzzy_finds_a_misspelled_indexed_word(self, filled: KeywordIndex) -> None:
        filled.upsert([doc("P5", "Lounge chiar"), doc("P6", "Lounge chair")])
        tokens = ANALYZER.tokens("chair")
        assert {p for p, _ in filled.search(tokens, k=10)} == {"P6"}
        near = dict(filled.search(tokens, k=10, fuzzy=DEFAULT_EDIT_RULE))
        assert set(near) == {"P5", "P6"}
        assert near["P6"] > near["P5"]  # the exact match keeps its BM25 and stays ahead
        per_field = filled.field_scores(tokens, ["P5", "P6"], fuzzy=DEFAULT_EDIT_RULE)
        assert per_field["name"]["P5"] == pytest.approx(FUZZY_SCORE)
        exact = filled.field_scores(tokens, ["P5", "P6"])
        assert "P5" not in exact["name"]
        assert per_field["name"]["P6"] == pytest.approx(exact["name"]["P6"], rel=1e-4)
        for pid, score in near.items():
            total = sum(
                DEFAULT_FIELD_WEIGHTS[f] * per_field[f].get(pid, 0.0) for f in KEYWORD_FIELDS
            )
            assert total == pytest.approx(score, rel=1e-4)

    def test_fuzzy_leaves_short_terms_and_numbers_exact(self, filled: KeywordIndex) -> None:
        filled.upsert([doc("P7", "Wicker basket 12x20"), doc("P8", "Rustic oak bench")])
        rule = DEFAULT_EDIT_RULE
        assert filled.search(["oat"], k=10, fuzzy=rule) == []  # three letters: no edits
        assert filled.search(["12x21"], k=10, fuzzy=rule) == []  # a size: no edits
        assert {p for p, _ in filled.search(["rustik"], k=10, fuzzy=rule)} == {"P8"}
        # One edit from four letters, two only from eight: "wiker" is one away from
        # "wicker", "wkr" too short, "wikkr" two away but five letters long.
        assert {p for p, _ in filled.search(["wiker"], k=10, fuzzy=rule)} == {"P7"}
        assert filled.search(["wkr"], k=10, fuzzy=rule) == []
        assert filled.search(["wikkr"], k=10, fuzzy=rule) == []
        assert {p for p, _ in filled.search(["baskkett"], k=10, fuzzy=rule)} == {"P7"}
