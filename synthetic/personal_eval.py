"""Measuring personalised search on simulated shoppers (``benchmarks/personal_search.py``).

Two measurements, both on a behaviour log of the simulator (:mod:`synthetic.behaviour`),
whose shoppers have favourite brands and a price sensitivity:

- :func:`heldout_ndcg`: NDCG@10 of the base ranking and of the personalised one on
  held-out (later) sessions. A session's relevance is the simulator's own attraction of
  each candidate for *that* shopper and query,
  ``min(1, click_prob[grade] * exp(strength * (brand_bonus - sensitivity * price_z)))``:
  the probability that the shopper clicks the product once they look at it. It is never
  shown to the model (which learns from the clicks of earlier sessions) and it is known
  exactly, so no click noise enters the comparison.
- :func:`simulate_personal_ab`: new sessions of the same shoppers through the simulator,
  half of them (by hash) served the personalised ranking, for ``ranker.ab.ab_report``
  and ``ranker.exposure.exposure_report``.

Rankings come from :class:`PageRanker`, which computes a query's candidates and base
scores once and adds the personal part per shopper exactly as ``SearchService.search``
does (a test holds the two to the same order), so thousands of sessions stay cheap.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from ingest.events import Event
from ingest.personal_training import LoggedSession
from ingest.records import ProductRecord
from ranker.candidates import CandidateSet
from ranker.evaluation import JudgedQuery
from ranker.exposure import cap_brands
from ranker.personal import PersonalModel
from search.personal import ShopperProfile
from search.personal_signals import with_personal_signals
from search.service import SearchService
from synthetic.behaviour import SimulatorConfig, SimUser, _price_z, simulate

__all__ = [
    "PageRanker",
    "SessionNDCG",
    "attraction",
    "dcg_at_k",
    "heldout_ndcg",
    "simulate_history",
    "simulate_personal_ab",
]


class PageRanker:
    """Ranked pages of one service, with or without a shopper's personal part;
    ``brand_cap`` caps every page, ``personal_brand_cap`` only the personalised ones."""

    def __init__(
        self,
        service: SearchService,
        model: PersonalModel | None,
        *,
        brand_cap: int | None = None,
        personal_brand_cap: int | None = None,
    ) -> None:
        self.service, self.model = service, model
        self.brand_cap, self.personal_brand_cap = brand_cap, personal_brand_cap
        #: query -> (candidates, base scores); `ingest.personal_training.click_data` shares it
        self.cache: dict[str, tuple[CandidateSet, npt.NDArray[np.float64]]] = {}

    def candidates(self, query: str) -> tuple[CandidateSet, npt.NDArray[np.float64]]:
        if query not in self.cache:
            candidates = self.service.candidates(query)
            self.cache[query] = (candidates, self.service.ranker.score(candidates))
        return self.cache[query]

    def scores(self, query: str, profile: ShopperProfile | None) -> npt.NDArray[np.float64]:
        candidates, base = self.candidates(query)
        if profile is None or profile.empty or self.model is None:
            return base
        personal = with_personal_signals(candidates, self.service.documents, profile)
        return base + self.model.score(personal)

    def ranked(self, query: str, profile: ShopperProfile | None, k: int = 10) -> list[str]:
        candidates, _ = self.candidates(query)
        order = np.argsort(-self.scores(query, profile), kind="stable")
        personalised = profile is not None and not profile.empty and self.model is not None
        cap = self.personal_brand_cap if personalised else None
        cap = self.brand_cap if cap is None else cap
        if cap is not None:
            brands = [self.service.documents[p].brand for p in candidates.product_ids]
            order = np.array(cap_brands(order.tolist(), brands, cap=cap, page_size=k))
        return [candidates.product_ids[i] for i in order[:k]]


def attraction(
    user: SimUser,
    grade: int,
    product_id: str,
    products: Mapping[str, ProductRecord],
    price_z: Mapping[str, float],
    config: SimulatorConfig,
) -> float:
    """P(click | examined) of the simulator for ``user``: the held-out relevance."""
    bonus = 1.0 if products[product_id].brand in user.favourite_brands else 0.0
    lean = bonus - user.price_sensitivity * price_z.get(product_id, 0.0)
    return min(1.0, config.click_prob[grade] * math.exp(config.preference_strength * lean))


def dcg_at_k(gains: Sequence[float], k: int = 10) -> float:
    return sum(g / math.log2(i + 2) for i, g in enumerate(gains[:k]))


@dataclass(frozen=True, slots=True)
class SessionNDCG:
    session_id: str
    user_id: str
    query: str
    base: float
    personal: float
    profile_events: int
    oracle: float | None = None  # base + the shopper's true preference term (a reference)


def heldout_ndcg(
    pages: PageRanker,
    sessions: Sequence[LoggedSession],
    profiles: Mapping[str, ShopperProfile],
    *,
    users: Mapping[str, SimUser],
    queries: Mapping[str, JudgedQuery],
    products: Mapping[str, ProductRecord],
    config: SimulatorConfig,
    k: int = 10,
    oracle_scale: float | None = None,
) -> list[SessionNDCG]:
    """NDCG@k of the base and the personalised ranking of each held-out session, with the
    session's shopper's attraction as gain and the ideal over the query's candidates.
    Sessions whose user or query the simulation does not know are left out.

    With ``oracle_scale`` (base-score units per logit, e.g. ``1 / b`` of the click model)
    each session also gets the NDCG of ``base + oracle_scale * strength * (brand_bonus -
    sensitivity * price_z)``: the shopper's *true* preference added to the base score, a
    reference (not a ceiling: a learned stage also has the shopper's history, such as the
    products they engaged with before)."""
    price_z = _price_z(products)
    out = []
    for session in sessions:
        user, query = users.get(session.user_id), queries.get(session.query)
        if user is None or query is None:
            continue
        candidates, _ = pages.candidates(session.query)
        gain = {
            pid: attraction(user, query.grades.get(pid, 0), pid, products, price_z, config)
            for pid in candidates.product_ids
            if pid in products
        }
        ideal = dcg_at_k(sorted(gain.values(), reverse=True), k)
        if ideal <= 0:
            continue
        profile = profiles[session.session_id]
        base = pages.ranked(session.query, None, k)
        mine = pages.ranked(session.query, profile, k)
        oracle = None
        if oracle_scale is not None:
            _, scores = pages.candidates(session.query)
            lean = np.array(
                [
                    (
                        1.0
                        if pid in products and products[pid].brand in user.favourite_brands
                        else 0.0
                    )
                    - user.price_sensitivity * price_z.get(pid, 0.0)
                    for pid in candidates.product_ids
                ]
            )
            order = np.argsort(
                -(scores + oracle_scale * config.preference_strength * lean), kind="stable"
            )
            best = [candidates.product_ids[i] for i in order[:k]]
            oracle = dcg_at_k([gain.get(p, 0.0) for p in best], k) / ideal
        out.append(
            SessionNDCG(
                session_id=session.session_id,
                user_id=session.user_id,
                query=session.query,
                base=dcg_at_k([gain.get(p, 0.0) for p in base], k) / ideal,
                personal=dcg_at_k([gain.get(p, 0.0) for p in mine], k) / ideal,
                profile_events=profile.events,
                oracle=oracle,
            )
        )
    return out


def simulate_history(
    pages: PageRanker,
    *,
    queries: Sequence[JudgedQuery],
    products: Mapping[str, ProductRecord],
    config: SimulatorConfig,
    days: float = 30.0,
) -> list[Event]:
    """A behaviour log of ``config``'s shoppers on the base ranking, each session moved to
    a uniformly drawn start within ``days`` after ``config.start_ts`` (seeded), so that a
    split by time has every shopper on both sides. Sorted by time."""
    events = simulate(
        queries=queries,
        products=products,
        rankings={"base": lambda q: pages.ranked(q, None, config.page_size)},
        assign=lambda _: "base",
        config=config,
    )
    rng = random.Random(f"kgsearch-personal-history:{config.seed}")
    first: dict[str, float] = {}
    for event in events:
        first.setdefault(event.session_id, event.ts)
    shift = {
        sid: config.start_ts + rng.uniform(0.0, days * 86_400.0) - ts for sid, ts in first.items()
    }
    moved = (e.model_copy(update={"ts": round(e.ts + shift[e.session_id], 3)}) for e in events)
    return sorted(moved, key=lambda e: (e.ts, e.session_id))


def simulate_personal_ab(
    pages: PageRanker,
    *,
    queries: Sequence[JudgedQuery],
    products: Mapping[str, ProductRecord],
    profiles: Mapping[str, ShopperProfile],
    assign: Callable[[str], str],
    config: SimulatorConfig,
    control: str = "control",
    treatment: str = "personal",
) -> list[Event]:
    """Simulate ``config``'s shoppers; those ``assign`` puts in ``treatment`` see pages
    personalised with their profile in ``profiles`` (fixed for the experiment), the others
    the base ranking. The simulator asks a variant's ranking for the query text only, and
    buckets each shopper (``assign``) right before that shopper's sessions, so the
    treatment's ranking reads the shopper of the last ``assign`` call."""
    current: list[str] = [""]

    def bucket(user_id: str) -> str:
        current[0] = user_id
        return assign(user_id)

    def personal(query: str) -> list[str]:
        return pages.ranked(query, profiles.get(current[0]), config.page_size)

    def base(query: str) -> list[str]:
        return pages.ranked(query, None, config.page_size)

    return simulate(
        queries=queries,
        products=products,
        rankings={control: base, treatment: personal},
        assign=bucket,
        config=config,
    )
