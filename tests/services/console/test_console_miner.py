"""A miner's console pages through real HTTP (the ASGI app, SQLite and PostgreSQL): its own
deliveries only, each receipt printable again (the centre's A6 view, with the receipt's QR),
also after the ore was processed; and the receipt's public page after milling: "processed
since" in Mongolian and English, never "not current", and nothing downstream of the ore
(no gold lot, no gold certificate's token or link).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from services.console import glossary
from services.i18n import EN, MN
from support.certificates import World
from support.console import CLERK, SITE2, Console, running_console
from support.console_roles import MINER2_CLERK, MINER_CLERK, add_role_staff
from support.db import Database, database_url


@pytest.fixture
def console(tmp_path: Path) -> Iterator[Console]:
    with running_console(tmp_path) as c:
        add_role_staff(c.api)
        yield c


def _delivered(c: Console) -> str:
    """A delivery of the partnership's ore, recorded through the centre's form."""
    assert c.sign_in(CLERK).status_code == 303
    form = c.delivery_form()
    assert c.deliver(form, mass="250").status_code == 303
    c.sign_out()
    return form["lot"]


def test_a_miner_sees_only_its_deliveries_and_reprints(database: Database, tmp_path: Path) -> None:
    url, _ = database_url(database)
    with running_console(tmp_path, database_url=url) as c:
        add_role_staff(c.api)
        lot = _delivered(c)
        assert c.sign_in(MINER_CLERK).status_code == 303
        home = c.client.get("/app", follow_redirects=False)
        assert home.headers["location"] == "/app/miner"
        page = c.client.get("/app/miner")
        assert page.status_code == 200 and f'id="lot-{lot}"' in page.text
        for _ in range(2):  # printable again at any time
            receipt = c.client.get(f"/app/miner/deliveries/{lot}/receipt")
            assert receipt.status_code == 200, receipt.text
            assert "@page { size: A6" in receipt.text and lot in receipt.text
            assert receipt.text.count("<svg") == 1  # the receipt's QR
            assert 'href="/app/miner"' in receipt.text
        c.sign_out()
        assert c.sign_in(MINER2_CLERK).status_code == 303  # another miner
        other = c.client.get("/app/miner")
        assert other.status_code == 200 and lot not in other.text
        assert glossary.TERMS["mydeliveries.none"].mn in other.text
        assert c.client.get(f"/app/miner/deliveries/{lot}/receipt").status_code == 404


def test_other_roles_may_not_see_the_miner_pages(console: Console) -> None:
    assert console.sign_in(CLERK).status_code == 303
    assert console.client.get("/app/miner").status_code == 403
    assert SITE2


def _receipt_token(world: World, lot: str) -> str:
    return next(c["token"] for c in world.certificates(lot) if c["kind"] == "ore_receipt")


def test_the_receipt_page_after_milling_says_processed_since(console: Console) -> None:
    world = World(console.api)
    world.gold("GOLD-9", 40_000)  # ORE-GOLD-9 delivered, then milled into GOLD-9
    world.request("GOLD-9")
    gold_token = world.latest_token("GOLD-9")
    token = _receipt_token(world, "ORE-GOLD-9")
    for lang, words in (("mn", MN), ("en", EN)):
        page = console.client.get(f"/c/{token}?lang={lang}")
        assert page.status_code == 200
        text = page.text
        assert words["verdict.not_current"] not in text
        assert words["verdict.receipt"] in text
        assert "ORE-GOLD-9" in text and "partnership:tuul" in text and "SITE-TUUL-1" in text
        assert words["receipt.processed_since"].format(date="2026-09-14") in text  # its day
        assert gold_token not in text and "GOLD-9<" not in text.replace("ORE-GOLD-9<", "")
        assert f"/c/{gold_token}" not in text
    answer = world.verdict(token)  # the JSON twin names nothing downstream either
    assert answer["successors"] == []
    assert gold_token not in str(answer)
