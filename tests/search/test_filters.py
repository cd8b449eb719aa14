from __future__ import annotations

import random

import pytest

import search.filters as filters_module
from kg.documents import ProductDocument
from search.filters import FilterIndex, Filters


def _doc(i: int, rng: random.Random) -> ProductDocument:
    price = rng.choice([None, float("nan"), *(float(rng.randint(1, 50)) for _ in range(6))])
    rating = rng.choice([None, 1.0, 2.5, 3.0, 4.0, 4.5, 5.0])
    return ProductDocument(
        f"P{i}",
        f"thing {i}",
        rng.choice(["Sofas", "Beds"]),
        ("Furniture", rng.choice(["Living", "Bedroom"])),
        rng.choice([None, "Acme", "Borg"]),
        {"color": rng.choice(["blue", "green"])},
        price=price,
        average_rating=rating,
    )


def _brute(docs: dict[str, ProductDocument], f: Filters) -> frozenset[str]:
    def within(value: float | None, low: float | None, high: float | None) -> bool:
        if low is None and high is None:
            return True
        lo = float("-inf") if low is None else low
        hi = float("inf") if high is None else high
        return value is not None and lo <= value <= hi

    return frozenset(
        pid
        for pid, d in docs.items()
        if (not f.brand or d.brand in f.brand)
        and (not f.category or set(d.category_path) & f.category)
        and all(d.attributes.get(k) in v for k, v in f.attributes.items())
        and within(d.price, f.price_min, f.price_max)
        and within(d.average_rating, f.rating_min, f.rating_max)
    )


@pytest.mark.parametrize("test_each_below", [0, 2_000])
def test_range_filters_agree_with_testing_every_document_across_edits(
    test_each_below: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Price and rating ranges come from values sorted once per change. Whatever the
    bounds (inclusive, open on one side, equal to a value), with other filters beside
    them, and after upserts and deletes, in place or through ``updated`` (a copy; the old
    index keeps answering as before), they allow exactly the documents a test of each one
    allows: a stale order would not. Unknown and NaN values never pass a range. Both ways
    of meeting another filter run: testing each document it left, and intersecting with
    the sorted range."""
    monkeypatch.setattr(filters_module, "TEST_EACH_BELOW", test_each_below)
    rng = random.Random(4)
    docs = {d.product_id: d for d in (_doc(i, rng) for i in range(300))}
    index = FilterIndex(list(docs.values()))
    for step in range(30):
        for _ in range(15):
            low = rng.choice([None, 0.0, 10.0, 25.0, 3.0, 4.5])
            high = rng.choice([None, 10.0, 25.0, 50.0, 4.5, 5.0])
            if low is not None and high is not None and low > high:
                low, high = high, low
            filters = rng.choice(
                [
                    Filters(price_min=low, price_max=high),
                    Filters(rating_min=low, rating_max=high),
                    Filters(brand=frozenset({"Acme"}), price_max=high),
                    Filters(category=frozenset({"Living"}), rating_min=low, price_min=low),
                    Filters(attributes={"color": frozenset({"blue"})}, price_min=low),
                ]
            )
            assert index.allowed(filters) == _brute(docs, filters), (step, filters)
        changed = [_doc(rng.randrange(320), rng) for _ in range(5)]
        gone = rng.sample(sorted(docs), 3)
        if step % 2:
            index.update(changed, gone)  # in place
        else:
            before = index
            index = index.updated(changed, gone)  # a copy; the old one unchanged
            assert before.allowed(Filters(price_min=0.0)) == _brute(docs, Filters(price_min=0.0))
        for pid in gone:
            docs.pop(pid, None)
        docs.update((d.product_id, d) for d in changed)


def test_a_range_no_document_meets_is_empty() -> None:
    rng = random.Random(1)
    index = FilterIndex([_doc(i, rng) for i in range(50)])
    assert index.allowed(Filters(price_min=1_000.0)) == frozenset()
    assert index.allowed(Filters(rating_max=0.5)) == frozenset()
    with pytest.raises(ValueError, match="greater"):
        Filters(price_min=10, price_max=5)
