"""The officers' console pages through real HTTP (the ASGI app, SQLite and PostgreSQL): a
regulator opens a hold on a lot (one `case.opened`, once however often the form is sent,
naming the staff member), the hold shows in the list and on its page with its history and
stops trade; resolving it; refusals worded in the page's language with nothing recorded;
the reports' figures; a centre's clerk refused every officer page.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.console import glossary
from support.certificates import CENTRE, REGULATOR, World
from support.console import CLERK, Console, running_console
from support.console_officers import AUDIT_CLERK, REG_CLERK, SYS_ADMIN, add_officer_staff
from support.console_roles import entries, form_fields
from support.db import Database, database_url

OFFICER_PAGES = ["/app/officer", "/app/officer/cases/new", "/app/officer/reports"]


@pytest.fixture
def console(tmp_path: Path) -> Iterator[Console]:
    with running_console(tmp_path) as c:
        add_officer_staff(c.api)
        yield c


def _signed_in(c: Console, username: str = REG_CLERK) -> Console:
    resp = c.sign_in(username)
    assert resp.status_code == 303, resp.text
    return c


def _mistakes(page: str) -> dict[str, str]:
    return dict(
        re.findall(r'<p class="field-error" id="([a-z_]+)-error" role="alert">([^<]*)</p>', page)
    )


def _open_form(c: Console, query: str = "") -> dict[str, str]:
    page = c.client.get("/app/officer/cases/new" + query)
    assert page.status_code == 200, page.text
    return form_fields(page.text, "/app/officer/cases/new")


def _open(c: Console, form: dict[str, str], **fields: str) -> object:
    data = {
        "kind": "hold",
        "target_kind": "lot",
        "category": "other",
        "description": "Гарал үүсэл тодорхойгүй",
        **form,
        **fields,
    }
    return c.client.post("/app/officer/cases/new", data=data, follow_redirects=False)


def _a_lot(c: Console) -> str:
    World(c.api).gold("GOLD-H", 40_000)
    return "GOLD-H"


def test_a_regulator_opens_a_hold_on_a_lot_once(database: Database, tmp_path: Path) -> None:
    url, _ = database_url(database)
    with running_console(tmp_path, database_url=url) as c:
        add_officer_staff(c.api)
        lot = _a_lot(c)
        _signed_in(c)
        home = c.client.get("/app", follow_redirects=False)
        assert home.headers["location"] == "/app/officer"
        form = _open_form(c, f"?target_kind=lot&target_id={lot}")
        first = _open(c, form, target_id=lot)
        assert first.status_code == 303, first.text  # type: ignore[attr-defined]
        again = _open(c, form, target_id=lot)  # the same form sent twice
        assert again.status_code == 303  # type: ignore[attr-defined]
        [entry] = entries(c.api, "case.opened")
        assert entry.event.actor == REGULATOR
        assert entry.event.staff is not None and entry.event.staff.startswith("stf_")
        body = entry.event.body
        assert body["kind"] == "hold" and body["target"] == {"kind": "lot", "id": lot}
        case = body["case"]
        # the hold shows: in the open list, on its page with its history
        listed = c.client.get("/app/officer")
        assert case in listed.text and lot in listed.text
        assert glossary.TERMS["case.hold"].mn in listed.text
        shown = c.client.get(first.headers["location"])  # type: ignore[attr-defined]
        assert shown.status_code == 200
        assert glossary.TERMS["officer.hold_blocks"].mn in shown.text
        assert glossary.TERMS["officer.step.opened"].mn in shown.text
        assert 'role="status"' in shown.text
        # and it holds: the lot cannot be offered
        refused = c.api.post(
            CENTRE, "transfer.offered", {"offer": "OF-H", "lot": lot, "to": "buyer:mongolbank"}
        )
        assert refused.status_code in (403, 409, 422), refused.text
        # resolved: it leaves the open list, its history grows
        page = c.client.get(f"/app/officer/cases/{case}")
        done = c.client.post(
            f"/app/officer/cases/{case}/resolve",
            data=form_fields(page.text, f"/app/officer/cases/{case}/resolve")
            | {"resolution": "Баримт бүрдсэн"},
            follow_redirects=False,
        )
        assert done.status_code == 303, done.text
        assert len(entries(c.api, "case.resolved")) == 1
        assert case not in c.client.get("/app/officer").text
        assert case in c.client.get("/app/officer?status=resolved").text
        after = c.client.get(f"/app/officer/cases/{case}?lang=en")
        assert "Baримт" not in after.text and "Баримт бүрдсэн" in after.text
        assert glossary.TERMS["officer.closed"].en in after.text


def test_an_auditor_escalates_and_answers(console: Console) -> None:
    lot = _a_lot(console)
    _signed_in(console, AUDIT_CLERK)
    form = _open_form(console)
    opened = _open(console, form, target_id=lot, kind="red_flag", category="money_laundering")
    case_path = opened.headers["location"].split("?")[0]  # type: ignore[attr-defined]
    page = console.client.get(case_path)
    up = console.client.post(
        f"{case_path}/escalate",
        data=form_fields(page.text, f"{case_path}/escalate") | {"to": "АТГ", "reason": "Шалгуулах"},
        follow_redirects=False,
    )
    assert up.status_code == 303, up.text
    page = console.client.get(case_path)
    note = console.client.post(
        f"{case_path}/respond",
        data=form_fields(page.text, f"{case_path}/respond") | {"response": "Баримт ирсэн"},
        follow_redirects=False,
    )
    assert note.status_code == 303, note.text
    shown = console.client.get(case_path).text
    for key in ("officer.step.opened", "officer.step.escalated", "officer.step.responded"):
        assert glossary.TERMS[key].mn in shown
    assert "АТГ: Шалгуулах" in shown


@pytest.mark.parametrize(
    ("fields", "field", "words"),
    [
        ({"target_id": ""}, "target_id", glossary.TERMS["error.required"].mn),
        ({"description": ""}, "description", glossary.TERMS["error.required"].mn),
        ({"kind": "arrest"}, "kind", glossary.TERMS["officer.error.choose"].mn),
        (
            {"target_id": "NO-SUCH-LOT"},
            "target_id",
            glossary.TERMS["officer.rule.unknown_target"].mn,
        ),
        (
            {"kind": "dispute", "target_id": "GOLD-H"},
            "target_kind",
            glossary.TERMS["officer.rule.dispute_target"].mn,
        ),
        ({"description": "x" * 2500}, "description", None),  # the pipeline's bound
        ({"target_id": "L" * 3000}, "target_id", None),
    ],
)
def test_a_bad_case_comes_back_with_the_rule_and_records_nothing(
    console: Console, fields: dict[str, str], field: str, words: str | None
) -> None:
    _a_lot(console)
    _signed_in(console)
    form = _open_form(console)
    resp = _open(console, form, **({"target_id": "GOLD-H"} | fields))
    assert resp.status_code in (404, 409, 422), resp.text  # type: ignore[attr-defined]
    mistakes = _mistakes(resp.text)  # type: ignore[attr-defined]
    assert field in mistakes, mistakes
    if words is not None:
        assert mistakes[field] == words
    assert re.search(r"[А-Яа-яӨөҮү]", mistakes[field])  # in Mongolian
    assert entries(console.api, "case.opened") == []


def test_the_reports_show_the_figures_in_both_languages(console: Console) -> None:
    _signed_in(console)
    console.client.app.state.report_snapshots.once(every_s=0)  # type: ignore[attr-defined]
    mn = console.client.get("/app/officer/reports")
    assert mn.status_code == 200
    assert CENTRE in mn.text and glossary.TERMS["officer.reports.mass_balance"].mn in mn.text
    en = console.client.get("/app/officer/reports?lang=en&period=this_month")
    assert en.status_code == 200 and glossary.TERMS["officer.reports.red_flags"].en in en.text


@pytest.mark.parametrize("path", [*OFFICER_PAGES, "/app/officer/cases/X"])
def test_a_centre_clerk_cannot_reach_officer_pages(console: Console, path: str) -> None:
    _signed_in(console, CLERK)
    refused = console.client.get(path)
    assert refused.status_code == 403
    assert glossary.TERMS["error.403"].mn in refused.text
    page = console.client.get("/app/centre")
    form = {"csrf_token": form_fields(page.text, "/app/sign-out")["csrf_token"]}
    post = console.client.post("/app/officer/cases/new", data=form | {"target_id": "X"})
    assert post.status_code == 403
    assert entries(console.api, "case.opened") == []


def test_officer_pages_answer_in_both_languages(console: Console) -> None:
    for who in (REG_CLERK, AUDIT_CLERK, SYS_ADMIN):
        _signed_in(console, who)
        for path in OFFICER_PAGES:
            for lang in ("mn", "en"):
                resp = console.client.get(f"{path}?lang={lang}")
                assert resp.status_code == 200, (who, path, resp.text)
                assert f'<html lang="{lang}">' in resp.text
        console.sign_out()


def test_a_form_without_its_csrf_token_records_nothing(console: Console) -> None:
    _a_lot(console)
    _signed_in(console)
    form = _open_form(console)
    form["csrf_token"] = "forged"
    resp = _open(console, form, target_id="GOLD-H")
    assert resp.status_code == 403  # type: ignore[attr-defined]
    assert entries(console.api, "case.opened") == []
