"""The seeded shopper simulator: determinism, sessions, position bias and preferences."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence

import pytest

from ingest.events import Event
from ingest.records import ProductRecord
from ranker.evaluation import JudgedQuery
from synthetic.behaviour import SimulatorConfig, make_users, simulate

BRANDS = ("Alder", "Birch", "Cedar", "Dogwood")
PRODUCTS = {
    f"P{i:03d}": ProductRecord(
        product_id=f"P{i:03d}",
        name=f"Product {i}",
        brand=BRANDS[i % len(BRANDS)],
        price=20.0 * (1 + i % 7),
    )
    for i in range(1, 21)
}
QUERIES = [
    JudgedQuery("q1", "oak table", {"P001": 2, "P002": 2, "P003": 1, "P004": 0}),
    JudgedQuery("q2", "blue sofa", {"P011": 2, "P012": 1, "P013": 1}),
]


def by_id(text: str) -> Sequence[str]:
    """A ranking that ignores the query: products in id order."""
    return sorted(PRODUCTS)[:12]


def reverse(text: str) -> Sequence[str]:
    return sorted(PRODUCTS, reverse=True)[:12]


def run(config: SimulatorConfig, **rankings: object) -> list[Event]:
    chosen = rankings or {"A": by_id, "B": reverse}
    return simulate(
        queries=QUERIES,
        products=PRODUCTS,
        rankings=chosen,  # type: ignore[arg-type]
        assign=lambda user: "A" if int(user[1:]) % 2 else "B",
        config=config,
    )


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("users", 0),
        ("page_size", 0),
        ("eta", -0.5),
        ("eta", float("nan")),
        ("preference_strength", -1.0),
        ("purchase_rate", 1.5),
        ("shuffle_fraction", -0.1),
        ("favourite_brands", -1),
        ("click_prob", {0: 0.1, 1: 0.2}),
        ("click_prob", {0: 0.1, 1: 0.2, 2: 1.2}),
        ("cart_rate", {0: -0.1, 1: 0.2, 2: 0.3}),
    ],
)
def test_config_rejects_bad_values(field: str, value: object) -> None:
    with pytest.raises(ValueError, match=field):
        SimulatorConfig(**{field: value})  # type: ignore[arg-type]


def test_config_examination_is_a_power_law() -> None:
    config = SimulatorConfig(eta=1.5)
    assert config.examination(1) == 1.0
    assert config.examination(4) == pytest.approx(0.125)
    assert SimulatorConfig(eta=0.0).examination(9) == 1.0


def test_simulation_is_deterministic_for_a_seed() -> None:
    config = SimulatorConfig(users=20, sessions_per_user=3, seed=7)
    assert run(config) == run(config)
    assert run(config) != run(SimulatorConfig(users=20, sessions_per_user=3, seed=8))


def test_sessions_are_consistent() -> None:
    events = run(SimulatorConfig(users=40, sessions_per_user=4, page_size=10, seed=1))
    sessions: dict[str, list[Event]] = defaultdict(list)
    for event in events:
        sessions[event.session_id].append(event)
    assert len(sessions) == 160
    for session in sessions.values():
        shown = {e.position: e.product_id for e in session if e.type == "impression"}
        assert sorted(shown) == list(range(1, 11))
        assert len({(e.user_id, e.variant, e.query_id) for e in session}) == 1
        user = session[0].user_id
        assert session[0].variant == ("A" if int(user[1:]) % 2 else "B")
        expected = by_id("") if session[0].variant == "A" else reverse("")
        assert [shown[k] for k in range(1, 11)] == list(expected[:10])
        clicked = {(e.product_id, e.position) for e in session if e.type == "click"}
        carted = {(e.product_id, e.position) for e in session if e.type == "add_to_cart"}
        bought = {(e.product_id, e.position) for e in session if e.type == "purchase"}
        assert clicked <= {(pid, k) for k, pid in shown.items()}
        assert bought <= carted <= clicked
        assert [e.ts for e in session] == sorted(e.ts for e in session)


def test_clicks_follow_grade_and_position() -> None:
    config = SimulatorConfig(users=150, sessions_per_user=6, seed=3, preference_strength=0.0)
    events = run(config, A=by_id, B=by_id)
    shown = Counter((e.query_id, e.product_id) for e in events if e.type == "impression")
    clicks = Counter((e.query_id, e.product_id) for e in events if e.type == "click")
    ctr = {key: clicks[key] / n for key, n in shown.items()}
    # q1: P001 (grade 2, rank 1) vs P004 (grade 0, rank 4); P002 (2, rank 2) vs P005 (0, rank 5)
    assert ctr[("q1", "P001")] > 0.5 > 0.1 > ctr[("q1", "P004")]
    # q2: P011-P013 are judged but shown at ranks 11-13, beyond the 10-result page
    assert not any(q == "q2" and pid in {"P011", "P012", "P013"} for q, pid in shown)
    by_rank = Counter(e.position for e in events if e.type == "click")
    assert by_rank[1] > by_rank[2] > by_rank[9]


def test_shuffled_sessions_show_the_same_products_in_another_order() -> None:
    events = run(SimulatorConfig(users=30, sessions_per_user=2, shuffle_fraction=1.0, seed=2))
    pages: dict[str, list[str]] = defaultdict(list)
    for e in events:
        if e.type == "impression" and e.variant == "A":
            pages[e.session_id].append(e.product_id)
    assert all(sorted(page) == sorted(by_id("")[:10]) for page in pages.values())
    assert sum(page != list(by_id("")[:10]) for page in pages.values()) >= len(pages) - 1


def test_favourite_brands_are_clicked_more() -> None:
    config = SimulatorConfig(
        users=200, sessions_per_user=5, seed=4, preference_strength=1.0, favourite_brands=1
    )
    favourites = {u.user_id: u.favourite_brands for u in make_users(PRODUCTS, config)}
    assert all(len(f) == 1 for f in favourites.values())
    events = run(config, A=by_id, B=by_id)
    shown: Counter[bool] = Counter()
    clicked: Counter[bool] = Counter()
    for e in events:
        favourite = PRODUCTS[e.product_id].brand in favourites[e.user_id]
        if e.type == "impression":
            shown[favourite] += 1
        elif e.type == "click":
            clicked[favourite] += 1
    assert clicked[True] / shown[True] > 1.3 * clicked[False] / shown[False]


def test_simulate_rejects_bad_inputs() -> None:
    config = SimulatorConfig(users=2, sessions_per_user=1)
    with pytest.raises(ValueError, match="no ranking"):
        run(config, C=by_id)
    with pytest.raises(ValueError, match="not in the catalogue"):
        run(config, A=lambda q: ["P001", "NOPE"], B=by_id)
    with pytest.raises(ValueError, match="twice"):
        run(config, A=lambda q: ["P001", "P001"], B=by_id)
    with pytest.raises(ValueError, match="at least one query"):
        simulate(queries=[], products=PRODUCTS, rankings={}, assign=str, config=config)
