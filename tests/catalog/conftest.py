"""Fixtures of the catalog tests (helpers in :mod:`catalog.support`)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from catalog.support import Keys, build_engine, make_keys, serving
from fastapi import FastAPI
from fastapi.testclient import TestClient

from app.api import create_app
from app.engine import Engine
from search.encoder import MiniLMEncoder


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory, encoder: MiniLMEncoder) -> Iterator[Engine]:
    built = build_engine(tmp_path_factory.mktemp("catalog-home"), encoder)
    yield built
    built.close()


@pytest.fixture(scope="module")
def app(engine: Engine) -> FastAPI:
    return create_app(engine)


@pytest.fixture(scope="module")
def keys(engine: Engine) -> Keys:
    return make_keys(engine)


@pytest.fixture(scope="module")
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as c:
        yield c


@pytest.fixture(scope="module")
def live_url(app: FastAPI) -> Iterator[str]:
    with serving(app) as url:
        yield url
