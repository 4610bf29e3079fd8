"""The buyer's, miner's and lab's console pages in a real browser (Debian's Chromium
through Playwright, the service on a local port), and the ore receipt's public page after
milling: each shot at a phone (390 x 844) and a tablet (820 x 1180) in Mongolian and
English, none scrolling sideways. Screenshots: test-output/screenshots/console-*.png.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, Page

import support.browser as browser_helpers
from services.console import glossary
from support.browser import screenshot
from support.certificates import CENTRE, World
from support.console import PASSWORD
from support.console_browser import console_service, new_page, no_sideways_scroll
from support.console_roles import BANK_CLERK, LAB_CLERK, MINER_CLERK, add_role_staff
from support.domain import Api

browser = browser_helpers.browser
playwright_driver = browser_helpers.playwright_driver


class Service:
    def __init__(self, base: str, app: Any, receipt: str) -> None:
        self.base = base
        self.app = app
        self.receipt = receipt  # the token of a milled ore lot's receipt


def _seed(api: Api, world: World) -> str:
    """Staff for every role, a gold lot sold to the bank and one offered to it; the token
    of a milled ore lot's receipt."""
    add_role_staff(api)
    world.gold("GOLD-SOLD", 120_500)
    world.request("GOLD-SOLD")
    world.offer_and_accept("OFFER-0", "GOLD-SOLD", "buyer:mongolbank")
    world.gold("GOLD-B", 50_250)
    world.request("GOLD-B")
    api.ok(
        CENTRE, "transfer.offered", {"offer": "OFFER-B", "lot": "GOLD-B", "to": "buyer:mongolbank"}
    )
    return str(
        next(c["token"] for c in world.certificates("ORE-GOLD-B") if c["kind"] == "ore_receipt")
    )


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    with console_service(tmp_path_factory, "console-roles", _seed) as (base, app, receipt):
        assert receipt is not None
        yield Service(base, app, receipt)


def sign_in(page: Page, base: str, username: str, home: str) -> None:
    page.goto(f"{base}/app/sign-in")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}{home}")


ROLES = [
    (
        BANK_CLERK,
        "/app/buyer",
        [
            ("buyer-inbox", "/app/buyer"),
            ("buyer-lots", "/app/buyer/lots"),
            ("buyer-lot", "/app/buyer/lots/GOLD-SOLD"),
        ],
    ),
    (
        MINER_CLERK,
        "/app/miner",
        [
            ("miner-deliveries", "/app/miner"),
            ("miner-receipt", "/app/miner/deliveries/ORE-GOLD-B/receipt"),
        ],
    ),
    (
        LAB_CLERK,
        "/app/lab",
        [("lab-waiting", "/app/lab"), ("lab-assay", "/app/lab/assay?lot=GOLD-B")],
    ),
]


@pytest.mark.parametrize("lang", ["mn", "en"])
@pytest.mark.parametrize("size", ["phone", "tablet"])
def test_every_role_page_fits_the_screen(
    service: Service, browser: Browser, size: str, lang: str
) -> None:
    for username, home, pages in ROLES:
        page = new_page(browser, size)
        try:
            sign_in(page, service.base, username, home)
            for name, path in pages:
                sep = "&" if "?" in path else "?"
                page.goto(f"{service.base}{path}{sep}lang={lang}")
                assert page.locator("html").get_attribute("lang") == lang
                no_sideways_scroll(page)
                screenshot(page, f"console-{name}-{lang}-{size}")
        finally:
            page.context.close()
    page = new_page(browser, size)
    try:  # the miner's receipt, its public page after milling
        page.goto(f"{service.base}/c/{service.receipt}?lang={lang}")
        verdict = page.inner_text("#verdict")
        assert glossary.TERMS["gold"](lang) not in verdict  # type: ignore[arg-type]
        assert "GOLD-B" not in page.inner_text("body").replace("ORE-GOLD-B", "")
        no_sideways_scroll(page)
        screenshot(page, f"console-receipt-processed-{lang}-{size}")
    finally:
        page.context.close()
