"""Brand exposure: who gets shown, against who is in the catalogue; and a per-brand cap.

- :func:`exposure_report` counts logged impressions per brand (per A/B variant) and sets
  each brand's share of impressions beside its share of the catalogue's products, with
  the Gini coefficient of impressions over the catalogue's brands (0: every brand shown
  alike; near 1: a few brands get everything) and the total-variation distance between
  the two shares (0: impressions spread exactly as the catalogue).
- :func:`cap_brands` reorders a ranking so that no brand fills more than ``cap`` places of
  a page (of ``page_size``); the search service applies it when a request asks for it.

Events are read through the structural ``ranker.clicks.LoggedEvent`` protocol (``type``,
``product_id``, ``variant``, ...), so the logged and the stored events both fit.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Protocol

import numpy as np

__all__ = [
    "FAIRNESS_MARGIN",
    "NO_BRAND",
    "BrandExposure",
    "ExposureReport",
    "VariantExposure",
    "cap_brands",
    "exposure_report",
    "gini",
]

#: How products without a brand are counted (as one group).
NO_BRAND = "(no brand)"
#: How much personalised ranking may raise the brand-exposure Gini over the same
#: shoppers' non-personalised ranking (absolute); tests and the benchmark hold it.
FAIRNESS_MARGIN = 0.02


class ImpressionLike(Protocol):
    @property
    def type(self) -> str: ...
    @property
    def product_id(self) -> str: ...
    @property
    def variant(self) -> str | None: ...


def gini(values: Sequence[float]) -> float:
    """Gini coefficient of non-negative ``values``: ``sum_ij |x_i - x_j| / (2 n^2 mean)``;
    0 for an empty or all-zero list."""
    x = np.sort(np.asarray(values, dtype=np.float64))
    if x.size == 0 or x.sum() <= 0:
        return 0.0
    if (x < 0).any():
        raise ValueError("gini needs non-negative values")
    n = x.size
    ranks = np.arange(1, n + 1)
    return float((2.0 * np.sum(ranks * x)) / (n * x.sum()) - (n + 1.0) / n)


@dataclass(frozen=True, slots=True)
class BrandExposure:
    brand: str
    impressions: int
    impression_share: float
    products: int
    catalogue_share: float

    @property
    def ratio(self) -> float | None:
        """Impression share over catalogue share (1: exposed as its size says)."""
        return self.impression_share / self.catalogue_share if self.catalogue_share else None


@dataclass(frozen=True, slots=True)
class VariantExposure:
    variant: str
    impressions: int
    gini: float
    distance: float  # total variation between impression and catalogue shares, in [0, 1]
    brands: tuple[BrandExposure, ...]  # most impressions first


@dataclass(frozen=True, slots=True)
class ExposureReport:
    variants: tuple[VariantExposure, ...]
    unknown_products: int  # impressions of products not in the catalogue (left out)

    def as_dict(self) -> dict[str, Any]:
        return {
            "unknown_products": self.unknown_products,
            "variants": [
                {
                    **{k: v for k, v in asdict(variant).items() if k != "brands"},
                    "brands": [{**asdict(b), "ratio": b.ratio} for b in variant.brands],
                }
                for variant in self.variants
            ],
        }

    def to_markdown(self, *, top: int = 10) -> str:
        lines = [
            "| variant | impressions | brand Gini | distance to catalogue |",
            "|---|---:|---:|---:|",
        ]
        for v in self.variants:
            lines.append(f"| {v.variant} | {v.impressions} | {v.gini:.3f} | {v.distance:.3f} |")
        for v in self.variants:
            lines += [
                "",
                f"**{v.variant}**: the {min(top, len(v.brands))} most shown brands",
                "",
                "| brand | impressions | share | catalogue share | ratio |",
                "|---|---:|---:|---:|---:|",
            ]
            for b in v.brands[:top]:
                ratio = "-" if b.ratio is None else f"{b.ratio:.2f}"
                lines.append(
                    f"| {b.brand} | {b.impressions} | {b.impression_share:.1%} | "
                    f"{b.catalogue_share:.1%} | {ratio} |"
                )
        if self.unknown_products:
            lines += ["", f"{self.unknown_products} impression(s) of unknown products left out"]
        return "\n".join(lines)


def exposure_report(
    events: Iterable[ImpressionLike], brands: Mapping[str, str | None]
) -> ExposureReport:
    """Brand exposure per variant over the ``impression`` events; ``brands`` maps every
    catalogue product to its brand (``None`` for none). Every catalogue brand is in the
    Gini, also those never shown."""
    if not brands:
        raise ValueError("the catalogue is empty: no brand shares to compare against")
    catalogue = Counter(b or NO_BRAND for b in brands.values())
    shown: dict[str, Counter[str]] = defaultdict(Counter)
    unknown = 0
    for event in events:
        if event.type != "impression":
            continue
        if event.product_id not in brands:
            unknown += 1
            continue
        shown[event.variant or "(none)"][brands[event.product_id] or NO_BRAND] += 1
    total_products = sum(catalogue.values())
    variants = []
    for variant in sorted(shown):
        counts = shown[variant]
        total = sum(counts.values())
        rows = [
            BrandExposure(
                brand=brand,
                impressions=counts[brand],
                impression_share=counts[brand] / total,
                products=catalogue[brand],
                catalogue_share=catalogue[brand] / total_products,
            )
            for brand in catalogue
        ]
        rows.sort(key=lambda b: (-b.impressions, b.brand))
        variants.append(
            VariantExposure(
                variant=variant,
                impressions=total,
                gini=gini([b.impressions for b in rows]),
                distance=0.5 * sum(abs(b.impression_share - b.catalogue_share) for b in rows),
                brands=tuple(rows),
            )
        )
    return ExposureReport(tuple(variants), unknown)


def cap_brands(
    order: Sequence[int], brand_of: Sequence[str | None], *, cap: int, page_size: int
) -> list[int]:
    """Reorder ``order`` (row indexes, best first) page by page so that no brand has more
    than ``cap`` of a page's ``page_size`` places: a product over its brand's cap moves to
    the next page that has room, keeping its order among the moved. A page that cannot be
    filled within the cap (too few brands left) is filled in order. Products without a
    brand are never capped."""
    if cap < 1 or page_size < 1:
        raise ValueError(f"cap and page_size must be >= 1, got {cap} and {page_size}")
    waiting = list(order)
    out: list[int] = []
    while waiting:
        page: list[int] = []
        used: Counter[str] = Counter()
        rest: list[int] = []
        for row in waiting:
            brand = brand_of[row]
            if len(page) < page_size and (brand is None or used[brand] < cap):
                page.append(row)
                if brand is not None:
                    used[brand] += 1
            else:
                rest.append(row)
        while len(page) < page_size and rest:  # not enough brands to stay within the cap
            page.append(rest.pop(0))
        out.extend(page)
        waiting = rest
    return out
