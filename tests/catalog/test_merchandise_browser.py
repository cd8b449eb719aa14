"""The merchandiser console in headless Chromium: search as a shopper, open a hit's
explanation (bars, graph paths, stages), ask "why not" for a product off the page,
compare two ticked hits, and draft, preview and publish a rule that changes the page.
Screenshots go to pytest's temporary directory, never the repo.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from catalog.cdp import Browser
from catalog.support import Keys
from catalog.test_console_browser import chromium, text  # noqa: F401 - a fixture, reused

from app.engine import Engine


@pytest.fixture
def browser(chromium: str) -> Iterator[Browser]:  # noqa: F811 - the imported fixture
    b = Browser(chromium)
    yield b
    b.close()


def count(browser: Browser, selector: str) -> int:
    return int(browser.evaluate(f"document.querySelectorAll({json.dumps(selector)}).length"))


def test_explain_why_not_and_compare_in_the_console(
    browser: Browser, live_url: str, keys: Keys, tmp_path: Path
) -> None:
    browser.goto(f"{live_url}/console/merchandise.html")
    browser.type("#api-key", keys.merchandiser)
    browser.click("#use-key")
    browser.type("#q", "blue velvet sofa")
    browser.click("#search")
    browser.wait_for("document.querySelectorAll('#hits li').length === 10")
    assert browser.evaluate("document.querySelector('#hits li').dataset.id") == "S1"

    # A hit's explanation: worded bars, the graph path, every stage.
    browser.click('#hits li[data-id="S1"]')
    browser.wait_for("document.querySelectorAll('#bars .bar').length > 0")
    assert text(browser, "#verdict").startswith("shown at rank 1")
    assert "matches 'velvet', 'sofa', 'blue'" in text(browser, "#bars")
    assert "attr:material=velvet ← HAS_ATTRIBUTE — S1" in text(browser, "#paths")
    assert count(browser, "#stages li") >= 4
    browser.screenshot(tmp_path / "explain.png")

    # Why not: a product the page does not show.
    shown = browser.evaluate("[...document.querySelectorAll('#hits li')].map(li => li.dataset.id)")
    missing = sorted(
        {"S1", "S2", "S3", "C1", "C2", "T1", "T2", "B1", "B2", "N1", "R1", "L1"} - set(shown)
    )
    assert missing
    browser.type("#why-not-id", missing[0])
    browser.click("#why-not")
    browser.wait_for(f"document.querySelector('#title').textContent.startsWith('{missing[0]}')")
    verdict = text(browser, "#verdict")
    assert "ranked" in verdict or "not recalled" in verdict
    if "ranked" in verdict:
        assert count(browser, "#gap table.diff tr") > 1  # what it lacks against rank 10

    # Why A above B: tick two hits, compare.
    browser.click('#hits li[data-id="S1"] input')
    second = shown[1]
    browser.click(f'#hits li[data-id="{second}"] input')
    browser.wait_for("!document.querySelector('#compare').disabled")
    browser.click("#compare")
    browser.wait_for("document.querySelector('#verdict').className === 'compare'")
    assert text(browser, "#verdict").startswith(f"S1 (rank 1) is above {second}")
    assert count(browser, "#gap table.diff tr") > 1
    shot = tmp_path / "compare.png"
    browser.screenshot(shot)
    assert shot.stat().st_size > 10_000
    print(f"merchandiser console screenshots: {tmp_path}")


def test_the_console_says_when_the_key_is_refused(browser: Browser, live_url: str) -> None:
    browser.goto(f"{live_url}/console/merchandise.html")
    browser.evaluate("sessionStorage.clear()")
    browser.type("#api-key", "kgs_000000000000_wrong")
    browser.click("#use-key")
    browser.type("#why-not-id", "S1")
    browser.click("#why-not")
    browser.wait_for("document.querySelector('#verdict').className === 'error'")
    assert "invalid_api_key" in text(browser, "#verdict")


def test_a_rule_drafted_previewed_and_published_changes_the_page(
    browser: Browser, live_url: str, keys: Keys, engine: Engine, tmp_path: Path
) -> None:
    browser.goto(f"{live_url}/console/merchandise.html")
    browser.type("#api-key", keys.merchandiser)
    browser.click("#use-key")
    browser.type("#q", "blue velvet sofa")
    browser.click("#search")
    browser.wait_for("document.querySelectorAll('#hits li').length === 10")
    before = browser.evaluate("[...document.querySelectorAll('#hits li')].map(li => li.dataset.id)")
    assert "S3" in before
    try:
        browser.evaluate("document.querySelector('#rule-action').value = 'hide'")
        browser.type("#rule-brand", "Marlow & Finch")
        browser.click("#rule-create")
        browser.wait_for("document.querySelector('#rule-message').className === 'ok'")
        assert "draft rule #" in text(browser, "#rule-message")
        browser.click("#rule-preview")
        browser.wait_for("document.querySelector('#rule-message').className === 'preview'")
        assert text(browser, "#rule-message").startswith("NDCG@10 on ")
        browser.click("#rule-force")
        browser.click("#rule-publish")
        browser.wait_for(
            "document.querySelector('#rule-message').textContent.endsWith('published')"
        )
        browser.wait_for("!document.querySelector('#hits li[data-id=\"S3\"]')")
        after = browser.evaluate(
            "[...document.querySelectorAll('#hits li')].map(li => li.dataset.id)"
        )
        brands = {pid: engine.service()[0].documents[pid].brand for pid in after}
        assert "Marlow & Finch" not in brands.values()
        # the explanation of a hidden product names the stage that lost it
        browser.type("#why-not-id", "S3")
        browser.click("#why-not")
        browser.wait_for("document.querySelector('#verdict').className === 'rule'")
        assert "hidden by a merchandising rule" in text(browser, "#verdict")
        browser.screenshot(tmp_path / "rule.png")
    finally:
        for rule in engine.rule_store.rules():
            engine.rule_store.delete(rule.id, expected_version=None, actor="cleanup")
