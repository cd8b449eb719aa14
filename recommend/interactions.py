"""The shop's implicit feedback, read from the event log (:mod:`ingest.events`).

:func:`shop_behaviour` turns events into what the recommendation sources learn from:

- :class:`~recommend.base.Interactions` over *every* catalogue product (a product nobody
  touched is an empty column, a cold item): ``matrix[u, i]`` is the sum of the user's event
  weights on the product (``view`` 0.5, ``click`` 1, ``add_to_cart`` 3, ``purchase`` 5;
  impressions 0),
  each decayed by ``0.5 ** (age / half_life)`` from the newest event in the log;
- who bought what (purchases are excluded from "for you" unless asked);
- item x item co-occurrence: *co-viewed* (clicked, carted or bought in the same session)
  and *co-purchased* (bought by the same shopper), as counts of sessions / shoppers, which
  the explanations quote ("bought together by 37 shoppers").

Events for products that are not in the catalogue (deleted since) are dropped and counted.
An anonymous event (no ``user_id``) makes no user row but counts for co-viewing through
its session; an event without a session counts for its user only.
:func:`split_by_time` cuts a log at a time quantile for offline evaluation and tuning.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, TypeVar

import numpy as np

from recommend.base import Interactions
from search.personal import EventLike  # one definition, in the lowest layer that reads events

if TYPE_CHECKING:
    from scipy.sparse import csr_matrix

__all__ = [
    "EVENT_WEIGHTS",
    "EventLike",
    "ShopBehaviour",
    "shop_behaviour",
    "split_by_time",
]

#: How much each event type says about a shopper's interest (impressions: nothing).
EVENT_WEIGHTS: Mapping[str, float] = MappingProxyType(
    {"view": 0.5, "click": 1.0, "add_to_cart": 3.0, "purchase": 5.0}
)
_DAY = 86_400.0


_E = TypeVar("_E", bound=EventLike)


@dataclass(frozen=True)
class ShopBehaviour:
    """Implicit feedback over one catalogue (see the module docstring)."""

    interactions: Interactions
    #: users x items, 1 where the user bought the item
    purchased: csr_matrix
    #: items x items: sessions in which both were engaged with (diagonal: the item's own)
    coview: csr_matrix
    #: items x items: shoppers who bought both (diagonal: the item's buyers)
    copurchase: csr_matrix
    #: time of the newest event (epoch seconds; 0 for an empty log)
    newest: float
    #: events read, used, and dropped because their product is not in the catalogue
    counts: Mapping[str, int]

    #: how many shoppers engaged with each item (0 = a cold item)
    engaged: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        engaged = np.diff(self.interactions.matrix.tocsc().indptr)
        object.__setattr__(self, "engaged", engaged)

    def is_cold(self, item: int) -> bool:
        """No shopper ever engaged with the item."""
        return bool(self.engaged[item] == 0)

    def user_items(self, user: str) -> list[tuple[int, float]]:
        """The items a user engaged with and their (decayed) weights, heaviest first."""
        row = self.interactions.user_index.get(user)
        if row is None:
            return []
        matrix = self.interactions.matrix
        start, stop = matrix.indptr[row], matrix.indptr[row + 1]
        pairs = zip(
            matrix.indices[start:stop].tolist(), matrix.data[start:stop].tolist(), strict=True
        )
        return sorted(pairs, key=lambda p: (-p[1], p[0]))

    def bought(self, user: str) -> frozenset[int]:
        row = self.interactions.user_index.get(user)
        if row is None:
            return frozenset()
        start, stop = self.purchased.indptr[row], self.purchased.indptr[row + 1]
        return frozenset(self.purchased.indices[start:stop].tolist())


def shop_behaviour(
    events: Iterable[EventLike],
    items: Sequence[str],
    *,
    weights: Mapping[str, float] = EVENT_WEIGHTS,
    half_life_days: float | None = 30.0,
) -> ShopBehaviour:
    """Read ``events`` into :class:`ShopBehaviour` over the catalogue ``items``.

    ``weights`` maps event types to weights (types missing from it, such as impressions,
    count for nothing); ``half_life_days=None`` turns the time decay off."""
    from scipy.sparse import coo_matrix, csr_matrix

    for kind, weight in weights.items():
        if not (math.isfinite(weight) and weight >= 0):
            raise ValueError(f"weight of {kind!r} must be a finite number >= 0, got {weight}")
    if half_life_days is not None and not (math.isfinite(half_life_days) and half_life_days > 0):
        raise ValueError(f"half_life_days must be a positive number or None, got {half_life_days}")
    item_index = {pid: i for i, pid in enumerate(items)}
    if len(item_index) != len(items):
        raise ValueError("duplicate item ids")
    used: list[tuple[str | None, str | None, int, float, float, bool]] = []
    read = dropped = 0
    for event in events:
        read += 1
        weight = weights.get(event.type, 0.0)
        if weight <= 0:
            continue
        item = item_index.get(event.product_id)
        if item is None:
            dropped += 1
            continue
        used.append(
            (
                event.user_id,
                event.session_id,
                item,
                float(event.ts),
                weight,
                event.type == "purchase",
            )
        )
    newest = max((u[3] for u in used), default=0.0)
    n_used = len(used)
    in_session = [u for u in used if u[1] is not None]
    sessions = {s: i for i, s in enumerate(sorted({str(u[1]) for u in in_session}))}
    used = [u for u in used if u[0] is not None]  # user rows: known shoppers only
    users = sorted({str(u[0]) for u in used})
    user_index = {u: i for i, u in enumerate(users)}
    n_items = len(items)
    rows = np.fromiter((user_index[str(u[0])] for u in used), dtype=np.int64, count=len(used))
    cols = np.fromiter((u[2] for u in used), dtype=np.int64, count=len(used))
    ts = np.fromiter((u[3] for u in used), dtype=np.float64, count=len(used))
    values = np.fromiter((u[4] for u in used), dtype=np.float64, count=len(used))
    if half_life_days is not None:
        values = values * 0.5 ** ((newest - ts) / _DAY / half_life_days)
    shape = (len(users), n_items)
    matrix = coo_matrix((values, (rows, cols)), shape=shape).tocsr()  # sums duplicates
    latest = _max_per_pair(rows, cols, ts, shape)
    bought = np.fromiter((u[5] for u in used), dtype=bool, count=len(used))
    purchased = _binary(rows[bought], cols[bought], shape)
    session_rows = np.fromiter(
        (sessions[str(u[1])] for u in in_session), dtype=np.int64, count=len(in_session)
    )
    session_cols = np.fromiter((u[2] for u in in_session), dtype=np.int64, count=len(in_session))
    viewed = _binary(session_rows, session_cols, (len(sessions), n_items))
    coview: csr_matrix = (viewed.T @ viewed).tocsr()
    copurchase: csr_matrix = (purchased.T @ purchased).tocsr()
    interactions = Interactions(
        users=tuple(users), items=tuple(items), matrix=csr_matrix(matrix), times=latest
    )
    return ShopBehaviour(
        interactions=interactions,
        purchased=purchased,
        coview=coview,
        copurchase=copurchase,
        newest=newest,
        counts=MappingProxyType({"events": read, "used": n_used, "dropped": dropped}),
    )


def _binary(rows: np.ndarray, cols: np.ndarray, shape: tuple[int, int]) -> csr_matrix:
    from scipy.sparse import coo_matrix

    matrix = coo_matrix((np.ones(len(rows)), (rows, cols)), shape=shape).tocsr()
    matrix.data[:] = 1.0
    return matrix


def _max_per_pair(
    rows: np.ndarray, cols: np.ndarray, values: np.ndarray, shape: tuple[int, int]
) -> csr_matrix:
    """The largest value per (row, col) pair, as a sparse matrix."""
    from scipy.sparse import csr_matrix

    if not len(rows):
        return csr_matrix(shape)
    order = np.lexsort((values, cols, rows))  # by pair, then value: the last is the max
    r, c, v = rows[order], cols[order], values[order]
    last = np.ones(len(r), dtype=bool)
    last[:-1] = (r[1:] != r[:-1]) | (c[1:] != c[:-1])
    return csr_matrix((v[last], (r[last], c[last])), shape=shape)


def split_by_time(events: Sequence[_E], *, test_fraction: float = 0.2) -> tuple[list[_E], list[_E]]:
    """Events before and from the ``1 - test_fraction`` time quantile (ties stay together:
    the cut is a timestamp, never the middle of one)."""
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
    if not events:
        return [], []
    times = sorted(e.ts for e in events)
    cut = times[min(len(times) - 1, int(len(times) * (1.0 - test_fraction)))]
    return [e for e in events if e.ts < cut], [e for e in events if e.ts >= cut]
