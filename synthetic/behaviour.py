"""Simulated shopper behaviour: a seeded click simulator that writes event logs.

The events are those of :mod:`ingest.events` (impressions, clicks, add-to-carts and
purchases). The simulator is a position-based model (PBM) with a per-user preference on top:

- a user examines the result at position ``k`` with probability ``(1/k)**eta``;
- an examined result is clicked with probability
  ``min(1, click_prob[grade] * exp(strength * (brand_bonus - sensitivity * price_z)))``,
  where ``grade`` is the product's judged grade for the query (unjudged = 0),
  ``brand_bonus`` is 1 for one of the user's favourite brands, ``sensitivity`` in [0, 1]
  is the user's price sensitivity and ``price_z`` the product's log-price z-score,
  clipped to [-2, 2];
- a click is added to the cart with probability ``cart_rate[grade]`` and a cart item is
  bought with probability ``purchase_rate``.

Examination and attraction are independent, so the expected click-through rate at
position ``k`` factorises into ``(1/k)**eta`` times the product's attractiveness, which
is what :mod:`ranker.clicks` estimates back. ``shuffle_fraction`` of the sessions see
their page in a uniformly random order (result randomisation), which is what makes the
position bias identifiable from the logs. Everything random comes from one
``random.Random(seed)``: the same inputs and seed give the same events.
"""

from __future__ import annotations

import math
import random
import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TypeAlias, TypeVar

from ingest.events import AddToCart, Click, Event, Impression, Purchase
from ingest.records import ProductRecord
from ranker.evaluation import JudgedQuery

__all__ = [
    "Ranking",
    "SimUser",
    "SimulatorConfig",
    "make_users",
    "simulate",
]

#: A ranking system as the simulator sees it: query text -> ranked product ids.
Ranking: TypeAlias = Callable[[str], Sequence[str]]

GRADES = (0, 1, 2)
DEFAULT_CLICK_PROB: Mapping[int, float] = MappingProxyType({0: 0.05, 1: 0.25, 2: 0.7})
DEFAULT_CART_RATE: Mapping[int, float] = MappingProxyType({0: 0.02, 1: 0.15, 2: 0.4})
PRICE_Z_CLIP = 2.0


#: The event types a session writes.
_E = TypeVar("_E", Impression, Click, AddToCart, Purchase)


def _checked_rates(name: str, rates: Mapping[int, float]) -> Mapping[int, float]:
    if set(rates) != set(GRADES):
        raise ValueError(f"{name} needs exactly the grades 0, 1 and 2 as keys, got {sorted(rates)}")
    for grade, rate in rates.items():
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"{name}[{grade}] must be a probability in [0, 1], got {rate}")
    return MappingProxyType({g: float(rates[g]) for g in GRADES})


@dataclass(frozen=True, slots=True, kw_only=True)
class SimulatorConfig:
    """How many users and sessions to simulate, and how those users behave."""

    users: int = 200
    sessions_per_user: int = 5
    page_size: int = 10
    #: Position-bias exponent: P(examine position k) = (1/k) ** eta.
    eta: float = 1.0
    #: P(click | examined) per judged grade, before the user's preference.
    click_prob: Mapping[int, float] = field(default_factory=lambda: DEFAULT_CLICK_PROB)
    #: How strongly favourite brands and price sensitivity move the click probability.
    preference_strength: float = 0.5
    favourite_brands: int = 3
    #: P(add to cart | click) per grade, and P(purchase | add to cart).
    cart_rate: Mapping[int, float] = field(default_factory=lambda: DEFAULT_CART_RATE)
    purchase_rate: float = 0.5
    #: Share of sessions whose page is shown in a random order (result randomisation).
    shuffle_fraction: float = 0.0
    seed: int = 0
    start_ts: float = 1_700_000_000.0

    def __post_init__(self) -> None:
        for name in ("users", "sessions_per_user", "page_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.favourite_brands < 0:
            raise ValueError(f"favourite_brands must be >= 0, got {self.favourite_brands}")
        if not (math.isfinite(self.eta) and self.eta >= 0):
            raise ValueError(f"eta must be a finite number >= 0, got {self.eta}")
        if not (math.isfinite(self.preference_strength) and self.preference_strength >= 0):
            raise ValueError(
                f"preference_strength must be a finite number >= 0, got {self.preference_strength}"
            )
        for name in ("purchase_rate", "shuffle_fraction"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {value}")
        if not (math.isfinite(self.start_ts) and self.start_ts >= 0):
            raise ValueError(f"start_ts must be a finite number >= 0, got {self.start_ts}")
        object.__setattr__(self, "click_prob", _checked_rates("click_prob", self.click_prob))
        object.__setattr__(self, "cart_rate", _checked_rates("cart_rate", self.cart_rate))

    def examination(self, position: int) -> float:
        """P(the user looks at the result at ``position``), 1-based."""
        return float((1.0 / position) ** self.eta)


@dataclass(frozen=True, slots=True)
class SimUser:
    """A simulated shopper: favourite brands and price sensitivity in [0, 1]."""

    user_id: str
    favourite_brands: frozenset[str]
    price_sensitivity: float


def make_users(products: Mapping[str, ProductRecord], config: SimulatorConfig) -> list[SimUser]:
    """The config's users, drawn from their own stream of ``config.seed``."""
    rng = random.Random(f"kgsearch-users:{config.seed}")
    brands = sorted({p.brand for p in products.values() if p.brand})
    k = min(config.favourite_brands, len(brands))
    return [
        SimUser(f"u{i:05d}", frozenset(rng.sample(brands, k)), rng.random())
        for i in range(config.users)
    ]


def _price_z(products: Mapping[str, ProductRecord]) -> dict[str, float]:
    """Each priced product's log-price z-score over the catalogue, clipped; 0 when unpriced."""
    logs = {pid: math.log1p(p.price) for pid, p in products.items() if p.price is not None}
    if len(logs) < 2:
        return {}
    mean = statistics.fmean(logs.values())
    std = statistics.pstdev(logs.values()) or 1.0
    return {
        pid: max(-PRICE_Z_CLIP, min(PRICE_Z_CLIP, (value - mean) / std))
        for pid, value in logs.items()
    }


@dataclass(frozen=True, slots=True)
class _Session:
    session_id: str
    user_id: str
    query: JudgedQuery
    variant: str

    def event(self, kind: type[_E], product_id: str, position: int, ts: float) -> _E:
        return kind(
            session_id=self.session_id,
            user_id=self.user_id,
            query_id=self.query.query_id,
            query=self.query.text,
            product_id=product_id,
            position=position,
            variant=self.variant,
            ts=ts,
        )


@dataclass(slots=True)
class _Clock:
    now: float

    def tick(self, rng: random.Random, mean_seconds: float) -> float:
        self.now += rng.expovariate(1.0 / mean_seconds)
        return round(self.now, 3)


def simulate(
    *,
    queries: Sequence[JudgedQuery],
    products: Mapping[str, ProductRecord],
    rankings: Mapping[str, Ranking],
    assign: Callable[[str], str],
    config: SimulatorConfig,
) -> list[Event]:
    """Simulate ``config.users`` users with ``config.sessions_per_user`` sessions each.

    Each session picks one of ``queries`` uniformly, shows the first ``page_size`` ids of
    ``rankings[assign(user_id)](query.text)`` (in random order for a ``shuffle_fraction``
    of sessions) and logs an impression for every shown product, then the clicks,
    add-to-carts and purchases of the user model in the module docstring.

    Raises ``ValueError`` for no queries, a variant without a ranking, or a ranking that
    returns a product missing from ``products`` or the same product twice.
    """
    if not queries:
        raise ValueError("simulate needs at least one query")
    users = make_users(products, config)
    price_z = _price_z(products)
    rng = random.Random(f"kgsearch-sessions:{config.seed}")
    clock = _Clock(config.start_ts)
    exam = [config.examination(k) for k in range(1, config.page_size + 1)]
    events: list[Event] = []
    session_no = 0
    for user in users:
        variant = assign(user.user_id)
        ranking = rankings.get(variant)
        if ranking is None:
            raise ValueError(
                f"user {user.user_id} was assigned variant {variant!r}, which has no ranking; "
                f"rankings: {sorted(rankings)}"
            )
        for _ in range(config.sessions_per_user):
            session_no += 1
            query = queries[rng.randrange(len(queries))]
            page = list(ranking(query.text))[: config.page_size]
            _check_page(page, products, variant, query.text)
            if config.shuffle_fraction and rng.random() < config.shuffle_fraction:
                rng.shuffle(page)
            session = _Session(f"s{session_no:07d}", user.user_id, query, variant)
            start = clock.tick(rng, 60.0)
            events.extend(
                session.event(Impression, pid, position, start)
                for position, pid in enumerate(page, start=1)
            )
            for position, pid in enumerate(page, start=1):
                if rng.random() >= exam[position - 1]:
                    continue
                grade = query.grades.get(pid, 0)
                product = products[pid]
                bonus = 1.0 if product.brand in user.favourite_brands else 0.0
                lean = bonus - user.price_sensitivity * price_z.get(pid, 0.0)
                attract = config.click_prob[grade] * math.exp(config.preference_strength * lean)
                if rng.random() >= min(1.0, attract):
                    continue
                events.append(session.event(Click, pid, position, clock.tick(rng, 5.0)))
                if rng.random() >= config.cart_rate[grade]:
                    continue
                events.append(session.event(AddToCart, pid, position, clock.tick(rng, 20.0)))
                if rng.random() < config.purchase_rate:
                    events.append(session.event(Purchase, pid, position, clock.tick(rng, 30.0)))
    return events


def _check_page(
    page: Sequence[str], products: Mapping[str, ProductRecord], variant: str, query: str
) -> None:
    missing = [pid for pid in page if pid not in products]
    if missing:
        raise ValueError(
            f"ranking {variant!r} returned product(s) not in the catalogue for {query!r}: "
            f"{missing[:5]}"
        )
    if len(set(page)) != len(page):
        raise ValueError(f"ranking {variant!r} returned a product twice for {query!r}")
