"""The console's menu and its offline pages in a real browser (Debian's Chromium through
Playwright), served on a local port reached as ``localhost`` (a secure context for the
service worker):

- on a phone (390 x 844) the centre's eight entries are one row swiped sideways, not a block
  above the content, and the current page's entry is in view; on a tablet (820 x 1180) the
  menu stays a grid of buttons. Screenshots: test-output/screenshots/console-nav-*.png;
- a page the service worker serves from its cache (today, stock) says it is as of the time
  it was made, offline; the same page online says nothing of the kind.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page

import support.browser as browser_helpers
from services.actors.bootstrap import bootstrap_administrator
from services.app import create_app
from services.console import glossary
from services.settings import Settings
from support.browser import screenshot
from support.console import CLERK, PASSWORD, cast_for_console
from support.console_browser import (
    free_port,
    new_page,
    no_sideways_scroll,
    ready_for_offline,
    serving,
)
from support.domain import Api

browser = browser_helpers.browser
playwright_driver = browser_helpers.playwright_driver

FORM = "/app/centre/deliveries/new"


def term(key: str, lang: str = "mn") -> str:
    return glossary.TERMS[key](lang)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    data = Path(tmp_path_factory.mktemp("console-polish")) / "data"
    app = create_app(
        Settings(data_dir=data, public_url=f"http://localhost:{port}", access_log=False)
    )
    with serving(app, port):
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            token = bootstrap_administrator(app.state.events)
            assert token is not None
            cast_for_console(Api(client, token))  # type: ignore[arg-type]
        yield f"http://localhost:{port}"


def _sign_in(page: Page, base: str, lang: str) -> None:
    page.goto(f"{base}/app/sign-in?lang={lang}")
    page.fill("#username", CLERK)
    page.fill("#password", PASSWORD)
    page.click("form[action='/app/sign-in'] button[type=submit]")
    page.wait_for_url(f"{base}/app/centre")


@pytest.mark.parametrize("lang", ["mn", "en"])
@pytest.mark.parametrize("size", ["phone", "tablet"])
def test_the_menu_is_compact_on_a_phone(base: str, browser: Browser, size: str, lang: str) -> None:
    page = new_page(browser, size)
    try:
        _sign_in(page, base, lang)
        page.goto(f"{base}/app/centre/register")  # the last of the eight entries
        menu = page.locator("nav.menu")
        height = menu.bounding_box()["height"]  # type: ignore[index]
        current = page.locator("nav.menu a[aria-current=page]")
        assert current.inner_text() == term("nav.register", lang)
        box = current.bounding_box()
        assert box is not None
        viewport = page.viewport_size
        assert viewport is not None
        assert box["x"] >= 0 and box["x"] + box["width"] <= viewport["width"]  # in view
        if size == "phone":
            assert height <= 70, f"the menu takes {height} px"
            tops = page.evaluate(
                "() => [...document.querySelectorAll('nav.menu li')]"
                ".map(li => Math.round(li.getBoundingClientRect().top))"
            )
            assert len(tops) == 8 and len(set(tops)) == 1  # one row
        else:
            assert (
                page.evaluate(
                    "() => getComputedStyle(document.querySelector('nav.menu ul')).display"
                )
                == "grid"
            )
        no_sideways_scroll(page)
        screenshot(page, f"console-nav-register-{lang}-{size}", full_page=False)
        page.goto(f"{base}/app/centre")
        screenshot(page, f"console-nav-today-{lang}-{size}", full_page=False)
        no_sideways_scroll(page)
    finally:
        page.context.close()


@pytest.mark.parametrize("lang", ["mn", "en"])
def test_a_page_served_offline_says_as_of_when(base: str, browser: Browser, lang: str) -> None:
    page = new_page(browser, "phone")
    try:
        _sign_in(page, base, lang)
        ready_for_offline(page, f"{base}{FORM}")
        for path in ("/app/centre", "/app/centre/stock"):
            page.goto(f"{base}{path}")  # online: kept by the worker, no note
            assert not page.locator(".as-of").is_visible()
            made = page.evaluate("() => document.querySelector('.as-of').textContent")
        page.context.set_offline(True)
        for path, name in (("/app/centre", "today"), ("/app/centre/stock", "stock")):
            page.goto(f"{base}{path}")
            note = page.locator(".as-of")
            assert note.is_visible(), path
            when = re.search(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}", made)
            assert when is not None, made
            assert note.inner_text().strip() == term("offline.as_of", lang).format(time=when[0])
            screenshot(page, f"console-offline-as-of-{name}-{lang}-phone")
        page.context.set_offline(False)
        page.goto(f"{base}/app/centre/stock")
        assert not page.locator(".as-of").is_visible()
    finally:
        page.context.close()
