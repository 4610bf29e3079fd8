"""Gaps the console's first builders left, through real HTTP (the ASGI app on SQLite):

- a form over the form reader's limit is answered "the form is too large" (413, naming the
  limit, in the reader's language), not as a stale form, and nothing is recorded; every
  text field says its schema bound (maxlength), so typing cannot reach the limit;
- an actor's administrator staff has a menu entry to its actor's page;
- an ore receipt whose ore was milled says so as a fact in its checklist, not a failure
  (a gold certificate still fails the step);
- a run asking more ore than is left says both masses in kg as entered, not in grams.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.console import glossary
from services.console.kit import MAX_FORM_BYTES
from services.console.pages import TEMPLATES_DIR
from services.i18n import EN, MN
from support.certificates import BANK, CENTRE, World
from support.console import CLERK, PASSWORD, Console, deliveries_logged, running_console
from support.console_roles import entries, form_fields

T = glossary.TERMS
LIMIT_KB = MAX_FORM_BYTES // 1024
CENTRE_ADMIN = "tsetseg.admin"


@pytest.fixture
def console(tmp_path: Path) -> Iterator[Console]:
    with running_console(tmp_path) as c:
        yield c


def _signed_in(c: Console, username: str = CLERK) -> Console:
    resp = c.sign_in(username)
    assert resp.status_code == 303, resp.text
    return c


# -- 1. a form too large -----------------------------------------------------------------------


@pytest.mark.parametrize("lang", ["mn", "en"])
def test_a_form_over_the_limit_is_too_large_not_a_csrf_failure(console: Console, lang: str) -> None:
    _signed_in(console)
    console.client.get(f"/app/centre?lang={lang}")  # the language, kept in its cookie
    form = console.delivery_form()
    resp = console.deliver(form, mass="250", notes="x" * (MAX_FORM_BYTES + 1))
    assert resp.status_code == 413, resp.text
    said = T["error.form_too_large"].mn if lang == "mn" else T["error.form_too_large"].en
    assert said.format(limit=LIMIT_KB) in resp.text
    assert f"{LIMIT_KB}" in resp.text and T["error.csrf"].mn not in resp.text
    assert T["error.csrf"].en not in resp.text
    assert f'<html lang="{lang}">' in resp.text
    assert deliveries_logged(console.api, form["lot"]) == []
    # the same form within its bounds is recorded: the limit is not reached by typing
    again = console.deliver(form, mass="250", notes="ш" * 2000)  # 2000 Cyrillic letters
    assert again.status_code == 303, again.text
    assert len(deliveries_logged(console.api, form["lot"])) == 1


def test_a_sign_in_form_over_the_limit_is_too_large(console: Console) -> None:
    page = console.client.get("/app/sign-in")
    fields = form_fields(page.text, "/app/sign-in") | {
        "username": "x" * (MAX_FORM_BYTES + 1),
        "password": "p",
    }
    resp = console.client.post("/app/sign-in", data=fields, follow_redirects=False)
    assert resp.status_code == 413
    assert T["error.form_too_large"].mn.format(limit=LIMIT_KB) in resp.text


_FIELD = re.compile(r"<(input|textarea)\b([^>]*)>", re.S)
_NOT_TYPED = ("hidden", "checkbox", "radio", "submit", "date", "search")


def test_every_text_field_says_its_bound() -> None:
    """Each typed field of every console template has a maxlength (the schema's bound)."""
    unbounded = []
    for path in sorted(TEMPLATES_DIR.rglob("*.html")):
        for tag, attrs in _FIELD.findall(path.read_text(encoding="utf-8")):
            kind = re.search(r'type="([a-z]+)"', attrs)
            if tag == "input" and kind is not None and kind.group(1) in _NOT_TYPED:
                continue
            if "maxlength=" not in attrs:
                unbounded.append(f"{path.relative_to(TEMPLATES_DIR)}: <{tag}{attrs[:60]}")
    assert unbounded == []


# -- 2. an actor's administrator's menu --------------------------------------------------------


def test_an_actors_administrator_has_a_menu_entry_to_its_actor(console: Console) -> None:
    resp = console.api.client.post(
        "/staff",
        json={
            "actor": CENTRE,
            "username": CENTRE_ADMIN,
            "display_name": "Tsetseg",
            "password": PASSWORD,
            "is_admin": True,
        },
        headers=console.api.headers("admin:root"),
    )
    assert resp.status_code == 201, resp.text
    href = f'href="/app/admin/actors/{CENTRE}"'
    _signed_in(console)  # a clerk: no such entry
    assert href not in console.client.get("/app/centre").text
    console.sign_out()
    _signed_in(console, CENTRE_ADMIN)
    today = console.client.get("/app/centre?lang=en")
    menu = today.text.split('<nav class="menu"', 1)[1].split("</nav>", 1)[0]
    assert href in menu and T["nav.admin.our_actor"].en in menu
    page = console.client.get(f"/app/admin/actors/{CENTRE}")
    assert page.status_code == 200
    menu = page.text.split('<nav class="menu"', 1)[1].split("</nav>", 1)[0]
    assert f'{href} aria-current="page"' in menu  # the entry it is on


# -- 3. the ore receipt after milling ----------------------------------------------------------


def _check(page: str, name: str) -> str:
    found = re.search(rf'<li value="\d+" data-check="{name}"[^>]*>(.*?)</li>', page, re.S)
    assert found is not None, page
    return found.group(0)


def test_a_milled_receipts_last_step_is_a_fact_not_a_failure(console: Console) -> None:
    world = World(console.api)
    world.gold("GOLD-9", 40_000)  # ORE-GOLD-9 delivered, then milled into GOLD-9 (09-13)
    world.request("GOLD-9")
    receipt = next(
        c["token"] for c in world.certificates("ORE-GOLD-9") if c["kind"] == "ore_receipt"
    )
    for lang, words in (("mn", MN), ("en", EN)):
        page = console.client.get(f"/c/{receipt}?lang={lang}").text
        step = _check(page, "current")
        assert 'data-state="fact"' in step
        assert words["check.receipt_processed"].format(date="2026-09-13") in step
        assert words["check.failed"] not in step and "\u2717" not in step
        assert words["check.current"] not in step
    # a gold certificate no longer current (sold on) still fails the step
    gold = world.latest_token("GOLD-9")
    world.offer_and_accept("OFFER-9", "GOLD-9", BANK)
    step = _check(console.client.get(f"/c/{gold}?lang=en").text, "current")
    assert 'data-state="failed"' in step and EN["check.current"] in step


# -- 5. too much ore, in kg ----------------------------------------------------------------------

RUN = "/app/centre/runs/new"


@pytest.mark.parametrize(
    ("lang", "asked", "left"),
    [("en", "5,000\u00a0kg", "250\u00a0kg"), ("mn", "5\u00a0000\u00a0кг", "250\u00a0кг")],
)
def test_too_much_ore_is_said_in_kg_as_entered(
    console: Console, lang: str, asked: str, left: str
) -> None:
    _signed_in(console)
    form = console.delivery_form()
    assert console.deliver(form, mass="250", unit="kg").status_code == 303
    lot = form["lot"]
    page = console.client.get(f"{RUN}?lang={lang}")
    data = form_fields(page.text, RUN)
    for name in ("run", "out_lot_0", "started_on", "finished_on"):
        found = re.search(rf'id="{name}" name="{name}"[^>]*? value="([^"]*)"', page.text)
        assert found is not None, name
        data[name] = found.group(1)
    data |= {"method": "gravity", "mercury_free": "yes", "out_form_0": "dore", "use": lot}
    data |= {f"used.{lot}": "5000", "out_mass_0": "5", "out_unit_0": "g"}
    resp = console.client.post(RUN, data=data, follow_redirects=False)
    assert resp.status_code == 422, resp.text
    said = T["error.mass_exceeds_left"].en if lang == "en" else T["error.mass_exceeds_left"].mn
    assert said.format(asked=asked, left=left) in resp.text
    assert " g asked" not in resp.text and "5000000" not in resp.text
    assert entries(console.api, "processing.recorded") == []
