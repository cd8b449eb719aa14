"""Relevance from click logs: position bias and inverse-propensity-weighted estimates.

Clicks are biased by position: a result shown first is looked at far more often than one
shown tenth, so its click-through rate (CTR) says as much about its position as about its
relevance. The position-based model (PBM) splits a click into two independent events,

    P(click | query q, product d, rank k) = theta_k * gamma_qd,

the examination probability of rank ``k`` (the *propensity*) and the attractiveness of
``d`` for ``q``. This module

- gives the known power-law propensities ``theta_k = (1/k) ** eta``
  (:func:`power_law_propensities`);
- estimates ``theta`` from the logs by expectation-maximisation in the PBM
  (:func:`estimate_propensities`) and fits ``eta`` to it. The PBM is only identified when
  the same (query, product) is shown at more than one rank: result randomisation
  (``synthetic.behaviour.SimulatorConfig.shuffle_fraction``) or several rankers in the
  logs provide that;
- debiases clicks by inverse propensity weighting (:func:`click_relevance`): every click
  at rank ``k`` counts ``1 / theta_k``, divided by the product's impressions, an unbiased
  estimate of ``gamma_qd`` (relative to rank 1);
- maps those estimates to WANDS grades (:func:`click_grades`, :func:`click_judgments`) so
  a ranker can be tuned or trained from clicks on the same code path as from labels.

Events are read structurally (:class:`LoggedEvent`): anything with the fields of
``ingest.events`` events works, and ``ranker`` imports neither ``ingest`` nor ``synthetic``.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np

from ranker.evaluation import JudgedQuery

__all__ = [
    "DEFAULT_THRESHOLDS",
    "LoggedEvent",
    "Propensities",
    "click_grades",
    "click_judgments",
    "click_relevance",
    "click_through_rates",
    "estimate_propensities",
    "fit_eta",
    "power_law_propensities",
]

#: Debiased CTR at or above which a product is graded Partial (1) and Exact (2): the
#: geometric midpoints of the simulator's default click probabilities 0.05, 0.25, 0.7.
DEFAULT_THRESHOLDS = (0.12, 0.42)


class LoggedEvent(Protocol):
    """The fields of a logged behaviour event that the estimators read."""

    @property
    def type(self) -> str: ...
    @property
    def session_id(self) -> str: ...
    @property
    def user_id(self) -> str: ...
    @property
    def query_id(self) -> str: ...
    @property
    def query(self) -> str: ...
    @property
    def product_id(self) -> str: ...
    @property
    def position(self) -> int: ...
    @property
    def variant(self) -> str: ...


@dataclass(frozen=True, slots=True)
class Propensities:
    """Examination probability per rank, relative to rank 1 (``values[0] == 1``).

    ``eta`` is the power-law exponent (given, or fitted to ``values``); ``support`` is how
    many (query, product) pairs were seen at two or more ranks (0 for the known model).
    """

    values: tuple[float, ...]
    eta: float
    method: Literal["power-law", "em"]
    support: int = 0
    iterations: int = 0

    def __post_init__(self) -> None:
        if not self.values:
            raise ValueError("propensities need at least one rank")
        if any(not (v > 0.0 and math.isfinite(v)) for v in self.values):
            raise ValueError(f"propensities must be positive and finite, got {self.values}")

    @property
    def max_rank(self) -> int:
        return len(self.values)

    def at(self, rank: int) -> float:
        """The propensity of 1-based ``rank``; ``ValueError`` beyond ``max_rank``."""
        if not 1 <= rank <= len(self.values):
            raise ValueError(
                f"rank {rank} is outside the propensities (ranks 1..{len(self.values)}); "
                f"estimate them with max_rank >= {rank}"
            )
        return self.values[rank - 1]


def power_law_propensities(eta: float, *, max_rank: int = 10) -> Propensities:
    """The known-bias model: ``propensity(k) = (1/k) ** eta`` for ranks 1..max_rank."""
    if not (math.isfinite(eta) and eta >= 0):
        raise ValueError(f"eta must be a finite number >= 0, got {eta}")
    if max_rank < 1:
        raise ValueError(f"max_rank must be >= 1, got {max_rank}")
    return Propensities(tuple((1.0 / k) ** eta for k in range(1, max_rank + 1)), eta, "power-law")


def fit_eta(values: Iterable[float]) -> float:
    """Least-squares ``eta`` of ``values[k-1] / values[0] ≈ (1/k) ** eta`` in log-log space
    (a line through the origin over ranks 2..K)."""
    vals = [float(v) for v in values]
    if len(vals) < 2:
        raise ValueError("fitting eta needs propensities for at least two ranks")
    if any(v <= 0 for v in vals):
        raise ValueError(f"propensities must be positive to fit eta, got {vals}")
    xs = [math.log(k) for k in range(2, len(vals) + 1)]
    ys = [math.log(v / vals[0]) for v in vals[1:]]
    return -sum(x * y for x, y in zip(xs, ys, strict=True)) / sum(x * x for x in xs)


def _cells(
    events: Iterable[LoggedEvent], max_rank: int
) -> tuple[dict[tuple[str, str], int], dict[tuple[str, str, int], list[int]]]:
    """(query, product) ids, and impressions and clicks per (query, product, rank)."""
    pairs: dict[tuple[str, str], int] = {}
    counts: dict[tuple[str, str, int], list[int]] = defaultdict(lambda: [0, 0])
    for event in events:
        if event.type not in ("impression", "click") or event.position > max_rank:
            continue
        key = (event.query_id, event.product_id)
        pairs.setdefault(key, len(pairs))
        counts[(*key, event.position)][0 if event.type == "impression" else 1] += 1
    return pairs, counts


def estimate_propensities(
    events: Iterable[LoggedEvent],
    *,
    max_rank: int = 10,
    iterations: int = 2_000,
    tol: float = 1e-6,
) -> Propensities:
    """Estimate examination propensities for ranks 1..max_rank by EM in the PBM.

    E-step: an impression without a click was either not examined or examined and not
    attractive; with the current ``theta`` and ``gamma`` each gets its posterior share.
    M-step: ``theta_k`` is the expected examined share of rank ``k``'s impressions and
    ``gamma_qd`` the expected attractive share of the pair's impressions. Iterates until
    no parameter moves more than ``tol``. Events beyond ``max_rank`` are ignored.

    The result is normalised so rank 1 is 1, and ``eta`` is fitted to it
    (:func:`fit_eta`). Raises ``ValueError`` when a rank has no impressions or clicks, or
    when no (query, product) was shown at two ranks (the model is then not identified:
    log randomised sessions or several rankers).
    """
    if max_rank < 2:
        raise ValueError(f"max_rank must be >= 2 to estimate a position bias, got {max_rank}")
    pairs, counts = _cells(events, max_rank)
    if not counts:
        raise ValueError("no impressions in the logs to estimate propensities from")
    keys = list(counts)
    g = np.fromiter((pairs[(q, p)] for q, p, _ in keys), dtype=np.int64, count=len(keys))
    r = np.fromiter((k - 1 for _, _, k in keys), dtype=np.int64, count=len(keys))
    n = np.fromiter((counts[key][0] for key in keys), dtype=np.float64, count=len(keys))
    c = np.fromiter((counts[key][1] for key in keys), dtype=np.float64, count=len(keys))
    if np.any(c > n):
        raise ValueError("some (query, product, rank) has more clicks than impressions")
    per_rank = np.bincount(r, weights=n, minlength=max_rank)
    clicks_per_rank = np.bincount(r, weights=c, minlength=max_rank)
    empty = [k + 1 for k in range(max_rank) if per_rank[k] == 0 or clicks_per_rank[k] == 0]
    if empty:
        raise ValueError(
            f"no impressions or no clicks at rank(s) {empty}; lower max_rank or log more"
        )
    ranks_per_pair = np.bincount(np.unique(np.stack([g, r]), axis=1)[0], minlength=len(pairs))
    support = int(np.count_nonzero(ranks_per_pair >= 2))
    if support == 0:
        raise ValueError(
            "no (query, product) was shown at two different ranks, so position bias and "
            "relevance cannot be told apart; log some randomised sessions "
            "(SimulatorConfig.shuffle_fraction) or several rankers"
        )
    per_pair = np.bincount(g, weights=n, minlength=len(pairs))
    theta = np.full(max_rank, 0.5)
    gamma = np.full(len(pairs), 0.5)
    unclicked = n - c
    done = 0
    while done < iterations:
        done += 1
        t, y = theta[r], gamma[g]
        denom = np.maximum(1.0 - t * y, 1e-12)
        examined = c + unclicked * t * (1.0 - y) / denom
        attractive = c + unclicked * (1.0 - t) * y / denom
        new_theta = np.bincount(r, weights=examined, minlength=max_rank) / per_rank
        new_gamma = np.bincount(g, weights=attractive, minlength=len(pairs)) / per_pair
        shift = max(np.abs(new_theta - theta).max(), np.abs(new_gamma - gamma).max())
        theta, gamma = new_theta, new_gamma
        if shift < tol:
            break
    values = tuple(float(v) for v in theta / theta[0])
    return Propensities(values, fit_eta(values), "em", support=support, iterations=done)


def _counts(
    events: Iterable[LoggedEvent], weight: Mapping[int, float] | None, max_rank: int | None
) -> dict[str, dict[str, float]]:
    impressions: dict[tuple[str, str], int] = defaultdict(int)
    clicks: dict[tuple[str, str], float] = defaultdict(float)
    for event in events:
        if event.type not in ("impression", "click"):
            continue
        if max_rank is not None and event.position > max_rank:
            raise ValueError(
                f"{event.type} at position {event.position} is beyond the propensities "
                f"(ranks 1..{max_rank}); estimate them with max_rank >= {event.position}"
            )
        key = (event.query_id, event.product_id)
        if event.type == "impression":
            impressions[key] += 1
        else:
            clicks[key] += 1.0 if weight is None else weight[event.position]
    orphans = [key for key in clicks if not impressions.get(key)]
    if orphans:
        raise ValueError(f"clicks without an impression for (query, product) {orphans[:3]}")
    out: dict[str, dict[str, float]] = defaultdict(dict)
    for (query_id, product_id), shown in impressions.items():
        out[query_id][product_id] = clicks.get((query_id, product_id), 0.0) / shown
    return dict(out)


def click_through_rates(events: Iterable[LoggedEvent]) -> dict[str, dict[str, float]]:
    """Naive CTR per query and product: clicks / impressions (biased by position)."""
    return _counts(events, None, None)


def click_relevance(
    events: Iterable[LoggedEvent], propensities: Propensities
) -> dict[str, dict[str, float]]:
    """IPW relevance per query and product: sum over clicks of ``1 / propensity(rank)``,
    divided by the product's impressions for the query.

    It estimates the probability that a user who looks at the product clicks it (relative
    to rank 1's examination), so it can exceed 1 by noise. Raises ``ValueError`` for an
    impression or click beyond ``propensities.max_rank`` or a click without impressions.
    """
    weight = {k: 1.0 / propensities.at(k) for k in range(1, propensities.max_rank + 1)}
    return _counts(events, weight, propensities.max_rank)


def click_grades(
    relevance: Mapping[str, Mapping[str, float]],
    *,
    thresholds: tuple[float, float] = DEFAULT_THRESHOLDS,
) -> dict[str, dict[str, int]]:
    """Grades 0/1/2 from debiased click relevance: Exact (2) at or above
    ``thresholds[1]``, Partial (1) at or above ``thresholds[0]``, else Irrelevant (0)."""
    low, high = thresholds
    if not 0.0 <= low <= high:
        raise ValueError(f"thresholds must satisfy 0 <= low <= high, got {thresholds}")
    return {
        query_id: {pid: 2 if v >= high else 1 if v >= low else 0 for pid, v in products.items()}
        for query_id, products in relevance.items()
    }


def click_judgments(
    events: Iterable[LoggedEvent],
    propensities: Propensities,
    *,
    thresholds: tuple[float, float] = DEFAULT_THRESHOLDS,
    min_impressions: int = 10,
) -> list[JudgedQuery]:
    """Judged queries graded from clicks (IPW relevance through :func:`click_grades`).

    Only products with at least ``min_impressions`` impressions for a query are graded;
    the others stay unjudged. Query text comes from the logs; kind and split are unset.
    Queries come out sorted by id.
    """
    if min_impressions < 1:
        raise ValueError(f"min_impressions must be >= 1, got {min_impressions}")
    logged = list(events)
    texts: dict[str, str] = {}
    shown: dict[tuple[str, str], int] = defaultdict(int)
    for event in logged:
        if event.type == "impression":
            texts.setdefault(event.query_id, event.query)
            shown[(event.query_id, event.product_id)] += 1
    relevance = {
        qid: {pid: v for pid, v in products.items() if shown[(qid, pid)] >= min_impressions}
        for qid, products in click_relevance(logged, propensities).items()
    }
    grades = click_grades(relevance, thresholds=thresholds)
    return [JudgedQuery(qid, texts[qid], grades[qid]) for qid in sorted(grades) if grades[qid]]
