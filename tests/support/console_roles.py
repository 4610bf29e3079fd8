"""The console's buyer, miner and lab pages through real HTTP: staff for those roles on top
of `support.console`'s cast, a gold lot offered to a buyer, and reading the log by type.

Shared by tests/services/console/test_console_{buyer,miner,lab}.py and their browser test.
"""

from __future__ import annotations

import re
from html import unescape
from typing import Any

from sqlalchemy import Engine

from ledger.entry import Entry
from ledger.sql import storage
from support.certificates import BANK, CENTRE, LAB, PARTNERSHIP, TRADER, World
from support.console import MINER2, add_staff
from support.domain import Api

BANK_CLERK = "saraa.buyer"  # support.console's BUYER_CLERK: staff of BANK
TRADER_CLERK = "tuya.trader"
LAB_CLERK = "oyun.lab"
MINER_CLERK = "ganaa.miner"  # staff of PARTNERSHIP
MINER2_CLERK = "bold.miner"  # staff of MINER2

_FORM = re.compile(r'<form method="post" action="([^"]+)"[^>]*>(.*?)</form>', re.S)
_HIDDEN = re.compile(r'<input type="hidden" name="([a-z_]+)" value="([^"]*)">')


def add_role_staff(api: Api) -> None:
    """Staff for a trader, the lab, the partnership and the second miner."""
    add_staff(api, TRADER, TRADER_CLERK)
    add_staff(api, LAB, LAB_CLERK)
    add_staff(api, PARTNERSHIP, MINER_CLERK)
    add_staff(api, MINER2, MINER2_CLERK)


def form_fields(page: str, action: str) -> dict[str, str]:
    """The hidden fields of the form on `page` that posts to `action`."""
    for found, inner in _FORM.findall(page):
        if unescape(found) == action:
            return {k: unescape(v) for k, v in _HIDDEN.findall(inner)}
    raise AssertionError(f"no form posting to {action}")


def gold_offered(world: World, lot: str, offer: str, to: str = BANK, mass_mg: int = 50_000) -> None:
    """A gold lot made by the centre from its own ore, offered to `to`."""
    world.gold(lot, mass_mg)
    world.api.ok(CENTRE, "transfer.offered", {"offer": offer, "lot": lot, "to": to})


def entries_in(engine: Engine, type_: str) -> list[Entry]:
    """Every entry of `type_` in the log on `engine`."""
    with storage.read_transaction(engine) as conn:
        rows = storage.read_entries(conn, 0, storage.read_size(conn))
    return [e for e in (Entry.from_bytes(r.entry) for r in rows) if e.event.type == type_]


def entries(api: Api, type_: str) -> list[Entry]:
    return entries_in(api.client.app.state.log.engine, type_)  # type: ignore[attr-defined]


def lot_now(api: Api, lot: str) -> dict[str, Any]:
    resp = api.client.get(f"/lots/{lot}", headers=api.headers("auditor:mrpam"))
    assert resp.status_code == 200, resp.text
    out: dict[str, Any] = resp.json()
    return out
