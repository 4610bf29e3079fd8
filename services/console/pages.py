"""How the console's pages are rendered: one layout, one glossary, one language choice.

Every page extends ``templates/layout.html``: the header (the product, the signed-in actor
and staff member, sign-out), the navigation of the signed-in role (`NAV`), the language
switch and the page's own content. Its style sheet and its one small script are inlined
from ``static/`` and allowed by their hashes (:data:`PAGE_CSP`), so nothing is loaded from
another host and nothing else runs; forms may post only to this server.

The language is Mongolian unless the reader chose English: ``?lang=en`` (or ``mn``) on any
page chooses it and keeps it in the ``altan_lang`` cookie; later pages (and the forms'
answers) follow the cookie. Templates get ``t(key, **values)`` (:mod:`glossary`) and hold
no visible text of their own.

For the pages of other roles (later): add the role's entries to `NAV`, its words to the
glossary, and render with :func:`page` from its routes.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, Final
from urllib.parse import quote, urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment

from services import html
from services.certificates.pages import format_time
from services.console import glossary
from services.html import csp_hash, inline_asset, page_headers
from services.i18n import DEFAULT_LANG, LANGS, Lang
from services.identity import Principal
from services.roles import (
    ADMINISTRATOR,
    AUDITOR,
    BUYER,
    LABORATORY,
    MINER,
    PARTNERSHIP,
    PROCESSING_CENTRE,
    REGULATOR,
)

__all__ = ["LANG_COOKIE", "NAV", "PAGE_CSP", "Chrome", "NavItem", "choose_lang", "page"]

_HERE = Path(__file__).resolve().parent
TEMPLATES_DIR: Final = _HERE / "templates"
STATIC_DIR: Final = _HERE / "static"

LANG_COOKIE: Final = "altan_lang"
LANG_COOKIE_MAX_AGE: Final = 365 * 24 * 3600

CONSOLE_CSS: Final = inline_asset(STATIC_DIR / "console.css")
CONSOLE_JS: Final = inline_asset(STATIC_DIR / "console.js")
OUTBOX_JS: Final = inline_asset(STATIC_DIR / "outbox.js")
"""The offline outbox (services/console/offline.py), on every signed-in page."""
PRINT_RULES: Final[dict[str, str]] = {
    "A6": "@page { size: A6 portrait; margin: 6mm; }",
    "A4": "@page { size: A4 portrait; margin: 12mm; }",
}
"""The ``@page`` rule of a printable page, per paper size: receipts A6, registers A4."""

PAGE_CSP: Final = "; ".join(
    [
        "default-src 'none'",
        f"script-src {csp_hash(CONSOLE_JS)} {csp_hash(OUTBOX_JS)}",
        # the outbox's and the passkeys' JSON calls, and the service worker (offline.py)
        "connect-src 'self'",
        "worker-src 'self'",
        "style-src " + " ".join(csp_hash(s) for s in (CONSOLE_CSS, *PRINT_RULES.values())),
        "img-src 'self' data:",
        "form-action 'self'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    ]
)
PAGE_HEADERS: Final = {**page_headers(PAGE_CSP), "Cache-Control": "no-store"}


@dataclass(frozen=True)
class NavItem:
    """One entry of a role's navigation: a glossary key and the page's path."""

    key: str
    href: str


NAV: Final[dict[str, tuple[NavItem, ...]]] = {
    PROCESSING_CENTRE: (
        NavItem("nav.today", "/app/centre"),
        NavItem("nav.deliver", "/app/centre/deliveries/new"),
        NavItem("nav.deliveries", "/app/centre/deliveries"),
        NavItem("nav.stock", "/app/centre/stock"),
        NavItem("nav.run", "/app/centre/runs/new"),
        NavItem("nav.offers", "/app/centre/offers"),
        NavItem("nav.our_cases", "/app/centre/cases"),
        NavItem("nav.register", "/app/centre/register"),
    ),
    BUYER: (
        NavItem("nav.inbox", "/app/buyer"),
        NavItem("nav.my_lots", "/app/buyer/lots"),
    ),
    MINER: (NavItem("nav.my_deliveries", "/app/miner"),),
    PARTNERSHIP: (NavItem("nav.my_deliveries", "/app/miner"),),
    LABORATORY: (
        NavItem("nav.waiting", "/app/lab"),
        NavItem("nav.assay", "/app/lab/assay"),
    ),
    REGULATOR: (
        NavItem("nav.officer.cases", "/app/officer"),
        NavItem("nav.officer.open", "/app/officer/cases/new"),
        NavItem("nav.officer.reports", "/app/officer/reports"),
    ),
    AUDITOR: (
        NavItem("nav.officer.cases", "/app/officer"),
        NavItem("nav.officer.open", "/app/officer/cases/new"),
        NavItem("nav.officer.reports", "/app/officer/reports"),
    ),
    ADMINISTRATOR: (
        NavItem("nav.admin.actors", "/app/admin"),
        NavItem("nav.admin.actor_new", "/app/admin/actors/new"),
        NavItem("nav.admin.site_new", "/app/admin/sites/new"),
        NavItem("nav.officer.cases", "/app/officer"),
        NavItem("nav.officer.reports", "/app/officer/reports"),
    ),
}
"""The navigation of each role; a role without entries gets the home page alone."""
HOME_NAV: Final = (NavItem("nav.home", "/app"),)


@dataclass(frozen=True)
class Chrome:
    """What the layout shows around a page: the language, who is signed in (None on the
    public pages), the CSRF token for the sign-out form, and where the reader is."""

    lang: Lang
    path: str
    query: Mapping[str, str]
    principal: Principal | None = None
    username: str = ""
    csrf: str = ""
    is_admin: bool = False
    """Whether the staff member is its actor's administrator (its staff and tokens)."""
    rendered_at: str = ""
    """When the page was made (the counter's time, to the minute): a page the service
    worker serves from its cache says it is as of then."""

    @property
    def nav(self) -> tuple[NavItem, ...]:
        """The role's entries; an actor's administrator also gets its actor's page (the
        system administrator's own entries reach every actor)."""
        if self.principal is None:
            return ()
        entries = NAV.get(self.principal.role, HOME_NAV)
        if self.is_admin and self.principal.role != ADMINISTRATOR:
            actor = quote(self.principal.actor_id, safe=":")
            entries = (*entries, NavItem("nav.admin.our_actor", f"/app/admin/actors/{actor}"))
        return entries

    def current(self, item: NavItem) -> bool:
        return self.path == item.href

    def switch(self, lang: Lang) -> str:
        """This page's address in `lang` (its other query parameters kept)."""
        params = {k: v for k, v in self.query.items() if k != "lang"}
        params["lang"] = lang
        return f"{self.path}?{urlencode(params)}"


def choose_lang(request: Request) -> tuple[Lang, bool]:
    """The page's language and whether the reader just chose it (then the cookie is set):
    ``?lang=`` first, then the cookie, else Mongolian."""
    asked = request.query_params.get("lang")
    if asked in LANGS:
        return asked, True
    kept = request.cookies.get(LANG_COOKIE)
    if kept in LANGS:
        return kept, False
    return DEFAULT_LANG, False


def format_mass(grams: int, unit: str = "g", lang: Lang = DEFAULT_LANG) -> str:
    """A mass for people: ore in kg (t from 10 t up), exact to the gram; gold in g, exact
    to the mg. The units are the glossary's (кг, тн, г)."""
    if unit == "mg":
        value, shown = Decimal(grams) / 1000, "unit.g"
    elif grams >= 10_000_000:
        value, shown = Decimal(grams) / 1_000_000, "unit.t"
    else:
        value, shown = Decimal(grams) / 1000, "unit.kg"
    number = f"{value:,f}"
    if "." in number:
        number = number.rstrip("0").rstrip(".")
    if lang == "mn":  # Mongolian writes 1 250,5
        number = number.replace(",", "\u00a0").replace(".", ",")
    return f"{number}\u00a0{glossary.text(lang, shown)}"


@functools.cache
def environment() -> Environment:
    """The Jinja2 environment of the console (services.html: autoescape, strict)."""
    return html.environment(TEMPLATES_DIR, filters={"time": format_time})


def render(template: str, chrome: Chrome, /, **context: Any) -> str:
    """The page's HTML, with ``t``, ``mass`` and the layout's ``chrome`` and assets."""
    lang = chrome.lang

    def t(key: str, **values: object) -> str:
        return glossary.text(lang, key, **values)

    def mass(grams: int, unit: str = "g") -> str:
        return format_mass(grams, unit, lang)

    return (
        environment()
        .get_template(template)
        .render(
            lang=lang,
            t=t,
            mass=mass,
            chrome=chrome,
            css=CONSOLE_CSS,
            js=CONSOLE_JS,
            outbox_js=OUTBOX_JS,
            print_rules=PRINT_RULES,
            langs=LANGS,
            **context,
        )
    )


def page(
    request: Request,
    template: str,
    chrome: Chrome,
    *,
    status: int = 200,
    chose_lang: bool = False,
    **context: Any,
) -> HTMLResponse:
    """The rendered page as a response with the console's headers; keeps the language
    the reader just chose in its cookie."""
    response = HTMLResponse(
        render(template, chrome, **context), status_code=status, headers=PAGE_HEADERS
    )
    if chose_lang:
        response.set_cookie(
            LANG_COOKIE,
            chrome.lang,
            max_age=LANG_COOKIE_MAX_AGE,
            path="/",
            secure=request.url.scheme == "https",
            httponly=True,
            samesite="lax",
        )
    return response
