"""The verify page end to end: a real service on a local port (uvicorn, SQLite), a season
recorded through its API, and Debian's Chromium at a phone viewport opening `/c/{token}`
the way a phone camera does, for a genuine, a forged and a superseded certificate, in both
languages. The page's own script re-checks the inclusion proof with WebCrypto; a
screenshot of each is saved under test-output/screenshots/.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from playwright.sync_api import Browser

import support.browser as browser_helpers
from ledger.certificate import parse_qr_text, token_text
from services import i18n
from services.actors.bootstrap import bootstrap_administrator
from services.app import create_app
from services.settings import Settings
from support.browser import new_phone_page, screenshot
from support.certificates import CENTRE, LAB, World, populate
from support.domain import Api

browser = browser_helpers.browser
playwright_driver = browser_helpers.playwright_driver


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Site:
    """The running service and the tokens the tests open."""

    def __init__(self, base: str, genuine: str, forged: str, superseded: str) -> None:
        self.base = base
        self.tokens = {"genuine": genuine, "forged": forged, "superseded": superseded}


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    cfg = Settings(
        data_dir=Path(tmp_path_factory.mktemp("e2e")) / "data", public_url=base, access_log=False
    )
    app = create_app(cfg)
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
        with httpx.Client(base_url=base, timeout=10) as client:
            token = bootstrap_administrator(app.state.events)
            assert token is not None
            w = populate(Api(client, token))  # type: ignore[arg-type]
            yield Site(base, *season(w))
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def season(w: World) -> tuple[str, str, str]:
    w.gold("AU-1", 1_234_567)
    w.api.ok(LAB, "assay.recorded", {"lot": "AU-1", "fineness_ppt": 995})
    w.request("AU-1")
    genuine = w.latest_token("AU-1")
    flipped = bytearray(parse_qr_text(genuine))
    flipped[-5] ^= 0x10  # a byte of the signature
    w.gold("AU-2", 500_000)
    w.request("AU-2", by=CENTRE)
    superseded = w.latest_token("AU-2")
    w.api.ok(LAB, "assay.recorded", {"lot": "AU-2", "fineness_ppt": 912})
    assert w.verdict(superseded)["reason"] == "superseded"
    return genuine, token_text(bytes(flipped)), superseded


@pytest.mark.parametrize("lang", ["mn", "en"])
@pytest.mark.parametrize(
    ("name", "verdict", "check"),
    [
        ("genuine", "genuine", "ok"),
        ("forged", "not_genuine", "not_applicable"),
        ("superseded", "not_current", "ok"),
    ],
)
def test_a_phone_opens_the_certificate(
    site: Site, browser: Browser, name: str, verdict: str, check: str, lang: str
) -> None:
    page = new_phone_page(browser)
    try:
        url = f"{site.base}/c/{site.tokens[name]}" + ("?lang=en" if lang == "en" else "")
        response = page.goto(url, wait_until="load")
        assert response is not None and response.status == 200
        assert page.locator("html").get_attribute("lang") == lang
        shown = page.locator("[role=status]").inner_text()
        assert i18n.MESSAGES[lang][f"verdict.{verdict}"] in shown  # type: ignore[index]
        if name == "superseded":
            assert i18n.MESSAGES[lang]["reason.superseded"] in page.inner_text("body")  # type: ignore[index]
        page.wait_for_function(
            "document.getElementById('browser-check').dataset.result !== 'pending'"
        )
        assert page.locator("#browser-check").get_attribute("data-result") == check
        if name != "forged":
            assert "AU-" in page.inner_text("body")
        screenshot(page, f"e2e-{name}-{lang}")
    finally:
        page.context.close()
