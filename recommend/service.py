"""The shop's recommendations: "similar items" for a product page and "for you" for a
shopper, fused from the candidate sources, diversified and explained.

Each source proposes up to ``pool`` items; fusion (:mod:`recommend.fusion`) ranks them and
gives every item per-source contributions that add up to its score:

- **learned** when the service holds a trained :class:`~recommend.fusion.LearnedFusion`
  covering the situation (``similar``, warm ``for_you``): LightGBM LambdaMART over the
  sources' scaled scores and ranks, item popularity, a cold flag and same brand / category
  as the anchors, trained on a time-based split of the log (the demo trains and saves it;
  :func:`recommend.live.from_search` loads it). The contributions are its TreeSHAP values
  summed per source, plus ``bias`` (the model's base value);
- **weighted** otherwise (no model, or a cold shopper): each source's raw scores are
  min-max scaled to [0, 1] over what it proposed; an item's contribution from a source is
  ``weight * scaled score`` (0 from a source that did not propose it: that source ranked it
  below its pool). The weights are :data:`DEFAULT_WEIGHTS`, or those tuned on the learned
  model's training lists when one is loaded. ``benchmarks/recs_shop.py`` compares fixed,
  tuned and learned fusion on a time-based split of the log.

Cold start: a product nobody engaged with gets its neighbours from the graph, its text and
its KG embedding; a shopper without history (an unknown id included) gets what is popular
in the page's category and trending, and the response says ``cold_start`` and why.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from kg.schema import product_id as product_entity
from kg.store import UnknownEntity
from recommend.diversity import Diversity, diversify
from recommend.explain import reason
from recommend.fusion import FusionModel, ItemFacts, weighted_fusion
from recommend.interactions import ShopBehaviour
from recommend.sources import (
    SOURCES,
    CandidateSource,
    ItemSpace,
    Mask,
    Profile,
    Proposals,
    SourceInputs,
    SourceUnavailable,
    make_source,
)

if TYPE_CHECKING:
    from search.filters import FilterIndex, Filters

__all__ = [
    "DEFAULT_WEIGHTS",
    "LiveHistory",
    "Recommendation",
    "RecommendationService",
    "Recommendations",
    "UnknownProduct",
    "build_recommendations",
]

Situation = Literal["similar", "for_you", "cold_user"]

#: Fusion weights per situation (fixed; see the module docstring).
DEFAULT_WEIGHTS: Mapping[Situation, Mapping[str, float]] = MappingProxyType(
    {
        "similar": MappingProxyType(
            {
                "cooccurrence": 0.30,
                "collaborative": 0.15,
                "content": 0.20,
                "graph": 0.20,
                "kge": 0.10,
                "popularity": 0.05,
            }
        ),
        "for_you": MappingProxyType(
            {
                "collaborative": 0.30,
                "cooccurrence": 0.20,
                "content": 0.15,
                "graph": 0.15,
                "kge": 0.05,
                "popularity": 0.15,
            }
        ),
        "cold_user": MappingProxyType(
            {"popularity": 0.50, "graph": 0.20, "content": 0.20, "cooccurrence": 0.10}
        ),
    }
)


#: The sources that read a session's items (the collaborative models need a fitted row).
SESSION_SOURCES = ("cooccurrence", "content", "graph", "kge")

#: No brand cap, no MMR: the fused ranking as it is.
NO_DIVERSITY = Diversity()


class UnknownProduct(UnknownEntity):
    """A product id the live index does not hold; ``field`` names the parameter."""

    code = "unknown_product"

    def __init__(self, product: str, field: str = "product_id") -> None:
        self.field = field
        super().__init__(product_entity(product), "no such product in the live index")


@dataclass(frozen=True, slots=True)
class Recommendation:
    product_id: str
    rank: int
    score: float
    name: str
    brand: str | None
    product_class: str
    category_path: tuple[str, ...]
    price: float | None
    #: the sources that proposed the item
    sources: tuple[str, ...]
    #: each proposing source's raw score
    signals: Mapping[str, float]
    #: weight x normalised score per source; they sum to ``score``
    contributions: Mapping[str, float]
    reason: str
    #: typed graph paths to the anchor: (product, relation, entity, relation, product)
    paths: tuple[tuple[str, ...], ...] = ()


@dataclass(frozen=True, slots=True)
class LiveHistory:
    """What a shopper did that the fitted models have not seen (events after the fit):
    products with their summed event weights, most recent first, and those bought."""

    items: tuple[tuple[str, float], ...] = ()
    bought: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Recommendations:
    kind: Literal["similar", "for_you", "session"]
    subject: str  # the product (similar), the shopper (for you) or the session
    context: str | None
    k: int
    items: tuple[Recommendation, ...]
    cold_start: bool
    cold_start_reason: str | None
    weights: Mapping[str, float]
    diversity: Diversity
    took_ms: float
    notes: tuple[str, ...] = field(default=())


class RecommendationService:
    """Recommendations over one catalogue and one event log. Thread-safe for reads."""

    def __init__(
        self,
        *,
        space: ItemSpace,
        behaviour: ShopBehaviour,
        sources: Mapping[str, CandidateSource],
        filters: FilterIndex | None = None,
        weights: Mapping[Situation, Mapping[str, float]] = DEFAULT_WEIGHTS,
        unavailable: Mapping[str, str] = MappingProxyType({}),
        pool: int = 100,
        max_history: int = 50,
        fusion: FusionModel | None = None,
    ) -> None:
        if not 1 <= pool <= 10_000:
            raise ValueError(f"pool must be in 1..10000, got {pool}")
        for situation, table in weights.items():
            for name, weight in table.items():
                if name not in SOURCES:
                    raise ValueError(f"weights[{situation!r}] names unknown source {name!r}")
                if not (np.isfinite(weight) and weight >= 0):
                    raise ValueError(f"weight of {name!r} must be >= 0, got {weight}")
        self.space = space
        self.behaviour = behaviour
        self.sources = dict(sources)
        self.filters = filters
        self.weights = weights
        self.unavailable = dict(unavailable)
        self.pool = pool
        self.max_history = max_history
        self._brands = [space.documents[p].brand for p in space.items]
        #: the learned fusion (None: weighted fusion everywhere)
        self.fusion = fusion
        self._facts: ItemFacts | None = None
        #: a shopper's events since the fit (set by the app from the live event store):
        #: they count as history at once, before the models are refitted
        self.live: Callable[[str], LiveHistory] | None = None

    # -- requests --------------------------------------------------------------------------

    def similar(
        self,
        product_id: str,
        *,
        k: int = 10,
        filters: Filters | None = None,
        exclude: Iterable[str] = (),
        diversity: Diversity = NO_DIVERSITY,
    ) -> Recommendations:
        """Products like ``product_id`` (never itself). Raises :class:`UnknownProduct`."""
        started = time.perf_counter()
        _check_k(k)
        position = self._position(product_id, "product_id")
        allowed = self._allowed(filters, [*exclude, product_id])
        proposals = {
            name: source.similar(product_id, n=self.pool, allowed=allowed)
            for name, source in self._active("similar")
        }
        cold = self.behaviour.is_cold(position)
        why = (
            f"{product_id} has no interactions yet: its neighbours come from its graph "
            "neighbourhood (brand, category, attributes) and its text"
            if cold
            else None
        )
        return self._answer(
            "similar", product_id, None, k, proposals, (position,), diversity, cold, why, started
        )

    def for_user(
        self,
        user_id: str,
        *,
        k: int = 10,
        context: str | None = None,
        include_purchased: bool = False,
        filters: Filters | None = None,
        exclude: Iterable[str] = (),
        diversity: Diversity = NO_DIVERSITY,
    ) -> Recommendations:
        """Products for shopper ``user_id``, on the page of product ``context`` if given.
        Their events since the fit (:attr:`live`) lead their fitted history; a shopper with
        neither is a cold-start shopper; an unknown ``context`` raises
        :class:`UnknownProduct`."""
        started = time.perf_counter()
        _check_k(k)
        page = None if context is None else self._position(context, "context")
        live = self.live(user_id) if self.live is not None else LiveHistory()
        history = self._history(user_id, live)
        profile = Profile(
            user_id=user_id,
            items=tuple(i for i, _ in history),
            weights=tuple(w for _, w in history),
            row=self.behaviour.interactions.user_index.get(user_id),
            context=page,
        )
        dropped = (
            []
            if include_purchased
            else [
                *(self.space.items[i] for i in self.behaviour.bought(user_id)),
                *live.bought,
            ]
        )
        allowed = self._allowed(filters, [*exclude, *dropped, *([context] if context else [])])
        cold = not history
        situation: Situation = "cold_user" if cold else "for_you"
        proposals = {
            name: source.for_user(profile, n=self.pool, allowed=allowed)
            for name, source in self._active(situation)
            if not (cold and page is None and name != "popularity")
        }
        why = None
        if cold:
            where = (
                f"popular in {self.space.documents[context].category_path[-1]} (the page's "
                "category) and trending"
                if context and self.space.documents[context].category_path
                else "trending across the shop"
            )
            why = f"no behaviour recorded for shopper {user_id!r}: {where}"
        return self._answer(
            "for_you",
            user_id,
            context,
            k,
            proposals,
            profile.anchors,
            diversity,
            cold,
            why,
            started,
            situation=situation,
        )

    def for_session(
        self,
        session_id: str,
        items: Sequence[tuple[str, float]],
        *,
        k: int = 10,
        filters: Filters | None = None,
        exclude: Iterable[str] = (),
        diversity: Diversity = NO_DIVERSITY,
    ) -> Recommendations:
        """Products for an anonymous shopper from their session's ``items`` (product id,
        weight; most recent first): co-viewed, like them in text and in the graph, never
        the items themselves. A session without items gets the cold-start answer."""
        started = time.perf_counter()
        _check_k(k)
        known = [(self.space.index[p], w) for p, w in items if p in self.space.index]
        known = known[: self.max_history]
        profile = Profile(
            user_id=session_id,
            items=tuple(i for i, _ in known),
            weights=tuple(w for _, w in known),
        )
        allowed = self._allowed(filters, [*exclude, *(p for p, _ in items)])
        cold = not known
        situation: Situation = "cold_user" if cold else "for_you"
        proposals = {
            name: source.for_user(profile, n=self.pool, allowed=allowed)
            for name, source in self._active(situation)
            if name in (SESSION_SOURCES if not cold else ("popularity",))
        }
        why = (
            f"no events recorded in session {session_id!r}: trending across the shop"
            if cold
            else None
        )
        answer = self._answer(
            "for_you",
            session_id,
            None,
            k,
            proposals,
            profile.anchors,
            diversity,
            cold,
            why,
            started,
            situation=situation,
        )
        return replace(answer, kind="session")

    def forget_user(self, user_id: str) -> bool:
        """Take the shopper out of the fitted models' live path at once (erasure): their
        row is unmapped and zeroed and their id replaced, so the next request for them is
        cold start. The collaborative factors and co-occurrence counts still carry their
        share until the next refit, which the app forces. Returns whether they had a row."""
        interactions = self.behaviour.interactions
        index: dict[str, int] = interactions.user_index  # type: ignore[assignment]
        row = index.pop(user_id, None)
        if row is None:
            return False
        for matrix in (interactions.matrix, interactions.times, self.behaviour.purchased):
            if matrix is not None:
                matrix.data[matrix.indptr[row] : matrix.indptr[row + 1]] = 0.0
        users = list(interactions.users)
        users[row] = f"erased:{row}"
        object.__setattr__(interactions, "users", tuple(users))
        return True

    # -- parts -----------------------------------------------------------------------------

    def _history(self, user_id: str, live: LiveHistory) -> list[tuple[int, float]]:
        """The fitted history (heaviest first) led by the live one: what the shopper did
        since the fit is their current intent, so each live item weighs the heaviest
        fitted weight plus its own, most recent first; at most ``max_history`` items."""
        fitted = self.behaviour.user_items(user_id)
        if not live.items:
            return fitted[: self.max_history]
        lead = max((w for _, w in fitted), default=0.0)
        index = self.space.index
        recent = [(index[p], lead + w) for p, w in live.items if p in index]
        seen = {i for i, _ in recent}
        return [*recent, *((i, w) for i, w in fitted if i not in seen)][: self.max_history]

    def _position(self, pid: str, field: str) -> int:
        position = self.space.index.get(pid)
        if position is None:
            raise UnknownProduct(pid, field)
        return position

    def _active(self, situation: Situation) -> list[tuple[str, CandidateSource]]:
        table = self.weights[situation]
        return [(n, s) for n, s in self.sources.items() if table.get(n, 0.0) > 0]

    def _allowed(self, filters: Filters | None, exclude: Sequence[str]) -> Mask | None:
        mask: Mask | None = None
        if filters:
            if self.filters is None:
                raise ValueError("this recommendation service has no filter index")
            index = self.space.index
            passed = [index[p] for p in self.filters.allowed(filters) if p in index]
            mask = np.zeros(len(self.space), dtype=bool)
            mask[passed] = True
        gone = [self.space.index[p] for p in exclude if p in self.space.index]
        if gone:
            mask = np.ones(len(self.space), dtype=bool) if mask is None else mask
            mask[gone] = False
        return mask

    def fuse(
        self, proposals: Mapping[str, Proposals], weights: Mapping[str, float]
    ) -> list[tuple[int, float, dict[str, float], dict[str, float]]]:
        """(item, score, raw signals, contributions) best first, by weighted fusion."""
        return weighted_fusion(proposals, weights)

    @property
    def facts(self) -> ItemFacts:
        """Brand, category and popularity per item, for the learned fusion's features."""
        if self._facts is None:
            self._facts = ItemFacts.of(self.space, self.behaviour)
        return self._facts

    def _answer(
        self,
        kind: Literal["similar", "for_you"],
        subject: str,
        context: str | None,
        k: int,
        proposals: Mapping[str, Proposals],
        anchors: Sequence[int],
        diversity: Diversity,
        cold: bool,
        why: str | None,
        started: float,
        *,
        situation: Situation | None = None,
    ) -> Recommendations:
        weights = self.weights[situation or kind]
        learned = self.fusion if self.fusion and self.fusion.covers(situation or kind) else None
        if learned is not None:
            fused = learned.rank(situation or kind, proposals, anchors, self.facts)
        else:
            fused = self.fuse(proposals, weights)
        by_item = {row[0]: row for row in fused}
        chosen = diversify(
            [(row[0], row[1]) for row in fused[: max(self.pool, k)]],
            k,
            diversity,
            brand_of=self._brands.__getitem__,
            similarity=self._similarity if "content" in self.sources else None,
        )
        items = tuple(self._item(rank, by_item[i], anchors) for rank, i in enumerate(chosen, 1))
        notes = [f"{name}: unavailable ({why_not})" for name, why_not in self.unavailable.items()]
        if learned is not None:
            notes.append(
                "ranked by the learned fusion (LambdaMART): contributions are its SHAP values "
                "per source plus 'bias', the model's base value"
            )
        silent = [n for n, p in proposals.items() if not p]
        if silent:
            notes.append(f"no candidates from: {', '.join(silent)}")
        return Recommendations(
            kind=kind,
            subject=subject,
            context=context,
            k=k,
            items=items,
            cold_start=cold,
            cold_start_reason=why,
            weights=MappingProxyType({n: w for n, w in weights.items() if n in proposals}),
            diversity=diversity,
            took_ms=(time.perf_counter() - started) * 1000.0,
            notes=tuple(notes),
        )

    def _item(
        self,
        rank: int,
        row: tuple[int, float, dict[str, float], dict[str, float]],
        anchors: Sequence[int],
    ) -> Recommendation:
        item, score, signals, parts = row
        doc = self.space.documents[self.space.items[item]]
        graph = self.sources.get("graph")
        paths: tuple[tuple[str, ...], ...] = ()
        if graph is not None:
            paths = tuple(graph.first_paths(anchors[:20], item))  # type: ignore[attr-defined]
        return Recommendation(
            product_id=doc.product_id,
            rank=rank,
            score=score,
            name=doc.name,
            brand=doc.brand,
            product_class=doc.product_class,
            category_path=tuple(doc.category_path),
            price=doc.price,
            sources=tuple(sorted(signals, key=lambda s: -parts[s])),
            signals=MappingProxyType(signals),
            contributions=MappingProxyType(parts),
            reason=reason(parts, self.sources, anchors, item),
            paths=paths,
        )

    def _similarity(self, items: Sequence[int]) -> np.ndarray:
        return self.sources["content"].similarities(items)  # type: ignore[attr-defined,no-any-return]


def _check_k(k: int) -> None:
    if not isinstance(k, int) or isinstance(k, bool) or not 1 <= k <= 100:
        raise ValueError(f"k must be an integer in 1..100, got {k!r}")


def build_recommendations(
    inputs: SourceInputs,
    *,
    sources: Sequence[str] = tuple(SOURCES),
    params: Mapping[str, Mapping[str, Any]] = MappingProxyType({}),
    filters: FilterIndex | None = None,
    weights: Mapping[Situation, Mapping[str, float]] = DEFAULT_WEIGHTS,
    fusion: FusionModel | None = None,
) -> RecommendationService:
    """Build every named source from ``inputs`` (fitting the collaborative models) and the
    service over them; a source that cannot be built is left out and named in the notes."""
    built: dict[str, CandidateSource] = {}
    unavailable: dict[str, str] = {}
    for name in sources:
        try:
            built[name] = make_source(name, inputs, **dict(params.get(name, {})))
        except SourceUnavailable as exc:
            unavailable[name] = str(exc)
    return RecommendationService(
        space=inputs.space,
        behaviour=inputs.behaviour,
        sources=built,
        filters=filters,
        weights=weights,
        unavailable=unavailable,
        fusion=fusion,
    )
