"""The console through real HTTP (the ASGI app, SQLite and PostgreSQL): its pages in both
languages, sign-in and sign-out, recording an ore delivery through the form (once, exact
grams, refusals in Mongolian with nothing recorded), one centre never seeing another's
deliveries, CSRF; and the glossary and templates that make every visible word Mongolian
or English, never a mix.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.console import forms, glossary, queries
from services.console.forms import FormMistakes, parse_mass
from services.console.pages import NAV, PAGE_CSP, TEMPLATES_DIR, format_mass
from services.html import csp_hash
from services.i18n import EN as PAGE_EN
from services.i18n import LANGS
from services.i18n import MN as PAGE_MN
from services.roles import ROLES
from support.certificates import PARTNERSHIP, SITE
from support.console import (
    BUYER_CLERK,
    CLERK,
    CLERK2,
    MINER2,
    SITE2,
    Console,
    deliveries_logged,
    hidden_fields,
    running_console,
)
from support.db import Database, database_url

CENTRE_PAGES = [
    "/app/centre",
    "/app/centre/deliveries",
    "/app/centre/deliveries/new",
    "/app/centre/stock",
]


@pytest.fixture
def console(tmp_path: Path) -> Iterator[Console]:
    with running_console(tmp_path) as c:
        yield c


def _signed_in(c: Console, username: str = CLERK) -> Console:
    resp = c.sign_in(username)
    assert resp.status_code == 303, resp.text
    return c


def _mistakes(page: str) -> dict[str, str]:
    """The field mistakes a form page shows: field -> sentence."""
    return dict(
        re.findall(r'<p class="field-error" id="([a-z_]+)-error" role="alert">([^<]*)</p>', page)
    )


# -- pages, languages, sessions ------------------------------------------------------------


def test_pages_answer_in_both_languages(database: Database, tmp_path: Path) -> None:
    url, _ = database_url(database)
    with running_console(tmp_path, database_url=url) as c:
        _signed_in(c)
        c.deliver(c.delivery_form(), mass="250", unit="kg")
        lot = deliveries_logged(c.api)[0].event.body["lot"]
        pages = [*CENTRE_PAGES, f"/app/centre/deliveries/{lot}/receipt"]
        for path in pages:
            mn = c.client.get(path)
            assert mn.status_code == 200, (path, mn.text)
            assert '<html lang="mn">' in mn.text
            assert glossary.TERMS["site.name"].mn in mn.text
            assert mn.headers["content-security-policy"] == PAGE_CSP
        for path in pages:
            en = c.client.get(path + "?lang=en")
            assert en.status_code == 200
            assert '<html lang="en">' in en.text and "Altan Ledger" in en.text
        # the choice is kept in a cookie: later pages (no ?lang) stay English
        again = c.client.get("/app/centre")
        assert '<html lang="en">' in again.text and glossary.TERMS["nav.stock"].en in again.text
        back = c.client.get("/app/centre?lang=mn")
        assert '<html lang="mn">' in back.text


def test_the_landing_page_is_public(console: Console) -> None:
    page = console.client.get("/")
    assert page.status_code == 200
    assert '<html lang="mn">' in page.text
    for link in ('href="/app/sign-in"', 'href="/docs"'):
        assert link in page.text
    assert glossary.TERMS["landing.verify"].mn in page.text


@pytest.mark.parametrize("path", ["/app", *CENTRE_PAGES, "/app/centre/deliveries/X/receipt"])
def test_without_a_session_pages_send_to_sign_in(console: Console, path: str) -> None:
    resp = console.client.get(path, follow_redirects=False)
    assert resp.status_code == 303
    assert resp.headers["location"].startswith("/app/sign-in?next=")
    form = console.client.get(resp.headers["location"])
    assert form.status_code == 200 and 'name="password"' in form.text


def test_sign_in_sign_out_and_a_wrong_password(console: Console) -> None:
    wrong = console.sign_in(CLERK, "not-the-password")
    assert wrong.status_code == 401
    assert glossary.TERMS["signin.failed"].mn in wrong.text
    ok = console.sign_in(CLERK, next_path="/app/centre/stock")
    assert ok.status_code == 303 and ok.headers["location"] == "/app/centre/stock"
    assert "httponly" in ok.headers["set-cookie"].lower()
    assert "samesite=strict" in ok.headers["set-cookie"].lower()
    assert console.client.get("/app/centre").status_code == 200
    console.sign_out()
    assert console.client.get("/app/centre", follow_redirects=False).status_code == 303


def test_sign_in_goes_only_to_console_pages(console: Console) -> None:
    resp = console.sign_in(CLERK, next_path="https://evil.example/")
    assert resp.headers["location"] == "/app"


def test_other_roles_see_their_home_not_the_centre_pages(console: Console) -> None:
    _signed_in(console, BUYER_CLERK)
    home = console.client.get("/app", follow_redirects=False)  # the buyer's own pages
    assert home.status_code == 303 and home.headers["location"] == "/app/buyer"
    for path in CENTRE_PAGES:
        refused = console.client.get(path)
        assert refused.status_code == 403
        assert glossary.TERMS["error.403"].mn in refused.text


# -- recording a delivery ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mass", "unit", "grams"), [("1.5", "t", 1_500_000), ("250", "kg", 250_000)]
)
def test_a_delivery_is_recorded_once_in_exact_grams(
    database: Database, tmp_path: Path, mass: str, unit: str, grams: int
) -> None:
    url, _ = database_url(database)
    with running_console(tmp_path, database_url=url) as c:
        _signed_in(c)
        form = c.delivery_form()
        first = c.deliver(form, mass=mass, unit=unit)
        assert first.status_code == 303, first.text
        again = c.deliver(form, mass=mass, unit=unit)  # the same form sent twice
        assert again.status_code == 303
        [entry] = deliveries_logged(c.api)
        body = entry.event.body
        assert body["mass_g"] == grams and body["lot"] == form["lot"]
        assert body["miner"] == PARTNERSHIP and body["site"] == SITE
        assert entry.event.actor == "centre:bornuur"
        assert entry.event.staff is not None and entry.event.staff.startswith("stf_")
        listed = c.client.get(first.headers["location"])
        assert form["lot"] in listed.text
        assert 'role="status"' in listed.text  # "recorded: ..., print the receipt"


def test_a_second_form_records_a_second_delivery(console: Console) -> None:
    _signed_in(console)
    console.deliver(console.delivery_form(), mass="100")
    console.deliver(console.delivery_form(), mass="1 250,5", miner_site=f"{MINER2}|{SITE2}")
    masses = sorted(e.event.body["mass_g"] for e in deliveries_logged(console.api))
    assert masses == [100_000, 1_250_500]


@pytest.mark.parametrize(
    ("fields", "field", "key"),
    [
        ({"mass": "abc"}, "mass", "error.mass_number"),
        ({"mass": "-3"}, "mass", "error.mass_number"),
        ({"mass": "0"}, "mass", "error.mass_positive"),
        ({"mass": "1,500"}, "mass", "error.mass_ambiguous"),
        ({"mass": "0.0004"}, "mass", "error.mass_grams"),
        ({"mass": ""}, "mass", "error.required"),
        ({"mass": "5", "unit": "lb"}, "unit", "error.unit"),
        ({"mass": "5", "miner_site": ""}, "miner_site", "error.miner_site"),
        ({"mass": "5", "mined_on": "10.09.2026"}, "mined_on", "error.date"),
        ({"mass": "2000", "unit": "t"}, "mass", "error.mass_max"),  # the pipeline's bound
    ],
)
def test_a_bad_form_comes_back_in_mongolian_and_records_nothing(
    console: Console, fields: dict[str, str], field: str, key: str
) -> None:
    _signed_in(console)
    form = console.delivery_form()
    resp = console.deliver(form, **fields)
    assert resp.status_code == 422
    assert _mistakes(resp.text) == {field: glossary.TERMS[key].mn}
    assert f'id="{field}" name="{field}"' in resp.text and 'aria-invalid="true"' in resp.text
    assert glossary.TERMS["deliver.refused"].mn in resp.text
    assert hidden_fields(resp.text)["form_key"] == form["form_key"]  # the same form again
    assert deliveries_logged(console.api) == []


def test_a_refusal_by_the_rules_is_worded_in_the_page_language(console: Console) -> None:
    _signed_in(console)
    console.client.get("/app/centre?lang=en")
    form = console.delivery_form()
    resp = console.deliver(form, mass="5", miner_site=f"{PARTNERSHIP}|{SITE2}")
    assert resp.status_code == 422
    assert "miner_site" in _mistakes(resp.text)
    assert '<html lang="en">' in resp.text
    assert deliveries_logged(console.api) == []
    # corrected and sent again with the same form: recorded
    ok = console.deliver(
        hidden_fields(resp.text) | {"lot": form["lot"], "mined_on": form["mined_on"]}, mass="5"
    )
    assert ok.status_code == 303
    assert len(deliveries_logged(console.api)) == 1


def test_the_receipt_prints_the_delivery_and_its_qr(console: Console) -> None:
    _signed_in(console)
    form = console.delivery_form()
    console.deliver(form, mass="1,5", unit="t", notes="уут 3")
    page = console.client.get(f"/app/centre/deliveries/{form['lot']}/receipt")
    assert page.status_code == 200
    for fact in (form["lot"], PARTNERSHIP, SITE, form["mined_on"], "1\u00a0500\u00a0кг", "уут 3"):
        assert fact in page.text
    assert "<svg" in page.text and "https://altan.mn/c/" in page.text  # the receipt's QR
    assert "size: A6" in page.text


def test_another_centre_cannot_see_the_deliveries(console: Console) -> None:
    _signed_in(console)
    form = console.delivery_form()
    console.deliver(form, mass="300")
    console.sign_out()
    _signed_in(console, CLERK2)
    for path in CENTRE_PAGES:
        assert form["lot"] not in console.client.get(path).text
    receipt = console.client.get(f"/app/centre/deliveries/{form['lot']}/receipt")
    assert receipt.status_code == 404
    assert PARTNERSHIP not in receipt.text and glossary.TERMS["error.404"].mn in receipt.text


def test_a_form_without_its_csrf_token_is_refused(console: Console) -> None:
    _signed_in(console)
    form = console.delivery_form()
    for token in (None, "forged"):
        sent = {k: v for k, v in form.items() if k != "csrf_token"}
        if token is not None:
            sent["csrf_token"] = token
        resp = console.deliver(sent, mass="5")
        assert resp.status_code == 403
        assert glossary.TERMS["error.csrf"].mn in resp.text
    assert deliveries_logged(console.api) == []
    out = console.client.post("/app/sign-out", data={}, follow_redirects=False)
    assert out.status_code == 403
    assert console.client.get("/app/centre").status_code == 200  # still signed in


def test_the_sign_in_form_needs_its_own_token(console: Console) -> None:
    resp = console.client.post(
        "/app/sign-in", data={"username": CLERK, "password": "x" * 12}, follow_redirects=False
    )
    assert resp.status_code == 403
    assert "set-cookie" not in resp.headers or "altan_session" not in resp.headers["set-cookie"]


def test_the_today_page_counts_deliveries_and_stock(console: Console) -> None:
    _signed_in(console)
    console.deliver(console.delivery_form(), mass="250")
    page = console.client.get("/app/centre")
    assert 'class="big">1<' in page.text
    stock = console.client.get("/app/centre/stock")
    assert "250\u00a0кг" in stock.text


def test_pages_allow_only_their_own_inline_style_and_script(console: Console) -> None:
    _signed_in(console)
    page = console.client.get("/app/centre/deliveries/new").text
    for tag in ("style", "script"):
        for inline in re.findall(rf"<{tag}>(.*?)</{tag}>", page, re.S):
            assert csp_hash(inline) in PAGE_CSP
    assert not re.search(r'(src|href|action)="(https?:)?//', page)  # nothing from elsewhere


# -- forms ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "unit", "grams"),
    [
        ("1.5", "t", 1_500_000),
        ("1,5", "t", 1_500_000),
        ("250", "kg", 250_000),
        ("0.001", "kg", 1),
        ("1 250", "kg", 1_250_000),
        ("1 250,75", "kg", 1_250_750),
        ("1000", "t", 1_000_000_000),
        ("0.123456", "t", 123_456),
        ("0,125", "t", 125_000),
        ("12,5", "kg", 12_500),
        ("1,5000", "kg", 1_500),
    ],
)
def test_masses_convert_to_exact_grams(amount: str, unit: str, grams: int) -> None:
    assert parse_mass(amount, unit) == grams


@pytest.mark.parametrize("amount", ["1.5.3", "1,5.3", "1e3", "NaN", "Infinity", "0x10", "١٢"])
def test_masses_that_are_not_plain_numbers_are_refused(amount: str) -> None:
    with pytest.raises(FormMistakes) as caught:
        parse_mass(amount, "kg")
    assert caught.value.mistakes == {"mass": "error.mass_number"}


def test_new_lot_ids_are_valid_object_ids() -> None:
    from datetime import date

    lot = forms.new_lot_id(date(2026, 9, 14))
    assert re.fullmatch(r"ORE-20260914-[0-9A-F]{8}", lot)


def test_masses_are_shown_in_the_readers_units() -> None:
    assert format_mass(1_500_000, "g", "mn") == "1\u00a0500\u00a0кг"
    assert format_mass(1_500_000, "g", "en") == "1,500\u00a0kg"
    assert format_mass(250_500, "g", "mn") == "250,5\u00a0кг"
    assert format_mass(12_000_000, "g", "en") == "12\u00a0t"
    assert format_mass(123_456, "mg", "en") == "123.456\u00a0g"


# -- the glossary and the templates --------------------------------------------------------


def test_every_term_has_both_languages() -> None:
    for key, term in glossary.TERMS.items():
        assert term.mn.strip() and term.en.strip(), key
        assert term.mn.count("{") == term.en.count("{"), key
    assert all(f"role.{role}" in glossary.TERMS for role in ROLES)
    assert all(item.key in glossary.TERMS for items in NAV.values() for item in items)


def test_the_console_names_things_as_the_certificate_pages_do() -> None:
    same = {
        "lot": "label.lot",
        "mass": "label.mass",
        "custodian": "label.custodian",
        "remaining": "label.remaining",
        "site.name": "site.name",
        "receipt": "print.title.ore_receipt",
    }
    for ours, theirs in same.items():
        assert glossary.TERMS[ours].mn == PAGE_MN[theirs]
        assert glossary.TERMS[ours].en == PAGE_EN[theirs]
    assert glossary.TERMS["site"].mn == PAGE_MN["label.sites"]
    # DOMAIN.md's words
    assert glossary.TERMS["lot"].mn == "Багц"
    assert glossary.TERMS["role.processing_centre"].mn == "Хүдэр боловсруулах төв"
    assert glossary.TERMS["role.miner"].mn == "Бичил уурхайчин"


_JINJA = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", re.S)
_TAG = re.compile(r"<[^>]*>", re.S)
_TEXT_ATTRS = re.compile(r'\b(?:aria-label|title|placeholder|alt|label|data-label)="([^"]*)"')
_LETTER = re.compile(r"[^\W\d_]")


def _templates() -> list[Path]:
    return sorted(TEMPLATES_DIR.rglob("*.html"))


@pytest.mark.parametrize("template", _templates(), ids=lambda p: p.name)
def test_every_visible_word_of_a_template_goes_through_the_glossary(template: Path) -> None:
    source = template.read_text(encoding="utf-8")
    without_code = _JINJA.sub(" ", source)
    for value in _TEXT_ATTRS.findall(without_code):
        assert not _LETTER.search(value), f"{template.name}: attribute text {value!r}"
    without_code = re.sub(r"<(style|script)>.*?</\1>", " ", without_code, flags=re.S)
    visible = _TAG.sub(" ", without_code)
    visible = re.sub(r'[\w-]+="[^"]*"', " ", visible)  # attributes a macro writes
    words = _LETTER.findall(visible)
    assert not words, f"{template.name}: text outside the glossary: {visible.split()!r}"
    for key in re.findall(r"""\bt\(\s*["']([^"']+)["']""", source):
        if key.endswith("."):  # t("role." ~ role): a family, its members checked below
            assert any(k.startswith(key) for k in glossary.TERMS), f"{template.name}: {key!r}"
        else:
            assert key in glossary.TERMS, f"{template.name}: unknown glossary key {key!r}"


def test_every_value_a_template_words_has_a_term() -> None:
    families = {
        "role.": ROLES,
        "kind.": ("ore", "gold"),
        "form.": ("ore", "dore", "concentrate"),
        "status.": ("active", "closed", "exported", "refined"),
        "case.": (*queries.OPEN_CASE_STATUSES, "hold", "red_flag", "dispute"),
        "unit.": ("g", "mg", "kg", "t"),
        "lang.": LANGS,
    }
    for prefix, values in families.items():
        for value in values:
            assert f"{prefix}{value}" in glossary.TERMS
