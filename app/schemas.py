"""JSON shapes of the API and of ``kgsearch search --json`` (one source for both)."""

from __future__ import annotations

from pydantic import BaseModel

from recommend.service import Recommendation, Recommendations
from search.service import Hit, SearchResult


class HitOut(BaseModel):
    product_id: str
    rank: int
    score: float
    name: str
    brand: str | None
    product_class: str
    category_path: list[str]
    price: float | None
    average_rating: float | None
    signals: dict[str, float]
    contributions: dict[str, float]
    paths: list[list[str]]

    @classmethod
    def of(cls, hit: Hit) -> HitOut:
        return cls(
            product_id=hit.product_id,
            rank=hit.rank,
            score=round(hit.score, 6),
            name=hit.name,
            brand=hit.brand,
            product_class=hit.product_class,
            category_path=list(hit.category_path),
            price=hit.price,
            average_rating=hit.average_rating,
            signals={k: round(v, 6) for k, v in hit.signals.items()},
            contributions={k: round(v, 6) for k, v in hit.contributions.items()},
            paths=[list(p) for p in hit.paths],
        )


class FacetValue(BaseModel):
    value: str
    count: int


class EntityOut(BaseModel):
    entity_id: str
    span: str
    confidence: float


class SearchOut(BaseModel):
    query: str
    tokens: list[str]
    entities: list[EntityOut]
    index_version: str
    ranker: str
    total: int
    offset: int
    k: int
    took_ms: float
    degraded: bool
    notes: list[str]
    facets: dict[str, list[FacetValue]]
    hits: list[HitOut]
    user: str | None = None  # the shopper the search was made for
    personalised: bool = False  # scores include the personal stage (contributions personal_*)
    rules: dict[str, str] = {}  # rule:<id> contribution -> what the rule is, in words
    corrected_query: str | None = None  # what was searched instead of ``query`` (spelling)
    explained: bool = False  # hits carry contributions (``explain=true``); else they are {}

    @classmethod
    def of(cls, result: SearchResult, *, index_version: str, user: str | None = None) -> SearchOut:
        return cls(
            query=result.query,
            tokens=list(result.tokens),
            entities=[
                EntityOut(entity_id=e, span=span, confidence=c) for e, span, c in result.entities
            ],
            index_version=index_version,
            ranker=result.ranker,
            total=result.total,
            offset=result.offset,
            k=result.k,
            took_ms=round(result.took_ms, 3),
            degraded=result.degraded,
            notes=list(result.notes),
            facets={
                name: [FacetValue(value=v, count=c) for v, c in values]
                for name, values in result.facets.items()
            },
            hits=[HitOut.of(h) for h in result.hits],
            user=user,
            personalised=result.personalised,
            corrected_query=result.corrected_query,
            rules=dict(result.rules),
            explained=result.explained,
        )


class ProductOut(BaseModel):
    """A product as the live index serves it (``GET /products/{id}``)."""

    product_id: str
    name: str
    brand: str | None
    product_class: str
    category_path: list[str]
    attributes: dict[str, str]
    description: str
    price: float | None
    average_rating: float | None
    rating_count: int


class EventRejectedOut(BaseModel):
    index: int  # the event's place in the request's array
    field: str | None
    reason: str


class EventsOut(BaseModel):
    """What ``POST /events`` recorded."""

    received: int
    accepted: int
    duplicates: int
    rejected: list[EventRejectedOut]
    revision: int | None


class ErrorBody(BaseModel):
    code: str
    message: str
    field: str | None = None


class ErrorOut(BaseModel):
    error: ErrorBody


#: What a route behind an API key can answer before it runs (app.auth, app.limits), each
#: an :class:`ErrorOut`: :func:`app.api.document_keyed_routes` adds them to every such
#: route's OpenAPI entry.
KEYED_ERRORS: dict[int, str] = {
    401: "No key, or an unknown or revoked one.",
    403: "The key's role may not use this route.",
    413: "The body is larger than the limit.",
    429: "Too many failed checks of this key; see Retry-After.",
}


class HealthOut(BaseModel):
    status: str  # "ok"; "warming" while the server loads the encoder and index at startup
    warm: bool = True  # false while warming: the first queries may be slow
    index_version: str | None
    products: int | None
    graph_revision: int


class RecommendationOut(BaseModel):
    product_id: str
    rank: int
    score: float
    name: str
    brand: str | None
    product_class: str
    category_path: list[str]
    price: float | None
    sources: list[str]
    signals: dict[str, float]
    contributions: dict[str, float]
    reason: str
    paths: list[list[str]]

    @classmethod
    def of(cls, item: Recommendation) -> RecommendationOut:
        return cls(
            product_id=item.product_id,
            rank=item.rank,
            score=item.score,
            name=item.name,
            brand=item.brand,
            product_class=item.product_class,
            category_path=list(item.category_path),
            price=item.price,
            sources=list(item.sources),
            signals=dict(item.signals),
            contributions=dict(item.contributions),
            reason=item.reason,
            paths=[list(p) for p in item.paths],
        )


class RecommendationsOut(BaseModel):
    kind: str  # "similar" or "for_you"
    subject: str  # the product (similar) or the shopper (for you)
    context: str | None
    k: int
    cold_start: bool
    cold_start_reason: str | None
    weights: dict[str, float]
    brand_cap: int | None
    mmr: float | None
    took_ms: float
    notes: list[str]
    items: list[RecommendationOut]

    @classmethod
    def of(cls, result: Recommendations) -> RecommendationsOut:
        return cls(
            kind=result.kind,
            subject=result.subject,
            context=result.context,
            k=result.k,
            cold_start=result.cold_start,
            cold_start_reason=result.cold_start_reason,
            weights=dict(result.weights),
            brand_cap=result.diversity.brand_cap,
            mmr=result.diversity.mmr,
            took_ms=round(result.took_ms, 3),
            notes=list(result.notes),
            items=[RecommendationOut.of(i) for i in result.items],
        )
