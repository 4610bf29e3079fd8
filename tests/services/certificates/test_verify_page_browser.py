"""The verify page in a real browser (Debian Chromium, phone viewport): what a person sees,
and the page's own JavaScript re-check of the inclusion proof and checkpoint signature.

Pages are rendered by services.certificates.pages.verify_page from the sample verdicts of
test_certificate_pages and served from a local http.server (127.0.0.1, a thread) with the
page's Content-Security-Policy, so a blocked inline script or style would show up here.
Screenshots go to test-output/screenshots/.
"""

from __future__ import annotations

import base64
import threading
from collections.abc import Callable, Iterator, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Literal
from urllib.parse import parse_qs, urlsplit

import pytest
import zxingcpp
from PIL import Image
from playwright.sync_api import Browser, ConsoleMessage, Page, Request

import support.browser as browser_helpers
from ledger.certificate import qr_text, sign_certificate
from schemas.certificates import VerdictOut
from services import i18n
from services.certificates import images, pages
from support.browser import new_phone_page, screenshot
from support.certificate_pages import (
    ATTACKER,
    ATTACKER_TOKEN,
    ENTRIES,
    LOG_ORIGIN,
    OTHER_SIGNER,
    SIGNER,
    TOKEN,
    fabricated_view,
    flipped_path_view,
    forged_view,
    genuine_view,
    log_signer,
    malformed_view,
    revoked_view,
    sample_certificate,
    superseded_view,
)
from support.synthetic_status import Story, lies, lying, story

# the fixtures of tests/support/browser.py, used by the tests below
browser = browser_helpers.browser
browser_page = browser_helpers.browser_page
playwright_driver = browser_helpers.playwright_driver

Lang = Literal["mn", "en"]
LANGS: tuple[Lang, ...] = ("mn", "en")


class PageServer:
    """Serves ``/c/<name>?lang=..`` as rendered verify pages (views registered by name).

    A view registered with a token is rendered as the page of that token (the address the
    page names, and whose COSE signature the browser checks); without one, the page's
    address holds no token and the browser checks the proof alone."""

    def __init__(self) -> None:
        self.views: dict[str, Callable[[], VerdictOut]] = {}
        self.tokens: dict[str, bytes] = {}
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                name = parts.path.removeprefix("/c/")
                lang = parse_qs(parts.query).get("lang", ["mn"])[0]
                make = server.views.get(name)
                if make is None or lang not in ("mn", "en"):
                    self.send_error(404)
                    return
                token = server.tokens.get(name)
                address = qr_text(server.base, token) if token is not None else server.url(name)
                body = pages.verify_page(make(), lang, address).encode("utf-8")  # type: ignore[arg-type]
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Security-Policy", pages.PAGE_CSP)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def base(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def url(self, name: str, lang: str | None = None) -> str:
        return f"{self.base}/c/{name}" + (f"?lang={lang}" if lang else "")

    def add(self, name: str, make: Callable[[], VerdictOut], token: bytes | None = None) -> str:
        self.views[name] = make
        if token is not None:
            self.tokens[name] = token
        return name


@pytest.fixture(scope="module")
def server() -> Iterator[PageServer]:
    s = PageServer()
    s.add("genuine", genuine_view, TOKEN)
    s.add("forged", forged_view)
    s.add("malformed", malformed_view)
    s.add("superseded", superseded_view, TOKEN)
    s.add("revoked", revoked_view, TOKEN)
    s.add("flipped-path", flipped_path_view, TOKEN)
    s.add("fabricated", fabricated_view, ATTACKER_TOKEN)
    s.thread.start()
    try:
        yield s
    finally:
        s.httpd.shutdown()
        s.httpd.server_close()
        s.thread.join(timeout=5)


def open_page(page: Page, url: str) -> tuple[list[str], list[str]]:
    """Go to ``url``; return the console errors and the URLs of requests to other origins."""
    errors: list[str] = []
    foreign: list[str] = []
    origin = "{0.scheme}://{0.netloc}".format(urlsplit(url))

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            errors.append(message.text)

    def on_request(request: Request) -> None:
        if not request.url.startswith(origin + "/"):
            foreign.append(request.url)

    page.on("console", on_console)
    page.on("request", on_request)
    page.goto(url, wait_until="load")
    return errors, foreign


def browser_result(page: Page) -> dict[str, str | None]:
    """Wait until the page's own check has finished; return its data attributes and text."""
    page.wait_for_function(
        "document.getElementById('browser-check').dataset.result !== 'pending'"
        " && document.getElementById('browser-check').dataset.result !== undefined"
    )
    element = page.locator("#browser-check")
    return {
        "result": element.get_attribute("data-result"),
        "signature": element.get_attribute("data-signature"),
        "failed": element.get_attribute("data-failed"),
        "token": element.get_attribute("data-token"),
        "key": element.get_attribute("data-key"),
        "text": element.inner_text(),
    }


def t(lang: Lang, key: str) -> str:
    return i18n.MESSAGES[lang][key]


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize(
    ("name", "verdict", "reason", "expected"),
    [
        ("genuine", "genuine", "none", "ok"),
        ("forged", "not_genuine", "bad_signature", "not_applicable"),
        ("superseded", "not_current", "superseded", "ok"),
        ("revoked", "not_genuine", "revoked", "ok"),
        ("malformed", "not_genuine", "malformed", "not_applicable"),
    ],
)
def test_verify_page_on_a_phone(
    server: PageServer,
    browser_page: Page,
    name: str,
    verdict: str,
    reason: str,
    expected: str,
    lang: Lang,
) -> None:
    errors, foreign = open_page(browser_page, server.url(name, lang))
    assert browser_page.locator("html").get_attribute("lang") == lang
    shown = browser_page.inner_text("#verdict")
    assert t(lang, f"verdict.{verdict}") in shown
    assert t(lang, f"reason.{reason}") in shown
    assert pages.ICONS[verdict] in shown
    check = browser_result(browser_page)
    assert check["result"] == expected, check
    if expected == "ok":
        # Chromium has Ed25519 in WebCrypto: the token's and the checkpoint's signatures
        assert (check["signature"], check["token"]) == ("ok", "ok"), check
        assert check["key"] == f"{LOG_ORIGIN}+{SIGNER.key_id.hex()}"
        assert check["text"] == t(lang, "browser.ok_signed")
    else:
        assert check["text"] == t(lang, "browser.not_applicable")
    # the column fits the phone: no horizontal scrolling
    width = browser_page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"page is {width}px wide on a 390px phone"
    # big verdict text
    size = browser_page.evaluate(
        "parseFloat(getComputedStyle(document.querySelector('#verdict h1')).fontSize)"
    )
    assert size >= 28
    assert not errors, errors  # no CSP violation, no script error
    assert not foreign, foreign
    screenshot(browser_page, f"verify-{name}-{lang}")


def test_missing_chromium_skips_locally_and_fails_in_ci(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(browser_helpers, "CHROMIUM", tmp_path / "chromium")
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="apt-get install chromium"):
        browser_helpers.require_chromium()
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI must run the browser tests"):
        browser_helpers.require_chromium()


@pytest.mark.parametrize("lang", LANGS)
def test_a_flipped_byte_in_the_proof_fails_the_browser_check(
    server: PageServer, browser_page: Page, lang: Lang
) -> None:
    open_page(browser_page, server.url("flipped-path", lang))
    check = browser_result(browser_page)
    assert check["result"] == "fail"
    assert check["failed"] == "root"
    assert check["text"] == t(lang, "browser.fail")
    # the server's verdict is still shown; the browser's check contradicts it visibly
    assert t(lang, "verdict.genuine") in browser_page.inner_text("#verdict")
    screenshot(browser_page, f"verify-flipped-path-{lang}")


def _entries(size: int) -> list[bytes]:
    return [f"entry {i} of {size}".encode() for i in range(size)]


def _with_proof_change(change: Callable[[VerdictOut], VerdictOut]) -> Callable[[], VerdictOut]:
    return lambda: change(genuine_view())


def _flip_hex(value: str, at: int = 0) -> str:
    raw = bytearray(bytes.fromhex(value))
    raw[at] ^= 0x80
    return raw.hex()


def _proof_update(view: VerdictOut, **changes: object) -> VerdictOut:
    assert view.proof is not None
    return view.model_copy(update={"proof": view.proof.model_copy(update=changes)})


def _flip_signature(view: VerdictOut) -> VerdictOut:
    assert view.checkpoint is not None
    body, signature_line = view.checkpoint.rsplit("\n\n", 1)
    prefix, sig = signature_line.rstrip("\n").rsplit(" ", 1)

    raw = bytearray(base64.b64decode(sig))
    raw[10] ^= 0x01
    flipped = base64.b64encode(bytes(raw)).decode()
    return view.model_copy(update={"checkpoint": f"{body}\n\n{prefix} {flipped}\n"})


TAMPERED: dict[str, tuple[Callable[[], VerdictOut], str]] = {
    "entry": (
        _with_proof_change(lambda v: _proof_update(v, entry="ZW50cnkgNQ==")),
        "leaf_hash",
    ),
    "leaf-hash": (
        _with_proof_change(lambda v: _proof_update(v, leaf_hash=_flip_hex(v.proof.leaf_hash))),  # type: ignore[union-attr]
        "leaf_hash",
    ),
    "other-entry": (
        # a valid proof, but of another entry than the certificate names
        lambda: genuine_view().model_copy(update={"proof": genuine_view(index=2).proof}),
        "leaf_prefix",
    ),
    "root": (
        _with_proof_change(lambda v: _proof_update(v, root_hash=_flip_hex(v.proof.root_hash))),  # type: ignore[union-attr]
        "root",  # the proof no longer leads to root_hash
    ),
    "index": (
        _with_proof_change(lambda v: _proof_update(v, index=4)),
        "index",
    ),
    "short-path": (
        _with_proof_change(lambda v: _proof_update(v, path=v.proof.path[:-1])),  # type: ignore[union-attr]
        "root",
    ),
    "tree-size": (
        # leaf 5 has the same path in trees of 7 and 8 leaves: the checkpoint's size catches it
        _with_proof_change(lambda v: _proof_update(v, tree_size=8)),
        "checkpoint",
    ),
    "tree-size-shape": (
        _with_proof_change(lambda v: _proof_update(v, tree_size=6)),
        "root",
    ),
    "checkpoint-size": (
        lambda: genuine_view().model_copy(
            update={"checkpoint": genuine_view(entries=_entries(8)).checkpoint}
        ),
        "checkpoint",
    ),
    "not-hex": (_with_proof_change(lambda v: _proof_update(v, path=["zz"])), "format"),
    "signature": (_with_proof_change(_flip_signature), "signature"),
    "other-log-key": (
        # a checkpoint signed by a key the page does not list
        lambda: genuine_view(signer=OTHER_SIGNER),
        "signature",
    ),
}


def _flipped_token(at: int) -> bytes:
    raw = bytearray(TOKEN)
    raw[at] ^= 0x01
    return bytes(raw)


# (view, the token in the page's address, the step that must fail)
TAMPERED_TOKEN: dict[str, tuple[Callable[[], VerdictOut], bytes, str]] = {
    "token-signature": (genuine_view, _flipped_token(-3), "token"),
    "token-payload": (genuine_view, _flipped_token(30), "token"),
    "token-by-an-unlisted-key": (
        genuine_view,
        sign_certificate(sample_certificate(), log_signer(bytes(range(1, 33)))),
        "token",
    ),
    "facts-not-the-signed-ones": (
        lambda: genuine_view(custodian="Somebody Else LLC"),
        TOKEN,
        "facts",
    ),
    "attacker-key-real-token": (fabricated_view, TOKEN, "token"),
}


def test_the_browser_check_catches_each_tampering(server: PageServer, browser: Browser) -> None:
    page = new_phone_page(browser)
    try:
        for name, (make, step) in TAMPERED.items():
            server.add(f"tampered-{name}", make, TOKEN)
            open_page(page, server.url(f"tampered-{name}", "en"))
            check = browser_result(page)
            assert (name, check["result"], check["failed"]) == (name, "fail", step), check
        for name, (make, token, step) in TAMPERED_TOKEN.items():
            server.add(f"tampered-{name}", make, token)
            open_page(page, server.url(f"tampered-{name}", "en"))
            check = browser_result(page)
            assert (name, check["result"], check["failed"]) == (name, "fail", step), check
    finally:
        page.context.close()


@pytest.mark.parametrize("lang", LANGS)
def test_a_fabricated_page_with_an_attackers_key_claims_no_independence(
    server: PageServer, browser_page: Page, lang: Lang
) -> None:
    """Hole 7 of issue 10: a fake site serves an answer made whole with its own key (token,
    checkpoint, proof and key list agree). The browser can only find it consistent; the page
    must not say it checked anything on its own, and must show the attacker's fingerprint,
    which a person compares with the published one."""
    errors, _ = open_page(browser_page, server.url("fabricated", lang))
    check = browser_result(browser_page)
    assert (check["result"], check["signature"], check["token"]) == ("ok", "ok", "ok"), check
    attacker = f"{LOG_ORIGIN}+{ATTACKER.key_id.hex()}"
    assert check["key"] == attacker
    body = browser_page.inner_text("body")
    for claim in ("on its own", "бие даан шалгаж", "independently"):
        assert claim not in body
    assert check["text"] == t(lang, "browser.ok_signed")
    assert browser_page.inner_text("#browser-limits") == t(lang, "browser.limits")
    shown = browser_page.locator("[data-fingerprint]").all_inner_texts()
    assert shown == [attacker]  # the attacker's, for comparing with the regulator's
    assert ATTACKER.verifier.vkey in body
    assert SIGNER.verifier.vkey not in body and SIGNER.key_id.hex() not in body
    command = browser_page.inner_text("#verify-command")
    assert command.endswith(f"--online --key '{ATTACKER.verifier.vkey}'")
    assert t(lang, "how.key_source") in body  # the key must come from the publication
    assert not errors, errors
    screenshot(browser_page, f"verify-fabricated-{lang}")


SPLIT_NOTE_JS = """
(note) => {
  const parsed = window.altanVerify.parseNote(note);
  return {body: parsed.body, names: parsed.signatures.map(s => s.name)};
}
"""


def test_verify_js_splits_a_signed_note_at_its_last_blank_line(browser: Browser) -> None:
    """c2sp.org/signed-note and ledger/note.py: the signatures follow the LAST blank line.
    A note whose text holds a blank line tells the two rules apart (at the first one the
    signature block would start with a text line and not parse)."""
    page = browser.new_page()
    try:
        page.set_content("<!doctype html><title>t</title>")
        page.add_script_tag(content=pages.VERIFY_JS)
        sig = base64.b64encode(bytes(range(68))).decode()
        note = f"example.com/log\n\n7\nroot\n\n\u2014 example.com/log {sig}\n"
        assert page.evaluate(SPLIT_NOTE_JS, note) == {
            "body": "example.com/log\n\n7\nroot\n",
            "names": ["example.com/log"],
        }
        # and the checkpoint of a real page parses into its text and one signature
        view = genuine_view()
        assert view.checkpoint is not None
        body, _ = view.checkpoint.rsplit("\n\n", 1)
        parsed = page.evaluate(SPLIT_NOTE_JS, view.checkpoint)
        assert parsed == {"body": body + "\n", "names": [LOG_ORIGIN]}
    finally:
        page.close()


@pytest.mark.parametrize(("viewport", "size"), [("phone", (390, 844)), ("tablet", (820, 1180))])
@pytest.mark.parametrize("name", ["genuine", "fabricated"])
@pytest.mark.parametrize("lang", LANGS)
def test_screens_for_people(
    server: PageServer,
    browser: Browser,
    viewport: str,
    size: tuple[int, int],
    name: str,
    lang: Lang,
) -> None:
    """Screenshots at phone and tablet size (test-output/screenshots/), for a person to
    look at; the column never scrolls sideways and the key never overflows."""
    width, height = size
    context = browser.new_context(
        viewport={"width": width, "height": height}, device_scale_factor=1
    )
    page = context.new_page()
    try:
        open_page(page, server.url(name, lang))
        browser_result(page)
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        screenshot(page, f"screen-{name}-{viewport}-{lang}")
    finally:
        context.close()


# (size, index): the size-1 tree, last nodes that are carried up, full trees, the middle
PROOF_SHAPES: Sequence[tuple[int, int]] = [
    (1, 0),
    (2, 0),
    (2, 1),
    (3, 2),
    (5, 4),
    (6, 4),
    (7, 6),
    (7, 3),
    (8, 7),
    (8, 0),
    (13, 12),
    (13, 9),
    (100, 97),
]


def test_the_browser_recomputes_every_proof_shape(server: PageServer, browser: Browser) -> None:
    page = new_phone_page(browser)
    try:
        for size, index in PROOF_SHAPES:
            entries = _entries(size)
            name = server.add(
                f"shape-{size}-{index}",
                lambda e=entries, i=index: genuine_view(entries=e, index=i),  # type: ignore[misc]
            )
            open_page(page, server.url(name, "en"))
            check = browser_result(page)
            assert (size, index, check["result"], check["signature"]) == (size, index, "ok", "ok")
    finally:
        page.context.close()
    assert len(ENTRIES) == 7


@pytest.mark.parametrize("lang", LANGS)
def test_the_page_reads_without_javascript(
    server: PageServer,
    browser: Browser,
    lang: Lang,
) -> None:
    page = new_phone_page(browser, javascript=False)
    try:
        open_page(page, server.url("genuine", lang))
        assert t(lang, "verdict.genuine") in page.inner_text("#verdict")
        assert page.locator("#browser-check").get_attribute("data-result") == "pending"
        assert page.inner_text("#browser-check") == t(lang, "browser.nojs")
        body = page.inner_text("body")
        for fact in ("LOT-2026-0042", "1,234.567 g", "Bornuur Gold Partnership"):
            assert fact in body
        assert page.locator("ol.checks > li").count() == 7
        screenshot(page, f"verify-genuine-nojs-{lang}")
    finally:
        page.context.close()


def test_language_switch(server: PageServer, browser_page: Page) -> None:
    open_page(browser_page, server.url("superseded"))
    assert browser_page.locator("html").get_attribute("lang") == "mn"  # the default
    assert t("mn", "verdict.not_current") in browser_page.inner_text("#verdict")
    browser_page.get_by_role("link", name="English").click()
    browser_page.wait_for_url("**/c/superseded?lang=en")
    assert browser_page.locator("html").get_attribute("lang") == "en"
    assert t("en", "verdict.not_current") in browser_page.inner_text("#verdict")
    browser_page.get_by_role("link", name="Монгол").click()
    browser_page.wait_for_url("**/c/superseded?lang=mn")
    assert t("mn", "verdict.not_current") in browser_page.inner_text("#verdict")


CONTRAST_JS = """
(selector) => {
  function rgb(text) {
    const m = text.match(/rgba?\\(([^)]+)\\)/);
    return m[1].split(',').slice(0, 3).map(Number);
  }
  function luminance([r, g, b]) {
    const c = [r, g, b].map(v => {
      v /= 255;
      return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4);
    });
    return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2];
  }
  function background(el) {
    while (el) {
      const bg = getComputedStyle(el).backgroundColor;
      if (bg && !bg.startsWith('rgba(0, 0, 0, 0)') && bg !== 'transparent') return rgb(bg);
      el = el.parentElement;
    }
    return [255, 255, 255];
  }
  return Array.from(document.querySelectorAll(selector)).map(el => {
    const fg = luminance(rgb(getComputedStyle(el).color));
    const bg = luminance(background(el));
    return (Math.max(fg, bg) + 0.05) / (Math.min(fg, bg) + 0.05);
  });
}
"""


@pytest.mark.parametrize("name", ["genuine", "forged", "superseded"])
def test_text_contrast_is_at_least_4_5(server: PageServer, browser_page: Page, name: str) -> None:
    open_page(browser_page, server.url(name, "mn"))
    browser_result(browser_page)
    selectors = (
        "#verdict h1, #verdict p, body, dt, dd, th, td, a, .state, .detail, .address,"
        " #browser-check"
    )
    ratios = browser_page.evaluate(CONTRAST_JS, selectors)
    assert ratios and min(ratios) >= 4.5, ratios


@pytest.mark.parametrize(("size", "lang"), [("A5", "mn"), ("A6", "en")])
def test_print_page_renders_a_qr_that_scans(
    browser: Browser,
    size: Literal["A5", "A6"],
    lang: Lang,
) -> None:
    text = qr_text("https://altan.mn", bytes(159))
    page = browser.new_page(viewport={"width": 800, "height": 1100})
    try:
        page.set_content(images.print_page(genuine_view(), text, size, lang))
        path = screenshot(page, f"print-{size}-{lang}")
        with Image.open(path) as shot:
            found = zxingcpp.read_barcodes(shot)
        assert [r.text for r in found] == [text]
        assert "LOT-2026-0042" in page.inner_text("body")
        pdf = page.pdf(prefer_css_page_size=True)
        assert pdf.startswith(b"%PDF")
    finally:
        page.close()


# -- the status proof (issue 14): the page re-judges the status from the log's map ----------


@pytest.fixture(scope="module")
def tale() -> Story:
    return story()


def _status_of(page: Page) -> tuple[str | None, str | None]:
    element = page.locator("#browser-check")
    return element.get_attribute("data-status"), element.get_attribute("data-status-size")


def test_the_page_checks_the_status_it_shows_against_the_map(
    server: PageServer, browser: Browser, tale: Story
) -> None:
    latest = str(tale.sizes["latest"])
    page = new_phone_page(browser)
    try:
        for name in ("genuine", "revoked", "superseded", "transferred", "consumed", "held"):
            view = VerdictOut.model_validate(tale.answer(name))
            server.add(f"status-{name}", lambda v=view: v, tale.certs[name].token)  # type: ignore[misc]
            open_page(page, server.url(f"status-{name}", "en"))
            check = browser_result(page)
            assert (name, check["result"], check["token"]) == (name, "ok", "ok"), check
            assert _status_of(page) == (view.reason or "genuine", latest)
        # a server from before the map sends no status proof: nothing to re-judge
        old_server = VerdictOut.model_validate(lying(tale.answer("genuine"), status_proof=None))
        server.add("status-absent", lambda: old_server, tale.certs["genuine"].token)
        open_page(page, server.url("status-absent", "en"))
        assert browser_result(page)["result"] == "ok"
        assert _status_of(page) == ("absent", None)
    finally:
        page.context.close()


# what the page's check names for each lie of support.synthetic_status.lies (those the page
# receives: a proof-less or unreadable answer gives no page with a proof to check)
PAGE_STEPS = {
    "verdict-flipped": "status",
    "old-status-proof": "not_latest_root",
    "old-status-proof-as-latest": "not_latest_root",
    "state-edited": "map_proof",
    "map-sibling-flipped": "map_proof",
    "absence-claimed": "map_proof",
    "another-lots-proof": "map_proof",
    "root-inclusion-flipped": "root_not_in_log",
    "root-not-the-last-entry": "not_latest_root",
    "not-a-state-root": "not_a_state_root",
    "checkpoint-by-another-key": "signature",
    "proof-of-another-entry": "leaf_prefix",
}


def test_a_page_whose_status_the_map_contradicts_fails_the_check(
    server: PageServer, browser: Browser, tale: Story
) -> None:
    """The review's attack on the page: a server (or a proxy) showing "genuine" for a
    revoked certificate, or proving an old or edited state; the browser's check fails and
    names the step, in both languages."""
    told = lies(tale)
    assert set(PAGE_STEPS) <= set(told)
    transferred = tale.answer("transferred")
    cases = {name: (told[name][0], told[name][1]) for name in PAGE_STEPS}
    cases["reason-swapped"] = ("transferred", lying(transferred, reason="superseded"))
    steps = {**PAGE_STEPS, "reason-swapped": "status"}
    page = new_phone_page(browser)
    try:
        for name, (cert, answer) in cases.items():
            assert isinstance(answer, dict)
            view = VerdictOut.model_validate(answer)
            server.add(f"status-lie-{name}", lambda v=view: v, tale.certs[cert].token)  # type: ignore[misc]
            for lang in LANGS if name == "verdict-flipped" else ("en",):
                open_page(page, server.url(f"status-lie-{name}", lang))
                check = browser_result(page)
                assert (name, check["result"], check["failed"]) == (name, "fail", steps[name])
                assert check["text"] == t(lang, "browser.fail")
                if name == "verdict-flipped":
                    # the server's "genuine" is still shown; the check contradicts it
                    assert t(lang, "verdict.genuine") in page.inner_text("#verdict")
                    screenshot(page, f"verify-status-lie-{lang}")
    finally:
        page.context.close()
