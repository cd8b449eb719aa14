"""Body limits and the key check happen before a route reads a body (issue 17, item 2)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.api import create_app
from app.auth import HEADER, KeyStore, Role
from app.engine import Engine
from app.settings import Settings

LIMIT = 4_096


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    home: Path = tmp_path_factory.mktemp("limits-home")
    built = Engine(Settings(home=home, max_body_bytes=LIMIT, max_events_body_bytes=4 * LIMIT))
    yield built
    built.close()


@pytest.fixture(scope="module")
def client(engine: Engine) -> TestClient:
    return TestClient(create_app(engine))  # no lifespan: nothing to warm up


@pytest.fixture(scope="module")
def editor_key(engine: Engine) -> str:
    store = KeyStore(path=engine.home / "api_keys.json")
    return store.create(user="ed", role=Role.EDITOR, created_by="test").key


def big_brand(size: int) -> bytes:
    """A valid brand body padded with ``size`` bytes of JSON whitespace."""
    return json.dumps({"name": "Limitless"}).encode() + b" " * size


def error(response: object, status: int, code: str) -> str:
    assert response.status_code == status, response.text  # type: ignore[attr-defined]
    body = response.json()  # type: ignore[attr-defined]
    assert body["error"]["code"] == code
    return str(body["error"]["message"])


def test_a_write_without_a_key_is_refused_before_its_body(client: TestClient) -> None:
    seen: list[int] = []

    def body() -> Iterator[bytes]:
        for _ in range(100):  # 100 x 64 KiB, never read
            seen.append(1)
            yield b"x" * 65_536

    response = client.post("/catalog/brands", content=body())
    error(response, 401, "missing_api_key")
    assert len(seen) <= 1  # at most the first chunk left the client before the answer


def test_a_declared_oversize_body_is_a_413_naming_the_limit(
    client: TestClient, editor_key: str
) -> None:
    message = error(
        client.post(
            "/catalog/brands",
            content=big_brand(LIMIT * 3),
            headers={HEADER: editor_key, "content-type": "application/json"},
        ),
        413,
        "body_too_large",
    )
    assert f"{LIMIT:,} bytes" in message and "/catalog/brands" in message


def test_a_streamed_body_is_cut_off_at_the_limit(client: TestClient, editor_key: str) -> None:
    def chunks() -> Iterator[bytes]:  # no Content-Length: chunked
        data = big_brand(LIMIT * 3)
        for start in range(0, len(data), 1_000):
            yield data[start : start + 1_000]

    response = client.post(
        "/catalog/brands",
        content=chunks(),
        headers={HEADER: editor_key, "content-type": "application/json"},
    )
    error(response, 413, "body_too_large")


def test_paths_with_their_own_limit_and_bodies_under_it_pass(
    client: TestClient, editor_key: str
) -> None:
    # A brand under the default limit reaches its route (and is created).
    ok = client.post(
        "/catalog/brands",
        content=big_brand(100),
        headers={HEADER: editor_key, "content-type": "application/json"},
    )
    assert ok.status_code == 201, ok.text
    # /events takes four times the default here: 2x the default is not refused for size.
    events = client.post(
        "/events",
        content=b" " * (2 * LIMIT),
        headers={HEADER: editor_key, "content-type": "application/json"},
    )
    assert events.status_code != 413, events.text
    error(
        client.post(
            "/events",
            content=b" " * (5 * LIMIT),
            headers={HEADER: editor_key, "content-type": "application/json"},
        ),
        413,
        "body_too_large",
    )
