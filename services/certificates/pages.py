"""The HTML page a phone camera opens for a certificate (``GET /c/{token}``).

The page is rendered on the server and reads fully without JavaScript: the verdict as a word
and an icon (never by colour alone), the reason in words, the certificate's facts, the
origin, the lot now, its latest entries, a revocation, links to newer certificates and the
numbered checklist. Mongolian is the default language, English the other (``?lang=``).

One small inline script (``static/verify.js``) re-checks in the browser, with WebCrypto,
what this server sent: the token's own COSE signature and the checkpoint's (where the
browser has Ed25519), that the facts shown are the signed ones, and the inclusion proof; its
data is embedded as JSON (``<script type="application/json" id="proof-data">``). All of it
comes from this server, so the page calls it a consistency check and no more, shows the
fingerprints of the keys it used (to compare with the regulator's publication), and gives
the independent check as a command that runs as printed (:func:`verify_command`). Nothing is loaded
from another host: style and script are inline, so a strict Content-Security-Policy
(:data:`PAGE_CSP`, with the hashes of both) can be sent with the page.

Templates are Jinja2 with autoescape on; the Environment is built once (:func:`environment`).
The printable page with the QR code is in :mod:`services.certificates.images`.
"""

from __future__ import annotations

import base64
import functools
from datetime import UTC, datetime, timedelta, timezone
from fractions import Fraction
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit

from jinja2 import Environment
from markupsafe import Markup, escape

from ledger.certificate import parse_qr_text
from ledger.errors import MalformedInput
from schemas.certificates import VerdictOut
from services import html, i18n
from services.certificates.verdict import ReceiptFacts
from services.html import csp_hash, inline_asset
from services.i18n import DEFAULT_LANG, LANGS, Lang

__all__ = [
    "PAGE_CSP",
    "environment",
    "format_time",
    "render",
    "share_text",
    "shell_quote",
    "verify_command",
    "verify_page",
]

_HERE = Path(__file__).resolve().parent
TEMPLATES_DIR: Final = _HERE / "templates"
STATIC_DIR: Final = _HERE / "static"

HISTORY_SHOWN: Final = 10
"""The verify page shows at most this many of the lot's latest entries."""

ULAANBAATAR: Final = timezone(timedelta(hours=8), "UTC+8")
"""Times are shown in Ulaanbaatar time, labelled with the offset (the western aimags keep
UTC+7, so the label matters)."""

ICONS: Final[dict[str, str]] = {
    "genuine": "\u2713",  # ✓
    "not_genuine": "\u2717",  # ✗
    "not_current": "\u26a0\ufe0e",  # ⚠ as text, not emoji (so it takes the text colour)
}
STATE_ICONS: Final[dict[str, str]] = {"ok": "\u2713", "failed": "\u2717", "skipped": "\u2013"}


# The browser's checks are one file shared with the static verifier (`altan verifier
# export`), kept with it in clients/verifier/ and read from there (a file, not an import);
# the page's own glue follows it in the one inline script.
CHECKS_JS_PATH: Final = _HERE.parents[1] / "clients" / "verifier" / "altan-check.js"
VERIFY_JS: Final = inline_asset(CHECKS_JS_PATH) + "\n" + inline_asset(STATIC_DIR / "verify.js")
VERIFY_CSS: Final = inline_asset(STATIC_DIR / "verify.css")
PRINT_CSS: Final = inline_asset(STATIC_DIR / "print.css")

PRINT_PAGE_RULES: Final[dict[str, str]] = {
    "A5": "@page { size: A5 portrait; margin: 10mm; }",
    "A6": "@page { size: A6 portrait; margin: 7mm; }",
}
"""The ``@page`` rule of the printable page, per paper size (A5 148 x 210 mm, A6 105 x 148)."""

PAGE_CSP: Final = "; ".join(
    [
        "default-src 'none'",
        f"script-src {csp_hash(VERIFY_JS)}",
        "style-src "
        + " ".join(csp_hash(s) for s in (VERIFY_CSS, PRINT_CSS, *PRINT_PAGE_RULES.values())),
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    ]
)
"""A Content-Security-Policy for the verify and print pages: nothing but their own inline
script and styles (by hash). The service may send it as a header with both pages."""


@functools.cache
def environment() -> Environment:
    """The Jinja2 environment of the certificate pages (autoescape on, strict undefined)."""
    return html.environment(
        TEMPLATES_DIR,
        filters={
            "time": format_time,
            "share": share_text,
            "safe_url": safe_url,
            "number": format_number,
        },
        globals={"ICONS": ICONS, "STATE_ICONS": STATE_ICONS},
    )


def render(template: str, lang: Lang, /, **context: Any) -> str:
    """Render ``template`` in ``lang``. The template gets ``lang``, ``t(key, **values)`` (plain
    text, escaped on output) and ``tm(key, **values)`` (for values that are Markup)."""
    if lang not in LANGS:
        lang = DEFAULT_LANG

    def t(key: str, **values: object) -> str:
        return i18n.text(lang, key, **values)

    def tm(key: str, **values: object) -> Markup:
        """The text of ``key``, escaped, with ``values`` filled in (escaped unless Markup)."""
        return escape(i18n.text(lang, key)).format(**values)

    return environment().get_template(template).render(lang=lang, t=t, tm=tm, **context)


# -- filters ------------------------------------------------------------------------------


def format_time(value: str) -> str:
    """An RFC 3339 time for people: ``2026-09-01 16:00 (UTC+8)``; unparsable text as is.

    A time that Ulaanbaatar's clock cannot show (a signed token may say 9999-12-31 23:59
    UTC, which is year 10000 at UTC+8) is shown in UTC, labelled so, or else as is: a page
    never fails for a strange date (issue 10, hole 6).
    """
    try:
        when = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return value
    if when.tzinfo is None:
        return value
    for zone, label in ((ULAANBAATAR, "UTC+8"), (UTC, "UTC")):
        try:
            return when.astimezone(zone).strftime(f"%Y-%m-%d %H:%M ({label})")
        except (OverflowError, ValueError):
            continue
    return value


def share_text(share: str) -> str:
    """An exact share ``n/d`` with its rounded percentage: ``1/3 (33.3%)``."""
    try:
        fraction = Fraction(share)
    except (ValueError, ZeroDivisionError):
        return share
    percent = f"{float(fraction * 100):.1f}".removesuffix(".0")
    return f"{share} ({percent}%)"


def safe_url(url: str) -> str | None:
    """``url`` if it is an http(s) or same-site path link, else None (no ``javascript:``)."""
    if url.startswith("/") and not url.startswith("//"):
        return url
    parts = urlsplit(url)
    if parts.scheme in ("https", "http") and parts.netloc:
        return url
    return None


def format_number(value: int) -> str:
    """An integer with comma thousands separators: ``1,234,567``."""
    return f"{value:,}"


def host_of(url: str) -> str:
    """The host (and port) of ``url``, or the URL itself when it has none."""
    return urlsplit(url).netloc or url


# -- the verify page ----------------------------------------------------------------------


def _token_base64(token_url: str) -> str | None:
    """The token in this page's address, as base64, for the browser to check its signature;
    None when the address holds none."""
    try:
        return base64.b64encode(parse_qr_text(token_url)).decode("ascii")
    except MalformedInput:
        return None


def _proof_data(view: VerdictOut, token_url: str) -> dict[str, Any] | None:
    if view.proof is None:
        return None
    cert = view.certificate
    return {
        "proof": view.proof.model_dump(mode="json"),
        "token": _token_base64(token_url),
        "certificate": None
        if cert is None
        else {
            "id": cert.id,
            "lot": cert.lot,
            "custodian": cert.custodian,
            "mass": cert.mass,
            "ledger_index": cert.ledger_index,
            "leaf_hash_prefix": cert.leaf_hash_prefix,
        },
        "leaf_hash_prefix": cert.leaf_hash_prefix if cert is not None else None,
        "ledger_index": cert.ledger_index if cert is not None else None,
        "checkpoint": view.checkpoint,
        "verifier_keys": list(view.verifier_keys),
        # the page's script re-judges the status from this proof (verify.js)
        "status_proof": None
        if view.status_proof is None
        else view.status_proof.model_dump(mode="json"),
        "verdict": view.verdict,
        "reason": view.reason,
    }


def _key_ids(vkeys: list[str]) -> list[str]:
    """``name+keyid`` of each verifier key (the part people compare with a published one)."""
    return ["+".join(v.split("+", 2)[:2]) for v in vkeys]


def shell_quote(text: str) -> str:
    """``text`` in single quotes for a POSIX shell (a ``'`` inside written ``'\\''``), so
    the command on the page runs as printed whatever the address holds."""
    return "'" + text.replace("'", "'\\''") + "'"


def verify_command(token_url: str, vkeys: list[str]) -> str:
    """The independent check of this certificate as one command line:
    ``altan verify '<url>' --online --key '<vkey>'`` (one ``--key`` per log key listed).
    The keys are this server's; the page says that the ones to use are the published ones."""
    keys = " ".join(f"--key {shell_quote(v)}" for v in vkeys) or "--key '<log key>'"
    return f"altan verify {shell_quote(token_url)} --online {keys}"


def verify_page(
    view: VerdictOut, lang: Lang, token_url: str, receipt: ReceiptFacts | None = None
) -> str:
    """The HTML page for ``view`` in ``lang`` ("mn" or "en"); ``token_url`` is this page's
    address (the certificate's QR text), whose host the page tells people to check.

    An ore receipt (``receipt``: the delivery it records) is the record of a delivery that
    happened: its page names the miner, the site, the day and the mass, and once the ore
    is milled says "delivered on ..., processed since" without calling the receipt
    outdated and without anything downstream of the ore. A certificate no longer current
    never opens with "genuine": its headline says not to accept it as proof of the lot
    today (a held lot: "frozen by an investigation"), the reason says why."""
    history = list(reversed(view.lot.history))[:HISTORY_SHOWN] if view.lot is not None else []
    return render(
        "verify.html",
        lang,
        view=view,
        cert=view.certificate,
        receipt=receipt,
        # facts the ledger does not stand behind: the signature failed or it is not logged
        claimed=view.verdict == "not_genuine" and view.reason != "revoked",
        host=host_of(token_url),
        bold_host=Markup("<strong>{}</strong>").format(host_of(token_url)),
        token_url=token_url,
        history=history,
        proof_data=_proof_data(view, token_url),
        key_ids=_key_ids(view.verifier_keys),
        command=verify_command(token_url, list(view.verifier_keys)),
        script=VERIFY_JS,
        css=VERIFY_CSS,
    )
