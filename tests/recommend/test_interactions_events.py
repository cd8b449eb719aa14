"""Shop events in the interaction matrix: product-page views count (0.5), anonymous
events make no user row but still count for co-viewing through their session."""

from __future__ import annotations

from ingest.events import ShopEvent
from recommend.interactions import shop_behaviour


def ev(kind: str, user: str | None, session: str | None, product: str, ts: float) -> ShopEvent:
    return ShopEvent(type=kind, user_id=user, session_id=session, product_id=product, ts=ts)  # type: ignore[arg-type]


def test_views_and_anonymous_sessions() -> None:
    items = ("A", "B", "C")
    behaviour = shop_behaviour(
        [
            ev("view", "U1", "s1", "A", 10.0),
            ev("click", "U1", "s1", "B", 10.0),
            ev("view", None, "anon", "B", 10.0),  # anonymous: co-views B and C
            ev("purchase", None, "anon", "C", 10.0),
            ev("impression", "U2", "s2", "C", 10.0),  # weight 0: not used
            ev("click", "U3", None, "C", 10.0),  # no session: a user row only
        ],
        items,
        half_life_days=None,
    )
    assert behaviour.interactions.users == ("U1", "U3")
    assert behaviour.user_items("U1") == [(1, 1.0), (0, 0.5)]
    assert behaviour.user_items("U3") == [(2, 1.0)]
    coview = behaviour.coview.toarray()
    assert coview[0, 1] == 1 and coview[1, 2] == 1  # s1: A+B; anon: B+C
    assert coview[0, 2] == 0 and coview[2, 2] == 1  # U3's sessionless click is no session
    assert behaviour.purchased.nnz == 0  # an anonymous purchase has no buyer row
    assert dict(behaviour.counts) == {"events": 6, "used": 5, "dropped": 0}
