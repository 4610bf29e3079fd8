"""The officer and administrator pages in a real browser (Debian's Chromium through
Playwright, as tests/services/console/test_console_browser.py): every page at a phone
(390 x 844) and a tablet (820 x 1180) in Mongolian and English, none scrolling sideways;
screenshots in test-output/screenshots/console-<page>-<lang>-<phone|tablet>.png (git-ignored).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from playwright.sync_api import Browser, Page

import support.browser as browser_helpers
from services.actors.bootstrap import bootstrap_administrator
from services.app import create_app
from services.settings import Settings
from support.browser import TIMEOUT_MS, screenshot
from support.certificates import CENTRE, REGULATOR
from support.console import PASSWORD, cast_for_console
from support.console_officers import REG_CLERK, SYS_ADMIN, add_officer_staff
from support.domain import Api

browser = browser_helpers.browser
playwright_driver = browser_helpers.playwright_driver

VIEWPORTS = {"phone": {"width": 390, "height": 844}, "tablet": {"width": 820, "height": 1180}}
CASE = "CASE-20260914-0000BEEF"


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    data = Path(tmp_path_factory.mktemp("console-officer")) / "data"
    app: Any = create_app(Settings(data_dir=data, public_url=url, access_log=False))
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while not server.started:
            assert time.monotonic() < deadline, "the service did not start"
            time.sleep(0.05)
        with httpx.Client(base_url=url, timeout=10) as client:
            token = bootstrap_administrator(app.state.events)
            assert token is not None
            api = Api(client, token)  # type: ignore[arg-type]
            cast_for_console(api)
            add_officer_staff(api)
            api.ok(
                REGULATOR,
                "case.opened",
                {
                    "case": CASE,
                    "kind": "hold",
                    "target": {"kind": "actor", "id": CENTRE},
                    "category": "bribery_misrepresentation",
                    "description": "Хүлээн авалтын бүртгэл зөрүүтэй байна; баримтыг шалгана.",
                },
            )
        yield url
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def _page(browser: Browser, size: str) -> Page:
    context = browser.new_context(
        viewport=VIEWPORTS[size],  # type: ignore[arg-type]
        device_scale_factor=1,
        is_mobile=True,
        has_touch=True,
        locale="mn-MN",
        timezone_id="Asia/Ulaanbaatar",
    )
    context.set_default_timeout(TIMEOUT_MS)
    return context.new_page()


def _sign_in(page: Page, base: str, username: str) -> None:
    page.goto(f"{base}/app/sign-in")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(lambda u: "/app/sign-in" not in u)


def _no_sideways_scroll(page: Page) -> None:
    wide = page.evaluate(
        "() => [document.documentElement.scrollWidth, window.innerWidth,"
        " [...document.querySelectorAll('body *')].filter(e => {"
        "   const r = e.getBoundingClientRect();"
        "   return r.width > 1 && r.right > window.innerWidth + 1"
        "     && !e.closest('.visually-hidden') && !e.closest('nav.menu ul');"  # a strip
        " }).map(e => e.tagName + '.' + e.className).slice(0, 5)]"
    )
    assert wide[0] <= wide[1] and not wide[2], f"{page.url}: wider than the screen: {wide}"


PAGES = {
    REG_CLERK: [
        ("officer-cases", "/app/officer"),
        ("officer-open", "/app/officer/cases/new"),
        ("officer-case", f"/app/officer/cases/{CASE}"),
        ("officer-reports", "/app/officer/reports"),
    ],
    SYS_ADMIN: [
        ("admin-actors", "/app/admin"),
        ("admin-actor-new", "/app/admin/actors/new"),
        ("admin-site-new", "/app/admin/sites/new"),
        ("admin-actor", f"/app/admin/actors/{CENTRE}"),
    ],
}


@pytest.mark.parametrize("lang", ["mn", "en"])
@pytest.mark.parametrize("size", ["phone", "tablet"])
def test_every_officer_and_admin_page_fits_the_screen(
    base: str, browser: Browser, size: str, lang: str
) -> None:
    for who, pages in PAGES.items():
        page = _page(browser, size)
        try:
            _sign_in(page, base, who)
            for name, path in pages:
                page.goto(f"{base}{path}?lang={lang}")
                assert page.locator("html").get_attribute("lang") == lang
                _no_sideways_scroll(page)
                # a mobile browser zooms out to a wider layout: that too is too wide
                assert page.evaluate("window.innerWidth") == VIEWPORTS[size]["width"], path
                screenshot(page, f"console-{name}-{lang}-{size}")
            if who == SYS_ADMIN:  # a refused registration: the rule, the field marked
                page.goto(f"{base}/app/admin/actors/new")
                page.fill("#actor", "miner:x")
                page.fill("#licence_number", "L-1")
                page.fill("#licence_from", "2026-05-01")
                page.fill("#licence_until", "2026-01-01")
                page.click("button[data-once]")
                assert page.locator("#licence_until[aria-invalid=true]").count() == 1
                _no_sideways_scroll(page)
                screenshot(page, f"console-admin-actor-refused-{lang}-{size}")
        finally:
            page.context.close()
