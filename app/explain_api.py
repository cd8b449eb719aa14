"""``/explain``: why a product is where it is for a query, in words, for merchandisers.

- ``GET /explain?q=…&product_id=…``: the product's rank and a stage-by-stage trace
  (recall sources, filters, the ranker's score, worded contributions, graph paths); for a
  product not on the page, the stage that lost it ("why not").
- ``GET /explain/compare?q=…&a=…&b=…``: why ``a`` is above ``b`` (or below), the
  contribution differences side by side, largest first.

Both take the search's ``k``, ``ranker``, ``filter`` and range parameters, so what they
explain is the page the shopper saw. They need an API key (``X-API-Key``) of a viewer,
merchandiser or admin: an explanation shows how the ranking model weighs products,
which a shopper's search does not. An unknown product is 404, a query search refuses 422.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from app.api import BadParameter, EngineDep, _error, parse_filters
from app.auth import Principal, Require, Role
from app.engine import Engine
from app.schemas import ErrorOut
from kg.store import UnknownEntity
from ranker.fusion import Ranker
from search.explain import Stage, compare, comparison_json, explain, explanation_json
from search.filters import Filters
from search.service import InvalidQuery

__all__ = ["install_explain", "router"]

router = APIRouter(prefix="/explain", tags=["explain"])

Viewer = Annotated[Principal, Depends(Require(Role.VIEWER, Role.MERCHANDISER))]
ProductId = Annotated[str, Query(min_length=1, max_length=200, description="e.g. P000163")]

_COMMON = frozenset(
    {"q", "k", "ranker", "filter", "price_min", "price_max", "rating_min", "rating_max"}
)


class _Page:
    """The search parameters an explanation shares with ``/search``."""

    def __init__(
        self,
        q: Annotated[str, Query(description="The shopper's query.", max_length=10_000)],
        k: Annotated[int, Query(ge=1, le=1000, description="Hits on the page.")] = 10,
        ranker: Annotated[str | None, Query(description="As for /search.")] = None,
        filter: Annotated[
            list[str], Query(description="field:value, repeatable, as for /search.")
        ] = [],  # noqa: B006 - FastAPI copies defaults per request
        price_min: Annotated[float | None, Query(ge=0)] = None,
        price_max: Annotated[float | None, Query(ge=0)] = None,
        rating_min: Annotated[float | None, Query(ge=0, le=5)] = None,
        rating_max: Annotated[float | None, Query(ge=0, le=5)] = None,
    ) -> None:
        self.q, self.k, self.ranker_name = q, k, ranker
        self.filters: Filters | None = (
            parse_filters(
                filter,
                price_min=price_min,
                price_max=price_max,
                rating_min=rating_min,
                rating_max=rating_max,
            )
            or None
        )

    def ranker(self, engine: Engine) -> Ranker | None:
        if self.ranker_name is None:
            return None
        try:
            return engine.make_ranker(self.ranker_name)
        except ValueError as exc:
            raise BadParameter("ranker", str(exc)) from None


Page = Annotated[_Page, Depends(_Page)]


# -- answers: the shapes of search.explain's explanation_json and comparison_json ----------


class LineOut(BaseModel):
    """One worded part of a score; ``features``: the raw contributions summed into it."""

    topic: str
    text: str
    says: str = Field(description="text with the signed amount, e.g. title matches 'x' (+0.21)")
    amount: float
    features: dict[str, float]


class DifferenceOut(BaseModel):
    """One topic's contributions to two products' scores (``this`` against ``other``)."""

    topic: str
    this: str
    other: str
    this_amount: float
    other_amount: float
    gap: float


class LastShownOut(BaseModel):
    product_id: str
    score: float


class KeywordTraceOut(BaseModel):
    recalled: bool
    rank: int | None = Field(description="Among all keyword matches; null: no word matches.")
    score: float
    fields: dict[str, float] = Field(description="BM25 per field.")
    terms: dict[str, list[str]] = Field(description="The query words each field matches.")


class DenseTraceOut(BaseModel):
    recalled: bool
    rank: int | None = Field(description="Among all products by cosine; null: too deep.")
    cosine: float
    min_cosine: float


class LinkedOut(BaseModel):
    entity_id: str
    span: str
    confidence: float


class GraphTraceOut(BaseModel):
    recalled: bool
    linked: list[LinkedOut] = Field(description="The entities the query names.")
    through: list[str] = Field(description="Those of them the product has.")


class FilterTraceOut(BaseModel):
    applied: dict[str, list[str] | float]
    passed: bool
    failed: list[str] = Field(description="The constraints the product does not meet.")


class GraphPathOut(BaseModel):
    entity_id: str
    span: str
    relations: list[list[str]] = Field(description="[source, type, target], entity first.")
    text: str


class ExplanationOut(BaseModel):
    """Why one product is where it is (:class:`~search.explain.Explanation`)."""

    query: str
    product_id: str
    name: str
    ranker: str
    k: int
    stage: Stage = Field(description="shown, or the stage that lost the product.")
    verdict: str
    rank: int | None = Field(description="Among the candidates; null: not a candidate.")
    score: float | None
    candidates: int
    last_shown: LastShownOut | None
    keyword: KeywordTraceOut
    dense: DenseTraceOut
    graph: GraphTraceOut
    filters: FilterTraceOut | None
    lines: list[LineOut] = Field(description="Worded contributions, largest first.")
    folded: float = Field(description="The sum of the lines too small to show.")
    baseline: float
    gap: list[DifferenceOut] = Field(description="Against the last shown hit (why not).")
    paths: list[GraphPathOut]
    tie: str | None
    notes: list[str]


class ExplainOut(ExplanationOut):
    index_version: str


class ComparisonOut(BaseModel):
    """Why ``a`` is above ``b`` (or below): both explained, differences largest first."""

    index_version: str
    query: str
    ranker: str
    verdict: str
    a: ExplanationOut
    b: ExplanationOut
    differences: list[DifferenceOut]


def _errors(unknown: str) -> dict[int | str, dict[str, Any]]:
    """``responses=`` of both routes (400 and 503 are every route's, app.api)."""
    return {
        400: {"model": ErrorOut, "description": "An unknown parameter, ranker or filter."},
        404: {"model": ErrorOut, "description": f"{unknown} is not in the live index."},
        422: {"model": ErrorOut, "description": "A query search refuses, or a bad parameter."},
    }


def _check_params(request: Request, allowed: frozenset[str]) -> None:
    unknown = sorted(set(request.query_params) - allowed)
    if unknown:
        raise BadParameter(
            unknown[0], f"unknown parameter {unknown[0]!r}; allowed: {sorted(allowed)}"
        )


def _refused(exc: InvalidQuery) -> JSONResponse:
    return _error(422, exc.code, str(exc), exc.field)


def _unknown(exc: UnknownEntity, field: str) -> JSONResponse:
    return _error(404, exc.code, f"{exc}; check the id (GET /products/{{id}})", field)


@router.get("", response_model=ExplainOut, responses=_errors("product_id"))
def explain_product(
    request: Request, engine: EngineDep, _: Viewer, page: Page, product_id: ProductId
) -> Any:
    _check_params(request, _COMMON | {"product_id"})
    engine.maybe_sync()
    service, manifest = engine.service()
    try:
        x = explain(
            service,
            page.q,
            product_id,
            k=page.k,
            filters=page.filters,
            ranker=page.ranker(engine),
            store=engine.graph,
        )
    except InvalidQuery as exc:
        return _refused(exc)
    except UnknownEntity as exc:
        return _unknown(exc, "product_id")
    return {"index_version": manifest.version, **explanation_json(x)}


@router.get("/compare", response_model=ComparisonOut, responses=_errors("a or b"))
def explain_compare(
    request: Request, engine: EngineDep, _: Viewer, page: Page, a: ProductId, b: ProductId
) -> Any:
    _check_params(request, _COMMON | {"a", "b"})
    engine.maybe_sync()
    service, manifest = engine.service()
    for name, pid in (("a", a), ("b", b)):
        if pid not in service.documents:
            return _unknown(UnknownEntity(f"product:{pid}", "not in the live index"), name)
    try:
        c = compare(
            service,
            page.q,
            a,
            b,
            k=page.k,
            filters=page.filters,
            ranker=page.ranker(engine),
            store=engine.graph,
        )
    except InvalidQuery as exc:
        return _refused(exc)
    return {"index_version": manifest.version, **comparison_json(c)}


def install_explain(app: FastAPI) -> None:
    app.include_router(router)
