"""The catalog console in headless Chromium: enter a key, find a product, edit it with
its version, see it in search, in the history, undo it, and meet a conflict.

Chromium comes from ``scripts/chromium`` (Debian's package), which ``make test`` runs
before the tests; the test itself only looks for it. Without a browser it skips, except
under ``CI=true``, where it fails. The screenshot goes to pytest's temporary directory
(its path is printed), never into the repository.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from catalog.cdp import Browser
from catalog.support import Keys

from app.engine import Engine

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def chromium() -> str:
    in_ci = os.environ.get("CI", "").lower() == "true"
    args = ["bash", str(ROOT / "scripts" / "chromium"), "--no-install"]
    found = subprocess.run(args, capture_output=True, text=True, timeout=60, check=False)
    if found.returncode == 0 and found.stdout.strip():
        return found.stdout.strip().splitlines()[-1]
    message = (
        f"headless Chromium is not available: {found.stderr.strip()[-500:]} "
        "(`make test` installs it with scripts/chromium)"
    )
    if in_ci:
        pytest.fail(message, pytrace=False)
    pytest.skip(f"{message}; run scripts/chromium to install it")


@pytest.fixture
def browser(chromium: str) -> Iterator[Browser]:
    b = Browser(chromium)
    yield b
    b.close()


def text(browser: Browser, selector: str) -> str:
    return str(browser.evaluate(f"document.querySelector({json.dumps(selector)}).textContent"))


def value(browser: Browser, selector: str) -> str:
    return str(browser.evaluate(f"document.querySelector({json.dumps(selector)}).value"))


def test_edit_a_product_in_the_console(
    browser: Browser, live_url: str, keys: Keys, engine: Engine, tmp_path: Path
) -> None:
    api = httpx.Client(base_url=live_url, headers={"X-API-Key": keys.editor}, timeout=30)
    browser.goto(f"{live_url}/console/")
    browser.type("#api-key", keys.editor)
    browser.click("#use-key")
    browser.wait_for("document.querySelectorAll('#results li').length >= 12")
    browser.type("#q", "velvet")
    browser.click("#search")
    browser.wait_for("document.querySelector('#count').textContent === '1 products'")
    browser.click('#results li[data-id="S1"]')
    browser.wait_for("document.querySelector('#product-id').textContent === 'S1'")
    assert value(browser, "#f-name") == "Tufted velvet sofa"
    version = int(text(browser, "#product-version"))

    # Edit name, price and an attribute; save with the version read.
    browser.type("#f-name", "Tufted teal sofa")
    browser.type("#f-price", "849")
    color = "#attrs tbody tr:first-child .attr-value"
    assert value(browser, "#attrs tbody tr:first-child .attr-key") == "color"
    browser.type(color, "teal")
    browser.click("#save")
    browser.wait_for("document.querySelector('#message').className === 'ok'")
    assert "searchable now" in text(browser, "#message")
    assert int(text(browser, "#product-version")) == version + 1
    stored = api.get("/catalog/products/S1").json()
    assert (stored["name"], stored["price"], stored["attributes"]["color"]) == (
        "Tufted teal sofa",
        849,
        "teal",
    )
    hits = api.get("/search", params=[("q", "sofa"), ("filter", "color:teal")]).json()["hits"]
    assert [h["product_id"] for h in hits] == ["S1"]

    # The history shows the edit; its undo restores name and price.
    browser.wait_for("document.querySelector('#audit li[data-op=\"update\"]') !== null")
    assert "Tufted teal sofa" in text(browser, '#audit li[data-op="update"]')
    browser.click('#audit li[data-op="update"] .undo')
    browser.wait_for("document.querySelector('#f-name').value === 'Tufted velvet sofa'")
    assert api.get("/catalog/products/S1").json()["price"] == 899

    # Someone else edits it behind the console's back: saving now is a conflict.
    current = api.get("/catalog/products/S1").json()["version"]
    assert (
        api.patch(
            "/catalog/products/S1", json={"expected_version": current, "price": 875}
        ).status_code
        == 200
    )
    browser.type("#f-price", "1")
    browser.click("#save")
    browser.wait_for("document.querySelector('#message').className === 'error'")
    assert "version_conflict" in text(browser, "#message")
    assert api.get("/catalog/products/S1").json()["price"] == 875
    browser.click("#reload")
    browser.wait_for("document.querySelector('#f-price').value === '875'")
    shot = tmp_path / "console.png"
    browser.screenshot(shot)
    assert shot.stat().st_size > 10_000
    print(f"console screenshot: {shot}")
    api.close()


def test_the_console_without_a_key_says_so(browser: Browser, live_url: str) -> None:
    browser.goto(f"{live_url}/console/")
    browser.evaluate("sessionStorage.clear()")
    browser.type("#api-key", "kgs_000000000000_wrong")
    browser.click("#use-key")
    browser.wait_for("document.querySelector('#count').textContent.includes('invalid_api_key')")
