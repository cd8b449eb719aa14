"""``/users``: what the engine believes about a shopper, and erasing a shopper.

- ``GET /users/{user_id}/profile``: the live profile (:mod:`recommend.profiles`) in words,
  each belief with the events behind it, and the numbers (affinities, price band, recent
  and bought products). An unknown shopper gets an empty profile, not an error. Needs a
  ``storefront`` key (the shop shows it to its logged-in shopper) or an ``editor`` key
  (the catalog team answering a shopper's access request).
- ``DELETE /users/{user_id}``: erase the shopper's events, profile, graph edges and row in
  the served recommendation models (:meth:`app.engine.Engine.erase_user`); needs a
  ``storefront`` or ``editor`` key (``X-API-Key``). ``admin`` may do both.

A user id not of the allowed form (``^[A-Za-z0-9][A-Za-z0-9_.:@-]{0,127}$``) is 422.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Path, Query
from pydantic import BaseModel

from app.api import EngineDep
from app.auth import Principal, Require, Role
from ingest.events import USER_ID_PATTERN

__all__ = ["install_users", "router"]

router = APIRouter(prefix="/users", tags=["users"])

UserId = Annotated[str, Path(pattern=USER_ID_PATTERN, description="e.g. U0042")]
#: Who may read or erase a shopper's data: the shop on its shopper's behalf, the catalog team.
ForShopper = Annotated[Principal, Depends(Require(Role.STOREFRONT, Role.EDITOR))]


class EvidenceOut(BaseModel):
    seq: int
    type: str
    product_id: str
    ts: float
    session_id: str | None
    query: str | None


class BeliefOut(BaseModel):
    kind: str  # brand, category, attribute, price
    key: str
    label: str
    affinity: float  # in [0, 1]; for the price band, the typical price
    text: str
    events: list[EvidenceOut]  # the newest of the events behind it
    total_events: int


class PriceOut(BaseModel):
    typical: float
    low: float | None
    high: float | None


class ProfileOut(BaseModel):
    user_id: str
    empty: bool
    events: int
    updated: float
    summary: list[str]
    beliefs: list[BeliefOut]
    brands: dict[str, float]
    categories: dict[str, float]
    attributes: dict[str, float]
    price: PriceOut | None
    recent: list[str]
    bought: list[str]
    graph_edges: dict[str, float]


class ErasedOut(BaseModel):
    user_id: str
    erased: bool
    events: int
    log_lines: int
    profile: bool
    recommendation_row: bool


@router.get("/{user_id}/profile", response_model=ProfileOut)
def profile(
    engine: EngineDep,
    user_id: UserId,
    _: ForShopper,
    evidence: Annotated[int, Query(ge=0, le=50, description="Events shown per belief.")] = 5,
) -> Any:
    """What the engine believes about the shopper, in words, with the events behind it."""
    import math

    profiles = engine.profiles()
    live = profiles.profile(user_id)
    beliefs = profiles.beliefs(user_id, evidence=evidence)
    price = None
    if live.price_center is not None:
        spread = live.price_spread
        price = PriceOut(
            typical=round(math.exp(live.price_center), 2),
            low=None if spread is None else round(math.exp(live.price_center - spread), 2),
            high=None if spread is None else round(math.exp(live.price_center + spread), 2),
        )
    return ProfileOut(
        user_id=user_id,
        empty=live.empty,
        events=live.events,
        updated=live.updated,
        summary=profiles.describe(user_id),
        beliefs=[
            BeliefOut(
                kind=b.kind,
                key=b.key,
                label=b.label,
                affinity=round(b.affinity, 4),
                text=b.text,
                events=[
                    EvidenceOut(
                        seq=e.seq,
                        type=e.type,
                        product_id=e.product_id,
                        ts=e.ts,
                        session_id=e.session_id,
                        query=e.query,
                    )
                    for e in b.events
                ],
                total_events=b.total_events,
            )
            for b in beliefs
        ],
        brands=_rounded(live.brands),
        categories=_rounded(live.categories),
        attributes=_rounded(live.attributes),
        price=price,
        recent=list(live.recent),
        bought=sorted(live.bought),
        graph_edges=engine.graph.user_profile(user_id),
    )


@router.delete("/{user_id}", response_model=ErasedOut)
def erase(engine: EngineDep, user_id: UserId, _: ForShopper) -> Any:
    """Erase the shopper: events, profile, graph edges and their row in the served
    recommendation models; their next recommendations are cold start."""
    report = engine.erase_user(user_id)
    erased = bool(report["events"] or report["log_lines"] or report["profile"])
    return ErasedOut(erased=erased or bool(report["recommendation_row"]), **report)


def _rounded(values: Any) -> dict[str, float]:
    return {k: round(float(v), 4) for k, v in values.items()}


def install_users(app: FastAPI) -> None:
    """Add the /users routes."""
    app.include_router(router)
