from __future__ import annotations

from search.analysis import Analyzer


def test_folds_lowercases_stems_and_maps_synonyms() -> None:
    a = Analyzer()
    assert a.tokens("Décor CHAIRS") == ["decor", "chair"]
    assert a.tokens("grey couches") == a.tokens("gray sofas")
    assert a.tokens("chest of drawers") == a.tokens("dresser")
    assert a.tokens("bedside table") == a.tokens("nightstand")


def test_drops_stopwords_and_punctuation() -> None:
    assert Analyzer().tokens("a table, for the kitchen!") == ["tabl", "kitchen"]
    assert Analyzer().tokens("  ...  ") == []


def test_configurable() -> None:
    plain = Analyzer(synonyms={}, phrases={}, stem=False)
    assert plain.tokens("grey couches") == ["grey", "couches"]
    assert plain.text("Big  Oak") == "big oak"
