"""The officer and administrator pages in a real browser (Debian's Chromium through
Playwright, as tests/services/console/test_console_browser.py): every page at a phone
(390 x 844) and a tablet (820 x 1180) in Mongolian and English, none scrolling sideways;
screenshots in test-output/screenshots/console-<page>-<lang>-<phone|tablet>.png (git-ignored).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page

import support.browser as browser_helpers
from support.browser import screenshot
from support.certificates import CENTRE, REGULATOR
from support.console import PASSWORD
from support.console_browser import VIEWPORTS, console_service, new_page, no_sideways_scroll
from support.console_officers import REG_CLERK, SYS_ADMIN, add_officer_staff
from support.domain import Api

browser = browser_helpers.browser
playwright_driver = browser_helpers.playwright_driver

CASE = "CASE-20260914-0000BEEF"


def _seed(api: Api, _world: object) -> None:
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


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with console_service(tmp_path_factory, "console-officer", _seed) as (url, _app, _):
        yield url


def _sign_in(page: Page, base: str, username: str) -> None:
    page.goto(f"{base}/app/sign-in")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(lambda u: "/app/sign-in" not in u)


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
        page = new_page(browser, size)
        try:
            _sign_in(page, base, who)
            for name, path in pages:
                page.goto(f"{base}{path}?lang={lang}")
                assert page.locator("html").get_attribute("lang") == lang
                no_sideways_scroll(page)
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
                no_sideways_scroll(page)
                screenshot(page, f"console-admin-actor-refused-{lang}-{size}")
        finally:
            page.context.close()
