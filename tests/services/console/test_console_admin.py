"""The administrators' console pages through real HTTP (the ASGI app, SQLite and
PostgreSQL): the system administrator registers a miner and its site (entries in the log,
naming the staff member), creates a clerk who can then sign in, issues an API token shown
once (never again; it works against the API) and revokes it (then 401); an actor's own
administrator manages its own staff only; hostile inputs come back with the rule and
nothing recorded.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.console import glossary
from support.certificates import CENTRE
from support.console import CENTRE2, CLERK, PASSWORD, Console, running_console
from support.console_officers import CENTRE_ADMIN, REG_CLERK, SYS_ADMIN, add_officer_staff
from support.console_roles import entries, form_fields
from support.db import Database, database_url

TOKEN = re.compile(r'<code id="new-token">([^<]+)</code>')


@pytest.fixture
def console(tmp_path: Path) -> Iterator[Console]:
    with running_console(tmp_path) as c:
        add_officer_staff(c.api)
        yield c


def _signed_in(c: Console, username: str = SYS_ADMIN) -> Console:
    resp = c.sign_in(username)
    assert resp.status_code == 303, resp.text
    return c


def _mistakes(page: str) -> dict[str, str]:
    return dict(
        re.findall(r'<p class="field-error" id="([a-z_]+)-error" role="alert">([^<]*)</p>', page)
    )


def _register_actor(c: Console, **fields: str) -> object:
    form = form_fields(c.client.get("/app/admin/actors/new").text, "/app/admin/actors/new")
    data = {"role": "miner", "aimag": "Төв", "soum": "Заамар", **form, **fields}
    return c.client.post("/app/admin/actors/new", data=data, follow_redirects=False)


def _register_site(c: Console, **fields: str) -> object:
    form = form_fields(c.client.get("/app/admin/sites/new").text, "/app/admin/sites/new")
    data = {"aimag": "Төв", "soum": "Заамар", "lat": "48,25", "lon": "104.7", **form, **fields}
    return c.client.post("/app/admin/sites/new", data=data, follow_redirects=False)


def _add_staff(c: Console, actor: str, **fields: str) -> object:
    page = c.client.get("/app/centre")  # any page: the session's CSRF token
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token is not None
    data = {"csrf_token": token.group(1), "password": PASSWORD, **fields}
    return c.client.post(f"/app/admin/actors/{actor}/staff", data=data, follow_redirects=False)


def test_the_administrator_registers_a_miner_a_site_a_clerk_and_a_token(
    database: Database, tmp_path: Path
) -> None:
    url, _ = database_url(database)
    with running_console(tmp_path, database_url=url) as c:
        add_officer_staff(c.api)
        _signed_in(c)
        assert c.client.get("/app", follow_redirects=False).headers["location"] == "/app/admin"
        form = form_fields(c.client.get("/app/admin/actors/new").text, "/app/admin/actors/new")
        data = {
            **form,
            "actor": "miner:ganbold",
            "role": "miner",
            "licence_number": "AM-2026-17",
            "licence_from": "2026-01-01",
            "licence_until": "2028-12-31",
            "aimag": "Төв",
            "soum": "Заамар",
        }
        first = c.client.post("/app/admin/actors/new", data=data, follow_redirects=False)
        assert first.status_code == 303, first.text
        again = c.client.post("/app/admin/actors/new", data=data, follow_redirects=False)
        assert again.status_code == 303  # the same form twice: recorded once
        registered = [
            e
            for e in entries(c.api, "actor.registered")
            if e.event.body["actor"] == "miner:ganbold"
        ]
        assert len(registered) == 1
        assert registered[0].event.actor == "admin:root"
        assert (registered[0].event.staff or "").startswith("stf_")
        assert registered[0].event.body["licence"]["valid_until"] == "2028-12-31"
        site = _register_site(c, site="SITE-GANBOLD-1", owner="miner:ganbold")
        assert site.status_code == 303, site.text  # type: ignore[attr-defined]
        [logged] = [
            e for e in entries(c.api, "site.registered") if e.event.body["site"] == "SITE-GANBOLD-1"
        ]
        assert logged.event.body["lat"] == "48.25"
        page = c.client.get("/app/admin/actors/miner:ganbold")
        assert "SITE-GANBOLD-1" in page.text
        # a clerk of the new miner, who can then sign in
        made = c.client.post(
            "/app/admin/actors/miner:ganbold/staff",
            data=form_fields(page.text, "/app/admin/actors/miner:ganbold/staff")
            | {"username": "ganbold.clerk", "display_name": "Ганболд", "password": PASSWORD},
            follow_redirects=False,
        )
        assert made.status_code == 303, made.text
        page = c.client.get("/app/admin/actors/miner:ganbold")
        assert "ganbold.clerk" in page.text and PASSWORD not in page.text
        # a token, shown once
        issued = c.client.post(
            "/app/admin/actors/miner:ganbold/tokens",
            data=form_fields(page.text, "/app/admin/actors/miner:ganbold/tokens")
            | {"label": "таблет 1"},
            follow_redirects=False,
        )
        assert issued.status_code == 201, issued.text
        found = TOKEN.search(issued.text)
        assert found is not None
        token = found.group(1)
        assert glossary.TERMS["admin.token.once"].mn in issued.text
        assert issued.headers["cache-control"] == "no-store"
        later = c.client.get("/app/admin/actors/miner:ganbold")
        assert token not in later.text and "таблет 1" in later.text
        auth = {"Authorization": f"Bearer {token}"}
        assert c.client.get("/actors/miner:ganbold", headers=auth).status_code == 200
        # revoked: it stops working
        token_id = re.search(r'action="/app/admin/tokens/(tok_[0-9a-f]+)/revoke"', later.text)
        assert token_id is not None
        revoked = c.client.post(
            f"/app/admin/tokens/{token_id.group(1)}/revoke",
            data=form_fields(later.text, f"/app/admin/tokens/{token_id.group(1)}/revoke"),
            follow_redirects=False,
        )
        assert revoked.status_code == 303, revoked.text
        assert c.client.get("/actors/miner:ganbold", headers=auth).status_code == 401
        c.sign_out()
        assert c.sign_in("ganbold.clerk").status_code == 303


def test_an_actors_admin_manages_its_own_staff_only(console: Console) -> None:
    _signed_in(console, CENTRE_ADMIN)
    assert console.client.get("/app/admin", follow_redirects=False).headers["location"] == (
        f"/app/admin/actors/{CENTRE}"
    )
    own = console.client.get(f"/app/admin/actors/{CENTRE}")
    assert own.status_code == 200 and CLERK in own.text
    made = _add_staff(console, CENTRE, username="dulam.clerk", display_name="Дулам")
    assert made.status_code == 303, made.text  # type: ignore[attr-defined]
    other = _add_staff(console, CENTRE2, username="evil.clerk", display_name="x")
    assert other.status_code == 403  # type: ignore[attr-defined]
    assert console.client.get(f"/app/admin/actors/{CENTRE2}").status_code == 403
    for path in ("/app/admin/actors/new", "/app/admin/sites/new"):
        assert console.client.get(path).status_code == 403
    console.sign_out()
    assert console.sign_in("evil.clerk").status_code == 401
    assert console.sign_in("dulam.clerk").status_code == 303


@pytest.mark.parametrize("who", [CLERK, REG_CLERK])
def test_a_clerk_or_a_regulator_cannot_reach_admin_pages(console: Console, who: str) -> None:
    _signed_in(console, who)
    for path in ("/app/admin/actors/new", "/app/admin/sites/new", f"/app/admin/actors/{CENTRE2}"):
        refused = console.client.get(path)
        assert refused.status_code == 403
        assert glossary.TERMS["error.403"].mn in refused.text
    made = _add_staff(console, CENTRE, username="sneaky.clerk", display_name="x")
    assert made.status_code == 403  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("fields", "field", "key"),
    [
        ({"actor": "miner:" + "a" * 300}, "actor", None),
        ({"actor": "Miner Bold"}, "actor", None),
        ({"actor": ""}, "actor", "error.required"),
        ({"licence_number": "L1", "licence_from": "2026-02-30"}, "licence_from", "error.date"),
        ({"licence_number": "L1", "licence_from": "01.02.2026"}, "licence_from", "error.date"),
        (
            {"licence_number": "L1", "licence_from": "2026-05-01", "licence_until": "2026-01-01"},
            "licence_until",
            "admin.rule.licence_dates",
        ),
        ({"licence_number": "L1"}, "licence_from", "error.required"),
        ({"members": "many"}, "members", "admin.error.whole_number"),
        ({"role": "buyer"}, "buyer_kind", "admin.rule.buyer_kind"),
        ({"soum": "С" * 300}, "soum", None),
    ],
)
def test_a_bad_registration_comes_back_with_the_rule_and_records_nothing(
    console: Console, fields: dict[str, str], field: str, key: str | None
) -> None:
    _signed_in(console)
    before = len(entries(console.api, "actor.registered"))
    resp = _register_actor(console, **({"actor": "miner:new"} | fields))
    assert resp.status_code in (403, 409, 422), resp.text  # type: ignore[attr-defined]
    mistakes = _mistakes(resp.text)  # type: ignore[attr-defined]
    assert field in mistakes, mistakes
    if key is not None:
        assert mistakes[field] == glossary.TERMS[key].mn
    assert re.search(r"[А-Яа-яӨөҮү]", mistakes[field])
    assert len(entries(console.api, "actor.registered")) == before


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"lat": "38.1"}, "lat"),
        ({"lat": "north"}, "lat"),
        ({"owner": CENTRE}, "owner"),
        ({"site": "S" * 100}, "site"),
    ],
)
def test_a_bad_site_comes_back_with_the_rule_and_records_nothing(
    console: Console, fields: dict[str, str], field: str
) -> None:
    _signed_in(console)
    before = len(entries(console.api, "site.registered"))
    resp = _register_site(console, **({"site": "SITE-NEW", "owner": "miner:bold"} | fields))
    assert resp.status_code in (404, 409, 422), resp.text  # type: ignore[attr-defined]
    assert field in _mistakes(resp.text)  # type: ignore[attr-defined]
    assert len(entries(console.api, "site.registered")) == before


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"username": "x" * 300, "display_name": "Дулам"}, "username"),
        ({"username": "dulam.clerk", "display_name": "Д" * 1000}, "display_name"),
        ({"username": "dulam.clerk", "display_name": "Дулам", "password": "short"}, "password"),
        ({"username": CLERK, "display_name": "Дулам"}, "username"),
    ],
)
def test_a_bad_staff_account_comes_back_with_the_rule(
    console: Console, fields: dict[str, str], field: str
) -> None:
    _signed_in(console)
    resp = _add_staff(console, CENTRE, **fields)
    assert resp.status_code in (409, 422), resp.text  # type: ignore[attr-defined]
    assert field in _mistakes(resp.text)  # type: ignore[attr-defined]
    assert PASSWORD not in resp.text  # type: ignore[attr-defined]  # never sent back


def test_admin_pages_answer_in_both_languages(console: Console) -> None:
    _signed_in(console)
    for path in (
        "/app/admin",
        "/app/admin/actors/new",
        "/app/admin/sites/new",
        f"/app/admin/actors/{CENTRE}",
    ):
        for lang in ("mn", "en"):
            resp = console.client.get(f"{path}?lang={lang}")
            assert resp.status_code == 200, (path, resp.text)
            assert f'<html lang="{lang}">' in resp.text
