"""Live shopper profiles: the event store in, profiles (and their graph edges) out.

:class:`ProfileService` keeps every shopper's :class:`~search.personal.ShopperProfile` up to
date while the engine runs. Each request first calls :meth:`ProfileService.refresh`, which
reads only the events appended since the last call (``EventStore.read(after=seq)``, one
indexed query that returns nothing most of the time), rebuilds the profiles of the
shoppers those events touch from all of their events (a shopper has few), and writes each
rebuilt profile to the graph store as the user's weighted ``AFFINITY`` edges
(:meth:`kg.store.GraphStore.put_user_profile`), so an event shows in the next response.

It also answers what the engine believes and why (:meth:`ProfileService.beliefs`: each
belief with the events behind it), the events of an anonymous session
(:meth:`ProfileService.session_items`), what a shopper did since the recommendation models
were fitted (:meth:`ProfileService.live_history`), and forgets a shopper on erasure.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict, defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from kg.schema import attribute_id
from kg.store import check_user_id
from recommend.service import LiveHistory
from search.personal import (
    PROFILE_EVENT_WEIGHTS,
    ShopperProfile,
    attribute_label,
    build_profile,
    describe,
)

if TYPE_CHECKING:
    from ingest.event_store import EventStore, StoredEvent
    from kg.documents import ProductDocument
    from kg.store import GraphStore

__all__ = ["Belief", "ProfileService"]

log = logging.getLogger(__name__)

BeliefKind = Literal["brand", "category", "attribute", "price"]


@dataclass(frozen=True, slots=True)
class Belief:
    """One thing the engine believes about a shopper, in words, with its evidence: the
    shopper's events (newest first, at most ``evidence`` of them) of products that have
    the brand / category / attribute value (for the price band: the priced products)."""

    kind: BeliefKind
    key: str  # brand or category name, attribute value id, "price"
    label: str
    affinity: float  # in [0, 1]; for the price band, the typical price
    text: str
    events: tuple[StoredEvent, ...]
    total_events: int


class ProfileService:
    """Shopper profiles kept live from an event store (see the module docstring).

    ``documents``: the live index's products (events of other products are ignored).
    ``graph``: where the profiles are written as user nodes and ``AFFINITY`` edges (None:
    kept in memory only). ``on_erased`` is called with each shopper found erased from the
    store by someone else (``kgsearch users erase`` while a server runs), so that the
    caller forgets them too. Thread-safe."""

    def __init__(
        self,
        *,
        events: EventStore,
        documents: Mapping[str, ProductDocument],
        graph: GraphStore | None = None,
        half_life_days: float = 30.0,
        weights: Mapping[str, float] = PROFILE_EVENT_WEIGHTS,
        page: int = 50_000,
        max_cached: int = 100_000,
        on_erased: Callable[[str], object] | None = None,
    ) -> None:
        if page < 1 or max_cached < 1:
            raise ValueError("page and max_cached must be >= 1")
        self._events = events
        self._documents = documents
        self._graph = graph
        self._half_life = half_life_days
        self._weights = dict(weights)
        self._page = page
        self._max_cached = max_cached
        self._lock = threading.RLock()
        self._seq = 0
        self._profiles: OrderedDict[str, ShopperProfile] = OrderedDict()
        self._unwritten: set[str] = set()  # rebuilt profiles the graph did not take yet
        self._checked = 0  # the store revision last checked for erasures
        self._on_erased = on_erased
        build_profile("check", [], documents, half_life_days=half_life_days, weights=weights)

    @property
    def seq(self) -> int:
        """The sequence number of the newest event applied."""
        return self._seq

    # -- keeping up with the store ---------------------------------------------------------

    def refresh(self) -> set[str]:
        """Apply the events appended since the last refresh; return the shoppers whose
        profiles were rebuilt (and written to the graph)."""
        with self._lock:
            first = self._seq == 0
            by_user: dict[str, list[StoredEvent]] = defaultdict(list)
            gap = False  # a sequence number skipped: an erasure (maybe by another process)
            while True:
                new = self._events.read(after=self._seq, limit=self._page)
                if not new:
                    break
                gap = gap or new[-1].seq - self._seq != len(new)
                self._seq = new[-1].seq
                for event in new:
                    if event.user_id is not None and self._weights.get(event.type, 0.0) > 0:
                        by_user[event.user_id].append(event)
                if len(new) < self._page:
                    break
            revision = self._events.revision()
            if not first and (gap or revision > self._seq) and revision != self._checked:
                self._drop_erased(set(by_user))
            self._checked = revision
            for user, events in by_user.items():
                # on the first refresh every event was read: no need to ask again
                self._rebuilt(user, events if first else self._events.read(user_id=user))
            self._write(set(by_user) | self._unwritten)
            return set(by_user)

    def _drop_erased(self, skip: set[str]) -> None:
        """Forget the shoppers (cached or in the graph) who have no events left: an
        erasure the store's revision shows, made by this process or another one."""
        held = set(self._profiles) | set(self._graph.users() if self._graph else ())
        for user in sorted(held - skip):
            if not self._events.read(user_id=user, limit=1):
                self.forget(user)
                if self._on_erased is not None:
                    self._on_erased(user)

    def _rebuilt(self, user_id: str, events: Sequence[StoredEvent]) -> ShopperProfile:
        profile = build_profile(
            user_id,
            events,
            self._documents,
            half_life_days=self._half_life,
            weights=self._weights,
        )
        self._profiles[user_id] = profile
        self._profiles.move_to_end(user_id)
        while len(self._profiles) > self._max_cached:
            self._profiles.popitem(last=False)  # rebuilt from the store when asked again
        return profile

    def _write(self, users: set[str]) -> None:
        if self._graph is None:
            return
        for user in sorted(users):
            profile = self._profiles.get(user)
            try:
                if profile is None or profile.empty:
                    self._graph.delete_user(user)
                else:
                    self._graph.put_user_profile(user, profile.entities, updated=profile.updated)
            except Exception as exc:  # the graph is down: serve from memory, write later
                log.warning("profile of %s not written to the graph yet: %s", user, exc)
                self._unwritten.add(user)
            else:
                self._unwritten.discard(user)

    # -- reads -------------------------------------------------------------------------------

    def drop_cached(self) -> None:
        """Forget the profiles held in memory, so each is built again from its events and
        the live documents when next asked for (after catalog edits: a renamed brand, a
        new price). What the graph holds is rewritten at the shopper's next event."""
        with self._lock:
            self._profiles.clear()

    def profile(self, user_id: str) -> ShopperProfile:
        """The shopper's live profile (empty for a shopper without events, never an
        error). Raises ``ValueError`` for a malformed user id."""
        check_user_id(user_id)
        self.refresh()
        with self._lock:
            cached = self._profiles.get(user_id)
            if cached is not None:
                self._profiles.move_to_end(user_id)
                return cached
            events = self._events.read(user_id=user_id)
            if not events:
                return ShopperProfile.blank(user_id)
            return self._rebuilt(user_id, events)

    def describe(self, user_id: str) -> list[str]:
        """The profile in words."""
        return describe(self.profile(user_id), self._documents)

    def session_items(self, session_id: str) -> list[tuple[str, float]]:
        """The products of a session's events with their summed event weights, most
        recently touched first (impressions and unknown products left out)."""
        events = self._events.read(session_id=session_id)
        return _weighted_items(events, self._weights, self._documents)

    def live_history(self, user_id: str, *, after: int) -> LiveHistory:
        """What the shopper did after event ``after`` (the newest event the fitted
        recommendation models saw): products with summed weights, newest first, and the
        products bought."""
        events = self._events.read(after=after, user_id=user_id)
        if not events:
            return LiveHistory()
        items = _weighted_items(events, self._weights, self._documents)
        bought = frozenset(
            e.product_id for e in events if e.type == "purchase" and e.product_id in self._documents
        )
        return LiveHistory(items=tuple(items), bought=bought)

    def beliefs(self, user_id: str, *, top: int = 5, evidence: int = 5) -> list[Belief]:
        """What the engine believes about the shopper, strongest first per kind, each
        with the events behind it."""
        profile = self.profile(user_id)
        if profile.empty:
            return []
        events = [
            e
            for e in self._events.read(user_id=user_id)
            if self._weights.get(e.type, 0.0) > 0 and e.product_id in self._documents
        ]
        events.reverse()  # newest first
        docs = self._documents
        labels = {
            attribute_id(k, v): v
            for p in profile.seen
            if p in docs
            for k, v in docs[p].attributes.items()
        }
        bought_brands = {docs[p].brand for p in profile.bought if p in docs and docs[p].brand}
        out: list[Belief] = []

        def add(kind: BeliefKind, key: str, label: str, affinity: float, text: str) -> None:
            behind = [e for e in events if _matches(docs[e.product_id], kind, key)]
            out.append(
                Belief(kind, key, label, affinity, text, tuple(behind[:evidence]), len(behind))
            )

        for brand, weight in list(profile.brands.items())[:top]:
            verb = "often buys" if brand in bought_brands else "often looks at"
            add("brand", brand, brand, weight, f"{verb} {brand} ({weight:.2f})")
        for category, weight in list(profile.categories.items())[:top]:
            add("category", category, category, weight, f"shops for {category} ({weight:.2f})")
        for attribute, weight in list(profile.attributes.items())[:top]:
            label = attribute_label(attribute, labels)
            add("attribute", attribute, label, weight, f"likes {label} ({weight:.2f})")
        price = profile.price
        if price is not None:
            add("price", "price", "price band", price, f"price around ${price:,.0f}")
        return out

    # -- erasure -------------------------------------------------------------------------------

    def forget(self, user_id: str) -> bool:
        """Drop the shopper's profile from memory and the graph (their events are the
        event store's to erase). Returns whether anything was held."""
        with self._lock:
            held = self._profiles.pop(user_id, None) is not None
            self._unwritten.discard(user_id)
            if self._graph is not None:
                held = self._graph.delete_user(user_id) or held
            return held

    def cached(self, user_id: str) -> bool:
        """Whether a profile of the shopper is held in memory (for erasure checks)."""
        with self._lock:
            return user_id in self._profiles


def _matches(doc: ProductDocument, kind: BeliefKind, key: str) -> bool:
    if kind == "brand":
        return doc.brand == key
    if kind == "category":
        return key in doc.category_path
    if kind == "attribute":
        return any(attribute_id(k, v) == key for k, v in doc.attributes.items())
    return doc.price is not None and doc.price > 0


def _weighted_items(
    events: Sequence[StoredEvent],
    weights: Mapping[str, float],
    documents: Mapping[str, ProductDocument],
) -> list[tuple[str, float]]:
    summed: dict[str, float] = {}
    latest: dict[str, float] = {}
    for event in events:
        weight = weights.get(event.type, 0.0)
        if weight <= 0 or event.product_id not in documents:
            continue
        summed[event.product_id] = summed.get(event.product_id, 0.0) + weight
        latest[event.product_id] = max(latest.get(event.product_id, 0.0), float(event.seq))
    return sorted(summed.items(), key=lambda kv: (-latest[kv[0]], kv[0]))
