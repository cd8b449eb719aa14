"""Helpers of the catalog tests: an engine over the 12 hand-written products, API keys of
every role, and an app served with uvicorn on a loopback port."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import uvicorn
from conftest import SMALL_PRODUCTS
from fastapi import FastAPI

from app.auth import KeyStore, Role
from app.engine import Engine
from app.settings import Settings
from ingest.formats import write_products
from search.encoder import MiniLMEncoder

ADMIN_KEY = "test-bootstrap-admin-key-0123456789"


def build_engine(home: Path, encoder: MiniLMEncoder, *, index: bool = True) -> Engine:
    """A fresh home with the small catalogue imported (and indexed)."""
    write_products(home / "small.csv", SMALL_PRODUCTS)
    engine = Engine(Settings(home=home, admin_api_key=ADMIN_KEY), encoder=encoder)
    engine.import_catalogue(home / "small.csv")
    if index:
        engine.reindex()
    return engine


@dataclass(frozen=True)
class Keys:
    viewer: str
    editor: str
    merchandiser: str
    storefront: str
    admin: str
    bootstrap: str = ADMIN_KEY

    def of(self, role: Role) -> str:
        return str(getattr(self, role.value))


def make_keys(engine: Engine) -> Keys:
    store = KeyStore(path=engine.home / "api_keys.json")
    made = {
        role.value: store.create(user=f"{role.value}-user", role=role, created_by="test").key
        for role in Role
    }
    return Keys(**made)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serving(app: FastAPI) -> Iterator[str]:
    """Serve ``app`` with uvicorn on a free loopback port; yield its base URL."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", workers=1)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
