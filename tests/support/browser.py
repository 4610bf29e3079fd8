"""Browser tests with Debian's Chromium through Playwright's Python sync API.

Playwright drives the system browser at /usr/bin/chromium (``executable_path``): its own
browser downloads (``playwright install``) are never used. Where Chromium is missing, the
tests skip with a message, except under ``CI=true``, where they fail: CI must install it
(``apt-get install chromium``).

Use in a test module (the fixtures must be module-level names there; ``pytest_plugins``
would re-import this module after the test module's own import and warn)::

    import support.browser as browser_helpers
    from support.browser import screenshot

    browser = browser_helpers.browser
    browser_page = browser_helpers.browser_page
    playwright_driver = browser_helpers.playwright_driver

    def test_page(browser_page: Page) -> None:
        browser_page.goto(url)
        screenshot(browser_page, "name")

``browser`` is module-scoped (one Chromium per test module); ``browser_page`` is a fresh
context and page at a phone viewport (390 x 844 CSS pixels) for each test.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, Playwright, sync_playwright

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PHONE_VIEWPORT = {"width": 390, "height": 844}
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-output" / "screenshots"
TIMEOUT_MS = 10_000


def require_chromium() -> Path:
    """The Chromium executable; skip (or fail under CI=true) when it is missing."""
    if CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK):
        return CHROMIUM
    message = f"browser tests need Chromium at {CHROMIUM} (apt-get install chromium)"
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI must run the browser tests, but {message}", pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="module")
def playwright_driver() -> Iterator[Playwright]:
    require_chromium()
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="module")
def browser(playwright_driver: Playwright) -> Iterator[Browser]:
    """One headless Chromium for the test module."""
    instance = playwright_driver.chromium.launch(
        executable_path=str(CHROMIUM),
        headless=True,
        args=CHROMIUM_ARGS,
        timeout=30_000,
    )
    try:
        yield instance
    finally:
        instance.close()


def new_phone_page(browser: Browser, *, javascript: bool = True) -> Page:
    """A page in a fresh context at the phone viewport (the caller closes its context)."""
    context = browser.new_context(
        viewport=PHONE_VIEWPORT,  # type: ignore[arg-type]
        device_scale_factor=1,
        is_mobile=True,
        has_touch=True,
        java_script_enabled=javascript,
        locale="mn-MN",
        timezone_id="Asia/Ulaanbaatar",
    )
    context.set_default_timeout(TIMEOUT_MS)
    return context.new_page()


@pytest.fixture
def browser_page(browser: Browser) -> Iterator[Page]:
    """A fresh page at the phone viewport (390 x 844), JavaScript on."""
    page = new_phone_page(browser)
    try:
        yield page
    finally:
        page.context.close()


def screenshot(page: Page, name: str, *, full_page: bool = True) -> Path:
    """Save a PNG of ``page`` as test-output/screenshots/<name>.png and return its path."""
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-") or "page"
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{safe}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path
