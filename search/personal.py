"""Shopper profiles: time-decayed affinities derived from implicit feedback through the graph.

One computation for both sides that personalise: the ranker's user features and the
recommendation service read the same :class:`ShopperProfile`. A profile is derived from a
shopper's events and the product documents (which the graph builds): every event of a known
product adds its weight, decayed by age, to the product's brand, to every level of its
category path and to each of its attribute values, so buying a velvet Oakhaven sofa raises
*velvet*, *Oakhaven* and *Sofas* (and *Furniture* above it). Each affinity map is then
max-normalised to ``[0, 1]``. Pure: no store, no clock unless asked.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from kg.documents import ProductDocument
from kg.schema import attribute_id, brand_id, category_id, product_id

__all__ = [
    "MAX_RECENT",
    "MIN_PRICE_SPREAD",
    "PROFILE_EVENT_WEIGHTS",
    "EventLike",
    "ShopperProfile",
    "attribute_label",
    "build_profile",
    "describe",
]

#: How much one event of each type says about the shopper's taste (impressions say nothing).
PROFILE_EVENT_WEIGHTS: Mapping[str, float] = {
    "impression": 0.0,
    "view": 0.5,
    "click": 1.0,
    "add_to_cart": 3.0,
    "purchase": 5.0,
}
#: How many recent products a profile keeps.
MAX_RECENT = 50
#: The smallest price spread (std of log price) a profile reports: one product is no spread.
MIN_PRICE_SPREAD = 0.1
_ENGAGED = frozenset({"view", "click", "add_to_cart", "purchase"})
_DAY = 86_400.0


class EventLike(Protocol):
    """Any shopper event: the store's events and the behaviour log's events both fit."""

    @property
    def type(self) -> str: ...
    @property
    def user_id(self) -> str | None: ...
    @property
    def session_id(self) -> str | None: ...
    @property
    def product_id(self) -> str: ...
    @property
    def ts(self) -> float: ...


@dataclass(frozen=True)
class ShopperProfile:
    """What the engine believes about one shopper (or one anonymous session).

    ``brands`` is keyed by brand name, ``categories`` by category name (every level of the
    engaged products' category paths), ``attributes`` by the attribute value's entity id as
    entity linking identifies it (``attr:<key-slug>=<value-slug>``, from
    :func:`kg.schema.attribute_id`). ``entities`` holds the same affinities keyed by graph
    entity id (``brand:``, ``category:<path>``, ``attr:``, and ``product:`` for the engaged
    products; after a rename the graph's id, not the one the new name derives:
    :attr:`kg.documents.ProductDocument.graph_ids`), each kind max-normalised on its own:
    what the graph store keeps as the user's weighted edges.
    """

    user_id: str
    brands: Mapping[str, float]
    categories: Mapping[str, float]
    attributes: Mapping[str, float]
    price_center: float | None
    price_spread: float | None
    recent: tuple[str, ...]
    seen: frozenset[str]
    bought: frozenset[str]
    events: int
    updated: float
    entities: Mapping[str, float] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return self.events == 0

    @classmethod
    def blank(cls, user_id: str) -> ShopperProfile:
        """The profile of a shopper the engine knows nothing about."""
        return cls(
            user_id=user_id,
            brands={},
            categories={},
            attributes={},
            price_center=None,
            price_spread=None,
            recent=(),
            seen=frozenset(),
            bought=frozenset(),
            events=0,
            updated=0.0,
        )

    @property
    def price(self) -> float | None:
        """The typical price of what the shopper engages with (exp of ``price_center``)."""
        return None if self.price_center is None else math.exp(self.price_center)


def _normalised(sums: Mapping[str, float]) -> dict[str, float]:
    top = max(sums.values(), default=0.0)
    if top <= 0.0:
        return {}
    ordered = sorted(sums.items(), key=lambda kv: (-kv[1], kv[0]))
    return {key: value / top for key, value in ordered if value > 0.0}


def _check(half_life_days: float, weights: Mapping[str, float]) -> None:
    if not (half_life_days > 0.0 and math.isfinite(half_life_days)):
        raise ValueError(f"half_life_days must be a positive number of days, not {half_life_days}")
    bad = {t: w for t, w in weights.items() if not (w >= 0.0 and math.isfinite(w))}
    if bad:
        raise ValueError(f"event weights must be finite and >= 0; got {bad}")


def build_profile(
    user_id: str,
    events: Iterable[EventLike],
    documents: Mapping[str, ProductDocument],
    *,
    now: float | None = None,
    half_life_days: float = 30.0,
    weights: Mapping[str, float] = PROFILE_EVENT_WEIGHTS,
) -> ShopperProfile:
    """Derive one shopper's profile from their events (the caller passes that shopper's events).

    An event of type ``t`` at ``ts`` counts ``weights[t] * 0.5 ** ((now - ts) / half_life)``
    (``now`` defaults to the newest event's ts; events after ``now`` count as of ``now``).
    Events of products not in ``documents``, of types without a weight, or with weight 0
    (impressions) are ignored and do not count in ``events``.
    """
    _check(half_life_days, weights)
    kept = sorted(
        (
            e
            for e in events
            if weights.get(e.type, 0.0) > 0.0 and e.product_id in documents and math.isfinite(e.ts)
        ),
        key=lambda e: e.ts,
    )
    if not kept:
        return ShopperProfile.blank(user_id)
    newest = kept[-1].ts
    at = newest if now is None else now
    half_life = half_life_days * _DAY
    brands: dict[str, float] = defaultdict(float)
    categories: dict[str, float] = defaultdict(float)
    attributes: dict[str, float] = defaultdict(float)
    category_ids: dict[str, float] = defaultdict(float)
    products: dict[str, float] = defaultdict(float)
    # The graph's ids of what was engaged with, by the ids search knows them by (they
    # differ after a rename; the graph keeps the affinities under its own).
    graph_ids: dict[str, str] = {}
    price_weight = price_sum = price_sq = 0.0
    priced: set[str] = set()
    seen: set[str] = set()
    bought: set[str] = set()
    for event in kept:
        doc = documents[event.product_id]
        weight = weights[event.type] * 0.5 ** (max(0.0, at - event.ts) / half_life)
        if event.type in _ENGAGED:
            seen.add(doc.product_id)
        if event.type == "purchase":
            bought.add(doc.product_id)
        products[product_id(doc.product_id)] += weight
        if doc.brand:
            brands[doc.brand] += weight
            bid = brand_id(doc.brand)
            graph_ids[bid] = doc.graph_id(bid)
        for depth in range(1, len(doc.category_path) + 1):
            categories[doc.category_path[depth - 1]] += weight
            cid = category_id(doc.category_path[:depth])
            category_ids[cid] += weight
            graph_ids[cid] = doc.graph_id(cid)
        for key, value in doc.attributes.items():
            aid = attribute_id(key, value)
            attributes[aid] += weight
            graph_ids[aid] = doc.graph_id(aid)
        if doc.price is not None and doc.price > 0.0:
            log_price = math.log(doc.price)
            price_weight += weight
            price_sum += weight * log_price
            price_sq += weight * log_price * log_price
            priced.add(doc.product_id)
    center = spread = None
    if price_weight > 0.0:
        center = price_sum / price_weight
        if len(priced) >= 2:
            variance = max(0.0, price_sq / price_weight - center * center)
            spread = max(MIN_PRICE_SPREAD, math.sqrt(variance))
    recent: list[str] = []
    for event in reversed(kept):
        if event.product_id not in recent:
            recent.append(event.product_id)
            if len(recent) == MAX_RECENT:
                break
    brand_affinity = _normalised(brands)
    attribute_affinity = _normalised(attributes)
    entities = {
        **{graph_ids[brand_id(name)]: w for name, w in brand_affinity.items()},
        **{graph_ids[c]: w for c, w in _normalised(category_ids).items()},
        **{graph_ids[a]: w for a, w in attribute_affinity.items()},
        **_normalised(products),
    }
    return ShopperProfile(
        user_id=user_id,
        brands=brand_affinity,
        categories=_normalised(categories),
        attributes=attribute_affinity,
        price_center=center,
        price_spread=spread,
        recent=tuple(recent),
        seen=frozenset(seen),
        bought=frozenset(bought),
        events=len(kept),
        updated=newest,
        entities=dict(sorted(entities.items(), key=lambda kv: (-kv[1], kv[0]))),
    )


def _attribute_labels(documents: Iterable[ProductDocument]) -> dict[str, str]:
    labels: dict[str, str] = {}
    for doc in documents:
        for key, value in doc.attributes.items():
            labels.setdefault(attribute_id(key, value), value)
    return labels


def attribute_label(attribute: str, labels: Mapping[str, str] | None = None) -> str:
    """A readable name for an attribute value id (``attr:material=dark-oak`` -> ``dark oak``)."""
    if labels and attribute in labels:
        return labels[attribute]
    return attribute.partition("=")[2].replace("-", " ") or attribute


def describe(
    profile: ShopperProfile,
    documents: Mapping[str, ProductDocument] | None = None,
    *,
    top: int = 3,
    min_affinity: float = 0.2,
) -> list[str]:
    """The profile in words, strongest beliefs first.

    Brands the shopper bought from read "often buys Oakhaven (0.82)" (when ``documents`` say
    which brands those are), the others "often looks at ...". An empty profile says so.
    """
    if profile.empty:
        return ["no events yet: nothing is known about this shopper"]
    bought_brands: set[str] = set()
    labels: dict[str, str] = {}
    if documents is not None:
        bought_docs = [documents[p] for p in profile.bought if p in documents]
        bought_brands = {d.brand for d in bought_docs if d.brand}
        labels = _attribute_labels(documents[p] for p in profile.seen if p in documents)
    lines: list[str] = []
    for brand, weight in _top(profile.brands, top, min_affinity):
        verb = "often buys" if brand in bought_brands else "often looks at"
        lines.append(f"{verb} {brand} ({weight:.2f})")
    for category, weight in _top(profile.categories, top, min_affinity):
        lines.append(f"shops for {category} ({weight:.2f})")
    for attribute, weight in _top(profile.attributes, top, min_affinity):
        lines.append(f"likes {attribute_label(attribute, labels)} ({weight:.2f})")
    center, spread = profile.price_center, profile.price_spread
    if center is not None:
        line = f"price around ${math.exp(center):,.0f}"
        if spread is not None:
            low, high = math.exp(center - spread), math.exp(center + spread)
            line += f" (mostly ${low:,.0f}-${high:,.0f})"
        lines.append(line)
    if profile.bought:
        lines.append(f"bought {len(profile.bought)} product(s)")
    return lines


def _top(affinities: Mapping[str, float], k: int, floor: float) -> list[tuple[str, float]]:
    ranked = sorted(affinities.items(), key=lambda kv: (-kv[1], kv[0]))
    return [(key, w) for key, w in ranked[:k] if w >= floor]
