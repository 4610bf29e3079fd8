"""The exported static verifier in Debian's Chromium: the site of `altan verifier export`
served on one port, a ledger on another, pinned keys, and what a person sees.

Against a synthetic ledger (tests/support/synthetic_status.py: real entries, map, proofs,
keys and witnesses) answering `GET /api/c/{token}` from a stub: every verdict comes from the
proven state; each lie of the ledger (a flipped verdict, an old status proof, an edited
state, a forged map or inclusion proof, another key's checkpoint, a replayed old answer
under a witness policy, a history the witnesses never saw) is refused with its named
reason; the QR code is read from a photo and from a fake camera filming a printed page.
Against the real service (tests at the end): a certificate read by the fake camera from the
service's own print page shows "genuine", and a lying proxy in front of the service is
refused. Screenshots at phone and tablet size go to /tmp/shots/ and test-output/screenshots.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image
from playwright.sync_api import Browser, Page, Playwright
from sqlalchemy import text

import support.browser as browser_helpers
from ledger.certificate import qr_text, token_text
from ledger.encoding import b64encode
from ledger.hashing import hash_leaf
from ledger.statemap import lot_key
from schemas.certificates import VerdictOut
from services.actors.bootstrap import bootstrap_administrator
from services.app import create_app
from services.certificates import images
from services.settings import Settings
from support.browser import CHROMIUM, CHROMIUM_ARGS, screenshot
from support.certificate_pages import DictReader
from support.certificates import AUDITOR, BANK, LAB, REGULATOR, World, populate
from support.console_browser import free_port, serving
from support.domain import Api
from support.static_verifier import (
    LedgerStub,
    LyingProxy,
    export_site,
    open_with,
    read_result,
    serve_directory,
    y4m_from_image,
)
from support.synthetic_status import (
    PUBLIC_URL,
    Story,
    SyntheticLedger,
    flip_b64,
    lies,
    lying,
    now,
    story,
)

browser = browser_helpers.browser
playwright_driver = browser_helpers.playwright_driver

SHOTS = Path("/tmp/shots")
VIEWPORTS = {"phone": (390, 844), "tablet": (820, 1180)}
HOURS = 3600


@pytest.fixture(scope="module")
def tale() -> Story:
    return story()


@pytest.fixture(scope="module")
def stub() -> Iterator[tuple[LedgerStub, str]]:
    ledger = LedgerStub()
    with ledger.running() as base:
        yield ledger, base


@pytest.fixture(scope="module")
def plain_site(
    tmp_path_factory: pytest.TempPathFactory, tale: Story, stub: tuple[LedgerStub, str]
) -> Iterator[str]:
    """Pinned: the log key, the ledger; no witness policy."""
    directory = export_site(tmp_path_factory.mktemp("plain") / "site", [tale.ledger.vkey], stub[1])
    with serve_directory(directory) as base:
        yield base


@pytest.fixture(scope="module")
def witnessed_site(
    tmp_path_factory: pytest.TempPathFactory, tale: Story, stub: tuple[LedgerStub, str]
) -> Iterator[str]:
    """Pinned: the log key, the ledger, witnesses 0 and 1, both required within 10 min."""
    directory = export_site(
        tmp_path_factory.mktemp("witnessed") / "site",
        [tale.ledger.vkey],
        stub[1],
        witnesses=tale.ledger.witness_vkeys(2),
        min_cosignatures=2,
        max_age=600,
    )
    with serve_directory(directory) as base:
        yield base


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    p = browser_helpers.new_phone_page(browser)
    errors: list[str] = []
    p.on("pageerror", lambda e: errors.append(str(e)))
    # a ledger that answers 500 or not at all is logged by the browser: not the page's error
    p.on(
        "console",
        lambda m: (
            errors.append(m.text)
            if m.type == "error" and not m.text.startswith("Failed to load resource")
            else None
        ),
    )
    try:
        yield p
        assert not errors, errors  # no script error, no CSP violation
    finally:
        p.context.close()


def qr(tale: Story, name: str) -> str:
    return qr_text(PUBLIC_URL, tale.certs[name].token)


def shoot(page: Page, name: str) -> Path:
    path = screenshot(page, f"verifier-{name}")
    SHOTS.mkdir(parents=True, exist_ok=True)
    shutil.copy(path, SHOTS / path.name)
    return path


# -- the verdict comes from the proven state ---------------------------------------------------

EXPECTED = {
    "genuine": ("genuine", "none", None),
    "revoked": ("not_genuine", "revoked", "revoked"),
    "superseded": ("not_current", "superseded", "current"),
    "transferred": ("not_current", "transferred", "current"),
    "consumed": ("not_current", "consumed", "current"),
    "held": ("not_current", "held", "current"),
    "not_in_log": ("not_genuine", "not_in_log", "revoked"),
    "superseded_newer": ("genuine", "none", None),
}


def test_each_status_is_read_from_the_proof(
    tale: Story, stub: tuple[LedgerStub, str], plain_site: str, page: Page
) -> None:
    ledger, _ = stub
    latest = str(tale.sizes["latest"])
    for name, (verdict, reason, failed) in EXPECTED.items():
        ledger.answer(tale.answer(name))
        got = open_with(page, plain_site, qr(tale, name))
        assert (name, got["verdict"], got["reason"], got["failed"]) == (
            name,
            verdict,
            reason,
            failed,
        ), got
        assert got["as_of_size"] == latest and f"checkpoint {latest}" in got["as_of"]
        assert got["ledger_said"] is None  # an honest ledger agrees with its proofs
        assert got["facts"]["lot"] == tale.certs[name].certificate.lot_id
        assert got["facts"]["id"] == tale.certs[name].id
        before = ["token", "key", "signature", "answer", "checkpoint", "in_log", "status_proof"]
        assert [got["checks"][c] for c in before] == ["ok"] * len(before), got["checks"]
        assert got["checks"]["witnesses"] == "skipped"
    # the ledger was asked from the verifier's own origin, with no credentials
    asked = ledger.requests[-1]
    assert asked["origin"] == plain_site
    assert "cookie" not in asked and "authorization" not in asked
    assert "referer" not in asked


def test_a_lying_ledger_is_refused_with_a_named_reason(
    tale: Story, stub: tuple[LedgerStub, str], plain_site: str, page: Page
) -> None:
    ledger, _ = stub
    for name, (cert, answer, expected) in lies(tale).items():
        if isinstance(answer, dict):
            ledger.answer(answer)
        elif isinstance(answer, bytes):
            ledger.respond = lambda token, body=answer: (200, body)  # type: ignore[misc]
        else:
            ledger.respond = lambda token, status=answer: (status, b"{}")  # type: ignore[misc]
        got = open_with(page, plain_site, qr(tale, cert))
        assert (name, got["verdict"], got["reason"], got["failed"]) == (name, *expected), got
        assert got["checks"][expected[2]] == "failed"
        if name == "verdict-flipped":
            assert "Genuine" in got["ledger_said"], got  # the ledger's word, shown as refuted
            shoot(page, "liar-verdict-flipped-en")
        else:  # a proof that fails proves no status to set against the ledger's word
            assert got["ledger_said"] is None, got
        if name == "old-status-proof":
            shoot(page, "liar-old-status-proof-en")


def _flipped(token: bytes, at: int) -> bytes:
    raw = bytearray(token)
    raw[at] ^= 0x01
    return bytes(raw)


def test_a_bad_token_is_refused_before_the_ledger_is_asked(
    tale: Story, stub: tuple[LedgerStub, str], plain_site: str, page: Page
) -> None:
    ledger, _ = stub
    ledger.answer(tale.answer("genuine"))
    token = tale.certs["genuine"].token
    other = SyntheticLedger(seed=99).issue("AU-2026-GENUINE").token  # another log's key
    asked = len(ledger.requests)
    for shown, (reason, failed) in {
        qr_text(PUBLIC_URL, _flipped(token, -3)): ("bad_signature", "signature"),
        qr_text(PUBLIC_URL, _flipped(token, 30)): ("bad_signature", "signature"),
        qr_text(PUBLIC_URL, other): ("unknown_key", "key"),
        "https://ledger.altan.test/c/NOT1": ("malformed", "token"),
        "hello": ("malformed", "token"),
    }.items():
        got = open_with(page, plain_site, shown)
        assert (got["verdict"], got["reason"], got["failed"]) == ("not_genuine", reason, failed)
        assert got["facts"] == {}  # facts the signature does not vouch for are not shown
    assert len(ledger.requests) == asked
    # a bare token is enough when the ledger is pinned
    got = open_with(page, plain_site, token_text(token))
    assert got["verdict"] == "genuine"


def test_an_unreachable_ledger_is_no_verdict(tmp_path: Path, tale: Story, page: Page) -> None:
    site = export_site(tmp_path / "site", [tale.ledger.vkey], "http://127.0.0.1:9")
    with serve_directory(site) as base:
        got = open_with(page, base, qr(tale, "genuine"))
    assert (got["verdict"], got["reason"], got["failed"]) == (
        "cannot_check",
        "unreachable",
        "answer",
    )


# -- witnesses -------------------------------------------------------------------------------


def test_the_witness_policy(
    tale: Story, stub: tuple[LedgerStub, str], witnessed_site: str, page: Page
) -> None:
    ledger, _ = stub
    t = now()
    middle = tale.sizes["middle"]
    fresh = [(0, t - 60), (1, t - 30)]
    cases: dict[str, tuple[str, dict[str, Any], tuple[str, str, str | None]]] = {
        "cosigned": ("genuine", tale.answer("genuine", cosigned=fresh), ("genuine", "none", None)),
        "cosigned-revoked": (
            "revoked",
            tale.answer("revoked", cosigned=fresh),
            ("not_genuine", "revoked", "revoked"),
        ),
        "one-of-two": (
            "genuine",
            tale.answer("genuine", cosigned=fresh[:1]),
            ("not_genuine", "not_witnessed", "witnesses"),
        ),
        "an-unpinned-witness": (
            "genuine",
            tale.answer("genuine", cosigned=[(0, t), (2, t)]),
            ("not_genuine", "not_witnessed", "witnesses"),
        ),
        "from-the-future": (
            "genuine",
            tale.answer("genuine", cosigned=[(0, t + 2 * HOURS), (1, t + 2 * HOURS)]),
            ("not_genuine", "not_witnessed", "witnesses"),
        ),
        "too-long-ago": (
            "genuine",
            tale.answer("genuine", cosigned=[(0, t - 2 * HOURS), (1, t - 2 * HOURS)]),
            ("not_genuine", "stale", "witnesses"),
        ),
        "an-older-witnessed-one": (
            "revoked",
            tale.answer("revoked", witnessed=[(middle, fresh)]),
            ("not_genuine", "revoked", "revoked"),
        ),
        "an-older-witnessed-one-long-ago": (
            "genuine",
            tale.answer("genuine", witnessed=[(middle, [(0, t - 2 * HOURS), (1, t - 2 * HOURS)])]),
            ("not_genuine", "stale", "witnesses"),
        ),
    }
    forked = tale.answer("genuine", witnessed=[(middle, fresh)])
    consistency = forked["witnessed"][0]["consistency"]
    consistency[0] = flip_b64(consistency[0])
    cases["a-history-they-never-saw"] = (
        "genuine",
        forked,
        ("not_genuine", "inconsistent", "witnesses"),
    )
    unlinked = tale.answer("genuine", witnessed=[(middle, fresh)])
    del unlinked["witnessed"][0]["consistency"]
    cases["no-consistency-proof"] = (
        "genuine",
        unlinked,
        ("not_genuine", "not_witnessed", "witnesses"),
    )
    for name, (cert, answer, expected) in cases.items():
        ledger.answer(answer)
        got = open_with(page, witnessed_site, qr(tale, cert))
        assert (name, got["verdict"], got["reason"], got["failed"]) == (name, *expected), got
        if expected[0] != "not_genuine" or expected[1] == "revoked":
            assert got["checks"]["witnesses"] == "ok"
    # what was shown for the older witnessed checkpoint: the status at the latest, which
    # provably extends the one the witnesses cosigned
    ledger.answer(tale.answer("genuine", witnessed=[(middle, fresh)]))
    got = open_with(page, witnessed_site, qr(tale, "genuine"))
    assert got["verdict"] == "genuine"
    assert f"checkpoint {tale.sizes['latest']}" in got["as_of"]
    assert f"extends checkpoint {middle}" in got["as_of"]
    assert "witness1.altan.test" in got["as_of"] and "witness2.altan.test" in got["as_of"]
    shoot(page, "witnessed-extends-en")


def test_a_replayed_old_answer_passes_only_without_witnesses(
    tale: Story, stub: tuple[LedgerStub, str], plain_site: str, witnessed_site: str, page: Page
) -> None:
    """The whole answer from before the revocation, replayed: its proofs are all valid at
    that old size. Without a witness policy nothing tells it from the truth (the page says
    "as of checkpoint 9"); with one, its cosignatures are old: stale."""
    ledger, _ = stub
    first = tale.sizes["first"]
    t = now()
    ledger.answer(
        tale.answer("revoked", size=first, cosigned=[(0, t - 3 * HOURS), (1, t - 3 * HOURS)])
    )
    got = open_with(page, plain_site, qr(tale, "revoked"))
    assert (got["verdict"], got["as_of_size"]) == ("genuine", str(first))
    got = open_with(page, witnessed_site, qr(tale, "revoked"))
    assert (got["verdict"], got["reason"], got["failed"]) == ("not_genuine", "stale", "witnesses")
    shoot(page, "liar-replayed-witnessed-en")


# -- reading the QR code ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def printed(tale: Story, browser: Browser, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The printable A6 page of the genuine certificate (the service's print page), as a
    PNG screenshot: what the camera and the photo show."""
    view = VerdictOut.model_validate(tale.answer("genuine"))
    html = images.print_page(view, qr(tale, "genuine"), "A6", "mn")
    # at 3 device pixels per CSS pixel, as a photo of the paper resolves it
    page = browser.new_page(viewport={"width": 560, "height": 800}, device_scale_factor=3)
    try:
        page.set_content(html)
        path = tmp_path_factory.mktemp("print") / "certificate.png"
        page.screenshot(path=str(path), full_page=True)
    finally:
        page.close()
    return path


def test_a_photo_and_a_pasted_address(
    tale: Story,
    stub: tuple[LedgerStub, str],
    plain_site: str,
    page: Page,
    printed: Path,
    tmp_path: Path,
) -> None:
    ledger, _ = stub
    ledger.answer(tale.answer("genuine"))
    page.goto(f"{plain_site}/?lang=en")
    page.set_input_files("#photo", str(printed))
    got = read_result(page)
    assert (got["verdict"], got["facts"]["lot"]) == ("genuine", "AU-2026-GENUINE")
    # a photo with no code in it: a message, no verdict
    blank = tmp_path / "blank.png"
    Image.new("RGB", (400, 300), (250, 250, 250)).save(blank)
    page.click("#again")
    page.set_input_files("#photo", str(blank))
    page.wait_for_selector("#input-message[data-message='verifier.no_qr']")
    assert page.locator("#result").is_hidden()
    # pasted
    page.fill("#paste", "  " + qr(tale, "genuine") + "\n")
    page.click("#paste-form button[type=submit]")
    assert read_result(page)["verdict"] == "genuine"


def camera_browser(driver: Playwright, video: Path) -> Browser:
    """A Chromium whose camera films ``video`` (permission granted without a prompt)."""
    return driver.chromium.launch(
        executable_path=str(CHROMIUM),
        headless=True,
        args=[
            *CHROMIUM_ARGS,
            "--use-fake-ui-for-media-stream",
            "--use-fake-device-for-media-stream",
            f"--use-file-for-fake-video-capture={video}",
        ],
    )


def scan_with_camera(driver: Playwright, video: Path, site: str, name: str) -> dict[str, Any]:
    """Open the verifier on a phone, press "Scan", let the fake camera film the page."""
    camera = camera_browser(driver, video)
    try:
        context = camera.new_context(
            viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True
        )
        context.grant_permissions(["camera"], origin=site)
        page = context.new_page()
        page.goto(f"{site}/?lang=mn")
        page.click("#scan")
        got = read_result(page, timeout_ms=30_000)
        shoot(page, name)
        return got
    finally:
        camera.close()


def test_the_camera_reads_a_printed_certificate(
    tale: Story,
    stub: tuple[LedgerStub, str],
    plain_site: str,
    printed: Path,
    playwright_driver: Playwright,
    tmp_path: Path,
) -> None:
    ledger, _ = stub
    ledger.answer(tale.answer("genuine"))
    with Image.open(printed) as sheet:
        video = y4m_from_image(sheet, tmp_path / "camera.y4m")
    got = scan_with_camera(playwright_driver, video, plain_site, "camera-genuine-mn")
    assert (got["verdict"], got["reason"]) == ("genuine", "none")
    assert got["word"] == "Жинхэнэ"
    assert got["facts"]["lot"] == "AU-2026-GENUINE"


# -- what people see ------------------------------------------------------------------------


SCREENS = {
    "genuine": lambda tale: tale.answer("genuine"),
    "revoked": lambda tale: tale.answer("revoked"),
    "transferred": lambda tale: tale.answer("transferred"),
    "refused": lambda tale: lying(
        tale.answer("revoked"), status_proof=tale.ledger.status_proof("AU-2026-REVOKED", 9)
    ),
}
SCREEN_CERTS = {
    "genuine": "genuine",
    "revoked": "revoked",
    "transferred": "transferred",
    "refused": "revoked",
}


@pytest.mark.parametrize("size", VIEWPORTS)
@pytest.mark.parametrize("lang", ["mn", "en"])
def test_screens_for_people(
    tale: Story,
    stub: tuple[LedgerStub, str],
    plain_site: str,
    browser: Browser,
    size: str,
    lang: str,
) -> None:
    """Phone and tablet screenshots (/tmp/shots/), for a person to look at: the column never
    scrolls sideways, the verdict is big, the words are the page language's."""
    ledger, _ = stub
    width, height = VIEWPORTS[size]
    context = browser.new_context(
        viewport={"width": width, "height": height}, device_scale_factor=1
    )
    page = context.new_page()
    try:
        for name, make in SCREENS.items():
            ledger.answer(make(tale))
            got = open_with(page, plain_site, qr(tale, SCREEN_CERTS[name]), lang)
            assert page.evaluate("document.documentElement.scrollWidth") <= width
            font = page.evaluate(
                "parseFloat(getComputedStyle(document.querySelector('#verdict .word')).fontSize)"
            )
            assert font >= 28
            assert page.locator("html").get_attribute("lang") == lang
            if lang == "mn" and name == "genuine":
                assert got["word"] == "Жинхэнэ"
            shoot(page, f"{name}-{size}-{lang}")
        page.click("#pinned summary")
        shoot(page, f"pinned-{size}-{lang}")
    finally:
        context.close()


def test_mongolian_by_default_and_an_english_switch(
    tale: Story, stub: tuple[LedgerStub, str], plain_site: str, page: Page
) -> None:
    ledger, _ = stub
    ledger.answer(tale.answer("transferred"))
    page.goto(f"{plain_site}/?c={qr(tale, 'transferred')}")
    got = read_result(page)
    assert page.locator("html").get_attribute("lang") == "mn"
    assert got["word"] == "Энэ багцын өнөөдрийн баталгаа болгон бүү хүлээн ав"
    assert got["reason_text"].startswith("Худалдсан")
    page.click("button[data-lang=en]")
    assert page.locator("html").get_attribute("lang") == "en"
    assert "lang=en" in page.url
    got = read_result(page)
    assert got["word"] == "Do not accept this as proof of the lot today"
    assert got["reason_text"].startswith("Sold")
    assert page.inner_text("#scan") == "Scan the QR code"


# -- the ported checks agree with the Python core ---------------------------------------------


@pytest.fixture
def checks_page(browser: Browser, plain_site: str) -> Iterator[Page]:
    p = browser.new_page()
    p.goto(f"{plain_site}/altan-check.js")  # the site's origin (a secure context)
    p.set_content("<!doctype html><title>checks</title>")
    p.add_script_tag(url=f"{plain_site}/altan-check.js")
    try:
        yield p
    finally:
        p.close()


MAP_JS = """async (cases) => {
  const out = [];
  for (const c of cases) {
    try {
      const b = (t) => AltanCheck.base64ToBytes(t, 'x');
      const proof = AltanCheck.parseMapProof(c.proof);
      await AltanCheck.verifyMap(b(c.root), b(c.key), c.value === null ? null : b(c.value), proof);
      out.push('ok');
    } catch (e) {
      out.push(e.step || String(e));
    }
  }
  return out;
}"""


def test_map_proofs_verify_in_the_browser_as_in_python(tale: Story, checks_page: Page) -> None:
    """ledger/statemap.py's verify, ported: the same verdict on proofs of present and absent
    keys, and on each tampering, as Python's."""
    from ledger.errors import MalformedProof, RootMismatch
    from ledger.statemap import MapProof, StateMap, verify

    smap = StateMap({lot_key(f"AU-{i}"): hash_leaf(f"state {i}".encode()) for i in range(300)})
    root = smap.root
    cases = []
    for i in range(0, 400, 7):  # present below 300, absent above
        key = lot_key(f"AU-{i}")
        value = hash_leaf(f"state {i}".encode()) if i < 300 else None
        proof = smap.prove(key)
        cases.append((root, key, value, proof))
        if value is not None:
            cases.append((root, key, hash_leaf(b"other"), proof))  # another value
            cases.append((root, key, None, proof))  # claimed absent
        else:
            cases.append((root, key, hash_leaf(b"x"), proof))  # claimed present
        if proof.siblings:
            flipped = bytearray(proof.siblings[0])
            flipped[5] ^= 1
            cases.append(
                (root, key, value, replace(proof, siblings=(bytes(flipped), *proof.siblings[1:])))
            )
        cases.append((hash_leaf(b"another root"), key, value, proof))
    expected = []
    for r, k, v, p in cases:
        try:
            verify(r, k, v, p)
            expected.append("ok")
        except (MalformedProof, RootMismatch):
            expected.append("map_proof")
    payload = [
        {
            "root": b64encode(r),
            "key": b64encode(k),
            "value": None if v is None else b64encode(v),
            "proof": p.to_json(),
        }
        for r, k, v, p in cases
    ]
    assert checks_page.evaluate(MAP_JS, payload) == expected
    assert expected.count("ok") == 400 // 7 + 1 and "map_proof" in expected
    # a proof that does not parse strictly is refused (as MapProof.from_json refuses it)
    bad = smap.prove(lot_key("AU-1")).to_json()
    for broken in (
        dict(bad, siblings=bad["siblings"][:-1]),
        dict(bad, extra=1),
        dict(bad, bitmap=bad["bitmap"].rstrip("=")),
    ):
        with pytest.raises(MalformedProof):
            MapProof.from_json(broken)
        got = checks_page.evaluate(
            MAP_JS,
            [
                {
                    "root": b64encode(root),
                    "key": b64encode(lot_key("AU-1")),
                    "value": None,
                    "proof": broken,
                }
            ],
        )
        assert got == ["map_proof"]


CONSISTENCY_JS = """async (cases) => {
  const out = [];
  const b = (t) => AltanCheck.base64ToBytes(t, 'x');
  for (const c of cases) {
    try {
      const proof = c.proof.map(b);
      await AltanCheck.verifyConsistency(BigInt(c.m), BigInt(c.n), proof, b(c.r1), b(c.r2));
      out.push('ok');
    } catch (e) {
      out.push(e.step || String(e));
    }
  }
  return out;
}"""


def test_consistency_proofs_verify_in_the_browser_as_in_python(checks_page: Page) -> None:
    from ledger.errors import MalformedProof, RootMismatch
    from ledger.merkle import consistency_proof, root_hash, verify_consistency

    leaves = [f"leaf {i}".encode() for i in range(20)]
    reader = DictReader(leaves)
    cases = []
    for n in range(1, 21):
        for m in range(1, n + 1):
            proof = consistency_proof(reader, m, n)
            r1, r2 = root_hash(reader, m), root_hash(reader, n)
            cases.append((m, n, proof, r1, r2))
            if proof:
                bad = bytearray(proof[-1])
                bad[0] ^= 1
                cases.append((m, n, [*proof[:-1], bytes(bad)], r1, r2))
                cases.append((m, n, proof[:-1], r1, r2))
            cases.append((m, n, proof, r2 if m != n else hash_leaf(b"x"), r2))
    expected = []
    for m, n, p, r1, r2 in cases:
        try:
            verify_consistency(m, n, p, r1, r2)
            expected.append("ok")
        except (MalformedProof, RootMismatch):
            expected.append("consistency")
    payload = [
        {
            "m": m,
            "n": n,
            "proof": [b64encode(h) for h in p],
            "r1": b64encode(r1),
            "r2": b64encode(r2),
        }
        for m, n, p, r1, r2 in cases
    ]
    assert checks_page.evaluate(CONSISTENCY_JS, payload) == expected
    assert expected.count("ok") == 210


TOKEN_JS = """async (texts) => {
  const out = [];
  for (const t of texts) {
    try {
      const p = AltanCheck.parseQrText(t);
      out.push([AltanCheck.tokenText(p.token), p.server, await AltanCheck.certificateId(p.token)]);
    } catch (e) {
      out.push(e.step || String(e));
    }
  }
  return out;
}"""


def test_qr_texts_read_as_python_reads_them(tale: Story, checks_page: Page) -> None:
    from ledger.certificate import certificate_id, parse_qr_text
    from ledger.errors import MalformedInput

    token = tale.certs["genuine"].token
    text = token_text(token)
    texts = [
        qr_text(PUBLIC_URL, token),
        qr_text("https://altan.mn/ledger/", token),
        text.lower(),
        f"HTTPS://LEDGER.MN/C/{text}",
        text + "A",  # a length base32 cannot end at, or stray bits
        text[:-1] + ("B" if text[-1] == "A" else "A"),
        "ftp://x/c/" + text,
        "https://x/d/" + text,
    ]
    expected: list[Any] = []
    for t in texts:
        try:
            got = parse_qr_text(t)
            expected.append(token_text(got))
        except MalformedInput:
            expected.append("token")
    results = checks_page.evaluate(TOKEN_JS, texts)
    assert [r if r == "token" else r[0] for r in results] == expected
    assert results[0][1:] == [PUBLIC_URL, certificate_id(token)]
    assert results[1][1] == "https://altan.mn/ledger"


def test_entries_must_be_canonical(checks_page: Page) -> None:
    """A state.root entry is read only in its RFC 8785 form (Entry.from_bytes demands it)."""
    js = """(texts) => texts.map((t) => {
      try { AltanCheck.parseCanonicalJson(AltanCheck.utf8(t), 'entry'); return 'ok'; }
      catch (e) { return e.step; }
    })"""
    texts = [
        '{"a":1,"b":[true,null,"\\u00e9x"]}',
        '{"b":1,"a":2}',  # keys out of order
        '{"a": 1}',  # a space
        '{"a":1,"a":2}',  # a repeated key
        '{"a":9007199254740993}',  # beyond what a double holds exactly
        '{"a":"é"}',
    ]
    assert checks_page.evaluate(js, texts) == ["entry", "entry", "entry", "entry", "entry", "ok"]


# -- against the real service -----------------------------------------------------------------


class RealLedger:
    """The service on a free port (uvicorn, SQLite), a season recorded through its API."""

    def __init__(self, base: str, app: Any, world: World) -> None:
        self.base = base
        self.app = app
        self.world = world
        self.tokens: dict[str, str] = {}
        self.ids: dict[str, str] = {}
        self.before_revocation: dict[str, Any] = {}

    def answer(self, name: str) -> dict[str, Any]:
        return self.world.verdict(self.tokens[name])

    def qr(self, name: str) -> str:
        return qr_text(self.base, self.tokens[name])


@pytest.fixture(scope="module")
def real(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealLedger]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    data = tmp_path_factory.mktemp("real") / "data"
    app: Any = create_app(Settings(data_dir=data, public_url=base, access_log=False))
    with serving(app, port), httpx.Client(base_url=base, timeout=10) as client:
        token = bootstrap_administrator(app.state.events)
        assert token is not None
        w = populate(Api(client, token))  # type: ignore[arg-type]
        ledger = RealLedger(base, app, w)
        for name, lot in (("genuine", "AU-1"), ("revoked", "AU-2"), ("sold", "AU-3")):
            w.gold(lot, 1_234_567)
            w.api.ok(LAB, "assay.recorded", {"lot": lot, "fineness_ppt": 995})
            w.request(lot)
            record = w.certificates(lot)[0]
            ledger.tokens[name], ledger.ids[name] = record["token"], record["id"]
        ledger.before_revocation = ledger.answer("revoked")
        w.api.ok(
            REGULATOR,
            "certificate.revoked",
            {"certificate": ledger.ids["revoked"], "reason": "issued on a false assay"},
        )
        w.offer_and_accept("OFFER-3", "AU-3", BANK)  # the lot is sold since its certificate
        yield ledger


@pytest.fixture(scope="module")
def real_site(tmp_path_factory: pytest.TempPathFactory, real: RealLedger) -> Iterator[str]:
    """Pinned to the real service's key, asking the service itself (a cross-origin GET)."""
    directory = export_site(
        tmp_path_factory.mktemp("real-site") / "site", real.world.vkeys(), real.base
    )
    with serve_directory(directory) as base:
        yield base


def test_the_camera_reads_the_services_printed_certificate(
    real: RealLedger,
    real_site: str,
    browser: Browser,
    playwright_driver: Playwright,
    tmp_path: Path,
) -> None:
    """The service's own printable page of a certificate, filmed by the phone's camera: the
    page reads the QR code, asks the service, checks everything and says "genuine"."""
    w = real.world
    resp = w.c.get(
        f"/certificates/{real.ids['genuine']}/print?lang=mn", headers=w.api.headers(AUDITOR)
    )
    assert resp.status_code == 200, resp.text
    page = browser.new_page(viewport={"width": 560, "height": 800}, device_scale_factor=3)
    try:
        page.set_content(resp.text)
        sheet_path = tmp_path / "printed.png"
        page.screenshot(path=str(sheet_path), full_page=True)
    finally:
        page.close()
    with Image.open(sheet_path) as sheet:
        video = y4m_from_image(sheet, tmp_path / "camera.y4m")
    got = scan_with_camera(playwright_driver, video, real_site, "real-camera-genuine-mn")
    assert (got["verdict"], got["reason"], got["word"]) == ("genuine", "none", "Жинхэнэ")
    assert got["facts"]["lot"] == "AU-1"
    assert got["checks"]["status_proof"] == "ok"
    assert got["as_of_size"] == str(w.size())


def test_the_page_agrees_with_the_service_and_names_its_statuses(
    real: RealLedger, real_site: str, page: Page
) -> None:
    """Straight from the service (its CORS answer read by a page on another origin): the
    verdict the page proves is the service's own, for a genuine, a revoked and a sold lot's
    certificate; and an insider's edit of the certificates table changes neither."""
    for name, expected in (
        ("genuine", ("genuine", "none")),
        ("revoked", ("not_genuine", "revoked")),
        ("sold", ("not_current", "transferred")),
    ):
        said = real.answer(name)
        assert (said["verdict"], said["reason"] or "none") == expected
        got = open_with(page, real_site, real.qr(name))
        assert (name, got["verdict"], got["reason"]) == (name, *expected), got
        assert got["ledger_said"] is None
        # and the service's own page re-judges the same status from the same proof
        page.goto(f"{real.qr(name)}?lang=en")
        page.wait_for_function(
            "!['pending', undefined].includes(document.getElementById('browser-check')"
            ".dataset.result)"
        )
        check = page.locator("#browser-check")
        assert check.get_attribute("data-result") == "ok"
        assert check.get_attribute("data-status") == (said["reason"] or "genuine")
    engine = real.app.state.runtime.engine
    with engine.begin() as conn:  # the insider
        conn.execute(text("UPDATE certificates SET revoked_index = NULL"))
    got = open_with(page, real_site, real.qr("revoked"))
    assert (got["verdict"], got["reason"], got["failed"]) == ("not_genuine", "revoked", "revoked")


def test_a_lying_proxy_in_front_of_the_service_is_refused(
    real: RealLedger, tmp_path: Path, page: Page
) -> None:
    proxy = LyingProxy(real.base)
    with proxy.running() as base:
        site = export_site(tmp_path / "site", real.world.vkeys(), base)
        with serve_directory(site) as site_base:
            old = real.before_revocation["status_proof"]
            for name, rewrite, expected in (
                (
                    "verdict-flipped",
                    lambda a: {**a, "verdict": "genuine", "reason": None, "revocation": None},
                    ("not_genuine", "revoked", "revoked"),
                ),
                (
                    "old-status-proof",
                    lambda a: {**a, "status_proof": old},
                    ("not_genuine", "not_latest_root", "status_proof"),
                ),
                (
                    "state-edited",
                    lambda a: {
                        **a,
                        "status_proof": {
                            **a["status_proof"],
                            "state": {**a["status_proof"]["state"], "revoked": []},
                        },
                    },
                    ("not_genuine", "map_proof", "status_proof"),
                ),
            ):
                proxy.rewrite = rewrite
                got = open_with(page, site_base, real.qr("revoked"))
                assert (name, got["verdict"], got["reason"], got["failed"]) == (name, *expected)
                shoot(page, f"real-liar-{name}-en")
            # the whole answer from before the revocation, replayed: without witnesses its
            # proofs hold at that older checkpoint, and the page says which one it was
            proxy.rewrite = lambda a: real.before_revocation
            got = open_with(page, site_base, real.qr("revoked"))
            assert got["verdict"] == "genuine"
            assert got["as_of_size"] == str(real.before_revocation["status_proof"]["tree_size"])
