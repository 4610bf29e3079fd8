"""Offline first and passkeys in a real browser (Debian's Chromium through Playwright,
tests/support/browser.py) against the service on a local port, reached as ``localhost``
(a secure context for the service worker, WebCrypto and WebAuthn; an IP address is no
WebAuthn relying party id).

A clerk opens the delivery form online once (the service worker keeps it, the device key
is made and registered), goes offline, records deliveries (signed at once with the device
key, shown as waiting to sync), reloads the page offline (still there), goes online: each
is sent once, recorded with the device key's signature, a refusal is shown with its rule
in Mongolian. A staff member adds a passkey and signs in with it (Chromium's virtual
authenticator). Screenshots: test-output/screenshots/console-offline-*.png.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from playwright.sync_api import Browser, ConsoleMessage, Page
from sqlalchemy import select
from sqlalchemy.orm import Session

import support.browser as browser_helpers
from ledger.entry import Entry, event_signing_message
from ledger.sql import storage
from services.actors.models import ActorKey
from services.console import glossary
from services.problem_texts import RULES
from services.staff.models import Passkey
from support.browser import screenshot
from support.certificates import CENTRE, PARTNERSHIP, SITE
from support.console import CLERK, CLERK2, PASSWORD
from support.console_browser import console_service, new_page, no_sideways_scroll

browser = browser_helpers.browser
playwright_driver = browser_helpers.playwright_driver

FORM = "/app/centre/deliveries/new"
NOTES = 'Хүдэр «шар» "ишлэл" \\ ½ 🪨 ёөү'  # escapes, non-ASCII, an astral character


def term(key: str, lang: str = "mn") -> str:
    return glossary.TERMS[key](lang)  # type: ignore[arg-type]


class Service:
    def __init__(self, base: str, app: Any) -> None:
        self.base = base
        self.app = app

    def entries(self) -> list[Entry]:
        with storage.read_transaction(self.app.state.log.engine) as conn:
            rows = storage.read_entries(conn, 0, storage.read_size(conn))
        return [Entry.from_bytes(r.entry) for r in rows]

    def deliveries(self, lot: str) -> list[Entry]:
        return [
            e
            for e in self.entries()
            if e.event.type == "ore.delivered" and e.event.body["lot"] == lot
        ]

    def actor_key(self, actor: str, key_id: str) -> ActorKey | None:
        with storage.read_transaction(self.app.state.log.engine) as conn:
            return Session(bind=conn).get(ActorKey, (actor, key_id))

    def passkeys(self) -> int:
        with storage.read_transaction(self.app.state.log.engine) as conn:
            return len(Session(bind=conn).scalars(select(Passkey.credential_id)).all())


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    # the pages at http://localhost:<port>, as the browser tests have always opened them
    with console_service(tmp_path_factory, "console-offline", host="localhost") as (
        base,
        app,
        _,
    ):
        yield Service(base, app)


def errors_of(page: Page) -> list[str]:
    errors: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        expected = ("ERR_INTERNET_DISCONNECTED", "status of 409", "status of 422")
        if message.type == "error" and not any(e in message.text for e in expected):
            errors.append(message.text)

    page.on("console", on_console)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    return errors


def sign_in(page: Page, base: str, username: str = CLERK, lang: str = "mn") -> None:
    page.goto(f"{base}/app/sign-in?lang={lang}")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("form[action='/app/sign-in'] button[type=submit]")
    page.wait_for_url(f"{base}/app/centre")


DEVICE_KEY = """async () => {
  const db = await new Promise((ok, no) => {
    const r = indexedDB.open("altan-offline", 1);
    r.onsuccess = () => ok(r.result); r.onerror = () => no(r.error);
  });
  const rows = await new Promise((ok) => {
    const r = db.transaction("keys").objectStore("keys").getAll();
    r.onsuccess = () => ok(r.result);
  });
  return rows.map((k) => ({actor: k.actor, key_id: k.key_id, registered: k.registered,
    extractable: k.private.extractable, type: k.private.type}));
}"""

OUTBOX = """async () => {
  const db = await new Promise((ok, no) => {
    const r = indexedDB.open("altan-offline", 1);
    r.onsuccess = () => ok(r.result); r.onerror = () => no(r.error);
  });
  return await new Promise((ok) => {
    const r = db.transaction("outbox").objectStore("outbox").getAll();
    r.onsuccess = () => ok(r.result);
  });
}"""

READY = """async () => {
  const registration = await navigator.serviceWorker.ready;
  const kept = await (await caches.open("altan-console-v1")).match("/app/centre/deliveries/new");
  return Boolean(registration.active && navigator.serviceWorker.controller && kept);
}"""


def go_online_once(page: Page, base: str) -> dict[str, Any]:
    """Open the form online until the worker controls the page and keeps the form, and
    the device key is registered; returns the key as the browser keeps it."""
    page.goto(f"{base}{FORM}")
    deadline = time.monotonic() + 15
    while not page.evaluate(READY):
        assert time.monotonic() < deadline, "the service worker did not take over"
        page.wait_for_timeout(200)
        page.reload()
    deadline = time.monotonic() + 15
    while True:
        keys = page.evaluate(DEVICE_KEY)
        if keys and keys[0]["registered"]:
            return dict(keys[0])
        assert time.monotonic() < deadline, f"the device key was not registered: {keys}"
        page.wait_for_timeout(200)


def fill_delivery(page: Page, *, mass: str, lot: str | None = None, notes: str = "") -> str:
    page.select_option("#miner_site", f"{PARTNERSHIP}|{SITE}")
    page.fill("#mass", mass)
    page.select_option("#unit", "kg")
    if lot is not None:
        page.fill("#lot", lot)
    if notes:
        page.fill("#notes", notes)
    chosen = page.input_value("#lot")
    page.click("button[data-once]")
    return chosen


def item(page: Page, lot: str) -> Any:
    return page.locator("#outbox-list li", has_text=lot)


def test_a_delivery_recorded_offline_is_signed_kept_and_synced_once(
    service: Service, browser: Browser
) -> None:
    page = new_page(browser)
    errors = errors_of(page)
    try:
        sign_in(page, service.base)
        key = go_online_once(page, service.base)
        assert key["actor"] == CENTRE and not key["extractable"] and key["type"] == "private"
        registered = service.actor_key(CENTRE, key["key_id"])
        assert registered is not None and registered.status == "active"

        # a lot recorded online first, to be reused by mistake offline (refused at sync)
        used = fill_delivery(page, mass="100")
        page.wait_for_url("**/app/centre/deliveries?recorded=*")
        assert len(service.deliveries(used)) == 1
        page.goto(f"{service.base}{FORM}")

        page.context.set_offline(True)
        page.wait_for_selector("#offline-banner:visible")
        lot = fill_delivery(page, mass="2 250,5", notes=NOTES)
        waiting = item(page, lot)
        waiting.wait_for()
        assert term("offline.waiting") in waiting.inner_text()
        assert lot not in page.input_value("#lot")  # a fresh lot id for the next bag
        refused_lot = fill_delivery(page, mass="50", lot=used)
        item(page, refused_lot).wait_for()
        screenshot(page, "console-offline-two-waiting-mn-phone")

        page.reload()  # offline: the worker serves the kept form, the outbox survives
        assert page.locator("#mass").count() == 1
        assert term("offline.waiting") in item(page, lot).inner_text()
        assert item(page, refused_lot).count() == 1
        assert service.deliveries(lot) == []

        page.context.set_offline(False)
        synced = page.locator("#outbox-list li.synced", has_text=lot)
        synced.wait_for()
        assert term("offline.synced") in synced.inner_text()
        refused = page.locator("#outbox-list li.refused", has_text=refused_lot)
        refused.wait_for()
        rule = RULES["lot-exists"]("mn")
        assert rule in refused.inner_text() and term("offline.refused") in refused.inner_text()
        screenshot(page, "console-offline-refused-mn-phone")

        # exactly one entry, signed by the device key, naming the clerk
        [entry] = service.deliveries(lot)
        event = entry.event
        assert event.actor_key_id == key["key_id"] and event.staff is not None
        assert event.body["mass_g"] == 2_250_500 and event.body["notes"] == NOTES
        assert event.body["occurred_at"].endswith("+08:00")
        assert registered.public_key is not None
        Ed25519PublicKey.from_public_bytes(registered.public_key).verify(
            event.actor_signature or b"",
            event_signing_message(event.type, event.actor, event.body),
        )
        assert len(service.deliveries(used)) == 1  # the refused one recorded nothing

        # a second sync: the online event again, and the same item posted again
        count = len(service.entries())
        page.evaluate("() => window.dispatchEvent(new Event('online'))")
        kept = [i for i in page.evaluate(OUTBOX) if i["body"]["lot"] == lot]
        assert kept and kept[0]["state"] == "synced"
        again = page.evaluate(
            """async (item) => {
              const who = await (await fetch("/app/session")).json();
              const r = await fetch("/app/outbox", {method: "POST",
                headers: {"Content-Type": "application/json", "X-CSRF-Token": who.csrf_token},
                body: JSON.stringify({type: item.type, body: item.body,
                  signature: item.signature, idempotency_key: item.id})});
              return [r.status, await r.json()];
            }""",
            kept[0],
        )
        assert again[0] == 200 and again[1]["replayed"] is True
        page.wait_for_timeout(300)
        assert len(service.entries()) == count and len(service.deliveries(lot)) == 1

        page.reload()  # the refusal stays until the clerk removes it
        refused = page.locator("#outbox-list li.refused", has_text=refused_lot)
        assert rule in refused.inner_text()
        refused.locator("button").click()
        page.wait_for_function(
            "(lot) => ![...document.querySelectorAll('#outbox-list li')]"
            ".some((li) => li.textContent.includes(lot))",
            arg=refused_lot,
        )
        assert not errors, errors
    finally:
        page.context.close()


def test_the_outbox_waits_for_its_own_actor_to_sign_in_again(
    service: Service, browser: Browser
) -> None:
    """Signed out while offline: the item waits ("sign in again"); a clerk of another
    centre signed in on the device neither sees nor sends it; its own clerk does."""
    page = new_page(browser)
    try:
        sign_in(page, service.base)
        go_online_once(page, service.base)
        page.context.set_offline(True)
        page.wait_for_selector("#offline-banner:visible")
        lot = fill_delivery(page, mass="10")
        item(page, lot).wait_for()
        page.context.clear_cookies()  # the session is gone (idle timeout, say)
        page.context.set_offline(False)
        page.wait_for_selector("#outbox[data-synced]", state="attached")
        assert term("offline.sign_in") in page.inner_text("#outbox-say")
        assert term("offline.waiting") in item(page, lot).inner_text()
        sign_in(page, service.base, CLERK2)
        page.wait_for_selector("#outbox[data-synced]", state="attached")
        assert item(page, lot).count() == 0 and service.deliveries(lot) == []
        page.click("form.signout button")
        page.wait_for_url("**/app/sign-in")
        sign_in(page, service.base)
        page.locator("#outbox-list li.synced", has_text=lot).wait_for()
        assert len(service.deliveries(lot)) == 1
    finally:
        page.context.close()


@pytest.mark.parametrize("lang", ["mn", "en"])
@pytest.mark.parametrize("size", ["phone", "tablet"])
def test_offline_screenshots(service: Service, browser: Browser, size: str, lang: str) -> None:
    page = new_page(browser, size)
    errors = errors_of(page)
    try:
        sign_in(page, service.base, lang=lang)
        go_online_once(page, service.base)
        page.context.set_offline(True)
        page.wait_for_selector("#offline-banner:visible")
        assert term("offline.banner", lang) in page.inner_text("#offline-banner")
        lot = fill_delivery(page, mass="1,5")
        item(page, lot).wait_for()
        assert term("offline.waiting", lang) in item(page, lot).inner_text()
        screenshot(page, f"console-offline-waiting-{lang}-{size}")
        page.fill("#mass", "1,500")  # refused before it is kept: the form's own rule
        page.click("button[data-once]")
        assert term("error.mass_ambiguous", lang) in page.inner_text("#outbox-say")
        assert page.locator("#mass[aria-invalid=true]").count() == 1
        screenshot(page, f"console-offline-mistake-{lang}-{size}")
        page.context.set_offline(False)
        page.locator("#outbox-list li.synced", has_text=lot).wait_for()
        screenshot(page, f"console-offline-synced-{lang}-{size}")
        no_sideways_scroll(page)
        assert not errors, errors
    finally:
        page.context.close()


def test_a_passkey_is_added_and_signs_in(service: Service, browser: Browser) -> None:
    page = new_page(browser)
    errors = errors_of(page)
    try:
        cdp = page.context.new_cdp_session(page)
        cdp.send("WebAuthn.enable", {"enableUI": False})
        cdp.send(
            "WebAuthn.addVirtualAuthenticator",
            {
                "options": {
                    "protocol": "ctap2",
                    "transport": "internal",
                    "hasResidentKey": True,
                    "hasUserVerification": True,
                    "isUserVerified": True,
                    "automaticPresenceSimulation": True,
                }
            },
        )
        before = service.passkeys()
        sign_in(page, service.base)
        page.click("header .who a[href='/app/account']")
        page.wait_for_url("**/app/account")
        page.click("#passkey-add")
        page.wait_for_selector("#passkey-say.notice:visible")
        assert term("passkey.added") in page.inner_text("#passkey-say")
        assert service.passkeys() == before + 1
        screenshot(page, "console-offline-account-mn-phone")

        page.click("form.signout button")
        page.wait_for_url("**/app/sign-in")
        assert page.locator("#passkey-button").is_visible()
        screenshot(page, "console-offline-sign-in-passkey-mn-phone")
        page.click("#passkey-button")  # no username: the discoverable credential
        page.wait_for_url(f"{service.base}/app/centre")
        assert CLERK in page.inner_text("header .who")
        assert not errors, errors
    finally:
        page.context.close()
