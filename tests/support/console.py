"""The console through real HTTP: a running app with the certificate tests' cast (a centre,
a partnership and its site, buyers, a lab), a second centre, staff accounts, and a browser-
like client that signs in, reads forms' hidden fields and posts them back.

Shared by tests/services/console/test_console*.py.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from html import unescape
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from ledger.entry import Entry
from ledger.sql import storage
from support.certificates import CENTRE, PARTNERSHIP, SITE, World, populate
from support.domain import Api, running_api

CENTRE2 = "centre:mandal"
MINER2 = "miner:bold"
SITE2 = "SITE-BOLD-1"
PASSWORD = "altan-test-password-1"
CLERK = "bat.clerk"  # a clerk of CENTRE
CLERK2 = "dorj.clerk"  # a clerk of CENTRE2
BUYER_CLERK = "saraa.buyer"  # a staff member of the central bank (no pages yet)

_HIDDEN = re.compile(r'<input type="hidden" name="([a-z_]+)" value="([^"]*)">')


def hidden_fields(page: str) -> dict[str, str]:
    """The hidden fields of the forms on a page (the last one wins for a repeated name)."""
    return {name: unescape(value) for name, value in _HIDDEN.findall(page)}


class Console:
    """A TestClient used as a browser would: cookies kept, forms read and posted."""

    def __init__(self, api: Api) -> None:
        self.api = api
        self.client = api.client

    def sign_in(self, username: str, password: str = PASSWORD, next_path: str = "/app") -> Any:
        form = self.client.get("/app/sign-in")
        assert form.status_code == 200, form.text
        fields = hidden_fields(form.text)
        fields.update({"username": username, "password": password, "next": next_path})
        return self.client.post("/app/sign-in", data=fields, follow_redirects=False)

    def sign_out(self) -> None:
        page = self.client.get("/app")
        self.client.post("/app/sign-out", data=hidden_fields(page.text), follow_redirects=False)
        self.client.cookies.clear()

    def delivery_form(self) -> dict[str, str]:
        page = self.client.get("/app/centre/deliveries/new")
        assert page.status_code == 200, page.text
        return hidden_fields(page.text) | {
            "lot": _value(page.text, "lot"),
            "mined_on": _value(page.text, "mined_on"),
        }

    def deliver(self, form: dict[str, str], **fields: str) -> Any:
        data = {
            "miner_site": f"{PARTNERSHIP}|{SITE}",
            "unit": "kg",
            **form,
            **fields,
        }
        return self.client.post("/app/centre/deliveries/new", data=data, follow_redirects=False)


def _value(page: str, name: str) -> str:
    found = re.search(rf'id="{name}" name="{name}"[^>]*? value="([^"]*)"', page)
    assert found is not None, f"no field {name}"
    return unescape(found.group(1))


def deliveries_logged(api: Api, lot: str | None = None) -> list[Entry]:
    """Every ore.delivered entry in the log (of `lot`, if given)."""
    return deliveries_in(api.client.app.state.log.engine, lot)  # type: ignore[attr-defined]


def deliveries_in(engine: Engine, lot: str | None = None) -> list[Entry]:
    """Every ore.delivered entry in the log on `engine` (of `lot`, if given)."""
    with storage.read_transaction(engine) as conn:
        rows = storage.read_entries(conn, 0, storage.read_size(conn))
    entries = [Entry.from_bytes(r.entry) for r in rows]
    return [
        e
        for e in entries
        if e.event.type == "ore.delivered" and (lot is None or e.event.body["lot"] == lot)
    ]


def add_staff(api: Api, actor: str, username: str) -> None:
    resp = api.client.post(
        "/staff",
        json={"actor": actor, "username": username, "display_name": username, "password": PASSWORD},
        headers=api.headers("admin:root"),
    )
    assert resp.status_code == 201, resp.text


def cast_for_console(api: Api) -> World:
    """The certificate tests' cast, a second centre and a miner with a site, and staff."""
    world = populate(api)
    api.register(CENTRE2, "processing_centre")
    api.register(MINER2, "miner")
    api.ok(
        "regulator:tov",
        "site.registered",
        {
            "site": SITE2,
            "owner": MINER2,
            "region": {"aimag": "Сэлэнгэ", "soum": "Мандал"},
            "lat": "48.41",
            "lon": "106.42",
        },
    )
    add_staff(api, CENTRE, CLERK)
    add_staff(api, CENTRE2, CLERK2)
    add_staff(api, "buyer:mongolbank", BUYER_CLERK)
    return world


@contextmanager
def running_console(tmp_path: Path, **settings: Any) -> Iterator[Console]:
    """The app on its own database (SQLite in tmp_path unless `database_url` is given),
    with the cast of `cast_for_console`."""
    with running_api(tmp_path, public_url="https://altan.mn", **settings) as api:
        cast_for_console(api)
        yield Console(api)
