"""A laboratory's console pages through real HTTP (the ASGI app, SQLite and PostgreSQL):
the gold lots waiting for an assay, recording one (once, as the staff member), mistakes
shown on the form in Mongolian with nothing recorded, a refusal of the rules (an ore lot).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.console import glossary
from support.certificates import LAB, World
from support.console import Console, running_console
from support.console_roles import LAB_CLERK, add_role_staff, entries, form_fields, lot_now
from support.db import Database, database_url


@pytest.fixture
def console(tmp_path: Path) -> Iterator[Console]:
    with running_console(tmp_path) as c:
        add_role_staff(c.api)
        World(c.api).gold("GOLD-5", 30_000)
        assert c.sign_in(LAB_CLERK).status_code == 303
        yield c


def _mistakes(page: str) -> dict[str, str]:
    return dict(
        re.findall(r'<p class="field-error" id="([a-z_]+)-error" role="alert">([^<]*)</p>', page)
    )


def test_a_lab_records_an_assay_once(database: Database, tmp_path: Path) -> None:
    url, _ = database_url(database)
    with running_console(tmp_path, database_url=url) as c:
        add_role_staff(c.api)
        World(c.api).gold("GOLD-5", 30_000)
        assert c.sign_in(LAB_CLERK).status_code == 303
        assert c.client.get("/app", follow_redirects=False).headers["location"] == "/app/lab"
        waiting = c.client.get("/app/lab")
        assert waiting.status_code == 200 and 'id="lot-GOLD-5"' in waiting.text
        assert "ORE-GOLD-5" not in waiting.text  # ore is not assayed
        form = c.client.get("/app/lab/assay?lot=GOLD-5")
        fields = form_fields(form.text, "/app/lab/assay")
        data = {**fields, "lot": "GOLD-5", "fineness": "916", "method": "xrf", "sample": "S-1"}
        first = c.client.post("/app/lab/assay", data=data, follow_redirects=False)
        assert first.status_code == 303, first.text
        again = c.client.post("/app/lab/assay", data=data, follow_redirects=False)
        assert again.status_code == 303
        [assay] = entries(c.api, "assay.recorded")
        assert assay.event.actor == LAB and assay.event.staff is not None
        body = assay.event.body
        assert (body["lot"], body["fineness_ppt"], body["method"], body["sample"]) == (
            "GOLD-5",
            916,
            "xrf",
            "S-1",
        )
        assert lot_now(c.api, "GOLD-5")["fineness_ppt"] == 916
        done = c.client.get(first.headers["location"])
        assert glossary.TERMS["assay.recorded"].mn.format(lot="GOLD-5", fineness=916) in done.text
        assert 'id="lot-GOLD-5"' not in done.text  # no longer waiting


@pytest.mark.parametrize(
    ("fields", "field", "key"),
    [
        ({"fineness": "abc"}, "fineness", "error.fineness"),
        ({"fineness": "0"}, "fineness", "error.fineness"),
        ({"fineness": "1001"}, "fineness", "error.fineness"),
        ({"method": "guess"}, "method", "error.method"),
        ({"sample": "a b"}, "sample", "error.sample"),
        ({"lot": ""}, "lot", "error.lot_pick"),
    ],
)
def test_a_bad_assay_form_comes_back_and_records_nothing(
    console: Console, fields: dict[str, str], field: str, key: str
) -> None:
    form = form_fields(console.client.get("/app/lab/assay").text, "/app/lab/assay")
    data = {**form, "lot": "GOLD-5", "fineness": "900", "method": "fire_assay", **fields}
    resp = console.client.post("/app/lab/assay", data=data)
    assert resp.status_code == 422
    assert _mistakes(resp.text) == {field: glossary.TERMS[key].mn}
    assert entries(console.api, "assay.recorded") == []


def test_the_rules_refuse_an_ore_lot_in_the_page_language(console: Console) -> None:
    form = form_fields(console.client.get("/app/lab/assay?lang=en").text, "/app/lab/assay")
    data = {**form, "lot": "ORE-GOLD-5", "fineness": "900", "method": "fire_assay"}
    resp = console.client.post("/app/lab/assay", data=data)
    assert resp.status_code == 422, resp.text
    mistakes = _mistakes(resp.text)
    assert set(mistakes) == {"lot"} and mistakes["lot"]
    assert glossary.TERMS["assay.refused"].en in resp.text
    assert entries(console.api, "assay.recorded") == []


def test_other_roles_may_not_see_the_lab_pages(console: Console) -> None:
    console.sign_out()
    assert console.sign_in("bat.clerk").status_code == 303
    assert console.client.get("/app/lab").status_code == 403
