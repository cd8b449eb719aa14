"""Shopper profiles derived from events through the product documents."""

from __future__ import annotations

import math
from dataclasses import dataclass

import pytest

from kg.documents import ProductDocument
from kg.schema import attribute_id, brand_id, category_id, product_id
from search.personal import MAX_RECENT, ShopperProfile, build_profile, describe

DAY = 86_400.0


@dataclass(frozen=True)
class Ev:
    type: str
    product_id: str
    ts: float
    user_id: str | None = "U1"
    session_id: str | None = "S1"


def _doc(pid: str, brand: str, path: tuple[str, ...], attrs: dict[str, str], price: float):
    return ProductDocument(
        product_id=pid,
        name=f"{brand} {path[-1]}",
        product_class=path[-1],
        category_path=path,
        brand=brand,
        attributes=attrs,
        price=price,
    )


DOCS = {
    d.product_id: d
    for d in [
        _doc("SOFA", "Oakhaven", ("Furniture", "Sofas"), {"material": "Velvet"}, 450.0),
        _doc("LAMP", "Brightly", ("Lighting", "Lamps"), {"material": "Brass"}, 80.0),
        _doc("RUG", "Brightly", ("Décor", "Rugs"), {"color": "Dark Blue"}, 200.0),
    ]
}


def test_a_velvet_oakhaven_sofa_purchase_raises_velvet_oakhaven_and_sofas() -> None:
    events = [Ev("click", "LAMP", 1_000.0), Ev("purchase", "SOFA", 2_000.0)]
    p = build_profile("U1", events, DOCS)
    assert p.brands["Oakhaven"] == 1.0
    assert p.categories["Sofas"] == 1.0 and p.categories["Furniture"] == 1.0
    velvet = attribute_id("material", "Velvet")
    assert p.attributes[velvet] == 1.0
    assert 0.0 < p.brands["Brightly"] < 1.0  # one click against a purchase (1 vs 5)
    assert p.brands["Brightly"] == pytest.approx(1.0 / 5.0, rel=1e-3)
    assert p.bought == {"SOFA"} and p.seen == {"SOFA", "LAMP"}
    assert p.recent == ("SOFA", "LAMP")
    assert p.events == 2 and p.updated == 2_000.0 and not p.empty
    # the graph form: entity ids, categories by their full path, products too
    assert p.entities[brand_id("Oakhaven")] == 1.0
    assert p.entities[category_id(("Furniture", "Sofas"))] == 1.0
    assert p.entities[velvet] == 1.0
    assert p.entities[product_id("SOFA")] == 1.0
    assert 0.0 < p.entities[product_id("LAMP")] < 1.0


def test_decay_halves_an_event_per_half_life() -> None:
    events = [Ev("click", "LAMP", 0.0), Ev("click", "SOFA", 30 * DAY)]
    p = build_profile("U1", events, DOCS, half_life_days=30.0)
    assert p.brands["Oakhaven"] == 1.0
    assert p.brands["Brightly"] == pytest.approx(0.5)
    later = build_profile("U1", events, DOCS, now=60 * DAY, half_life_days=30.0)
    assert later.brands["Brightly"] == pytest.approx(0.5)  # relative weights keep
    assert later.updated == 30 * DAY
    shorter = build_profile("U1", events, DOCS, half_life_days=10.0)
    assert shorter.brands["Brightly"] == pytest.approx(0.125)


def test_unknown_products_impressions_and_other_types_are_ignored() -> None:
    events = [Ev("purchase", "GONE", 5.0), Ev("impression", "RUG", 6.0), Ev("view", "LAMP", 1.0)]
    p = build_profile("U1", events, DOCS)
    assert set(p.brands) == {"Brightly"}
    assert "Rugs" not in p.categories
    assert p.events == 1 and p.updated == 1.0
    assert p.seen == {"LAMP"} and p.bought == frozenset()
    empty = build_profile("U1", [Ev("impression", "RUG", 1.0), Ev("click", "GONE", 2.0)], DOCS)
    assert empty.empty and empty == ShopperProfile.blank("U1")


def test_price_band_is_a_weighted_log_price_mean_and_spread() -> None:
    one = build_profile("U1", [Ev("click", "SOFA", 1.0)], DOCS)
    assert one.price == pytest.approx(450.0) and one.price_spread is None
    two = build_profile("U1", [Ev("click", "SOFA", 1.0), Ev("click", "LAMP", 1.0)], DOCS)
    assert two.price == pytest.approx(math.sqrt(450.0 * 80.0))
    assert two.price_spread == pytest.approx((math.log(450.0) - math.log(80.0)) / 2)


def test_recent_keeps_the_newest_distinct_products_up_to_the_cap() -> None:
    docs = {f"P{i}": _doc(f"P{i}", "B", ("C",), {}, 10.0) for i in range(MAX_RECENT + 10)}
    events = [Ev("view", f"P{i}", float(i)) for i in range(MAX_RECENT + 10)]
    events.append(Ev("click", "P0", 1_000.0))
    p = build_profile("U1", events, docs)
    assert len(p.recent) == MAX_RECENT
    assert p.recent[0] == "P0" and p.recent[1] == f"P{MAX_RECENT + 9}"


def test_bad_parameters_are_refused() -> None:
    with pytest.raises(ValueError, match="half_life_days"):
        build_profile("U1", [], DOCS, half_life_days=0.0)
    with pytest.raises(ValueError, match="weights"):
        build_profile("U1", [], DOCS, weights={"click": -1.0})


def test_describe_says_it_in_words() -> None:
    events = [Ev("view", "RUG", 1.0), Ev("purchase", "SOFA", 2.0)]
    p = build_profile("U1", events, DOCS)
    lines = describe(p, DOCS)
    assert "often buys Oakhaven (1.00)" in lines
    assert "likes Velvet (1.00)" in lines
    assert any(line.startswith("shops for Sofas") for line in lines)
    assert any(line.startswith("price around $") for line in lines)
    assert "likes velvet (1.00)" in describe(p)  # without documents: from the id's slug
    assert describe(ShopperProfile.blank("U9")) == [
        "no events yet: nothing is known about this shopper"
    ]
