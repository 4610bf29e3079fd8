"""Readers of logged values survive whatever an old entry holds (issue 11, finding 2).

The edge now refuses impossible times, but entries logged before it did stay in the log
forever. Such entries are written here below the edge, as the old code path wrote them:
appended to the log and projected in one transaction, without the body's validation.
Every report, chart, page and EPCIS export must still answer 200, naming the entry under
`not_computable`, on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from support.reports import append_old
from support.world import CENTRE, DATABASES, SITE, World, populated

BAD_TIMES = ["2026-09-14T24:00+08:00", "2026-13-45T99:99+99:99", "2026-09-14T23:59:60+08:00"]


@pytest.fixture(scope="module", params=DATABASES)
def old(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[World, list[int]]]:
    with populated(Path(tmp_path_factory.mktemp("robust")), request.param) as world:
        bad: list[int] = []
        for n, when in enumerate(BAD_TIMES):
            bad.append(
                append_old(
                    world,
                    "ore.delivered",
                    CENTRE,
                    {
                        "occurred_at": when,
                        "lot": f"ORE-OLD-{n}",
                        "miner": "partnership:tuul",
                        "site": SITE,
                        "mass_g": 1_000_000,
                        "mined_on": "2026-09-01",
                    },
                )
            )
        bad.append(
            append_old(
                world,
                "processing.recorded",
                CENTRE,
                {
                    "occurred_at": "2026-09-14T25:12+08:00",
                    "run": "RUN-OLD",
                    "inputs": [{"lot": "ORE-OLD-0", "mass_g": 1_000_000}],
                    "outputs": [{"lot": "AU-OLD", "form": "dore", "mass_mg": 9_000}],
                    "method": "gravity",
                    "mercury_free": True,
                    "started_on": "2026-09-02",
                    "finished_on": "2026-09-02",
                },
            )
        )
        bad.append(
            append_old(
                world,
                "case.opened",
                "regulator:tov",
                {
                    "occurred_at": "2026-09-14T10:00+99:99",
                    "case": "CASE-OLD",
                    "kind": "hold",
                    "target": {"kind": "lot", "id": "AU-1"},
                    "category": "other",
                    "description": "held",
                },
            )
        )
        bad.append(
            append_old(
                world,
                "case.opened",
                "regulator:tov",
                {
                    "occurred_at": "T",
                    "case": "CASE-OLD-2",
                    "kind": "red_flag",
                    "target": {"kind": "lot", "id": "AU-1"},
                    "category": "other",
                    "description": "flag",
                },
            )
        )
        yield world, bad


def get(world: World, path: str) -> Any:
    resp = world.api.client.get(path, headers=world.api.headers("admin:root"))
    assert resp.status_code == 200, (path, resp.status_code, resp.text[:500])
    return resp


def test_red_flags_list_unreadable_entries(old: tuple[World, list[int]]) -> None:
    world, bad = old
    data = get(world, "/reports/red-flags").json()
    listed = {row.get("index") for row in data["not_computable"]}
    assert set(bad) <= listed, (bad, data["not_computable"])
    row = next(r for r in data["not_computable"] if r.get("index") == bad[0])
    assert row["rule"] == "unreadable_value" and row["field"] == "body.occurred_at"
    csv = get(world, "/reports/red-flags?format=csv&table=not_computable").text
    assert f",{bad[0]}," in csv or f",{bad[0]}\r" in csv, csv


def test_mass_balance_lists_unreadable_entries(old: tuple[World, list[int]]) -> None:
    world, bad = old
    for query in ("", "?from=2026-09-01&to=2026-09-30", f"?centre={CENTRE}"):
        data = get(world, "/reports/mass-balance" + query).json()
        listed = {row["index"] for row in data["not_computable"]}
        assert set(bad[:4]) <= listed, data["not_computable"]


def test_pages_charts_and_epcis_answer(old: tuple[World, list[int]]) -> None:
    world, _ = old
    get(world, "/reports")
    get(world, f"/reports/charts/recovery.svg?centre={CENTRE}")
    get(world, f"/reports/charts/stock.svg?centre={CENTRE}")
    get(world, "/reports/custody/AU-1")
    get(world, "/epcis/events")
    get(world, "/epcis/events?from=2026-09-01T00:00:00%2B08:00")
    for path in ("/lots/ORE-OLD-0", "/lots/AU-OLD"):
        resp = world.api.client.get(path, headers=world.api.headers("admin:root"))
        assert resp.status_code < 500, (path, resp.text)


def test_epcis_skips_a_body_it_cannot_read(old: tuple[World, list[int]]) -> None:
    world, _ = old
    index = append_old(
        world,
        "assay.recorded",
        "lab:darkhan",
        {"occurred_at": "2026-09-14T10:00:00+08:00", "lot": "AU-1"},  # no fineness_ppt
        project=False,  # its projector would have failed too: only the log holds it
    )
    doc = get(world, f"/epcis/events?start={index}").json()
    assert doc["altan:notComputable"][0]["index"] == index, doc
