from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from statistics import fmean

import pytest

from ingest.events import Click, Event, Impression
from ingest.judgments import judged_queries
from ingest.records import ProductRecord
from ranker.clicks import (
    Propensities,
    click_grades,
    click_judgments,
    click_relevance,
    click_through_rates,
    estimate_propensities,
    fit_eta,
    power_law_propensities,
)
from ranker.evaluation import JudgedQuery
from ranker.metrics import ndcg_at_k
from synthetic.behaviour import SimulatorConfig, simulate
from synthetic.generator import generate_catalog


@dataclass(frozen=True)
class World:
    queries: list[JudgedQuery]
    products: dict[str, ProductRecord]
    pages: dict[str, list[str]]

    def logs(self, *, eta: float, users: int, shuffle: float, seed: int) -> list[Event]:
        config = SimulatorConfig(
            users=users, sessions_per_user=10, eta=eta, shuffle_fraction=shuffle, seed=seed
        )
        return simulate(
            queries=self.queries,
            products=self.products,
            rankings={"prod": lambda text: self.pages[text]},
            assign=lambda user: "prod",
            config=config,
        )


@pytest.fixture(scope="module")
def world() -> World:
    """12 queries with all three grades; the production ranker shows ten of each query's
    judged products in a fixed order that ignores relevance, so position and relevance are
    not confounded by construction, and naive CTR is biased by where a product sits."""
    catalog = generate_catalog(size=1000, seed=13)
    queries = [
        q
        for q in judged_queries(catalog.queries, catalog.labels)
        if set(q.grades.values()) == {0, 1, 2}
    ][:12]
    pages = {}
    for q in queries:
        ids = sorted(q.grades)
        random.Random(q.query_id).shuffle(ids)
        pages[q.text] = ids[:10]
    return World(queries, {p.product_id: p for p in catalog.products}, pages)


@pytest.fixture(scope="module")
def logs(world: World) -> list[Event]:
    return world.logs(eta=1.0, users=200, shuffle=0.2, seed=1)


def event(kind: type[Impression] | type[Click], pid: str, position: int, q: str = "q1") -> Event:
    return kind(
        session_id="s1",
        user_id="u1",
        query_id=q,
        query=f"text of {q}",
        product_id=pid,
        position=position,
        variant="A",
        ts=0.0,
    )


def kendall_tau_b(xs: Sequence[float], ys: Sequence[float]) -> float | None:
    concordant = ties_x = ties_y = 0
    pairs = 0
    for i in range(len(xs)):
        for j in range(i + 1, len(xs)):
            dx = (xs[i] > xs[j]) - (xs[i] < xs[j])
            dy = (ys[i] > ys[j]) - (ys[i] < ys[j])
            concordant += dx * dy
            ties_x += dx == 0
            ties_y += dy == 0
            pairs += 1
    denominator = ((pairs - ties_x) * (pairs - ties_y)) ** 0.5
    return concordant / denominator if denominator else None


def agreement(
    estimates: Mapping[str, Mapping[str, float]], truth: Mapping[str, Mapping[str, int]]
) -> dict[str, float]:
    """Mean Kendall tau-b with the true grades, mean NDCG@10 of the estimate's ordering,
    and the share of products whose click grade equals the true grade."""
    taus, ndcgs = [], []
    for qid, scores in estimates.items():
        pids = sorted(scores)
        true = {pid: truth[qid].get(pid, 0) for pid in pids}
        tau = kendall_tau_b([scores[p] for p in pids], [true[p] for p in pids])
        ndcg = ndcg_at_k(sorted(pids, key=lambda p: (-scores[p], p)), true)
        taus += [tau] if tau is not None else []
        ndcgs += [ndcg] if ndcg is not None else []
    grades = click_grades(estimates)
    hits = [g == truth[q].get(p, 0) for q, row in grades.items() for p, g in row.items()]
    return {"tau": fmean(taus), "ndcg": fmean(ndcgs), "accuracy": fmean(hits)}


def test_power_law_propensities() -> None:
    props = power_law_propensities(1.0, max_rank=4)
    assert props.values == pytest.approx((1.0, 0.5, 1 / 3, 0.25))
    assert props.at(2) == 0.5 and props.max_rank == 4 and props.method == "power-law"
    with pytest.raises(ValueError, match="max_rank >= 5"):
        props.at(5)
    with pytest.raises(ValueError, match="eta"):
        power_law_propensities(-1.0)
    assert fit_eta(power_law_propensities(1.7, max_rank=10).values) == pytest.approx(1.7)
    with pytest.raises(ValueError, match="positive"):
        Propensities((1.0, 0.0), 1.0, "em")


def test_em_recovers_eta(logs: list[Event]) -> None:
    props = estimate_propensities(logs, max_rank=10)
    assert props.method == "em" and props.support > 50
    assert props.eta == pytest.approx(1.0, abs=0.1)
    truth = power_law_propensities(1.0).values
    assert max(abs(a - b) for a, b in zip(props.values, truth, strict=True)) < 0.15
    assert props.values[0] > props.values[2] > props.values[5] > props.values[9]


def test_em_recovers_a_steeper_bias(world: World) -> None:
    props = estimate_propensities(world.logs(eta=1.5, users=120, shuffle=0.3, seed=5))
    assert props.eta == pytest.approx(1.5, abs=0.15)


def test_em_refuses_logs_without_positional_variation(world: World) -> None:
    fixed = world.logs(eta=1.0, users=10, shuffle=0.0, seed=2)
    with pytest.raises(ValueError, match="randomised"):
        estimate_propensities(fixed)


def test_ipw_agrees_with_true_grades_better_than_naive_ctr(world: World, logs: list[Event]) -> None:
    truth = {q.query_id: q.grades for q in world.queries}
    naive = agreement(click_through_rates(logs), truth)
    ipw = agreement(click_relevance(logs, estimate_propensities(logs)), truth)
    known = agreement(click_relevance(logs, power_law_propensities(1.0)), truth)
    assert ipw["ndcg"] > naive["ndcg"] + 0.02
    assert ipw["tau"] > naive["tau"]
    assert ipw["accuracy"] > naive["accuracy"] + 0.1
    assert known["ndcg"] > naive["ndcg"] + 0.02


def test_ipw_by_hand() -> None:
    events = [event(Impression, "a", 2) for _ in range(10)]
    events += [event(Click, "a", 2) for _ in range(3)]
    events += [event(Impression, "b", 1) for _ in range(4)] + [event(Click, "b", 1)]
    relevance = click_relevance(events, power_law_propensities(1.0, max_rank=2))
    assert relevance == {"q1": {"a": pytest.approx(0.6), "b": pytest.approx(0.25)}}
    assert click_through_rates(events) == {"q1": {"a": 0.3, "b": 0.25}}


def test_click_relevance_refuses_what_it_cannot_weight() -> None:
    props = power_law_propensities(1.0, max_rank=2)
    with pytest.raises(ValueError, match="max_rank >= 3"):
        click_relevance([event(Impression, "a", 3)], props)
    with pytest.raises(ValueError, match="without an impression"):
        click_relevance([event(Impression, "a", 1), event(Click, "b", 1)], props)


def test_click_grades_thresholds() -> None:
    relevance = {"q": {"a": 0.05, "b": 0.12, "c": 0.3, "d": 0.42, "e": 1.4}}
    assert click_grades(relevance) == {"q": {"a": 0, "b": 1, "c": 1, "d": 2, "e": 2}}
    assert click_grades(relevance, thresholds=(0.5, 1.0)) == {
        "q": {"a": 0, "b": 0, "c": 0, "d": 0, "e": 2}
    }
    with pytest.raises(ValueError, match="thresholds"):
        click_grades(relevance, thresholds=(0.5, 0.2))


def test_click_judgments_feed_the_label_code_path(world: World, logs: list[Event]) -> None:
    judged = click_judgments(logs, power_law_propensities(1.0), min_impressions=50)
    assert [q.query_id for q in judged] == sorted(q.query_id for q in world.queries)
    texts = {q.query_id: q.text for q in world.queries}
    assert all(q.text == texts[q.query_id] and q.split is None for q in judged)
    assert all(set(q.grades.values()) <= {0, 1, 2} and len(q.grades) == 10 for q in judged)
    # ranking a query's page by its click grades is close to ideal under the true grades
    truth = {q.query_id: q.grades for q in world.queries}
    scores = [
        ndcg_at_k(
            sorted(q.grades, key=lambda p: -q.grades[p]),
            {p: truth[q.query_id][p] for p in q.grades},
        )
        for q in judged
    ]
    assert fmean(s for s in scores if s is not None) > 0.8
    assert click_judgments(logs, power_law_propensities(1.0), min_impressions=10**6) == []
