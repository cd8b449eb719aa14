"""Neighbour tables: "similar" read from a precomputed row gives the same items in the same
order as scoring every item, on a synthetic matrix with ties and on the tiny catalogue's
content, graph and KGE sources; a filter the table cannot answer falls back to the full
computation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from app.engine import Engine
from kg.kge import KGEmbeddings
from kg.schema import product_id
from recommend.live import from_search
from recommend.service import RecommendationService
from recommend.sources import ItemSpace, Mask, Profile, Proposals
from recommend.sources.base import top
from recommend.sources.content import ContentSource
from recommend.sources.graph import GraphSource
from recommend.sources.kge import KGESource
from recommend.sources.neighbours import (
    NeighbourTable,
    _cache,
    build_table,
    cached_table,
    digest,
)


def _scores_with_ties(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    scores = rng.integers(0, 6, size=(n, n)).astype(np.float64)  # many equal values
    scores[rng.random((n, n)) < 0.2] = -np.inf  # some items have no score
    return scores


def test_top_is_the_sorted_ranking_of_the_allowed_scored_items() -> None:
    rng = np.random.default_rng(6)
    for _ in range(200):
        size, n = int(rng.integers(1, 200)), int(rng.integers(1, 40))
        scores = rng.integers(0, 5, size).astype(np.float64)  # ties
        scores[rng.random(size) < 0.4] = -np.inf
        scores[rng.random(size) < 0.05] = np.nan
        allowed = rng.random(size) < 0.8
        ok = np.isfinite(scores) & allowed
        ok[0] = False  # dropped
        expected = sorted(np.flatnonzero(ok).tolist(), key=lambda i: (-scores[i], i))[:n]
        assert list(top(scores, n, allowed, drop=(0,))) == expected


def test_table_rows_are_the_full_ranking_with_ties_by_position() -> None:
    full = _scores_with_ties(60)
    table = build_table(lambda rows: full[rows], 60, width=7, block=16)
    for row in range(60):
        expected = top(full[row], 7, None)
        assert table.top(row, 7, None) == expected


def test_a_filtered_row_is_exact_or_refused() -> None:
    full = _scores_with_ties(80, seed=1)
    table = build_table(lambda rows: full[rows], 80, width=10)
    rng = np.random.default_rng(2)
    answered = refused = 0
    for row in range(80):
        allowed = rng.random(80) < 0.6
        found = table.top(row, 5, allowed, drop=(row,))
        if found is None:
            refused += 1
            continue
        answered += 1
        assert found == top(full[row], 5, allowed, drop=(row,))
    assert answered and refused  # both paths taken with these masks


def test_a_short_row_holds_every_scored_item() -> None:
    full = np.full((5, 5), -np.inf)
    full[0, [3, 1]] = [0.5, 0.9]
    table = build_table(lambda rows: full[rows], 5, width=4)
    assert table.top(0, 3, None) == {1: 0.9, 3: 0.5}  # fewer than asked, but all there are
    assert table.top(2, 3, None) == {}


def test_tables_are_kept_per_input_digest() -> None:
    calls: list[int] = []

    def build() -> NeighbourTable:
        calls.append(1)
        return build_table(lambda rows: np.zeros((len(rows), 3)), 3, width=2)

    key = digest("test", np.arange(3.0), extra="unique-to-this-test")
    first, second = cached_table(key, build), cached_table(key, build)
    assert first is second and len(calls) == 1
    assert digest("test", np.arange(3.0)) != digest("test", np.arange(1.0, 4.0))


def test_a_saved_table_is_memory_mapped_by_the_next_process(tmp_path: Path) -> None:
    full = _scores_with_ties(30, seed=4)
    key = digest("test", full, extra="saved")

    def build() -> NeighbourTable:
        return build_table(lambda rows: full[rows], 30, width=5)

    built = cached_table(key, build, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"{key}.ids.npy", f"{key}.scores.npy"]
    _cache.pop(key)  # as in a new process

    def must_not_build() -> NeighbourTable:
        raise AssertionError("the saved table should have been loaded")

    loaded = cached_table(key, must_not_build, tmp_path)
    assert not loaded.ids.flags.owndata and not loaded.ids.flags.writeable  # mapped, read-only
    assert np.array_equal(loaded.ids, built.ids) and np.array_equal(loaded.scores, built.scores)


def test_a_table_built_in_this_process_is_saved_where_it_is_asked_for_later(
    tmp_path: Path,
) -> None:
    """Built once without a directory (or for another version), then asked for with one:
    it is written there too, so the next process finds it."""
    full = _scores_with_ties(20, seed=5)
    key = digest("test", full, extra="saved-later")
    first = cached_table(key, lambda: build_table(lambda rows: full[rows], 20, width=4))
    assert not any(tmp_path.iterdir())

    def must_not_build() -> NeighbourTable:
        raise AssertionError("the table is in this process already")

    again = cached_table(key, must_not_build, tmp_path)
    assert again is first
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"{key}.ids.npy", f"{key}.scores.npy"]


# -- the sources on the tiny catalogue ---------------------------------------------------


@pytest.fixture(scope="module")
def recs(tiny_engine: Engine) -> RecommendationService:
    search, _ = tiny_engine.service()
    return from_search(search, tiny_engine.graph, [], sources=("content", "graph"))


def _masks(n: int) -> list[Mask | None]:
    rng = np.random.default_rng(7)
    light = np.ones(n, dtype=bool)
    light[rng.choice(n, 5, replace=False)] = False
    return [None, light, rng.random(n) < 0.1]  # none, a few exclusions, a tight filter


def _same(table: Proposals, exact: Proposals, deeper: Proposals) -> None:
    """Same items in the same order; float32 products in another order (a matrix product
    per block vs one per request) may only swap items whose scores differ by rounding."""
    assert len(table) == len(exact)
    assert np.allclose(list(table.values()), list(exact.values()), atol=1e-5)
    for mine, theirs in zip(table, exact, strict=True):
        if mine != theirs:
            assert abs(deeper[mine] - deeper[theirs]) < 1e-5


@pytest.mark.parametrize("name", ["content", "graph"])
def test_source_tables_give_the_exact_neighbours(recs: RecommendationService, name: str) -> None:
    fast = recs.sources[name]
    assert fast.table is not None  # type: ignore[attr-defined]
    if name == "content":
        exact: ContentSource | GraphSource = ContentSource(
            space=recs.space,
            vectors=fast.vectors,  # type: ignore[attr-defined]
            vector_of=fast.vector_of,  # type: ignore[attr-defined]
            neighbours=None,
        )
    else:
        exact = GraphSource.from_store(fast.graph, recs.space, neighbours=None)  # type: ignore[attr-defined]
    assert exact.table is None
    for mask in _masks(len(recs.space)):
        for pid in recs.space.items[::7]:
            _same(
                fast.similar(pid, n=20, allowed=mask),
                exact.similar(pid, n=20, allowed=mask),
                exact.similar(pid, n=40, allowed=mask),
            )


def test_kge_table_gives_the_exact_neighbours(recs: RecommendationService) -> None:
    space: ItemSpace = recs.space
    rng = np.random.default_rng(3)
    held = space.items[: len(space) - 10]  # the last ten have no vector
    vectors = rng.normal(size=(len(held), 8)).astype(np.float32)
    vectors[1] = vectors[0]  # equal cosines: ties broken by position
    embeddings = KGEmbeddings(
        model="TransE",
        entity_ids=tuple(product_id(p) for p in held),
        relation_ids=("R",),
        entities=vectors,
        relations=rng.normal(size=(1, 8)).astype(np.float32),
        config={"scoring_norm": 2},
        metrics={},
        graph_revision=1,
    )
    fast = KGESource(space=space, embeddings=embeddings)
    exact = KGESource(space=space, embeddings=embeddings, neighbours=None)
    assert fast.table is not None and exact.table is None
    for mask in _masks(len(space)):
        for pid in space.items[::5]:
            _same(
                fast.similar(pid, n=15, allowed=mask),
                exact.similar(pid, n=15, allowed=mask),
                exact.similar(pid, n=30, allowed=mask),
            )
    assert fast.similar(space.items[-1], n=5, allowed=None) == {}  # no vector, no neighbours


def test_for_you_scores_the_history_at_once(recs: RecommendationService) -> None:
    content = recs.sources["content"]
    assert isinstance(content, ContentSource)
    history = (3, 10, 42)
    weights = (5.0, 1.0, 3.0)

    found = content.for_user(
        Profile(user_id="U", items=history, weights=weights), n=10, allowed=None
    )
    vectors = [content.vector_of(recs.space.items[i]) for i in history]
    total = sum(
        w * v.astype(np.float64) for w, v in zip(weights, vectors, strict=True) if v is not None
    )
    assert isinstance(total, np.ndarray)
    expected = [
        recs.space.index[p]
        for p, _ in content.vectors.search((total / np.linalg.norm(total)).astype(np.float32), k=10)
    ]
    assert list(found) == expected


def test_graph_explanations_count_shared_entities_at_once(recs: RecommendationService) -> None:
    graph = recs.sources["graph"]
    assert isinstance(graph, GraphSource)
    rng = np.random.default_rng(5)
    worded = 0
    for item in range(0, len(recs.space), 9):
        anchors = [int(a) for a in rng.choice(len(recs.space), 6, replace=False)] + [item]
        # the one-anchor-at-a-time reading: the first anchor sharing the most words it
        best: list[str] = []
        for anchor in anchors:
            common = graph.shared(anchor, item) if anchor != item else []
            if len(common) > len(best):
                best = common
        expected = " · ".join(graph.phrase(e) for e in best[:2]) if best else None
        assert graph.describe(anchors, item) == expected
        first = next((a for a in anchors if a != item and graph.shared(a, item)), None)
        assert graph.first_paths(anchors, item) == (
            graph.paths(first, item) if first is not None else []
        )
        worded += expected is not None
    assert worded  # the tiny catalogue's products do share brands and attributes


def test_collaborative_table_gives_the_exact_neighbours(recs: RecommendationService) -> None:
    from dataclasses import dataclass

    from recommend.interactions import shop_behaviour
    from recommend.sources import SourceInputs
    from recommend.sources.collaborative import CollaborativeSource

    @dataclass(frozen=True)
    class Click:
        user_id: str
        session_id: str
        product_id: str
        ts: float
        type: str = "click"

    space = recs.space
    rng = np.random.default_rng(8)
    liked = rng.choice(len(space), 80, replace=False)  # the rest stay cold
    clicks = [
        Click(f"U{u}", f"S{u}", space.items[int(rng.choice(liked))], 1_700_000_000.0 + k)
        for u in range(40)
        for k in range(6)
    ]
    content = recs.sources["content"]
    inputs = SourceInputs(
        space=space,
        behaviour=shop_behaviour(clicks, space.items),
        graph=recs.sources["graph"].graph,  # type: ignore[attr-defined]
        vectors=content.vectors,  # type: ignore[attr-defined]
        vector_of=content.vector_of,  # type: ignore[attr-defined]
        seed=1,
    )
    fast = CollaborativeSource.build(inputs)
    exact = CollaborativeSource.build(inputs, neighbours=None)
    assert fast.table is not None and exact.table is None
    for mask in _masks(len(space)):
        for position in liked[::4]:
            pid = space.items[int(position)]
            _same(
                fast.similar(pid, n=15, allowed=mask),
                exact.similar(pid, n=15, allowed=mask),
                exact.similar(pid, n=30, allowed=mask),
            )
    cold = next(p for i, p in enumerate(space.items) if i not in set(liked.tolist()))
    assert fast.similar(cold, n=5, allowed=None) == {}
