"""Reads no wider than the README's table (issue 11, finding 8), through real HTTP on SQLite
and PostgreSQL.

- A miner, buyer or laboratory reads neither another actor's record (licence, status
  reason, keys) nor another's site (coordinates, permit); an actor it trades with it sees
  only as id, role, buyer kind and status.
- To a stranger, a record that exists and is not its own answers exactly as one that does
  not exist: the same status and the same body (actors, sites, lots, offers, cases).
- The `not-custodian` refusal does not name the custodian.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from support.db import Database, database_url
from support.domain import Api, running_api
from support.world import ore_to_gold

REGION = {"aimag": "Төв", "soum": "Борнуур"}
LICENCE = {"number": "LIC-SECRET-4471", "valid_from": "2026-01-01"}


@pytest.fixture
def api(database: Database, tmp_path: Path) -> Iterator[Api]:
    url, _ = database_url(database)
    with running_api(tmp_path, database_url=url) as api:
        api.register("regulator:tov", "regulator")
        api.register("auditor:mrpam", "auditor")
        api.register("centre:bornuur", "processing_centre")
        api.register("centre:mandal", "processing_centre")
        api.register("partnership:tuul", "partnership", licence=LICENCE, region=REGION)
        api.register("miner:bat", "miner")
        api.register("buyer:bank", "buyer", buyer_kind="bank")
        api.register("buyer:stranger", "buyer")
        api.register("lab:darkhan", "laboratory")
        for site, owner in (("SITE-1", "partnership:tuul"), ("SITE-2", "miner:bat")):
            body = {"site": site, "owner": owner, "region": REGION}
            api.ok("regulator:tov", "site.registered", {**body, "lat": "48.51234", "lon": "106.2"})
        api.ok(
            "regulator:tov",
            "site.status_changed",
            {"site": "SITE-1", "status": "suspended", "reason": "inspection finding 17"},
        )
        api.ok(
            "regulator:tov",
            "site.status_changed",
            {"site": "SITE-1", "status": "active", "reason": "remedied"},
        )
        ore_to_gold(api)
        api.ok(
            "centre:bornuur",
            "transfer.offered",
            {"offer": "OFFER-1", "lot": "AU-1", "to": "buyer:bank"},
        )
        api.ok(
            "auditor:mrpam",
            "case.opened",
            {
                "case": "CASE-1",
                "kind": "red_flag",
                "target": {"kind": "lot", "id": "AU-1"},
                "category": "other",
                "description": "assay pending",
            },
        )
        yield api


def _get(api: Api, who: str, path: str) -> Any:
    return api.client.get(path, headers=api.headers(who))


STRANGERS = ("buyer:stranger", "lab:darkhan", "miner:bat", "centre:mandal")
# (a record that exists but is not the strangers', the same kind of id that does not exist)
PAIRS = [
    ("/actors/partnership:tuul", "/actors/partnership:nobody"),
    ("/actors/centre:bornuur", "/actors/centre:nobody"),
    ("/sites/SITE-1", "/sites/SITE-NOBODY"),
    ("/sites/SITE-1/history", "/sites/SITE-NOBODY/history"),
    ("/sites/SITE-1/downstream", "/sites/SITE-NOBODY/downstream"),
    ("/actors/partnership:tuul/downstream", "/actors/partnership:nobody/downstream"),
    ("/lots/AU-1", "/lots/AU-NOBODY"),
    ("/lots/ORE-1/history", "/lots/ORE-NOBODY/history"),
    ("/lots/AU-1/provenance", "/lots/AU-NOBODY/provenance"),
    ("/lots/AU-1/downstream", "/lots/AU-NOBODY/downstream"),
    ("/lots/AU-1/certificates", "/lots/AU-NOBODY/certificates"),
    ("/offers/OFFER-1", "/offers/OFFER-NOBODY"),
    ("/cases/CASE-1", "/cases/CASE-NOBODY"),
]


def test_a_stranger_cannot_tell_a_record_it_may_not_read_from_an_absent_one(api: Api) -> None:
    for stranger in STRANGERS:
        for exists, absent in PAIRS:
            a, b = _get(api, stranger, exists), _get(api, stranger, absent)
            assert a.status_code == b.status_code == 404, (stranger, exists, a.text)
            assert a.headers["content-type"] == b.headers["content-type"]
            assert a.json() == b.json(), (stranger, exists)
            assert a.content == b.content
    # the officers still tell them apart, and read the record
    for officer in ("admin:root", "regulator:tov", "auditor:mrpam"):
        for exists, absent in PAIRS:
            assert _get(api, officer, exists).status_code == 200, (officer, exists)
            assert _get(api, officer, absent).status_code == 404


def test_no_licence_status_reason_key_or_coordinate_for_others(api: Api) -> None:
    secrets = ("LIC-SECRET-4471", "inspection finding 17", "remedied", "48.51234")
    for who in ("miner:bat", "buyer:bank", "buyer:stranger", "lab:darkhan", "centre:mandal"):
        for path in ("/actors/partnership:tuul", "/sites/SITE-1", "/sites/SITE-1/history"):
            resp = _get(api, who, path)
            assert resp.status_code == 404, (who, path)
            assert not any(s in resp.text for s in secrets)
    # the owner reads its own site and record in full
    site = _get(api, "partnership:tuul", "/sites/SITE-1").json()
    assert site["lat"] == "48.51234" and site["status_reason"] == "remedied"
    own = _get(api, "partnership:tuul", "/actors/partnership:tuul").json()
    assert own["licence"]["number"] == "LIC-SECRET-4471"


def test_a_trading_partner_sees_the_public_minimum(api: Api) -> None:
    # bornuur took tuul's ore, and offered gold to the bank
    for who, other in (
        ("centre:bornuur", "partnership:tuul"),
        ("partnership:tuul", "centre:bornuur"),
        ("buyer:bank", "centre:bornuur"),
        ("centre:bornuur", "buyer:bank"),
    ):
        resp = _get(api, who, f"/actors/{other}")
        assert resp.status_code == 200, (who, other, resp.text)
        assert set(resp.json()) == {"actor", "role", "buyer_kind", "status"}
        assert resp.json()["status"] == "active"
    # but not each other's partners: the bank never traded with tuul
    assert _get(api, "buyer:bank", "/actors/partnership:tuul").status_code == 404
    # nor the site of its partner
    assert _get(api, "centre:bornuur", "/sites/SITE-1").status_code == 404


def test_the_not_custodian_refusal_names_no_custodian(api: Api) -> None:
    before = api.size()
    attempts: list[tuple[str, dict[str, Any]]] = [
        ("transfer.offered", {"offer": "OFFER-X", "lot": "AU-1", "to": "buyer:stranger"}),
        (
            "lot.split",
            {
                "lot": "AU-1",
                "into": [{"lot": "AU-1a", "mass_mg": 15_000}, {"lot": "AU-1b", "mass_mg": 15_000}],
            },
        ),
        ("certificate.requested", {"lot": "AU-1"}),
    ]
    for type_, body in attempts:
        for thief in ("centre:mandal", "buyer:stranger"):
            resp = api.post(thief, type_, body)
            assert resp.status_code == 403, (type_, resp.text)
            assert resp.json()["type"].endswith("/not-custodian"), resp.text
            assert "bornuur" not in resp.text, (type_, resp.text)
    assert api.size() == before
