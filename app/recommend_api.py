"""``/recommendations``: similar items for a product page and "for you" for a shopper.

Thin routes over :meth:`Engine.recommendations`. Errors in the API's one shape
(``{"error": {"code", "message", "field"}}``): an unknown product is 404, ``k`` outside
1-100 or a malformed id is 422, an unknown parameter or filter is 400. An unknown shopper
is not an error: they get cold-start recommendations and ``cold_start: true``; so does a
session without events (``/recommendations/sessions/{session_id}``, anonymous shoppers).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Path, Query, Request
from fastapi.responses import JSONResponse

from app.api import BadParameter, EngineDep, _error, parse_filters
from app.schemas import ErrorOut, RecommendationsOut
from recommend.diversity import Diversity
from recommend.service import UnknownProduct

__all__ = ["install_recommendations", "router"]

router = APIRouter(prefix="/recommendations", tags=["recommendations"])

PRODUCT_ID = r"^[A-Za-z0-9_.:-]{1,64}$"
USER_ID = r"^[A-Za-z0-9_.:@-]{1,128}$"
SESSION_ID = r"^[A-Za-z0-9_.:@-]{1,128}$"
_PRODUCT = re.compile(PRODUCT_ID)
COMMON = frozenset(
    {
        "k",
        "filter",
        "price_min",
        "price_max",
        "rating_min",
        "rating_max",
        "exclude",
        "brand_cap",
        "mmr",
    }
)
SIMILAR_PARAMS = COMMON
USER_PARAMS = COMMON | {"context", "include_purchased"}
SESSION_PARAMS = COMMON

K = Annotated[int, Query(ge=1, le=100, description="How many items (1-100).")]
FilterQ = Annotated[
    list[str], Query(description="field:value, repeatable (brand, category, color...).")
]
Excluded = Annotated[list[str], Query(description="Product ids never to show, repeatable.")]
BrandCap = Annotated[int | None, Query(ge=1, le=100, description="At most N items per brand.")]
MMR = Annotated[
    float | None, Query(ge=0, le=1, description="MMR trade-off λ (1 = relevance only).")
]
Price = Annotated[float | None, Query(ge=0)]
Rating = Annotated[float | None, Query(ge=0, le=5)]


def _check_params(request: Request, allowed: frozenset[str]) -> None:
    unknown = sorted(set(request.query_params) - allowed)
    if unknown:
        raise BadParameter(
            unknown[0], f"unknown parameter {unknown[0]!r}; allowed: {sorted(allowed)}"
        )


def _excluded(values: list[str]) -> list[str]:
    ids = [v.strip() for raw in values for v in raw.split(",") if v.strip()]
    bad = [v for v in ids if not _PRODUCT.match(v)]
    if bad:
        raise BadParameter("exclude", f"exclude: {bad[0]!r} is not a product id (e.g. P000123)")
    return ids


@dataclass(frozen=True, slots=True)
class _Refinement:
    """The narrowing options both routes take, validated by FastAPI, parsed on demand (a
    route first refuses unknown parameters, then asks for these)."""

    filter: list[str]
    price_min: float | None
    price_max: float | None
    rating_min: float | None
    rating_max: float | None
    exclude: list[str]
    brand_cap: int | None
    mmr: float | None

    def options(self) -> dict[str, Any]:
        filters = parse_filters(
            self.filter,
            price_min=self.price_min,
            price_max=self.price_max,
            rating_min=self.rating_min,
            rating_max=self.rating_max,
        )
        return {
            "filters": filters or None,
            "exclude": _excluded(self.exclude),
            "diversity": Diversity(brand_cap=self.brand_cap, mmr=self.mmr),
        }


def _refinement(
    filter: FilterQ = [],  # noqa: B006 - FastAPI copies defaults per request
    price_min: Price = None,
    price_max: Price = None,
    rating_min: Rating = None,
    rating_max: Rating = None,
    exclude: Excluded = [],  # noqa: B006
    brand_cap: BrandCap = None,
    mmr: MMR = None,
) -> _Refinement:
    return _Refinement(
        filter, price_min, price_max, rating_min, rating_max, exclude, brand_cap, mmr
    )


Refinement = Annotated[_Refinement, Depends(_refinement)]


@router.get(
    "/similar/{product_id}",
    response_model=RecommendationsOut,
    responses={404: {"model": ErrorOut, "description": "No such product."}},
)
def similar(
    request: Request,
    engine: EngineDep,
    product_id: Annotated[str, Path(pattern=PRODUCT_ID, description="e.g. P000123")],
    refinement: Refinement,
    k: K = 10,
) -> Any:
    """Products like this one, with the sources, contributions and a reason for each."""
    _check_params(request, SIMILAR_PARAMS)
    options = refinement.options()
    engine.maybe_sync()
    return RecommendationsOut.of(engine.recommendations().similar(product_id, k=k, **options))


@router.get("/users/{user_id}", response_model=RecommendationsOut)
def for_user(
    request: Request,
    engine: EngineDep,
    user_id: Annotated[str, Path(pattern=USER_ID, description="e.g. U0042")],
    refinement: Refinement,
    k: K = 10,
    context: Annotated[
        str | None, Query(pattern=PRODUCT_ID, description="The product on the page.")
    ] = None,
    include_purchased: Annotated[
        bool, Query(description="Also show products the shopper bought.")
    ] = False,
) -> Any:
    """Products for this shopper; an unknown shopper gets cold-start recommendations."""
    _check_params(request, USER_PARAMS)
    options = refinement.options()
    engine.maybe_sync()
    result = engine.recommendations().for_user(
        user_id, k=k, context=context, include_purchased=include_purchased, **options
    )
    return RecommendationsOut.of(result)


@router.get("/sessions/{session_id}", response_model=RecommendationsOut)
def for_session(
    request: Request,
    engine: EngineDep,
    session_id: Annotated[str, Path(pattern=SESSION_ID, description="e.g. S000123")],
    refinement: Refinement,
    k: K = 10,
) -> Any:
    """Products for an anonymous shopper from the events of their session (co-viewed,
    similar text, graph neighbours); a session without events gets cold-start picks."""
    _check_params(request, SESSION_PARAMS)
    options = refinement.options()
    engine.maybe_sync()
    return RecommendationsOut.of(engine.recommend_session(session_id, k=k, **options))


async def _unknown_product(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, UnknownProduct)
    return _error(404, exc.code, str(exc), exc.field)


def install_recommendations(app: FastAPI) -> None:
    """Add the /recommendations routes and their error handler."""
    app.add_exception_handler(UnknownProduct, _unknown_product)
    app.include_router(router)
