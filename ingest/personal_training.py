"""Train the personal stage (``ranker.personal``) of an index version from a behaviour log.

Every search session of the log (its impressions, with positions, and its clicks) becomes
training rows. The shopper's profile for a session is built only from that shopper's
events *before* the session began (``search.personal.build_profile`` with ``now`` = the
session's start), so a session's own clicks never leak into its features, as it is online.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

import numpy as np

from ingest.serving import PERSONAL_DIR
from kg.documents import ProductDocument
from ranker.candidates import CandidateSet
from ranker.features import PERSONAL_FEATURES
from ranker.fusion import Ranker
from ranker.personal import ClickData, PersonalModel, train_personal
from search.personal import EventLike, ShopperProfile, build_profile
from search.personal_signals import personal_signals
from search.service import SearchService

__all__ = [
    "DEFAULT_LABEL",
    "Label",
    "LoggedSession",
    "SessionEvent",
    "click_data",
    "profiles_before",
    "search_sessions",
    "train_personal_model",
]

log = logging.getLogger(__name__)

#: What a training row's outcome is: the product was clicked, carted or bought in the
#: session. The default, ``add_to_cart``, puts the personal part on the scale the base
#: score has for carts: clicks alone reward what attracts a click whether or not it is
#: bought (on the simulated shoppers, a click-trained stage raised CTR and lowered
#: conversion; see docs/results.md).
Label = Literal["click", "add_to_cart", "purchase"]
DEFAULT_LABEL: Label = "add_to_cart"


class SessionEvent(EventLike, Protocol):
    """A logged event of a search session (the behaviour log's events fit)."""

    @property
    def query(self) -> str | None: ...
    @property
    def position(self) -> int | None: ...


@dataclass(frozen=True, slots=True)
class LoggedSession:
    session_id: str
    user_id: str
    query: str
    start: float  # ts of its first event
    shown: tuple[tuple[str, int], ...]  # (product id, 1-based position) impressions
    clicked: frozenset[str]
    carted: frozenset[str] = frozenset()
    bought: frozenset[str] = frozenset()

    def engaged(self, label: Label) -> frozenset[str]:
        """The products with a ``label`` event in this session."""
        return {"click": self.clicked, "add_to_cart": self.carted, "purchase": self.bought}[label]


def search_sessions(events: Iterable[SessionEvent]) -> list[LoggedSession]:
    """The log's search sessions of known users (a query and impressions), oldest first."""
    grouped: dict[str, list[SessionEvent]] = defaultdict(list)
    for event in events:
        if event.session_id and event.user_id and event.query:
            grouped[event.session_id].append(event)
    sessions = []
    for sid, items in grouped.items():
        shown = tuple(
            (e.product_id, e.position)
            for e in items
            if e.type == "impression" and e.position is not None
        )
        if not shown:
            continue
        first = min(items, key=lambda e: e.ts)
        sessions.append(
            LoggedSession(
                session_id=sid,
                user_id=str(first.user_id),
                query=str(first.query),
                start=first.ts,
                shown=shown,
                clicked=frozenset(e.product_id for e in items if e.type == "click"),
                carted=frozenset(e.product_id for e in items if e.type == "add_to_cart"),
                bought=frozenset(e.product_id for e in items if e.type == "purchase"),
            )
        )
    sessions.sort(key=lambda s: (s.start, s.session_id))
    return sessions


def profiles_before(
    sessions: Sequence[LoggedSession],
    events: Iterable[SessionEvent],
    documents: Mapping[str, ProductDocument],
) -> dict[str, ShopperProfile]:
    """Each session's shopper profile from the shopper's events before the session began."""
    by_user: dict[str, list[SessionEvent]] = defaultdict(list)
    for event in events:
        if event.user_id and event.type != "impression":
            by_user[event.user_id].append(event)
    for items in by_user.values():
        items.sort(key=lambda e: e.ts)
    profiles = {}
    for session in sessions:
        earlier = [e for e in by_user.get(session.user_id, ()) if e.ts < session.start]
        profiles[session.session_id] = build_profile(
            session.user_id, earlier, documents, now=session.start
        )
    return profiles


def click_data(
    service: SearchService,
    ranker: Ranker,
    sessions: Sequence[LoggedSession],
    profiles: Mapping[str, ShopperProfile],
    *,
    cache: dict[str, tuple[CandidateSet, np.ndarray]] | None = None,
    label: Label = DEFAULT_LABEL,
) -> ClickData:
    """One row per impression whose product is among the query's candidates now: its
    personal features for the session's profile, its base score, position and outcome
    (a ``label`` event for it in the session)."""
    cache = {} if cache is None else cache
    features: list[np.ndarray] = []
    base: list[float] = []
    position: list[int] = []
    clicked: list[bool] = []
    for session in sessions:
        if session.query not in cache:
            candidates = service.candidates(session.query)
            cache[session.query] = (candidates, ranker.score(candidates))
        candidates, scores = cache[session.query]
        row_of = {pid: i for i, pid in enumerate(candidates.product_ids)}
        shown = [(pid, pos) for pid, pos in session.shown if pid in row_of]
        if not shown:
            continue
        signals = personal_signals(
            [p for p, _ in shown], service.documents, profiles[session.session_id]
        )
        features.append(np.column_stack([signals[name] for name in PERSONAL_FEATURES]))
        base.extend(float(scores[row_of[pid]]) for pid, _ in shown)
        position.extend(pos for _, pos in shown)
        engaged = session.engaged(label)
        clicked.extend(pid in engaged for pid, _ in shown)
    return ClickData(
        features=np.vstack(features) if features else np.zeros((0, len(PERSONAL_FEATURES))),
        base=np.array(base, dtype=np.float64),
        position=np.array(position, dtype=np.int64),
        clicked=np.array(clicked, dtype=np.bool_),
    )


def train_personal_model(
    service: SearchService,
    events: Sequence[SessionEvent],
    *,
    ranker_name: str,
    until: float | None = None,
    save_to: Path | None = None,
    label: Label = DEFAULT_LABEL,
) -> PersonalModel:
    """Train the personal stage over ``service.ranker`` (registered as ``ranker_name``) on
    the log's sessions that began before ``until`` (all when None); save it under
    ``save_to/personal`` (an index version directory) when given."""
    sessions = [s for s in search_sessions(events) if until is None or s.start < until]
    profiles = profiles_before(sessions, events, service.documents)
    data = click_data(service, service.ranker, sessions, profiles, label=label)
    model = train_personal(data, base_ranker=ranker_name)
    model = PersonalModel(
        weights=model.weights,
        base_ranker=model.base_ranker,
        meta={**model.meta, "sessions": len(sessions), "until": until, "label": label},
    )
    log.info(
        "personal model over %s from %d sessions: %s",
        ranker_name,
        len(sessions),
        {k: round(v, 4) for k, v in model.weights.items()},
    )
    if save_to is not None:
        model.save(save_to / PERSONAL_DIR)
    return model
