from __future__ import annotations

from dataclasses import replace

import pytest

from kg.documents import ProductDocument
from search.spelling import DEFAULT_EDIT_RULE, EditRule, SpellCorrector, product_words


def product(pid: str, name: str, cls: str = "Chairs", **attributes: str) -> ProductDocument:
    return ProductDocument(
        product_id=pid,
        name=name,
        product_class=cls,
        category_path=("Furniture", "Living Room", cls),
        brand="Oakhaven",
        attributes=attributes,
        description=f"A {name.lower()} for the living room.",
    )


#: Twenty products say "chair"; one has the typo "chiar" in its own name.
CATALOGUE = [
    *(product(f"C{i}", f"Lounge chair {i}", color="Blue") for i in range(20)),
    product("X1", "Lounge chiar", color="Green"),
    product("T1", "Coffee table", cls="Tables", material="Walnut"),
    product("B1", "Bookcase with shelves", cls="Bookcases", material="Oak"),
]


@pytest.fixture(scope="module")
def corrector() -> SpellCorrector:
    return SpellCorrector(CATALOGUE, lexicon=("tell", "time", "stove"))


def test_edit_budget_grows_with_length() -> None:
    rule = DEFAULT_EDIT_RULE
    assert [rule.max_edits(w) for w in ("so", "oak", "sofa", "chair", "bookcas", "bookcase")] == [
        0,
        0,
        1,
        1,
        1,
        2,
    ]
    assert rule.max_edits("12x20") == 0 and rule.max_edits("P000123") == 0
    assert rule.max_edits("3000") == 0
    with pytest.raises(ValueError, match="exact_up_to"):
        EditRule(exact_up_to=5, two_from=4)


def test_corrects_unknown_words_to_catalogue_words(corrector: SpellCorrector) -> None:
    fixed = corrector.correct("lougne chiars")
    assert fixed.text == "lounge chairs"
    assert fixed.replaced == (("lougne", "lounge"), ("chiars", "chairs"))
    assert corrector.correct("cofee tabel").text == "coffee table"
    assert corrector.correct("bookcsae").text == "bookcase"  # one swap
    assert corrector.correct("bokcsaes").text == "bookcases"  # 8 letters: two edits
    assert corrector.correct("bokcsae").text == "bokcsae"  # 7 letters: one edit only


def test_a_products_own_typo_gives_way_to_the_common_word(corrector: SpellCorrector) -> None:
    assert corrector.frequency("chiar") == 1 and corrector.frequency("chair") == 20
    assert corrector.correct("blue chiar").text == "blue chair"


def test_known_short_and_numeric_words_are_left_as_typed(corrector: SpellCorrector) -> None:
    for query in ("blue lounge chair", "P000123", "12x20 oak", "ok", "tell time stove"):
        result = corrector.correct(query)
        assert result.text == query and not result.changed
    # A 3-letter word no product uses gets one edit (a known one is never touched).
    assert corrector.correct("oka table").text == "oak table"
    assert DEFAULT_EDIT_RULE.max_edits("oka") == 0  # fuzzy matching stays stricter
    assert corrector.correct("lougne P000123 12x2o").text == "lounge P000123 12x2o"
    # The typed text around a corrected word is kept: case, spacing, punctuation.
    assert corrector.correct("Blue  LOUGNE, chair!").text == "Blue  lounge, chair!"


def test_unknown_words_without_a_neighbour_are_reported(corrector: SpellCorrector) -> None:
    result = corrector.correct("xqzvbn chair")
    assert result.text == "xqzvbn chair" and result.unknown == ("xqzvbn",)


def test_edits_update_the_vocabulary(corrector: SpellCorrector) -> None:
    local = SpellCorrector(CATALOGUE, lexicon=())
    catalogue = {d.product_id: d for d in CATALOGUE}

    def edit(upserts: list[ProductDocument], deletes: list[str]) -> None:
        local.update(upserts, deletes, before=dict(catalogue))
        for pid in deletes:
            del catalogue[pid]
        catalogue.update((d.product_id, d) for d in upserts)

    assert "marble" not in local
    assert local.correct("marbel table").text == "marbel table"
    edit([product("M1", "Marble side table", cls="Tables", material="Marble")], [])
    assert "marble" in local
    assert local.correct("marbel table").text == "marble table"
    edit([], ["M1"])
    assert "marble" not in local
    assert local.correct("marbel table").text == "marbel table"
    # Replacing a product counts its new words instead of its old ones; named twice in
    # one edit, it counts once, as its last version.
    first, last = product("T1", "Zanzibar bench", cls="Benches"), product("T1", "Coffee bench")
    edit([first, replace(last, product_class="Benches")], [])
    assert local.frequency("table") == 0 and local.frequency("bench") == 1
    assert local.frequency("zanzibar") == 0 and local.frequency("coffee") == 1
    # An edit that changes no word (a price) leaves the vocabulary as it was.
    vocabulary = local._vocab
    edit([replace(catalogue["T1"], price=99.0)], [])
    assert local._vocab is vocabulary
    # The counts are those of a corrector made from the catalogue after the edits.
    fresh = SpellCorrector(catalogue.values(), lexicon=())
    words = {w for d in [*CATALOGUE, *catalogue.values()] for w in product_words(d)}
    assert {w: local.frequency(w) for w in words} == {w: fresh.frequency(w) for w in words}


def test_product_words_are_folded_letters() -> None:
    words = product_words(product("Z1", "Café Chair 2000", color="Navy-Blue"))
    assert {"cafe", "chair", "navy", "blue", "color"} <= words
    assert not any(ch.isdigit() for w in words for ch in w)
