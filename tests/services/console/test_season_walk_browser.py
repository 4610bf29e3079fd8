"""A whole season through the console, in a real browser (Debian's Chromium through
Playwright, tests/support/browser.py) against the service served by uvicorn on a local port
(reached as ``localhost``: a secure context for the service worker and WebCrypto), on a
fresh database (SQLite; PostgreSQL too, a schema of its own).

Every role signs in with its own staff account in its own browser context:

 1. the system administrator registers a processing centre, a miner and its mine site, a
    laboratory, the central bank (a buyer) and a regulator, and a staff account for each;
 2. the centre's clerk records two deliveries online (one with a double click on the
    button), then one offline (kept in the outbox, the page reloaded offline, synced once
    when the network returns), a processing run of the three, and requests the gold's
    certificate;
 3. the laboratory records the gold's assay;
 4. the centre offers the gold to the central bank, which accepts it in its inbox;
 5. the miner prints one of its receipts again;
 6. the regulator opens a case on the gold.

After each step the page it ended on (and the pages visited on the way) is shot at a phone
(390 x 844) and a tablet (820 x 1180) in Mongolian and English, none scrolling sideways:
test-output/screenshots/season-<nn>-<page>-<lang>-<phone|tablet>.png. After the walk the
log audits clean (`altan audit` over HTTP), holds exactly the entries the walk recorded
(no duplicate from the offline sync or the double click), and each names the staff member
who recorded it.

Run time: about a minute per database on two shared cores, most of it the screenshots.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Page
from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

import support.browser as browser_helpers
from clients import cli
from ledger.entry import Entry
from ledger.sql import storage
from services.actors.bootstrap import bootstrap_administrator
from services.app import create_app
from services.console import glossary
from services.settings import Settings
from services.staff.models import Staff
from support.browser import screenshot
from support.console_browser import (
    VIEWPORTS,
    free_port,
    fresh_database,
    new_context,
    ready_for_offline,
    serving,
    wider_than_screen,
)
from support.staff import DATABASES

browser = browser_helpers.browser
playwright_driver = browser_helpers.playwright_driver

PASSWORD = "namrын-ургац-2026"
SYS_ADMIN = "root.admin"
CENTRE, MINER, LAB, BANK, REGULATOR = (
    "centre:zaamar",
    "miner:ochir",
    "lab:erdenet",
    "buyer:mongolbank",
    "regulator:ashm",
)
SITE = "SITE-OCHIR-1"
STAFF = {  # actor: its staff member's username
    CENTRE: "bat.clerk",
    MINER: "ochir.miner",
    LAB: "oyun.lab",
    BANK: "saraa.buyer",
    REGULATOR: "tuya.regulator",
}
# What the walk records, by type: the device key (`actor.key_added`, once, by the centre);
# the certificates the service issues itself (by `system:altan`, with no staff member): a
# receipt per delivery, the gold's on request, again after the assay and after the sale.
EXPECTED = {
    "certificate.issued": 6,
    "actor.registered": 5,
    "site.registered": 1,
    "actor.key_added": 1,
    "ore.delivered": 3,
    "processing.recorded": 1,
    "certificate.requested": 1,
    "assay.recorded": 1,
    "transfer.offered": 1,
    "transfer.accepted": 1,
    "case.opened": 1,
}
IGNORED_ERRORS = ("ERR_INTERNET_DISCONNECTED",)


def term(key: str, lang: str = "mn") -> str:
    return glossary.TERMS[key](lang)  # type: ignore[arg-type]


def with_lang(url: str, lang: str) -> str:
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k != "lang"] + [("lang", lang)]
    return urlunsplit(parts._replace(query=urlencode(query)))


class Walk:
    """The service, the browser, what was seen on the way (pages too wide, script errors)."""

    def __init__(self, base: str, app: Any, browser: Browser) -> None:
        self.base = base
        self.app = app
        self.browser = browser
        self.shot = 0
        self.too_wide: list[str] = []
        self.errors: list[str] = []
        self.contexts: list[BrowserContext] = []

    def entries(self) -> list[Entry]:
        with storage.read_transaction(self.app.state.log.engine) as conn:
            rows = storage.read_entries(conn, 0, storage.read_size(conn))
        return [Entry.from_bytes(r.entry) for r in rows]

    def staff_ids(self) -> dict[str, str]:
        with storage.read_transaction(self.app.state.log.engine) as conn:
            rows = Session(bind=conn).execute(select(Staff.username, Staff.id)).all()
        return {username: staff_id for username, staff_id in rows}

    def signed_in(self, username: str) -> Page:
        """A fresh browser context (a phone) with `username` signed in, on its home page."""
        context = new_context(self.browser, "phone")
        self.contexts.append(context)
        page = context.new_page()

        def on_console(message: ConsoleMessage) -> None:
            if message.type == "error" and not any(e in message.text for e in IGNORED_ERRORS):
                self.errors.append(f"{username} {page.url}: {message.text}")

        page.on("console", on_console)
        page.on("pageerror", lambda exc: self.errors.append(f"{username}: {exc}"))
        page.goto(f"{self.base}/app/sign-in")
        page.fill("#username", username)
        page.fill("#password", PASSWORD)
        page.click("form[action='/app/sign-in'] button[type=submit]")
        page.wait_for_url(lambda url: "/app/sign-in" not in url)
        assert username in page.inner_text("header .who")
        return page

    def shots(self, page: Page, name: str) -> None:
        """The page `page` is on, at both sizes in both languages (Mongolian last, so the
        language cookie is Mongolian again for the next step)."""
        self.shot += 1
        url = page.url
        viewport = page.viewport_size
        for size in ("tablet", "phone"):
            page.set_viewport_size(VIEWPORTS[size])  # type: ignore[arg-type]
            for lang in ("en", "mn"):
                page.goto(with_lang(url, lang))
                assert page.locator("html").get_attribute("lang") == lang, page.url
                self._fits(page)
                screenshot(page, f"season-{self.shot:02d}-{name}-{lang}-{size}")
        if viewport is not None:
            page.set_viewport_size(viewport)

    def _fits(self, page: Page) -> None:
        if (found := wider_than_screen(page)) is not None:
            self.too_wide.append(found)

    def close(self) -> None:
        for context in self.contexts:
            context.close()


@pytest.fixture(params=DATABASES)
def walk(request: pytest.FixtureRequest, tmp_path: Path, browser: Browser) -> Iterator[Walk]:
    port = free_port()
    base = f"http://localhost:{port}"
    with fresh_database(request.param) as url:
        database = {"database_url": url} if url is not None else {}
        settings = Settings(
            data_dir=tmp_path / "data", public_url=base, access_log=False, **database
        )
        app = create_app(settings)
        with serving(app, port):
            token = bootstrap_administrator(app.state.events)
            assert token is not None
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
                made = client.post(
                    "/staff",
                    json={
                        "actor": "admin:root",
                        "username": SYS_ADMIN,
                        "display_name": "Системийн админ",
                        "password": PASSWORD,
                        "is_admin": True,
                    },
                    headers={"Authorization": f"Bearer {token}"},
                )
                assert made.status_code == 201, made.text
            walk = Walk(base, app, browser)
            try:
                yield walk
            finally:
                walk.close()


# -- the steps -------------------------------------------------------------------------------


def register_actor(
    page: Page, walk: Walk, actor: str, role: str, *, shoot: bool = False, **fields: str
) -> None:
    """The administrator registers `actor`, then a staff account for it."""
    page.goto(f"{walk.base}/app/admin")
    page.click("a[href='/app/admin/actors/new']")
    page.wait_for_url("**/app/admin/actors/new")
    if shoot:
        walk.shots(page, "admin-actor-new")
    page.select_option("#role", role)
    page.fill("#actor", actor)
    if "buyer_kind" in fields:
        page.select_option("#buyer_kind", fields["buyer_kind"])
    if "licence" in fields:
        page.fill("#licence_number", fields["licence"])
        page.fill("#licence_from", "2026-01-01")
        page.fill("#licence_until", "2028-12-31")
    if "soum" in fields:
        page.select_option("#aimag", "Төв")
        page.fill("#soum", fields["soum"])
    page.click("button[data-once]")
    page.wait_for_url(f"**/app/admin/actors/{actor}?done=registered")
    page.fill("#username", STAFF[actor])
    page.fill("#display_name", f"{STAFF[actor].split('.')[0].title()} ({actor})")
    page.fill("#password", PASSWORD)
    page.click(f"form[action='/app/admin/actors/{actor}/staff'] button[type=submit]")
    page.wait_for_url(f"**/app/admin/actors/{actor}?done=staff")
    assert STAFF[actor] in page.inner_text("main")


def step_admin(walk: Walk) -> None:
    page = walk.signed_in(SYS_ADMIN)
    walk.shots(page, "admin-actors-empty")
    register_actor(
        page, walk, CENTRE, "processing_centre", shoot=True, licence="PC-0042", soum="Заамар"
    )
    walk.shots(page, "admin-centre")
    register_actor(page, walk, MINER, "miner", soum="Заамар")
    page.click(f"a[href='/app/admin/sites/new?owner={MINER.replace(':', '%3A')}']")
    page.wait_for_url("**/app/admin/sites/new?owner=*")
    walk.shots(page, "admin-site-new")
    page.fill("#site", SITE)
    page.select_option("#owner", MINER)
    page.select_option("#aimag", "Төв")
    page.fill("#soum", "Заамар")
    page.fill("#lat", "48,21")
    page.fill("#lon", "104,66")
    page.click("button[data-once]")
    page.wait_for_url(f"**/app/admin/actors/{MINER}?done=site")
    assert SITE in page.inner_text("main")
    walk.shots(page, "admin-miner")
    register_actor(page, walk, LAB, "laboratory")
    register_actor(page, walk, BANK, "buyer", buyer_kind="central_bank")
    register_actor(page, walk, REGULATOR, "regulator")
    page.goto(f"{walk.base}/app/admin")
    for actor in STAFF:
        assert actor in page.inner_text("main")
    walk.shots(page, "admin-actors")


def deliver(page: Page, *, mass: str, unit: str = "kg", double: bool = False) -> str:
    page.select_option("#miner_site", f"{MINER}|{SITE}")
    page.fill("#mass", mass)
    page.select_option("#unit", unit)
    lot = page.input_value("#lot")
    if double:
        page.dblclick("button[data-once]")
    else:
        page.click("button[data-once]")
    return lot


def step_centre(walk: Walk) -> tuple[Page, list[str]]:
    """Three deliveries (the last offline); returns the clerk's page and the ore lots."""
    page = walk.signed_in(STAFF[CENTRE])
    walk.shots(page, "centre-today-empty")
    form = f"{walk.base}/app/centre/deliveries/new"
    ready_for_offline(page, form)
    walk.shots(page, "centre-deliver")
    lots = [deliver(page, mass="1 250,5")]
    page.wait_for_url("**/app/centre/deliveries?recorded=*")
    page.goto(form)
    lots.append(deliver(page, mass="0,8", unit="t", double=True))
    page.wait_for_url("**/app/centre/deliveries?recorded=*")
    for lot in lots:
        assert lot in page.inner_text("main")
    walk.shots(page, "centre-deliveries")

    page.goto(form)
    page.context.set_offline(True)
    page.wait_for_selector("#offline-banner:visible")
    lot = deliver(page, mass="640")
    waiting = page.locator("#outbox-list li", has_text=lot)
    waiting.wait_for()
    assert term("offline.waiting") in waiting.inner_text()
    screenshot(page, "season-offline-waiting-mn-phone")
    page.reload()  # offline: the worker serves the kept form, the outbox survives
    assert term("offline.waiting") in page.locator("#outbox-list li", has_text=lot).inner_text()
    assert [e for e in walk.entries() if e.event.body.get("lot") == lot] == []
    page.context.set_offline(False)
    synced = page.locator("#outbox-list li.synced", has_text=lot)
    synced.wait_for()
    screenshot(page, "season-offline-synced-mn-phone")
    lots.append(lot)
    page.goto(f"{walk.base}/app/centre/deliveries")
    assert lot in page.inner_text("main")
    return page, lots


def step_run_and_certificate(walk: Walk, page: Page, ore: list[str]) -> str:
    """A processing run of the three ore lots; the gold's certificate requested."""
    page.goto(f"{walk.base}/app/centre/stock")
    walk.shots(page, "centre-stock-ore")
    page.click("nav.menu >> text=" + term("nav.run"))
    page.wait_for_url("**/app/centre/runs/new")
    for lot in ore:
        page.check(f"input[name=use][value='{lot}']")
    page.fill("#out_mass_0", "96,4")
    page.check("#mercury_free")
    gold = page.input_value("#out_lot_0")
    page.click("button[data-once]")
    page.wait_for_url("**/app/centre/stock?run=*")
    assert gold in page.inner_text("main")
    walk.shots(page, "centre-stock-gold")
    page.goto(f"{walk.base}/app/centre/lots/{gold}/certificates")
    page.click("button[data-once]")
    page.wait_for_url(f"**/app/centre/lots/{gold}/certificates?requested=1")
    walk.shots(page, "centre-certificates")
    page.click("a[href^='/app/centre/certificates/']")
    page.wait_for_url("**/app/centre/certificates/*/print")
    walk.shots(page, "centre-certificate-print")
    return gold


def step_lab(walk: Walk, gold: str) -> None:
    page = walk.signed_in(STAFF[LAB])
    assert gold in page.inner_text("main")
    walk.shots(page, "lab-waiting")
    page.click(f"a[href='/app/lab/assay?lot={gold}']")
    page.wait_for_url("**/app/lab/assay?lot=*")
    assert page.input_value("#lot") == gold
    walk.shots(page, "lab-assay")
    page.fill("#fineness", "912")
    page.fill("#sample", "S-0001")
    page.click("button[data-once]")
    page.wait_for_url("**/app/lab?recorded=*")
    walk.shots(page, "lab-recorded")


def step_offer(walk: Walk, page: Page, gold: str) -> None:
    page.goto(f"{walk.base}/app/centre/offers/new")
    walk.shots(page, "centre-offer-new")
    page.select_option("#lot", gold)
    page.select_option("#to", BANK)
    page.click("button[data-once]")
    page.wait_for_url("**/app/centre/offers?status=open&done=offered")
    assert gold in page.inner_text("main")
    walk.shots(page, "centre-offers")


def step_buyer(walk: Walk, gold: str) -> None:
    page = walk.signed_in(STAFF[BANK])
    assert gold in page.inner_text("main")
    walk.shots(page, "buyer-inbox")
    page.click("form.accept button[data-once]")
    page.wait_for_url(f"**/app/buyer?accepted={gold}")
    walk.shots(page, "buyer-accepted")
    page.goto(f"{walk.base}/app/buyer/lots")
    assert gold in page.inner_text("main")
    walk.shots(page, "buyer-lots")
    page.goto(f"{walk.base}/app/buyer/lots/{gold}")
    walk.shots(page, "buyer-lot")


def step_miner(walk: Walk, ore: list[str]) -> None:
    page = walk.signed_in(STAFF[MINER])
    for lot in ore:
        assert lot in page.inner_text("main")
    walk.shots(page, "miner-deliveries")
    page.click(f"a[href='/app/miner/deliveries/{ore[0]}/receipt']")
    page.wait_for_url(f"**/app/miner/deliveries/{ore[0]}/receipt")
    assert ore[0] in page.inner_text("main")
    walk.shots(page, "miner-receipt")
    page.emulate_media(media="print")
    assert not page.locator("header.bar").is_visible()
    screenshot(page, "season-miner-receipt-print-mn")
    page.emulate_media(media="screen")


def step_regulator(walk: Walk, gold: str) -> str:
    page = walk.signed_in(STAFF[REGULATOR])
    walk.shots(page, "officer-cases-empty")
    page.goto(f"{walk.base}/app/officer/cases/new")
    page.check("input[name=kind][value=red_flag]")
    page.select_option("#target_kind", "lot")
    page.fill("#target_id", gold)
    page.fill("#description", "Гарц шалгах: 3 хүлээн авалтаас 96,4 г алт.")
    page.click("button[data-once]")
    page.wait_for_url("**/app/officer/cases/*?done=opened")
    case = page.url.split("/app/officer/cases/")[1].split("?")[0]
    assert gold in page.inner_text("main")
    walk.shots(page, "officer-case")
    page.goto(f"{walk.base}/app/officer")
    assert case in page.inner_text("main")
    walk.shots(page, "officer-cases")
    page.goto(f"{walk.base}/app/officer/reports")
    walk.shots(page, "officer-reports")
    return case


def audit(base: str, size: int) -> dict[str, Any]:
    """`altan audit` of the running service over HTTP, the whole log, as JSON, once a
    checkpoint covers its first `size` entries."""
    deadline = time.monotonic() + 20
    while int(httpx.get(f"{base}/log/checkpoint", timeout=10).text.splitlines()[1]) < size:
        assert time.monotonic() < deadline, "no checkpoint covers the walk"
        time.sleep(0.2)
    [key] = httpx.get(f"{base}/log/keys", timeout=10).json()["keys"]
    args = ["audit", base, "--key", key["verifier_key"], "--no-state", "--json", "--quiet"]
    result = CliRunner().invoke(cli.app, [*args, "--workers", "1"], catch_exceptions=False)
    assert result.exit_code == 0, result.stdout + result.stderr
    report: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return report


@pytest.mark.slow
def test_a_whole_season_through_the_console(walk: Walk) -> None:
    before = len(walk.entries())
    step_admin(walk)
    page, ore = step_centre(walk)
    gold = step_run_and_certificate(walk, page, ore)
    step_lab(walk, gold)
    step_offer(walk, page, gold)
    step_buyer(walk, gold)
    step_miner(walk, ore)
    case = step_regulator(walk, gold)

    everything = walk.entries()
    walked = everything[before:]
    report = audit(f"http://127.0.0.1:{urlsplit(walk.base).port}", len(everything))
    assert report["ok"] and report["failure"] is None, report
    assert report["entries_verified"] == report["tree_size"] == len(everything), report

    # exactly what was recorded, once each: no duplicate from the sync or the double click
    # (each append ends with its state.root: how many depends on how requests were batched)
    assert Counter(e.event.type for e in walked if e.event.type != "state.root") == EXPECTED
    delivered = [e.event.body["lot"] for e in walked if e.event.type == "ore.delivered"]
    assert sorted(delivered) == sorted(ore)
    [opened] = [e for e in walked if e.event.type == "case.opened"]
    assert opened.event.body["case"] == case

    # each entry names the staff member who recorded it (a staff id, no personal data)
    ids = walk.staff_ids()
    who: dict[str, str | None] = {"admin:root": ids[SYS_ADMIN], "system:altan": None}
    who |= {actor: ids[name] for actor, name in STAFF.items()}
    assert [(e.event.type, e.event.staff) for e in walked] == [
        (e.event.type, who[e.event.actor]) for e in walked
    ]
    offline = next(e for e in walked if e.event.body.get("lot") == ore[-1])
    assert offline.event.actor_key_id is not None  # signed in the browser with the device key

    assert not walk.too_wide, walk.too_wide
    assert not walk.errors, walk.errors
