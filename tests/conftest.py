"""Shared fixtures. The MiniLM encoder loads once per session (it is immutable and
thread-safe, so tests share it); engines are built once per session on temp homes."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from app.engine import Engine
from app.settings import Settings
from ingest.records import ProductRecord
from search.encoder import MiniLMEncoder
from search.onnx_encoder import OnnxMiniLMEncoder

TINY = Path(__file__).resolve().parents[1] / "synthetic" / "data" / "tiny"


def find_wands_queries() -> Path | None:
    """The shared WANDS ``query.csv``: $KGSEARCH_WANDS_QUERIES, else ``shared/`` beside the
    repository, else the workplace's ``/work/shared``. Tests that need it skip without it."""
    candidates = [
        os.environ.get("KGSEARCH_WANDS_QUERIES", ""),
        Path(__file__).resolve().parents[2] / "shared" / "data" / "wands" / "query.csv",
        "/work/shared/data/wands/query.csv",
    ]
    return next((Path(c) for c in candidates if c and Path(c).is_file()), None)


WANDS_QUERIES = find_wands_queries()


def require_server(name: str, address: str, probe: Callable[[str], None]) -> str:
    """Return ``address`` if the server answers there. Otherwise skip with how to start it,
    or, in CI (``CI=true``), fail: an integration tier must never skip silently in CI."""
    try:
        probe(address)
    except Exception as exc:
        message = (
            f"{name} is not reachable at {address} ({type(exc).__name__}: {exc}); "
            f"start it with `scripts/servers start {name}`"
        )
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return address


def _probe_neo4j(uri: str) -> None:
    from neo4j import GraphDatabase

    with GraphDatabase.driver(uri, auth=None, connection_timeout=5) as driver:
        driver.verify_connectivity()


def _probe_elasticsearch(url: str) -> None:
    import httpx

    httpx.get(f"{url}/_cluster/health", timeout=5).raise_for_status()


@pytest.fixture(scope="session")
def neo4j_uri() -> str:
    port = os.environ.get("KGSEARCH_NEO4J_BOLT_PORT", "17687")
    uri = os.environ.get("KGSEARCH_TEST_NEO4J_URI", f"bolt://127.0.0.1:{port}")
    return require_server("neo4j", uri, _probe_neo4j)


@pytest.fixture(scope="session")
def es_url() -> str:
    port = os.environ.get("KGSEARCH_ES_HTTP_PORT", "19200")
    url = os.environ.get("KGSEARCH_TEST_ES_URL", f"http://127.0.0.1:{port}")
    return require_server("elasticsearch", url, _probe_elasticsearch)


def unique_namespace(prefix: str = "t") -> str:
    """A fresh namespace per test, so integration tests never see each other's data."""
    return f"{prefix}{uuid.uuid4().hex[:12]}"


@pytest.fixture(scope="session")
def encoder() -> MiniLMEncoder:
    return MiniLMEncoder()


#: Where the ONNX export of MiniLM is cached: the app's default, so the one-time export
#: (≈ 10 s of CPU, imports torch) is shared with `kgsearch` and with later test runs.
MODEL_CACHE = Path(os.environ.get("KGSEARCH_MODEL_CACHE", "~/.cache/kgsearch/models")).expanduser()
_CHECKOUT = Path(__file__).resolve().parents[1]


def run_snippet(code: str, *, timeout_s: float = 300) -> str:
    """Run ``code`` in a fresh interpreter on this checkout (what a server process starts
    from: no module of this test session loaded) and return the last line it printed."""
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=_CHECKOUT,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        env={**os.environ, "PYTHONPATH": str(_CHECKOUT)},
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="session")
def onnx_encoder() -> OnnxMiniLMEncoder:
    onnx = OnnxMiniLMEncoder(cache_dir=MODEL_CACHE)
    onnx.load()  # exports on the first run on a machine
    return onnx


SMALL_PRODUCTS = [
    ProductRecord(
        product_id=pid,
        name=name,
        product_class=cls,
        category_path=("Furniture", cat, cls),
        description=desc,
        features=feats,
        brand=brand,
        price=price,
        rating_count=rc,
        average_rating=rating,
    )
    for pid, name, cls, cat, desc, feats, brand, price, rc, rating in [
        (
            "S1",
            "Tufted velvet sofa",
            "Sofas",
            "Living Room",
            "A deep blue three seat couch.",
            {"color": "blue", "material": "velvet"},
            "Oakhaven",
            899.0,
            40,
            4.6,
        ),
        (
            "S2",
            "Linen loveseat",
            "Sofas",
            "Living Room",
            "Compact two seat settee in grey.",
            {"color": "gray", "material": "linen"},
            "Birchley",
            499.0,
            12,
            4.1,
        ),
        (
            "S3",
            "Leather chesterfield",
            "Sofas",
            "Living Room",
            "Classic brown leather sofa.",
            {"color": "brown", "material": "leather"},
            "Marlow & Finch",
            1499.0,
            3,
            3.9,
        ),
        (
            "C1",
            "Wingback accent chair",
            "Accent Chairs",
            "Living Room",
            "A cosy reading chair.",
            {"color": "blue", "material": "velvet"},
            "Oakhaven",
            349.0,
            80,
            4.8,
        ),
        (
            "C2",
            "Rattan lounge chair",
            "Accent Chairs",
            "Living Room",
            "Woven chair for sunrooms.",
            {"color": "natural", "material": "rattan"},
            "Birchley",
            279.0,
            5,
            4.0,
        ),
        (
            "T1",
            "Round oak dining table",
            "Dining Tables",
            "Dining Room",
            "Seats four people.",
            {"color": "brown", "material": "oak", "shape": "round"},
            "Marlow & Finch",
            749.0,
            22,
            4.4,
        ),
        (
            "T2",
            "Glass top dining table",
            "Dining Tables",
            "Dining Room",
            "Modern rectangular table.",
            {"material": "glass", "shape": "rectangular"},
            "Oakhaven",
            599.0,
            0,
            None,
        ),
        (
            "B1",
            "Platform bed frame",
            "Beds",
            "Bedroom",
            "Low queen bed in walnut.",
            {"material": "walnut", "size": "queen"},
            "Birchley",
            699.0,
            60,
            4.5,
        ),
        (
            "B2",
            "Upholstered storage bed",
            "Beds",
            "Bedroom",
            "King bed with drawers, grey fabric.",
            {"color": "gray", "size": "king"},
            "Marlow & Finch",
            1099.0,
            9,
            4.2,
        ),
        (
            "N1",
            "Two drawer nightstand",
            "Nightstands",
            "Bedroom",
            "Bedside table in white oak.",
            {"color": "white", "material": "oak"},
            "Oakhaven",
            189.0,
            31,
            4.3,
        ),
        (
            "R1",
            "Shag area rug",
            "Area Rugs",
            "Rugs",
            "Plush ivory carpet, 8x10.",
            {"color": "ivory", "size": "8x10"},
            "Birchley",
            259.0,
            14,
            4.0,
        ),
        (
            "L1",
            "Brass table lamp",
            "Table Lamps",
            "Lighting",
            "Warm light for a desk or nightstand.",
            {"finish": "brass"},
            "Marlow & Finch",
            89.0,
            50,
            4.7,
        ),
    ]
]


def _engine(home: Path, encoder: MiniLMEncoder) -> Engine:
    return Engine(Settings(home=home), encoder=encoder)


@pytest.fixture(scope="session")
def small_engine(
    tmp_path_factory: pytest.TempPathFactory, encoder: MiniLMEncoder
) -> Iterator[Engine]:
    """12 hand-written products, imported and indexed (no judgments)."""
    from ingest.formats import write_products

    home = tmp_path_factory.mktemp("small-home")
    write_products(home / "small.csv", SMALL_PRODUCTS)
    engine = _engine(home, encoder)
    engine.import_catalogue(home / "small.csv")
    engine.reindex()
    yield engine
    engine.close()


@pytest.fixture(scope="session")
def tiny_engine(
    tmp_path_factory: pytest.TempPathFactory, encoder: MiniLMEncoder
) -> Iterator[Engine]:
    """The committed tiny catalogue (≈200 products) with its judged queries, indexed."""
    import shutil

    home = tmp_path_factory.mktemp("tiny-home")
    shutil.copytree(TINY, home / "catalogue")
    engine = _engine(home, encoder)
    engine.import_catalogue(home / "catalogue" / "product.csv")
    engine.reindex()
    yield engine
    engine.close()
