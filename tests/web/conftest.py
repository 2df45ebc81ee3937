"""A real browser for the pages: Debian's Chromium driven by Playwright.

Every browser test leaves a screenshot of where it ended in ``test-artifacts/screenshots/``.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

CHROMIUM = os.environ.get("PARCELGUARD_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
# without these Chromium tries to reach the internet (updates, sync, QUIC probes)
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SHOTS = Path("test-artifacts") / "screenshots"
AXE = Path("node_modules") / "axe-core" / "axe.min.js"


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"the page tests need Chromium at {CHROMIUM}: apt-get install chromium "
                    "fonts-wqy-microhei (or set PARCELGUARD_CHROMIUM)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield b
        b.close()


def _page(context: BrowserContext, request: pytest.FixtureRequest) -> Iterator[Page]:
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.set_default_timeout(10_000)
    yield page
    SHOTS.mkdir(parents=True, exist_ok=True)
    name = re.sub(r"[^\w.-]+", "_", request.node.name)
    try:
        page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)
    finally:
        context.close()
    assert errors == [], errors


@pytest.fixture
def phone(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Page]:
    """A phone-sized page that fails the test on any script error."""
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN",
                                  device_scale_factor=2, is_mobile=True, has_touch=True)
    yield from _page(context, request)


@pytest.fixture
def desk(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Page]:
    """A desktop-sized page that fails the test on any script error."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    yield from _page(context, request)


def axe_problems(page: Page) -> list[str]:
    """Serious and critical accessibility violations on the page, by axe-core."""
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    return [f"{v['id']} ({v['impact']}): {v['help']} — {[n['target'] for n in v['nodes'][:3]]}"
            for v in result["violations"] if v["impact"] in ("serious", "critical")]
