"""The processing centre's later pages in a real browser (Chromium through Playwright,
tests/support/browser.py) against the service on a local port (uvicorn, SQLite).

A clerk records a processing run through the form (ticks an ore lot, writes the gold out)
and finds the gold in stock; then every new page (run, offers, offer, cases, a case, a
lot's certificates, the day's register and its print view) is shot at a phone (390 x 844)
and a tablet (820 x 1180) in Mongolian and English, and none may scroll sideways.
Screenshots: test-output/screenshots/console-<page>-<lang>-<phone|tablet>.png.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page

import support.browser as browser_helpers
from ledger.entry import Entry
from ledger.sql import storage
from services.console import glossary
from support.browser import screenshot
from support.certificates import AUDITOR, BANK, CENTRE, PARTNERSHIP, SITE, World
from support.console import CLERK, PASSWORD
from support.console_browser import console_service, new_page, no_sideways_scroll
from support.domain import Api

browser = browser_helpers.browser
playwright_driver = browser_helpers.playwright_driver


class Service:
    def __init__(self, base: str, app: Any) -> None:
        self.base = base
        self.app = app

    def entries(self, type_: str) -> list[Entry]:
        with storage.read_transaction(self.app.state.log.engine) as conn:
            rows = storage.read_entries(conn, 0, storage.read_size(conn))
        found = [Entry.from_bytes(r.entry) for r in rows]
        return [e for e in found if e.event.type == type_]


def _seed(api: Api) -> None:
    """Ore delivered today (by the API, as the counter would), a gold lot with a certificate
    and an open offer, a second gold lot with a case on it."""
    world = World(api)
    for n, mass in enumerate((250_000, 1_250_500)):
        api.ok(
            CENTRE,
            "ore.delivered",
            {
                "lot": f"ORE-TODAY-{n}",
                "miner": PARTNERSHIP,
                "site": SITE,
                "mass_g": mass,
                "mined_on": "2026-09-10",
            },
        )
    world.gold("AU-20260913-7F3A21C9", 48_250)
    world.request("AU-20260913-7F3A21C9")
    api.ok(
        CENTRE,
        "transfer.offered",
        {"offer": "OFFER-20260914-1A2B3C4D", "lot": "AU-20260913-7F3A21C9", "to": BANK},
    )
    world.gold("AU-20260914-0C11D2E3", 12_500)
    api.ok(
        AUDITOR,
        "case.opened",
        {
            "case": "CASE-YIELD-1",
            "kind": "red_flag",
            "target": {"kind": "lot", "id": "AU-20260914-0C11D2E3"},
            "category": "yield_out_of_bounds",
            "description": "Гарц хэт өндөр: 1 тн хүдрээс 125 г алт. Боловсруулалтын бүртгэлийг "
            "шалгана уу.",
        },
    )


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    with console_service(tmp_path_factory, "centre", lambda api, _world: _seed(api)) as (
        base,
        app,
        _,
    ):
        yield Service(base, app)


def _sign_in(page: Page, base: str) -> None:
    page.goto(f"{base}/app")
    page.fill("#username", CLERK)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/app/centre")


def test_a_clerk_records_a_processing_run(service: Service, browser: Browser) -> None:
    page = new_page(browser, "phone")
    errors: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            errors.append(message.text)

    page.on("console", on_console)
    try:
        _sign_in(page, service.base)
        page.click("nav.menu >> text=" + glossary.TERMS["nav.run"].mn)
        page.wait_for_url("**/app/centre/runs/new")
        page.check("input[name=use][value='ORE-TODAY-0']")
        page.fill("#out_mass_0", "9,75")
        gold = page.input_value("#out_lot_0")
        page.click("button[data-once]")
        page.wait_for_url("**/app/centre/stock?run=*")
        assert gold in page.inner_text("main")
        [*_, run] = service.entries("processing.recorded")
        assert run.event.body["inputs"] == [{"lot": "ORE-TODAY-0", "mass_g": 250_000}]
        assert run.event.body["outputs"][0]["mass_mg"] == 9_750
        assert not errors, errors
    finally:
        page.context.close()


PAGES = [
    ("run", "/app/centre/runs/new"),
    ("offers", "/app/centre/offers?status=all"),
    ("offer", "/app/centre/offers/new"),
    ("cases", "/app/centre/cases"),
    ("case", "/app/centre/cases/CASE-YIELD-1"),
    ("certificates", "/app/centre/lots/AU-20260913-7F3A21C9/certificates"),
    ("register", "/app/centre/register?day={day}"),
    ("stock", "/app/centre/stock"),
]


@pytest.mark.parametrize("lang", ["mn", "en"])
@pytest.mark.parametrize("size", ["phone", "tablet"])
def test_every_centre_page_fits_the_screen(
    service: Service, browser: Browser, size: str, lang: str
) -> None:
    page = new_page(browser, size)
    try:
        _sign_in(page, service.base)
        day = service.entries("ore.delivered")[0].event.body["occurred_at"][:10]
        for name, pattern in PAGES:
            path = pattern.format(day=day)
            sep = "&" if "?" in path else "?"
            page.goto(f"{service.base}{path}{sep}lang={lang}")
            assert page.locator("html").get_attribute("lang") == lang
            no_sideways_scroll(page)
            screenshot(page, f"console-{name}-{lang}-{size}")
        # a run refused by the rules: more ore than is left, the field marked
        page.goto(f"{service.base}/app/centre/runs/new")
        page.check("input[name=use][value='ORE-TODAY-1']")
        page.fill("[id='used.ORE-TODAY-1']", "5000")
        page.fill("#out_mass_0", "1")
        page.click("button[data-once]")
        assert page.locator("[id='used.ORE-TODAY-1'][aria-invalid=true]").count() == 1
        no_sideways_scroll(page)
        screenshot(page, f"console-run-refused-{lang}-{size}")
        # the register as printed (A4)
        page.goto(f"{service.base}/app/centre/register?day={day}")
        assert page.locator(".qr svg").count() == 1
        page.emulate_media(media="print")
        assert not page.locator("header.bar").is_visible()
        screenshot(page, f"console-register-print-{lang}-{size}")
        page.emulate_media(media="screen")
    finally:
        page.context.close()
