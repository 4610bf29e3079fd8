"""The console in a real browser: Debian's Chromium through Playwright (tests/support/
browser.py) against the service on a local port (uvicorn, SQLite; tests/support/
console_browser.py).

A clerk signs in, records an ore delivery through the form, finds it in the list and opens
the receipt's print view; then every page is shot at a phone (390 x 844) and a tablet
(820 x 1180) in Mongolian and English, and none may scroll sideways (Mongolian words are
long). Screenshots: test-output/screenshots/console-*.png (git-ignored).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page

import support.browser as browser_helpers
from services.actors.bootstrap import bootstrap_administrator
from services.app import create_app
from services.console import glossary
from services.settings import Settings
from support.browser import screenshot
from support.certificates import PARTNERSHIP, SITE
from support.console import CLERK, PASSWORD, cast_for_console, deliveries_in
from support.console_browser import free_port, new_page, no_sideways_scroll, serving
from support.domain import Api

browser = browser_helpers.browser
playwright_driver = browser_helpers.playwright_driver


class Service:
    def __init__(self, base: str, app: Any) -> None:
        self.base = base
        self.app = app

    def deliveries(self) -> list[Any]:
        return deliveries_in(self.app.state.log.engine)


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    data = Path(tmp_path_factory.mktemp("console")) / "data"
    app = create_app(Settings(data_dir=data, public_url=base, access_log=False))
    with serving(app, port), httpx.Client(base_url=base, timeout=10) as client:
        token = bootstrap_administrator(app.state.events)
        assert token is not None
        cast_for_console(Api(client, token))  # type: ignore[arg-type]
        yield Service(base, app)


def sign_in(page: Page, base: str) -> None:
    page.goto(f"{base}/app")
    assert "/app/sign-in" in page.url
    page.fill("#username", CLERK)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/app/centre")


def test_a_clerk_records_a_delivery_and_prints_the_receipt(
    service: Service, browser: Browser
) -> None:
    page = new_page(browser, "phone")
    errors: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            errors.append(message.text)

    page.on("console", on_console)
    try:
        before = len(service.deliveries())
        sign_in(page, service.base)
        page.click("nav.menu >> text=" + glossary.TERMS["nav.deliver"].mn)
        page.select_option("#miner_site", f"{PARTNERSHIP}|{SITE}")
        page.fill("#mass", "1,5")
        page.select_option("#unit", "t")
        lot = page.input_value("#lot")
        page.click("button[data-once]")
        page.wait_for_url("**/app/centre/deliveries?recorded=*")
        assert lot in page.inner_text("main")
        assert page.locator("[role=status]").count() == 1
        logged = service.deliveries()
        assert len(logged) == before + 1 and logged[-1].event.body["mass_g"] == 1_500_000
        page.click(f"#lot-{lot} >> text=" + glossary.TERMS["action.receipt"].mn)
        page.wait_for_url(f"**/app/centre/deliveries/{lot}/receipt")
        assert page.locator(".qr svg").count() == 1
        page.emulate_media(media="print")
        assert not page.locator("header.bar").is_visible()
        assert page.locator(".sheet").is_visible()
        screenshot(page, "console-receipt-print-mn")
        page.emulate_media(media="screen")
        assert not errors, errors  # no script error, no style or script refused by the CSP
    finally:
        page.context.close()


PAGES = [
    ("landing", "/", False),
    ("sign-in", "/app/sign-in", False),
    ("today", "/app/centre", True),
    ("deliver", "/app/centre/deliveries/new", True),
    ("deliveries", "/app/centre/deliveries", True),
    ("stock", "/app/centre/stock", True),
]


@pytest.mark.parametrize("lang", ["mn", "en"])
@pytest.mark.parametrize("size", ["phone", "tablet"])
def test_every_page_fits_the_screen(
    service: Service, browser: Browser, size: str, lang: str
) -> None:
    page = new_page(browser, size)
    try:
        for name, path, signed in PAGES:
            if signed and "/app/centre" not in page.url:
                sign_in(page, service.base)
            page.goto(f"{service.base}{path}?lang={lang}")
            assert page.locator("html").get_attribute("lang") == lang
            no_sideways_scroll(page)
            screenshot(page, f"console-{name}-{lang}-{size}")
        # the form refused: the rule, the field marked
        page.goto(f"{service.base}/app/centre/deliveries/new")
        page.fill("#mass", "abc")
        page.click("button[data-once]")
        assert page.locator("#mass[aria-invalid=true]").count() == 1
        assert glossary.TERMS["error.mass_number"](lang) in page.inner_text("main")  # type: ignore[arg-type]
        no_sideways_scroll(page)
        screenshot(page, f"console-deliver-refused-{lang}-{size}")
        # a receipt
        lots = service.deliveries()
        if lots:
            lot = lots[0].event.body["lot"]
            page.goto(f"{service.base}/app/centre/deliveries/{lot}/receipt")
            no_sideways_scroll(page)
            screenshot(page, f"console-receipt-{lang}-{size}")
    finally:
        page.context.close()
