"""RecycleConnections: the n-th request on a connection is answered with ``Connection:
close``, so kept-alive clients reconnect and spread over the workers again."""

from __future__ import annotations

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from app.connections import RecycleConnections


def _app(requests: int, remembered: int = 4096) -> Starlette:
    async def hello(_: Request) -> PlainTextResponse:
        return PlainTextResponse("hi", headers={"x-kept": "yes"})

    app = Starlette(routes=[Route("/", hello)])
    app.add_middleware(RecycleConnections, requests=requests, remembered=remembered)
    return app


def _closes(client: TestClient, n: int) -> list[bool]:
    out = []
    for _ in range(n):
        response = client.get("/")
        assert response.status_code == 200 and response.text == "hi"
        assert response.headers["x-kept"] == "yes"  # the app's own headers stay
        out.append(response.headers.get("connection") == "close")
    return out


def test_every_nth_request_of_a_connection_is_told_to_close() -> None:
    # TestClient sends every request from one client address: one connection to the
    # middleware, which starts counting again after it has closed it.
    with TestClient(_app(requests=3)) as client:
        assert _closes(client, 7) == [False, False, True, False, False, True, False]


def test_one_request_per_connection_closes_each() -> None:
    with TestClient(_app(requests=1)) as client:
        assert _closes(client, 3) == [True, True, True]


def test_connections_are_counted_apart() -> None:
    app = _app(requests=2)
    with (
        TestClient(app, client=("10.0.0.1", 4000)) as a,
        TestClient(app, client=("10.0.0.2", 4000)) as b,
    ):
        assert _closes(a, 1) == [False]
        assert _closes(b, 1) == [False]
        assert _closes(a, 1) == [True]
        assert _closes(b, 1) == [True]


def test_the_oldest_counts_are_forgotten_past_the_limit() -> None:
    app = _app(requests=2, remembered=1)
    with (
        TestClient(app, client=("10.0.0.1", 4000)) as a,
        TestClient(app, client=("10.0.0.2", 4000)) as b,
    ):
        assert _closes(a, 1) == [False]
        assert _closes(b, 1) == [False]  # a's count is dropped to keep one
        assert _closes(a, 1) == [False]  # so a starts again
        assert _closes(a, 1) == [True]


def test_requests_must_be_positive() -> None:
    with pytest.raises(ValueError, match="requests must be >= 1"):
        RecycleConnections(Starlette(), requests=0)
