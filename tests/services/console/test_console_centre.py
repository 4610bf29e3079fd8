"""The processing centre's later pages through real HTTP (the ASGI app, SQLite and
PostgreSQL): a processing run recorded through the form (once, exact mg), a run refused
by the rules (more ore than left: nothing recorded, the rule in Mongolian), offering a gold
lot to a buyer and cancelling the offer, requesting a certificate and printing it, answering
a case, the day's delivery register naming the checkpoint that covers it; and a clerk of
another centre kept out of all of it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.console import centre_forms, glossary
from services.console.forms import FormMistakes
from services.problem_texts import RULES
from support.certificates import AUDITOR, BANK, CENTRE, World
from support.console import CLERK, CLERK2, Console, running_console
from support.console_roles import entries, form_fields
from support.db import Database, database_url

RUN = "/app/centre/runs/new"
OFFER = "/app/centre/offers/new"
NEW_PAGES = [
    RUN,
    "/app/centre/offers",
    OFFER,
    "/app/centre/cases",
    "/app/centre/register",
]


@pytest.fixture
def console(tmp_path: Path) -> Iterator[Console]:
    with running_console(tmp_path) as c:
        yield c


def _signed_in(c: Console, username: str = CLERK) -> Console:
    resp = c.sign_in(username)
    assert resp.status_code == 303, resp.text
    return c


def _delivered(c: Console, mass_kg: str = "250") -> str:
    """A delivery through the console's form; its ore lot's id."""
    form = c.delivery_form()
    assert c.deliver(form, mass=mass_kg, unit="kg").status_code == 303
    return form["lot"]


def _run_form(c: Console) -> dict[str, str]:
    page = c.client.get(RUN)
    assert page.status_code == 200, page.text
    fields = form_fields(page.text, RUN)
    for name in ("run", "out_lot_0", "started_on", "finished_on"):
        found = re.search(rf'id="{name}" name="{name}"[^>]*? value="([^"]*)"', page.text)
        assert found is not None, name
        fields[name] = found.group(1)
    return fields | {"method": "gravity", "mercury_free": "yes", "out_form_0": "dore"}


def _value(page: str, name: str) -> str:
    found = re.search(rf'id="{re.escape(name)}" name="{re.escape(name)}" value="([^"]*)"', page)
    assert found is not None, name
    return found.group(1)


def _mistakes(page: str) -> dict[str, str]:
    return dict(
        re.findall(
            r'<p class="field-error" id="([A-Za-z0-9_.:-]+)-error" role="alert">([^<]*)</p>', page
        )
    )


# -- processing runs -------------------------------------------------------------------------


def test_a_run_is_recorded_once_in_exact_milligrams(database: Database, tmp_path: Path) -> None:
    url, _ = database_url(database)
    with running_console(tmp_path, database_url=url) as c:
        _signed_in(c)
        first_lot, second_lot = _delivered(c, "250"), _delivered(c, "100")
        page = c.client.get(RUN)
        assert first_lot in page.text and second_lot in page.text
        form = _run_form(c)
        data: dict[str, str | list[str]] = {
            **form,
            "use": [first_lot, second_lot],
            f"used.{second_lot}": _value(page.text, f"used.{second_lot}"),  # all: 100 kg
            f"used.{first_lot}": "120,5",  # kg, Mongolian decimal comma
            "out_mass_0": "12.345",  # g of gold -> 12 345 mg
            "out_unit_0": "g",
            "out_lot_1": "CONC-1",
            "out_form_1": "concentrate",
            "out_mass_1": "0.2",
            "out_unit_1": "kg",
        }
        first = c.client.post(RUN, data=data, follow_redirects=False)
        assert first.status_code == 303, first.text
        again = c.client.post(RUN, data=data, follow_redirects=False)
        assert again.status_code == 303, again.text
        [run] = entries(c.api, "processing.recorded")
        body = run.event.body
        assert body["inputs"] == [
            {"lot": first_lot, "mass_g": 120_500},
            {"lot": second_lot, "mass_g": 100_000},
        ]
        assert body["outputs"] == [
            {"lot": form["out_lot_0"], "form": "dore", "mass_mg": 12_345},
            {"lot": "CONC-1", "form": "concentrate", "mass_mg": 200_000},
        ]
        assert body["method"] == "gravity" and body["mercury_free"] is True
        assert run.event.actor == CENTRE and (run.event.staff or "").startswith("stf_")
        stock = c.client.get(first.headers["location"])
        assert glossary.TERMS["run.recorded"].mn.format(run=form["run"]) in stock.text
        assert form["out_lot_0"] in stock.text and "CONC-1" in stock.text


def test_a_run_using_more_ore_than_left_records_nothing(console: Console) -> None:
    _signed_in(console)
    lot = _delivered(console, "250")
    form = _run_form(console)
    data = form | {"use": lot, f"used.{lot}": "300", "out_mass_0": "5", "out_unit_0": "g"}
    resp = console.client.post(RUN, data=data, follow_redirects=False)
    assert resp.status_code == 422, resp.text
    assert entries(console.api, "processing.recorded") == []
    said = _mistakes(resp.text)
    assert said[f"used.{lot}"] == glossary.TERMS["error.mass_exceeds_left"].mn.format(
        asked="300\u00a0кг", left="250\u00a0кг"
    )
    assert '<html lang="mn">' in resp.text
    assert glossary.TERMS["deliver.refused"].mn in resp.text
    # the form comes back as it was sent: the lot ticked, its mass, the same key
    assert 'value="300"' in resp.text and f'value="{form["form_key"]}"' in resp.text


def test_a_run_form_without_ore_or_gold_names_both(console: Console) -> None:
    _signed_in(console)
    data = _run_form(console) | {"out_lot_0": ""}
    resp = console.client.post(RUN, data=data, follow_redirects=False)
    assert resp.status_code == 422
    said = _mistakes(resp.text)
    assert said["inputs"] == glossary.TERMS["error.inputs_required"].mn
    assert said["out_lot_0"] == glossary.TERMS["error.outputs_required"].mn
    assert entries(console.api, "processing.recorded") == []


@pytest.mark.parametrize(
    ("amount", "unit", "mg"),
    [
        ("12.345", "g", 12_345),
        ("12,35", "g", 12_350),
        ("0.001", "g", 1),
        ("1,5", "kg", 1_500_000),
        ("1 250", "g", 1_250_000),
    ],
)
def test_gold_masses_convert_to_exact_milligrams(amount: str, unit: str, mg: int) -> None:
    assert centre_forms.parse_gold_mg(amount, unit) == mg


def test_a_gold_mass_below_a_milligram_is_refused() -> None:
    with pytest.raises(FormMistakes) as caught:
        centre_forms.parse_gold_mg("0.0005", "g")
    assert caught.value.mistakes == {"mass": "error.mass_mg"}


# -- certificates, offers, cases -------------------------------------------------------------


def _gold(c: Console, lot: str = "GOLD-1") -> None:
    World(c.api).gold(lot, 50_000)


def test_a_certificate_is_requested_listed_and_printed(console: Console) -> None:
    _gold(console)
    _signed_in(console)
    path = "/app/centre/lots/GOLD-1/certificates"
    page = console.client.get(path)
    assert page.status_code == 200 and glossary.TERMS["certs.request"].mn in page.text
    form = form_fields(page.text, path)
    first = console.client.post(path, data=form, follow_redirects=False)
    assert first.status_code == 303, first.text
    console.client.post(path, data=form, follow_redirects=False)  # sent twice
    [asked] = entries(console.api, "certificate.requested")
    assert asked.event.body["lot"] == "GOLD-1" and asked.event.actor == CENTRE
    listed = console.client.get(first.headers["location"])
    assert glossary.TERMS["certs.requested"].mn in listed.text
    found = re.search(r'href="(/app/centre/certificates/[0-9a-f]{32}/print)"', listed.text)
    assert found is not None
    printed = console.client.get(found.group(1))
    assert printed.status_code == 200 and "<svg" in printed.text and "GOLD-1" in printed.text


def test_an_offer_is_made_and_cancelled(database: Database, tmp_path: Path) -> None:
    url, _ = database_url(database)
    with running_console(tmp_path, database_url=url) as c:
        _gold(c)
        _signed_in(c)
        page = c.client.get(OFFER + "?lot=GOLD-1")
        assert page.status_code == 200 and BANK in page.text
        form = form_fields(page.text, OFFER) | {"lot": "GOLD-1", "to": BANK}
        made = c.client.post(OFFER, data=form, follow_redirects=False)
        assert made.status_code == 303, made.text
        assert c.client.post(OFFER, data=form, follow_redirects=False).status_code == 303
        [offered] = entries(c.api, "transfer.offered")
        assert offered.event.body["lot"] == "GOLD-1" and offered.event.body["to"] == BANK
        offer = offered.event.body["offer"]
        listed = c.client.get(made.headers["location"])
        assert offer in listed.text and glossary.TERMS["offers.done.offered"].mn in listed.text
        cancel = f"/app/centre/offers/{offer}/cancel"
        done = c.client.post(cancel, data=form_fields(listed.text, cancel), follow_redirects=False)
        assert done.status_code == 303, done.text
        [cancelled] = entries(c.api, "transfer.cancelled")
        assert cancelled.event.body["offer"] == offer
        shown = c.client.get(done.headers["location"])
        assert offer in shown.text and glossary.TERMS["offer_status.cancelled"].mn in shown.text
        still_open = c.client.get("/app/centre/offers?status=open")
        assert offer not in still_open.text


def test_offering_a_lot_twice_is_refused_in_mongolian(console: Console) -> None:
    _gold(console)
    _signed_in(console)
    form = form_fields(console.client.get(OFFER).text, OFFER)
    assert (
        console.client.post(
            OFFER, data=form | {"lot": "GOLD-1", "to": BANK}, follow_redirects=False
        ).status_code
        == 303
    )
    second = form_fields(console.client.get(OFFER).text, OFFER)
    resp = console.client.post(
        OFFER, data=second | {"lot": "GOLD-1", "to": BANK}, follow_redirects=False
    )
    assert resp.status_code == 422
    assert RULES["offer-open"]("mn") in resp.text
    assert len(entries(console.api, "transfer.offered")) == 1


def test_a_case_on_a_lot_is_answered(console: Console) -> None:
    _gold(console)
    console.api.ok(
        AUDITOR,
        "case.opened",
        {
            "case": "CASE-1",
            "kind": "red_flag",
            "target": {"kind": "lot", "id": "GOLD-1"},
            "category": "other",
            "description": "yield looks high",
        },
    )
    _signed_in(console)
    listed = console.client.get("/app/centre/cases")
    assert listed.status_code == 200 and "CASE-1" in listed.text
    path = "/app/centre/cases/CASE-1"
    page = console.client.get(path)
    assert page.status_code == 200 and "yield looks high" in page.text
    form = form_fields(page.text, path)
    empty = console.client.post(path, data=form | {"response": " "}, follow_redirects=False)
    assert empty.status_code == 422 and entries(console.api, "case.responded") == []
    answer = "Gravity only; the ore was rich."
    done = console.client.post(path, data=form | {"response": answer}, follow_redirects=False)
    assert done.status_code == 303, done.text
    [said] = entries(console.api, "case.responded")
    assert said.event.body == {**said.event.body, "case": "CASE-1", "response": answer}
    assert glossary.TERMS["cases.answered"].mn in console.client.get(done.headers["location"]).text


# -- the day's register ----------------------------------------------------------------------


def test_the_register_lists_the_days_deliveries_under_a_checkpoint(
    database: Database, tmp_path: Path
) -> None:
    url, _ = database_url(database)
    with running_console(tmp_path, database_url=url) as c:
        _signed_in(c)
        lots = [_delivered(c, "250"), _delivered(c, "1,5")]
        [*_, last] = entries(c.api, "ore.delivered")
        day = last.event.body["occurred_at"][:10]
        page = c.client.get(f"/app/centre/register?day={day}")
        assert page.status_code == 200, page.text
        for lot in lots:
            assert lot in page.text
        assert "251,5\u00a0кг" in page.text  # the total
        size = int(re.search(r"tree_size=(\d+)", page.text).group(1))  # type: ignore[union-attr]
        index = int(re.search(r"index=(\d+)&amp;tree_size", page.text).group(1))  # type: ignore[union-attr]
        assert size > index
        assert "<svg" in page.text and glossary.TERMS["register.explain"].mn[:20] in page.text
        proof = c.client.get(f"/log/proof/inclusion?index={index}&tree_size={size}")
        assert proof.status_code == 200
        cp = c.client.get("/log/checkpoint").text.splitlines()
        assert int(cp[1]) >= size
        empty = c.client.get("/app/centre/register?day=2020-01-01&lang=en")
        assert glossary.TERMS["register.none"].en in empty.text


# -- who may see what ------------------------------------------------------------------------


def test_the_new_pages_answer_in_both_languages(console: Console) -> None:
    _signed_in(console)
    for path in NEW_PAGES:
        mn = console.client.get(path + "?lang=mn")
        assert mn.status_code == 200, (path, mn.text)
        assert '<html lang="mn">' in mn.text
        en = console.client.get(path + "?lang=en")
        assert en.status_code == 200 and '<html lang="en">' in en.text


def test_a_clerk_of_another_centre_is_kept_out(console: Console) -> None:
    _gold(console)
    World(console.api).request("GOLD-1")
    [cert] = World(console.api).certificates("GOLD-1")
    console.api.ok(CENTRE, "transfer.offered", {"offer": "OFFER-1", "lot": "GOLD-1", "to": BANK})
    console.api.ok(
        AUDITOR,
        "case.opened",
        {
            "case": "CASE-1",
            "kind": "hold",
            "target": {"kind": "lot", "id": "GOLD-1"},
            "category": "other",
            "description": "checking",
        },
    )
    _signed_in(console, CLERK2)
    for path in (
        "/app/centre/lots/GOLD-1/certificates",
        f"/app/centre/certificates/{cert['id']}/print",
        "/app/centre/cases/CASE-1",
    ):
        resp = console.client.get(path)
        assert resp.status_code == 404, path
        assert glossary.TERMS["error.404"].mn in resp.text
        assert "<svg" not in resp.text and "checking" not in resp.text
    listed = console.client.get("/app/centre/offers?status=all")
    assert "OFFER-1" not in listed.text
    assert "CASE-1" not in console.client.get("/app/centre/cases").text
    page = console.client.get("/app/centre/offers")
    csrf = form_fields(page.text, "/app/sign-out")
    cancel = console.client.post(
        "/app/centre/offers/OFFER-1/cancel",
        data=csrf | {"form_key": "console-" + "0" * 32},
        follow_redirects=False,
    )
    assert cancel.status_code == 403 and entries(console.api, "transfer.cancelled") == []
    answer = console.client.post(
        "/app/centre/cases/CASE-1", data=csrf | {"response": "mine"}, follow_redirects=False
    )
    assert answer.status_code == 404 and entries(console.api, "case.responded") == []


def test_every_case_category_has_words() -> None:
    """The case page names a case's category in words (the officer pages' terms)."""
    from typing import get_args

    from schemas.events import CaseOpened

    for category in get_args(CaseOpened.model_fields["category"].annotation):
        assert f"officer.category.{category}" in glossary.TERMS
