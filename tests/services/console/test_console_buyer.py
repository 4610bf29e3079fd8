"""A buyer's console pages through real HTTP (the ASGI app, SQLite and PostgreSQL): the
inbox of offers made to it, accepting (the lot moves, one `transfer.accepted` logged, once
however often the form is sent), rejecting with a reason, refusals for an offer made to
someone else (nothing recorded), the buyer's lots with provenance and certificate link.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from services.console import glossary
from support.certificates import BANK, CENTRE, PARTNERSHIP, SITE, TRADER, World
from support.console import Console, running_console
from support.console_roles import (
    BANK_CLERK,
    TRADER_CLERK,
    add_role_staff,
    entries,
    form_fields,
    gold_offered,
    lot_now,
)
from support.db import Database, database_url

ACCEPT = "/app/buyer/offers/OFFER-1/accept"
REJECT = "/app/buyer/offers/OFFER-1/reject"


@pytest.fixture
def console(tmp_path: Path) -> Iterator[Console]:
    with running_console(tmp_path) as c:
        add_role_staff(c.api)
        gold_offered(World(c.api), "GOLD-1", "OFFER-1")
        yield c


def _signed_in(c: Console, username: str = BANK_CLERK) -> Console:
    resp = c.sign_in(username)
    assert resp.status_code == 303, resp.text
    return c


def test_accepting_from_the_inbox_moves_the_lot_once(database: Database, tmp_path: Path) -> None:
    url, _ = database_url(database)
    with running_console(tmp_path, database_url=url) as c:
        add_role_staff(c.api)
        gold_offered(World(c.api), "GOLD-1", "OFFER-1")
        home = _signed_in(c).client.get("/app", follow_redirects=False)
        assert home.status_code == 303 and home.headers["location"] == "/app/buyer"
        inbox = c.client.get("/app/buyer")
        assert inbox.status_code == 200 and "OFFER-1" in inbox.text and "GOLD-1" in inbox.text
        assert glossary.TERMS["action.accept"].mn in inbox.text
        form = form_fields(inbox.text, ACCEPT)
        first = c.client.post(ACCEPT, data=form, follow_redirects=False)
        assert first.status_code == 303, first.text
        again = c.client.post(ACCEPT, data=form, follow_redirects=False)  # sent twice
        assert again.status_code == 303, again.text
        [accepted] = entries(c.api, "transfer.accepted")
        assert accepted.event.actor == BANK and accepted.event.body["offer"] == "OFFER-1"
        assert accepted.event.staff is not None and accepted.event.staff.startswith("stf_")
        now = lot_now(c.api, "GOLD-1")
        assert now["custodian"] == BANK and now["owner"] == BANK
        done = c.client.get(first.headers["location"])
        assert glossary.TERMS["inbox.accepted"].mn.format(lot="GOLD-1") in done.text
        assert "OFFER-1" not in done.text  # no longer open
        mine = c.client.get("/app/buyer/lots")
        assert mine.status_code == 200 and 'id="lot-GOLD-1"' in mine.text


def test_rejecting_records_the_reason(console: Console) -> None:
    _signed_in(console)
    form = form_fields(console.client.get("/app/buyer?lang=en").text, REJECT)
    resp = console.client.post(
        REJECT, data={**form, "reason": "fineness too low"}, follow_redirects=False
    )
    assert resp.status_code == 303, resp.text
    [rejected] = entries(console.api, "transfer.rejected")
    assert rejected.event.body["reason"] == "fineness too low"
    assert rejected.event.actor == BANK
    assert lot_now(console.api, "GOLD-1")["custodian"] == CENTRE
    page = console.client.get(resp.headers["location"])
    assert glossary.TERMS["inbox.rejected"].en.format(offer="OFFER-1") in page.text
    assert entries(console.api, "transfer.accepted") == []


def test_a_buyer_not_party_to_an_offer_cannot_accept_it(console: Console) -> None:
    _signed_in(console, TRADER_CLERK)
    inbox = console.client.get("/app/buyer")
    assert inbox.status_code == 200 and "OFFER-1" not in inbox.text  # not its inbox
    assert glossary.TERMS["inbox.none"].mn in inbox.text
    fields = {"csrf_token": form_fields_csrf(inbox.text), "form_key": "console-" + "ab" * 16}
    for path in (ACCEPT, REJECT):
        refused = console.client.post(path, data=fields, follow_redirects=False)
        assert refused.status_code == 403, refused.text
        assert glossary.TERMS["inbox.refused"].mn in refused.text
        assert 'role="alert"' in refused.text
    assert entries(console.api, "transfer.accepted") == []
    assert entries(console.api, "transfer.rejected") == []
    assert lot_now(console.api, "GOLD-1")["custodian"] == CENTRE
    # nor can it read the lot's page
    assert console.client.get("/app/buyer/lots/GOLD-1").status_code == 404


def form_fields_csrf(page: str) -> str:
    """The session's CSRF token (the sign-out form carries it)."""
    return form_fields(page, "/app/sign-out")["csrf_token"]


def test_a_form_without_the_csrf_token_records_nothing(console: Console) -> None:
    _signed_in(console)
    form = form_fields(console.client.get("/app/buyer").text, ACCEPT)
    resp = console.client.post(ACCEPT, data={**form, "csrf_token": "forged"})
    assert resp.status_code == 403
    assert entries(console.api, "transfer.accepted") == []


def test_the_lot_page_shows_provenance_and_the_certificate(console: Console) -> None:
    world = World(console.api)
    world.request("GOLD-1")
    _signed_in(console)
    page = console.client.get("/app/buyer/lots/GOLD-1?lang=en")  # offered to it: a party
    assert page.status_code == 200, page.text
    assert SITE in page.text and PARTNERSHIP in page.text and "1/1" in page.text
    token = world.latest_token("GOLD-1")
    assert f'href="/c/{token}"' in page.text
    assert glossary.TERMS["event.processing.recorded"].en in page.text


def test_other_roles_may_not_see_the_buyer_pages(console: Console) -> None:
    console.sign_in("bat.clerk")
    for path in ("/app/buyer", "/app/buyer/lots", "/app/buyer/lots/GOLD-1"):
        assert console.client.get(path).status_code == 403
    assert TRADER != BANK
