"""FastAPI app: thin routes over :class:`~app.engine.Engine`; errors as JSON with codes."""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.auth import HEADER as API_KEY_HEADER
from app.catalog_api import install_catalog
from app.engine import Engine
from app.limits import BodyLimits, BodyTooLarge, LimitBodies
from app.schemas import KEYED_ERRORS, ErrorOut, HealthOut, ProductOut, SearchOut
from ingest.events import USER_ID_PATTERN
from ingest.versions import NoIndexError
from kg.store import BackendError, BackendUnavailable, UnknownEntity
from search.filters import Filters, UnknownFilter
from search.service import InvalidQuery

__all__ = ["Warmup", "create_app"]

log = logging.getLogger(__name__)

SEARCH_PARAMS = frozenset(
    {
        *("q", "k", "offset", "ranker", "filter", "user", "brand_cap", "exact", "explain"),
        *("price_min", "price_max", "rating_min", "rating_max"),
    }
)


def _error(status: int, code: str, message: str, field: str | None = None) -> JSONResponse:
    body = ErrorOut.model_validate({"error": {"code": code, "message": message, "field": field}})
    return JSONResponse(status_code=status, content=body.model_dump())


#: Status -> (code, message) for the errors Starlette raises itself.
_HTTP_ERRORS: dict[int, tuple[str, str]] = {
    400: ("malformed_body", ""),
    404: ("no_such_route", "no route {path}; see /docs for the API"),
    405: ("method_not_allowed", "{method} is not allowed on {path}; see /docs"),
}


def document_keyed_routes(app: FastAPI) -> None:
    """Add the errors every route of a kind answers before it runs to the OpenAPI entries,
    wherever the route was declared, so a client (and the fuzz test) knows every status:

    - a keyed route (one that declares the key's security scheme, as every route behind
      :class:`~app.auth.Require` does): the key check's and the body limit's 401, 403,
      413 and 429;
    - a route with a path parameter: 404 ``no_such_route`` when the value cannot be part of
      that path (a newline, say), so no route matches."""
    build = app.openapi
    error = {"schema": {"$ref": "#/components/schemas/ErrorOut"}}
    unrouted = {404: "No such route (or a path parameter no route matches)."}

    def openapi() -> dict[str, Any]:
        schema = build()
        for path, operations in schema.get("paths", {}).items():
            for operation in operations.values():
                if not isinstance(operation, dict):
                    continue
                statuses = {
                    **(KEYED_ERRORS if operation.get("security") else {}),
                    **(unrouted if "{" in path else {}),
                }
                responses = operation.setdefault("responses", {})
                for status, description in statuses.items():
                    responses.setdefault(
                        str(status),
                        {"description": description, "content": {"application/json": error}},
                    )
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


class BadParameter(ValueError):
    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(message)


class Warmup:
    """The server's warm-up (:meth:`Engine.warm_up`) in a background thread, started when
    the app starts: the first query then answers without loading the encoder and the
    index, and ``/health`` says ``"status": "warming"`` until it is done."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.done = threading.Event()
        self.error: Exception | None = None
        self.seconds: float | None = None
        self._thread = threading.Thread(target=self._run, name="kgsearch-warm-up", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        try:
            self.seconds = self.engine.warm_up()
        except Exception as exc:  # no index yet, a backend down: /health reports it
            self.error = exc
            log.warning("warm-up did not finish: %s", exc)
        finally:
            self.done.set()

    def join(self, timeout: float | None = None) -> None:
        if self._thread.is_alive():
            self._thread.join(timeout)


def get_engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


EngineDep = Annotated[Engine, Depends(get_engine)]


def parse_filters(values: list[str], **ranges: float | None) -> Filters:
    """``filter=brand:Oakhaven``, ``filter=color:blue``: field, colon, value; repeatable."""
    grouped: dict[str, set[str]] = {}
    for raw in values:
        field, sep, value = raw.partition(":")
        if not sep or not field.strip() or not value.strip():
            raise BadParameter("filter", f"filter {raw!r} is not field:value (e.g. brand:Oakhaven)")
        grouped.setdefault(field.strip().lower(), set()).add(value.strip())
    structural = {
        k: frozenset(grouped.pop(k, set())) for k in ("brand", "category", "product_class")
    }
    try:
        return Filters(
            brand=structural["brand"],
            category=structural["category"],
            product_class=structural["product_class"],
            attributes={k: frozenset(v) for k, v in grouped.items()},
            **ranges,
        )
    except ValueError as exc:
        raise BadParameter("filter", str(exc)) from None


def create_app(engine: Engine) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        warmup = Warmup(engine)
        app.state.warmup = warmup
        warmup.start()
        try:
            yield
        finally:
            warmup.join(timeout=60)  # let it finish before the engine is closed

    app = FastAPI(
        title="kgsearch",
        summary="Knowledge-graph-centric product search",
        version="0.1.0",
        responses={400: {"model": ErrorOut}, 422: {"model": ErrorOut}, 503: {"model": ErrorOut}},
        lifespan=lifespan,
    )
    app.state.engine = engine
    app.state.warmup = None  # set when the app starts (no lifespan: never warming)
    settings = engine.settings
    app.add_middleware(
        LimitBodies,
        limits=BodyLimits(
            default=settings.max_body_bytes,
            by_path={
                "/catalog/import": settings.max_upload_bytes,
                "/events": settings.max_events_body_bytes,
            },
            keyed=("/catalog", "/events"),
            key_header=API_KEY_HEADER,
        ),
    )

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0]
        field = str(first["loc"][-1]) if first.get("loc") else None
        return _error(422, "invalid_parameter", f"{field}: {first['msg']}", field)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        # Starlette's own errors (no such route, wrong method, a body it cannot parse) in
        # the project's error shape instead of {"detail": ...}.
        if isinstance(exc.__cause__, BodyTooLarge):  # FastAPI wraps what reading raised
            return _error(413, exc.__cause__.code, str(exc.__cause__))
        code, message = _HTTP_ERRORS.get(exc.status_code, ("http_error", str(exc.detail)))
        if exc.status_code == 400:
            message = f"{exc.detail}: send valid UTF-8 JSON (integers of at most 4,300 digits)"
        elif exc.status_code in (404, 405):
            message = message.format(method=request.method, path=request.url.path)
        response = _error(exc.status_code, code, message)
        for name, value in (exc.headers or {}).items():
            response.headers[name] = value
        return response

    @app.exception_handler(BodyTooLarge)
    async def _too_large(_: Request, exc: BodyTooLarge) -> JSONResponse:
        return _error(413, exc.code, str(exc))

    @app.exception_handler(Exception)
    async def _crash(request: Request, exc: Exception) -> JSONResponse:
        # A bug, not bad input: log the traceback under an id the client can quote.
        request_id = uuid.uuid4().hex[:16]
        log.error(
            "request %s failed: %s %s", request_id, request.method, request.url.path, exc_info=exc
        )
        return _error(
            500,
            "internal_error",
            f"the server failed on this request; report request id {request_id}",
        )

    @app.exception_handler(InvalidQuery)
    async def _bad_query(_: Request, exc: InvalidQuery) -> JSONResponse:
        return _error(400, exc.code, str(exc), exc.field)

    @app.exception_handler(BadParameter)
    async def _bad_param(_: Request, exc: BadParameter) -> JSONResponse:
        return _error(400, "invalid_parameter", str(exc), exc.field)

    @app.exception_handler(UnknownFilter)
    async def _bad_filter(_: Request, exc: UnknownFilter) -> JSONResponse:
        return _error(400, exc.code, str(exc), "filter")

    @app.exception_handler(NoIndexError)
    async def _no_index(_: Request, exc: NoIndexError) -> JSONResponse:
        return _error(503, exc.code, str(exc))

    @app.exception_handler(BackendUnavailable)
    async def _backend_down(_: Request, exc: BackendUnavailable) -> JSONResponse:
        return _error(503, exc.code, str(exc), exc.backend)

    @app.exception_handler(BackendError)
    async def _backend_error(_: Request, exc: BackendError) -> JSONResponse:
        return _error(502, exc.code, str(exc), exc.backend)

    @app.exception_handler(UnknownEntity)
    async def _unknown(_: Request, exc: UnknownEntity) -> JSONResponse:
        return _error(404, exc.code, str(exc), "product_id")

    @app.get("/health", response_model=HealthOut)
    def health(request: Request, engine: EngineDep) -> Any:
        warmup: Warmup | None = request.app.state.warmup
        warming = warmup is not None and not warmup.done.is_set()
        try:
            revision = engine.graph.revision
            if warming:
                # Do not wait for the warm-up (it holds the index while opening it): say
                # what the live pointer names, and that queries may still be slow.
                manifest = engine.versions.manifest(engine.versions.live_path().name)
            else:
                _, manifest = engine.service()
        except NoIndexError as exc:
            return _error(503, exc.code, str(exc))
        except BackendUnavailable as exc:
            return _error(503, exc.code, str(exc), exc.backend)
        return HealthOut(
            status="warming" if warming else "ok",
            warm=not warming,
            index_version=manifest.version,
            products=manifest.products,
            graph_revision=revision,
        )

    @app.get("/search", response_model=SearchOut)
    def search(
        request: Request,
        engine: EngineDep,
        q: Annotated[str, Query(description="The shopper's query.", max_length=10_000)],
        k: Annotated[int, Query(ge=1, le=1000, description="Hits per page.")] = 10,
        offset: Annotated[int, Query(ge=0, le=10_000, description="Hits to skip.")] = 0,
        ranker: Annotated[
            str | None,
            Query(description="bm25, dense, rrf, linear, lambdamart, lambdamart-nokg, neural."),
        ] = None,
        filter: Annotated[
            list[str], Query(description="field:value, repeatable (brand, category, color...).")
        ] = [],  # noqa: B006 - FastAPI copies defaults per request
        price_min: Annotated[float | None, Query(ge=0)] = None,
        price_max: Annotated[float | None, Query(ge=0)] = None,
        rating_min: Annotated[float | None, Query(ge=0, le=5)] = None,
        rating_max: Annotated[float | None, Query(ge=0, le=5)] = None,
        user: Annotated[
            str | None,
            Query(
                pattern=USER_ID_PATTERN,
                description="Personalise for this shopper (unknown: not personalised).",
            ),
        ] = None,
        brand_cap: Annotated[
            int | None, Query(ge=1, le=1000, description="At most this many hits a brand.")
        ] = None,
        exact: Annotated[
            bool,
            Query(description="Search the words as typed: no spelling correction, no fuzziness."),
        ] = False,
        explain: Annotated[
            bool,
            Query(
                description="Give each hit its contributions (the ranker's, personal, rules), "
                "which sum to its score. Off by default: they cost more than the search."
            ),
        ] = False,
    ) -> Any:
        unknown = sorted(set(request.query_params) - SEARCH_PARAMS)
        if unknown:
            raise BadParameter(
                unknown[0], f"unknown parameter {unknown[0]!r}; allowed: {sorted(SEARCH_PARAMS)}"
            )
        engine.maybe_sync()
        service, manifest = engine.service()
        chosen = None
        if ranker is not None:
            try:
                chosen = engine.make_ranker(ranker)
            except ValueError as exc:
                raise BadParameter("ranker", str(exc)) from None
        filters = parse_filters(
            filter,
            price_min=price_min,
            price_max=price_max,
            rating_min=rating_min,
            rating_max=rating_max,
        )
        profile = engine.shopper_profile(user) if user is not None else None
        result = service.search(
            q,
            k=k,
            offset=offset,
            filters=filters or None,
            ranker=chosen,
            profile=profile,
            brand_cap=brand_cap,
            exact=exact,
            explain=explain,
        )
        return SearchOut.of(result, index_version=manifest.version, user=user)

    @app.get(
        "/products/{product_id}",
        response_model=ProductOut,
        responses={404: {"model": ErrorOut, "description": "No such product in the index."}},
    )
    def product(product_id: str, engine: EngineDep) -> Any:
        service, _ = engine.service()
        doc = service.documents.get(product_id)
        if doc is None:
            raise UnknownEntity(f"product:{product_id}")
        return {
            "product_id": doc.product_id,
            "name": doc.name,
            "brand": doc.brand,
            "product_class": doc.product_class,
            "category_path": list(doc.category_path),
            "attributes": dict(doc.attributes),
            "description": doc.description,
            "price": doc.price,
            "average_rating": doc.average_rating,
            "rating_count": doc.rating_count,
        }

    install_catalog(app)  # /catalog, /admin/keys, /console
    from app.recommend_api import install_recommendations  # it imports this module

    install_recommendations(app)  # /recommendations/similar/..., /recommendations/users/...
    from app.events_api import install_events  # it imports this module

    install_events(app)  # POST /events
    from app.users_api import install_users  # it imports this module

    install_users(app)  # GET /users/{id}/profile, DELETE /users/{id}
    from app.rules_api import install_rules

    install_rules(app)  # /merchandising/rules (merchandiser role)
    from app.explain_api import install_explain  # it imports this module

    install_explain(app)  # GET /explain, GET /explain/compare
    document_keyed_routes(app)  # last: after every keyed route is added
    return app
