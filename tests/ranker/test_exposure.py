"""Brand exposure report, Gini and the per-brand cap, on hand-checked examples."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from ranker.exposure import NO_BRAND, cap_brands, exposure_report, gini


@dataclass(frozen=True)
class Ev:
    type: str
    product_id: str
    variant: str | None = "a"


def test_gini_of_hand_checked_lists() -> None:
    assert gini([]) == 0.0
    assert gini([0, 0]) == 0.0
    assert gini([5, 5, 5]) == pytest.approx(0.0)
    # sum |xi - xj| over ordered pairs = 6, 2 n^2 mean = 2 * 16 * 0.25 = 8
    assert gini([0, 0, 0, 1]) == pytest.approx(0.75)
    # pairs: |1-2|,|1-3|,|2-3| = 4, twice = 8; 2 * 9 * 2 = 36
    assert gini([3, 1, 2]) == pytest.approx(8 / 36)
    with pytest.raises(ValueError, match="non-negative"):
        gini([-1, 2])


def test_exposure_report_by_hand() -> None:
    brands = {"p1": "A", "p2": "A", "p3": "B", "p4": None}
    events = [
        Ev("impression", "p1"),
        Ev("impression", "p2"),
        Ev("impression", "p1"),
        Ev("impression", "p3"),
        Ev("click", "p3"),  # not an impression
        Ev("impression", "zz"),  # not in the catalogue
        Ev("impression", "p4", "b"),
    ]
    report = exposure_report(events, brands)
    assert report.unknown_products == 1
    a, b = report.variants
    assert (a.variant, a.impressions, b.variant, b.impressions) == ("a", 4, "b", 1)
    rows = {r.brand: r for r in a.brands}
    assert rows["A"].impressions == 3 and rows["A"].impression_share == pytest.approx(0.75)
    assert rows["A"].catalogue_share == pytest.approx(0.5) and rows["A"].ratio == pytest.approx(1.5)
    assert rows[NO_BRAND].impressions == 0 and rows[NO_BRAND].products == 1
    # impressions per brand [3, 1, 0]: Gini = (2*(1*0 + 2*1 + 3*3)) / (3*4) - 4/3 = 0.5
    assert a.gini == pytest.approx(0.5)
    # shares 0.75/0.25/0 against 0.5/0.25/0.25
    assert a.distance == pytest.approx(0.25)
    assert "| a | 4 | 0.500 | 0.250 |" in report.to_markdown()
    assert report.as_dict()["variants"][0]["brands"][0]["ratio"] == pytest.approx(1.5)
    with pytest.raises(ValueError, match="catalogue is empty"):
        exposure_report(events, {})


def test_brand_cap_moves_the_excess_to_the_next_page() -> None:
    brands = ["A", "A", "A", "B", "A", None, "C"]
    order = list(range(7))
    assert cap_brands(order, brands, cap=2, page_size=4) == [0, 1, 3, 5, 2, 4, 6]
    # a page that cannot be filled within the cap is filled in order
    assert cap_brands([0, 1, 2], ["A", "A", "A"], cap=1, page_size=2) == [0, 1, 2]
    assert cap_brands(order, brands, cap=10, page_size=4) == order
    with pytest.raises(ValueError, match=">= 1"):
        cap_brands(order, brands, cap=0, page_size=4)
