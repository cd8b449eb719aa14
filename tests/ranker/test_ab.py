from __future__ import annotations

import json
import math
import random
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import pytest

from ingest.events import Click, Event, Impression, Purchase
from ingest.judgments import judged_queries
from ingest.records import ProductRecord
from ranker.ab import ab_report, assign_variant, assigner, wilson_interval
from ranker.evaluation import JudgedQuery
from synthetic.behaviour import SimulatorConfig, simulate
from synthetic.generator import generate_catalog

HALF = {"A": 0.5, "B": 0.5}


@dataclass(frozen=True)
class Shop:
    queries: list[JudgedQuery]
    products: dict[str, ProductRecord]

    def graded(self) -> Callable[[str], Sequence[str]]:
        """Ranks a query's judged products by their true grade."""
        by_text = {q.text: q for q in self.queries}
        return lambda text: sorted(
            by_text[text].grades, key=lambda p: (-by_text[text].grades[p], p)
        )

    def shuffled(self, seed: int) -> Callable[[str], Sequence[str]]:
        """Ranks a query's judged products at random (a new order every call)."""
        by_text = {q.text: q for q in self.queries}
        rng = random.Random(seed)

        def rank(text: str) -> Sequence[str]:
            ids = sorted(by_text[text].grades)
            rng.shuffle(ids)
            return ids

        return rank

    def experiment(
        self,
        rankings: dict[str, Callable[[str], Sequence[str]]],
        *,
        name: str,
        seed: int,
        users: int,
    ) -> list[Event]:
        return simulate(
            queries=self.queries,
            products=self.products,
            rankings=rankings,
            assign=assigner(experiment=name, variants=HALF),
            config=SimulatorConfig(users=users, sessions_per_user=5, seed=seed),
        )


@pytest.fixture(scope="module")
def shop() -> Shop:
    catalog = generate_catalog(size=1000, seed=13)
    queries = [
        q
        for q in judged_queries(catalog.queries, catalog.labels)
        if set(q.grades.values()) == {0, 1, 2}
    ][:20]
    return Shop(queries, {p.product_id: p for p in catalog.products})


def ev(kind: type[Impression] | type[Click] | type[Purchase], user: str, session: str,
       variant: str, pid: str = "P1", position: int = 1) -> Event:  # fmt: skip
    return kind(
        session_id=session,
        user_id=user,
        query_id="q1",
        query="sofa",
        product_id=pid,
        position=position,
        variant=variant,
        ts=0.0,
    )


def test_bucketing_is_deterministic_and_follows_the_weights() -> None:
    weights = {"control": 0.5, "b": 0.3, "c": 0.2}
    assign = assigner(experiment="ranker-v2", variants=weights)
    counts = Counter(assign(f"user-{i}") for i in range(100_000))
    for name, weight in weights.items():
        assert counts[name] / 100_000 == pytest.approx(weight, abs=0.01)
    assert assign("user-7") == assign_variant("user-7", experiment="ranker-v2", variants=weights)
    # the dict's order does not matter; another experiment reshuffles users
    reordered = assigner(experiment="ranker-v2", variants=dict(reversed(weights.items())))
    assert all(assign(f"u{i}") == reordered(f"u{i}") for i in range(500))
    other = assigner(experiment="ranker-v3", variants=weights)
    assert sum(assign(f"u{i}") != other(f"u{i}") for i in range(1000)) > 400
    assert {
        assign_variant(f"u{i}", experiment="x", variants={"a": 0.0, "b": 1.0}) for i in range(200)
    } == {"b"}


@pytest.mark.parametrize(
    "variants",
    [{}, {"a": 0.5, "b": 0.6}, {"a": -0.5, "b": 1.5}, {"a": float("nan"), "b": 1.0}, {"": 1.0}],
)
def test_bucketing_rejects_bad_weights(variants: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="variant"):
        assign_variant("u1", experiment="x", variants=variants)


def test_bucketing_needs_an_experiment_name() -> None:
    with pytest.raises(ValueError, match="experiment"):
        assigner(experiment="", variants=HALF)


def test_wilson_interval_known_values() -> None:
    iv = wilson_interval(5, 10)
    assert (iv.value, iv.low, iv.high) == pytest.approx((0.5, 0.2366, 0.7634), abs=1e-4)
    zero = wilson_interval(0, 10)
    assert zero.low == 0.0 and zero.high == pytest.approx(0.2775, abs=1e-4)
    assert wilson_interval(0, 0).high == 1.0
    with pytest.raises(ValueError):
        wilson_interval(3, 2)


def test_report_counts_and_z_test_by_hand() -> None:
    events: list[Event] = []
    # control A: 2 users, 3 sessions, 40 impressions, 4 clicks, 1 converted session
    # treatment B: 1 user, 2 sessions, 20 impressions, 6 clicks, 2 converted sessions
    for user, session, variant, shown, clicks, bought in [
        ("u1", "s1", "A", 20, 2, 1),
        ("u1", "s2", "A", 10, 1, 0),
        ("u2", "s3", "A", 10, 1, 0),
        ("u3", "s4", "B", 10, 3, 1),
        ("u3", "s5", "B", 10, 3, 1),
    ]:
        events += [ev(Impression, user, session, variant, f"P{i}", i + 1) for i in range(shown)]
        events += [ev(Click, user, session, variant, f"P{i}", i + 1) for i in range(clicks)]
        events += [ev(Purchase, user, session, variant) for _ in range(bought)]
    report = ab_report(events, control="A")
    a, b = report.variant("A"), report.variant("B")
    assert (a.users, a.sessions, a.impressions, a.clicks, a.converted_sessions) == (2, 3, 40, 4, 1)
    assert (b.users, b.sessions, b.impressions, b.clicks, b.purchases) == (1, 2, 20, 6, 2)
    assert a.ctr.value == 0.1 and b.conversion.value == 1.0
    ctr = report.lift("B", "ctr")
    pooled = 10 / 60
    z = (0.3 - 0.1) / math.sqrt(pooled * (1 - pooled) * (1 / 20 + 1 / 40))
    assert ctr.z == pytest.approx(z)
    assert ctr.p_value == pytest.approx(math.erfc(z / math.sqrt(2)))
    assert ctr.absolute.value == pytest.approx(0.2)
    assert ctr.relative is not None and ctr.relative.value == pytest.approx(2.0)
    assert ctr.relative.low < 2.0 < ctr.relative.high
    assert report.warnings == ()


def test_report_rejects_and_warns() -> None:
    events = [ev(Impression, "u1", "s1", "A"), ev(Impression, "u1", "s2", "B")]
    with pytest.raises(ValueError, match="control variant 'C'"):
        ab_report(events, control="C")
    with pytest.raises(ValueError, match="no events"):
        ab_report([], control="A")
    with pytest.raises(ValueError, match="bootstrap"):
        ab_report(events, control="A", bootstrap=-1)
    report = ab_report(events, control="A")
    assert any("more than one variant" in w for w in report.warnings)
    assert report.lift("B", "ctr").relative is None  # no clicks on either side


def test_ranking_by_true_grades_beats_random_ranking(shop: Shop) -> None:
    rankings = {"A": shop.shuffled(seed=1), "B": shop.graded()}
    events = shop.experiment(rankings, name="graded-vs-random", seed=11, users=200)
    report = ab_report(events, control="A", bootstrap=500, seed=3)
    for metric in ("ctr", "conversion"):
        lift = report.lift("B", metric)
        assert lift.significant and lift.p_value < 1e-6
        assert lift.absolute.low > 0
        assert lift.relative is not None and lift.relative.low > 0
        assert lift.bootstrap is not None and lift.bootstrap.significant
        assert lift.bootstrap.absolute.low > 0
    a, b = report.variant("A"), report.variant("B")
    assert a.users + b.users == 200 and a.sessions + b.sessions == 1000
    assert b.ctr.low > a.ctr.high
    # the same seed gives the same bootstrap
    again = ab_report(events, control="A", bootstrap=500, seed=3)
    assert again == report
    data = json.loads(json.dumps(report.as_dict()))
    assert data["control"] == "A" and data["lifts"][0]["bootstrap"]["resamples"] == 500
    markdown = report.to_markdown()
    assert "| A (control) |" in markdown and "| ctr | B vs A |" in markdown


def test_a_a_tests_are_mostly_not_significant(shop: Shop) -> None:
    """Ten arms with the same ranking: nine A/A comparisons against arm v0."""
    ranking = shop.graded()
    arms = {f"v{i}": 0.1 for i in range(10)}
    events = simulate(
        queries=shop.queries,
        products=shop.products,
        rankings=dict.fromkeys(arms, ranking),
        assign=assigner(experiment="a-a", variants=arms),
        config=SimulatorConfig(users=400, sessions_per_user=5, seed=5),
    )
    report = ab_report(events, control="v0", bootstrap=300, seed=5)
    lifts = [report.lift(f"v{i}", metric) for i in range(1, 10) for metric in ("ctr", "conversion")]
    assert len(lifts) == 18
    assert sum(lift.significant for lift in lifts) <= 2
    assert sum(lift.bootstrap is not None and lift.bootstrap.significant for lift in lifts) <= 2
