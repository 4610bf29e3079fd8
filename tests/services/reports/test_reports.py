"""Reports (issue 5) through real HTTP on the ASGI app: mass balance, chain of custody, red
flags, their CSV, the SVG charts, the HTML page, the CLI and who may read them.

The report figures are checked against figures this test computes itself from the raw log
(`/log/entries`, each entry parsed here), never from the service's own queries. The world
is one season at two centres with one of each anomaly the red-flag rules look for, each
recorded once, and a few look-alikes that must not be flagged (a short hold, a lifted one).
"""

from __future__ import annotations

import base64
import csv
import io
import json
import re
import statistics
import xml.etree.ElementTree as ET
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update
from typer.testing import CliRunner

from clients import cli
from clients import report as report_cli
from ledger.checkpoint import open_checkpoint
from ledger.hashing import hash_leaf
from ledger.merkle import verify_inclusion
from ledger.note import NoteVerifier
from services.demo import fill_demo
from services.lots.models import Lot
from support.db import Database, database_url
from support.domain import Api, running_api

UB = timezone(timedelta(hours=8))
SEPT = {"from": "2026-09-01", "to": "2026-09-30"}
SVG = "{http://www.w3.org/2000/svg}"

REGULATOR, AUDITOR = "regulator:tov", "auditor:mrpam"
P1, P2, P3 = "partnership:tuul", "partnership:khuld", "partnership:zaamar"
S1, S2, S3 = "SITE-TUUL-1", "SITE-KHULD-1", "SITE-ZAAMAR-1"
CENTRE, CENTRE2 = "centre:bornuur", "centre:mandal"
BANK, LAB = "buyer:mongolbank", "lab:darkhan"


# --- the world ----------------------------------------------------------------------------


@dataclass
class World:
    api: Api
    idx: dict[str, int] = field(default_factory=dict)  # name -> ledger index

    def get(self, path: str, actor: str = AUDITOR, **params: Any) -> Any:
        resp = self.api.client.get(path, params=params, headers=self.api.headers(actor))
        assert resp.status_code == 200, resp.text
        return resp

    def json(self, path: str, actor: str = AUDITOR, **params: Any) -> dict[str, Any]:
        out: dict[str, Any] = self.get(path, actor, **params).json()
        return out

    def ok(self, name: str, actor: str, type_: str, body: dict[str, Any]) -> dict[str, Any]:
        out = self.api.ok(actor, type_, body)
        self.idx[name] = out["index"]
        return out

    def deliver(
        self, lot: str, miner: str, site: str, grams: int, when: str, centre: str = CENTRE
    ) -> None:
        body = {"lot": lot, "miner": miner, "site": site, "mass_g": grams}
        self.ok(lot, centre, "ore.delivered", {"occurred_at": when, "mined_on": when[:10], **body})

    def run(
        self,
        run: str,
        inputs: dict[str, int],
        outputs: dict[str, int],
        when: str,
        centre: str = CENTRE,
        mercury_free: bool = True,
    ) -> dict[str, Any]:
        body = {
            "occurred_at": when,
            "run": run,
            "inputs": [{"lot": k, "mass_g": v} for k, v in inputs.items()],
            "outputs": [{"lot": k, "form": "dore", "mass_mg": v} for k, v in outputs.items()],
            "method": "gravity" if mercury_free else "amalgamation",
            "mercury_free": mercury_free,
            "started_on": when[:10],
            "finished_on": when[:10],
        }
        return self.ok(run, centre, "processing.recorded", body)

    def assay(self, lot: str, ppt: int) -> None:
        self.api.ok(
            LAB,
            "assay.recorded",
            {"occurred_at": "2026-09-20T10:00:00+08:00", "lot": lot, "fineness_ppt": ppt},
        )

    def case(
        self,
        name: str,
        by: str,
        kind: str,
        target: tuple[str, str],
        when: str,
        category: str = "other",
    ) -> None:
        body = {
            "occurred_at": when,
            "case": name,
            "kind": kind,
            "target": {"kind": target[0], "id": target[1]},
            "category": category,
            "description": f"{kind} raised by the test",
        }
        self.ok(name, by, "case.opened", body)


def site(api: Api, site_id: str, owner: str, capacity: int | None = None) -> None:
    body: dict[str, Any] = {
        "site": site_id,
        "owner": owner,
        "region": {"aimag": "Töv", "soum": "Zaamar"},
        "lat": "48.23",
        "lon": "104.78",
    }
    if capacity is not None:
        body["capacity_g_per_year"] = capacity
    api.ok(REGULATOR, "site.registered", {"occurred_at": "2026-08-01T09:00:00+08:00", **body})


def cast(api: Api) -> None:
    for actor, role in [
        (REGULATOR, "regulator"),
        (AUDITOR, "auditor"),
        (P1, "partnership"),
        (P2, "partnership"),
        (P3, "partnership"),
        (CENTRE, "processing_centre"),
        (CENTRE2, "processing_centre"),
        (BANK, "buyer"),
        (LAB, "laboratory"),
    ]:
        api.register(actor, role)


def build(api: Api) -> World:
    """A September at two centres, with one of each anomaly (see the module docstring)."""
    cast(api)
    w = World(api)
    site(api, S1, P1, capacity=50)  # 50 g of gold a year; S1's ore gives 83 g in 2026
    w.idx["S1"] = api.size() - 2  # the registration, then its append's state.root
    site(api, S2, P2)
    site(api, S3, P3)
    # before the period: opening stock 1,000,000 g at the centre; a mercury-free run
    w.deliver("ORE-A0", P1, S1, 2_000_000, "2026-08-20T10:00:00+08:00")
    w.run("RUN-A0", {"ORE-A0": 1_000_000}, {"AU-A0": 15_000}, "2026-08-25T10:00:00+08:00")
    w.case("HOLD-LONG", AUDITOR, "hold", ("lot", "AU-A0"), "2026-08-26T09:00:00+08:00")
    # the period
    w.deliver("ORE-A1", P1, S1, 1_500_000, "2026-09-02T09:00:00+08:00")
    w.deliver("ORE-A2", P2, S2, 1_200_000, "2026-09-03T09:00:00+08:00")
    w.deliver("ORE-A3", P3, S3, 1_000_000, "2026-09-04T09:00:00+08:00")
    # 23:30 in a western aimag (UTC+7) is already 1 October in Ulaanbaatar
    w.deliver("ORE-A4", P1, S1, 800_000, "2026-09-30T23:30:00+07:00")
    w.case(
        "DISPUTE-S3", REGULATOR, "dispute", ("site", S3), "2026-09-05T08:00:00+08:00", "land_use"
    )
    w.run(
        "RUN-A1",
        {"ORE-A0": 1_000_000, "ORE-A1": 500_000},
        {"AU-A1": 18_000},
        "2026-09-05T15:00:00+08:00",
    )
    w.run("RUN-A2", {"ORE-A1": 1_000_000}, {"AU-A2": 10_000}, "2026-09-08T15:00:00+08:00")
    w.run(
        "RUN-A3",
        {"ORE-A2": 1_200_000},
        {"AU-A3a": 10_000, "AU-A3b": 4_400},
        "2026-09-10T15:00:00+08:00",
    )
    out = w.run("RUN-A4", {"ORE-A3": 500_000}, {"AU-A4": 100_000}, "2026-09-12T15:00:00+08:00")
    (flag,) = [d for d in out["derived"] if d["type"] == "case.opened"]
    w.idx["AUTO-FLAG"] = flag["index"]
    w.run(
        "RUN-A5",
        {"ORE-A3": 400_000},
        {"AU-A5": 6_000},
        "2026-09-15T15:00:00+08:00",
        mercury_free=False,
    )
    for lot, ppt in [("AU-A1", 850), ("AU-A2", 900), ("AU-A3a", 800)]:
        w.assay(lot, ppt)
    w.ok(
        "OFFER-1",
        CENTRE,
        "transfer.offered",
        {
            "occurred_at": "2026-09-19T10:00:00+08:00",
            "offer": "OFFER-1",
            "lot": "AU-A1",
            "to": BANK,
        },
    )
    w.ok(
        "ACCEPT-1",
        BANK,
        "transfer.accepted",
        {"occurred_at": "2026-09-20T10:00:00+08:00", "offer": "OFFER-1"},
    )
    # the supplier of ORE-A2 is suspended after its ore was processed
    w.ok(
        "SUSPEND-P2",
        REGULATOR,
        "actor.status_changed",
        {
            "occurred_at": "2026-09-20T12:00:00+08:00",
            "actor": P2,
            "status": "suspended",
            "reason": "licence lapsed",
        },
    )
    # look-alikes: a short hold, and a hold lifted after 10 days
    w.case("HOLD-SHORT", AUDITOR, "hold", ("lot", "AU-A2"), "2026-09-25T09:00:00+08:00")
    w.case("HOLD-LIFTED", AUDITOR, "hold", ("actor", P3), "2026-09-16T09:00:00+08:00")
    w.ok(
        "LIFT",
        AUDITOR,
        "case.resolved",
        {
            "occurred_at": "2026-09-26T09:00:00+08:00",
            "case": "HOLD-LIFTED",
            "resolution": "papers in order",
        },
    )
    w.case(
        "FLAG-TAX",
        AUDITOR,
        "red_flag",
        ("actor", P3),
        "2026-09-18T09:00:00+08:00",
        "taxes_royalties",
    )
    # the second centre
    w.deliver("ORE-B1", P1, S1, 2_000_000, "2026-09-06T09:00:00+08:00", centre=CENTRE2)
    w.run(
        "RUN-B1",
        {"ORE-B1": 2_000_000},
        {"AU-B1": 40_000},
        "2026-09-07T15:00:00+08:00",
        centre=CENTRE2,
    )
    w.assay("AU-B1", 880)
    return w


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with running_api(Path(tmp_path_factory.mktemp("reports"))) as api:
        yield build(api)


# --- an independent reading of the raw log ------------------------------------------------


def raw_log(api: Api) -> list[dict[str, Any]]:
    """Every entry as a dict, read page by page and parsed here."""
    out: list[dict[str, Any]] = []
    size = api.size()
    while len(out) < size:
        resp = api.client.get("/log/entries", params={"start": len(out), "end": size})
        for row in resp.json()["entries"]:
            entry = json.loads(base64.b64decode(row["entry"]))
            entry["_bytes"] = base64.b64decode(row["entry"])
            out.append(entry)
    return out


def ub_day(moment: str) -> date:
    return datetime.fromisoformat(moment).astimezone(UB).date()


def within(moment: str, start: str | None, end: str | None) -> bool:
    day = ub_day(moment).isoformat()
    return (start is None or day >= start) and (end is None or day <= end)


@dataclass
class Truth:
    received: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    processed: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    gold: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    fine_ppt_mg: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    unassayed: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    book: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    runs: dict[str, list[tuple[int, float]]] = field(default_factory=lambda: defaultdict(list))


def truth(entries: list[dict[str, Any]], start: str | None, end: str | None) -> Truth:
    """The mass balance from the raw events alone."""
    t = Truth()
    fineness: dict[str, int] = {}
    for e in entries:
        if e["type"] == "assay.recorded":
            fineness[e["body"]["lot"]] = e["body"]["fineness_ppt"]
    for e in entries:
        body, actor = e["body"], e["actor"]
        if e["type"] == "ore.delivered":
            if within(body["occurred_at"], start, end):
                t.received[actor] += body["mass_g"]
            if within(body["occurred_at"], None, end):
                t.book[actor] += body["mass_g"]
        elif e["type"] == "processing.recorded":
            ore = sum(i["mass_g"] for i in body["inputs"])
            gold = sum(o["mass_mg"] for o in body["outputs"])
            if within(body["occurred_at"], None, end):
                t.book[actor] -= ore
            if not within(body["occurred_at"], start, end):
                continue
            t.processed[actor] += ore
            t.gold[actor] += gold
            for o in body["outputs"]:
                if o["lot"] in fineness:
                    t.fine_ppt_mg[actor] += o["mass_mg"] * fineness[o["lot"]]
                else:
                    t.unassayed[actor] += o["mass_mg"]
            t.runs[actor].append((e["index"], gold / 1000 / (ore / 1_000_000)))
    return t


def check_mass_balance(report: dict[str, Any], t: Truth) -> None:
    for row in report["centres"]:
        c = row["centre"]
        assert row["ore_received_g"] == t.received[c], c
        assert row["ore_processed_g"] == t.processed[c], c
        assert row["gold_produced_mg"] == t.gold[c], c
        assert row["fine_gold_mg"] == t.fine_ppt_mg[c] // 1000, c
        assert row["unassayed_gold_mg"] == t.unassayed[c], c
        assert row["stock_book_g"] == t.book[c], c
        assert row["stock_on_hand_g"] == row["stock_book_g"] and row["stock_difference_g"] == 0
        assert row["balanced"] is True
        assert row["runs"] == len(t.runs[c])
        values = [v for _, v in t.runs[c]]
        if len(values) >= 2:
            q1, median, q3 = statistics.quantiles(values, n=4, method="inclusive")
            for key, want in [("q1", q1), ("median", median), ("q3", q3)]:
                assert row[f"recovery_{key}_g_per_t"] == pytest.approx(want, abs=1e-3)
            assert row["recovery_min_g_per_t"] == pytest.approx(min(values), abs=1e-3)
            assert row["recovery_max_g_per_t"] == pytest.approx(max(values), abs=1e-3)
    runs = {r["index"]: r for r in report["runs"]}
    for c, values in t.runs.items():
        for index, value in values:
            assert runs[index]["centre"] == c
            assert runs[index]["recovery_g_per_t"] == pytest.approx(value, abs=1e-3)
            assert runs[index]["out_of_bounds"] == (not 0.1 <= value <= 150)


# --- mass balance -------------------------------------------------------------------------


def test_mass_balance_matches_the_raw_log(world: World) -> None:
    entries = raw_log(world.api)
    for start, end in [("2026-09-01", "2026-09-30"), (None, None), ("2026-08-01", "2026-09-06")]:
        params = {k: v for k, v in {"from": start, "to": end}.items() if v}
        report = world.json("/reports/mass-balance", **params)
        check_mass_balance(report, truth(entries, start, end))
        assert {r["centre"] for r in report["centres"]} == {CENTRE, CENTRE2}


def test_mass_balance_figures_of_the_september_world(world: World) -> None:
    report = world.json("/reports/mass-balance", centre=CENTRE, **SEPT)
    assert report["period"]["timezone"] == "UTC+8"
    (row,) = report["centres"]
    assert row["ore_received_g"] == 1_500_000 + 1_200_000 + 1_000_000  # not ORE-A4: 1 October
    assert row["ore_processed_g"] == 1_500_000 + 1_000_000 + 1_200_000 + 500_000 + 400_000
    assert row["gold_produced_mg"] == 18_000 + 10_000 + 14_400 + 100_000 + 6_000
    assert row["fine_gold_mg"] == (18_000 * 850 + 10_000 * 900 + 10_000 * 800) // 1000
    assert row["unassayed_gold_mg"] == 4_400 + 100_000 + 6_000
    assert row["stock_opening_g"] == 1_000_000
    assert row["stock_book_g"] == row["stock_on_hand_g"] == 100_000  # what ORE-A3 has left
    # recoveries 12, 10, 12, 200, 15 g/t: Q1 12, Q3 15, IQR 3, upper fence 24
    assert (row["recovery_min_g_per_t"], row["recovery_max_g_per_t"]) == (10.0, 200.0)
    assert (row["recovery_q1_g_per_t"], row["recovery_median_g_per_t"]) == (12.0, 12.0)
    assert (row["recovery_q3_g_per_t"], row["recovery_upper_fence_g_per_t"]) == (15.0, 24.0)
    assert row["outliers_out_of_bounds"] == row["outliers_statistical"] == 1
    (rich,) = [r for r in report["runs"] if r["out_of_bounds"]]
    assert (rich["run"], rich["index"], rich["statistical_outlier"]) == (
        "RUN-A4",
        world.idx["RUN-A4"],
        True,
    )
    assert {r["method"] for r in report["runs"]} == {"gravity", "amalgamation"}
    # the stock series steps from the opening stock to the book stock at the end
    series = report["stock"]
    assert series[-1]["stock_g"] == 100_000
    assert sum(s["change_g"] for s in series) == 100_000 - 1_000_000
    october = world.json(
        "/reports/mass-balance", centre=CENTRE, **{"from": "2026-10-01", "to": "2026-10-01"}
    )
    assert october["centres"][0]["ore_received_g"] == 800_000  # ORE-A4 counts in October


def test_a_run_dated_before_its_ore_unbalances_the_stock_and_is_flagged(tmp_path: Path) -> None:
    with running_api(tmp_path) as api:
        cast(api)
        w = World(api)
        site(api, S1, P1)
        w.deliver("ORE-X", P1, S1, 1_000_000, "2026-09-10T09:00:00+08:00")
        w.run("RUN-X", {"ORE-X": 600_000}, {"AU-X": 9_000}, "2026-09-05T09:00:00+08:00")
        early = w.json(
            "/reports/mass-balance", centre=CENTRE, **{"from": "2026-09-01", "to": "2026-09-07"}
        )
        (row,) = early["centres"]
        assert (row["stock_book_g"], row["stock_on_hand_g"]) == (-600_000, 0)
        assert row["stock_difference_g"] == 600_000 and row["balanced"] is False
        assert row["mismatch_evidence"] == [w.idx["ORE-X"], w.idx["RUN-X"]]
        flags = w.json("/reports/red-flags", **{"from": "2026-09-01", "to": "2026-09-07"})
        (flag,) = [f for f in flags["flags"] if f["category"] == "mass_balance_mismatch"]
        assert (flag["actor"], flag["evidence"]) == (CENTRE, [w.idx["ORE-X"], w.idx["RUN-X"]])
        late = w.json("/reports/mass-balance", centre=CENTRE, **SEPT)
        assert late["centres"][0]["balanced"] is True
        assert late["centres"][0]["stock_on_hand_g"] == 400_000


def test_a_bad_period_is_refused(world: World) -> None:
    resp = world.api.client.get(
        "/reports/mass-balance",
        params={"from": "2026-09-30", "to": "2026-09-01"},
        headers=world.api.headers(AUDITOR),
    )
    assert resp.status_code == 422 and resp.json()["type"].endswith("/bad-period")
    resp = world.api.client.get(
        "/reports/red-flags", params={"from": "yesterday"}, headers=world.api.headers(AUDITOR)
    )
    assert resp.status_code == 422
    resp = world.api.client.get(
        "/reports/mass-balance", params={"centre": BANK}, headers=world.api.headers(AUDITOR)
    )
    assert resp.status_code == 404 and resp.json()["type"].endswith("/unknown-centre")
    resp = world.api.client.get(
        "/reports/mass-balance",
        params={"format": "csv", "table": "nope"},
        headers=world.api.headers(AUDITOR),
    )
    assert resp.status_code == 422 and resp.json()["type"].endswith("/unknown-table")


# --- red flags ----------------------------------------------------------------------------


def flags_by_category(report: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for f in report["flags"]:
        out[f["category"]].append(f)
    return out


def test_each_injected_anomaly_is_flagged_once_with_its_evidence(world: World) -> None:
    report = world.json("/reports/red-flags", **SEPT)
    flags = flags_by_category(report)
    i = world.idx
    assert set(flags) == {
        "suspended_supplier",
        "site_dispute",
        "yield_out_of_bounds",
        "long_hold",
        "mercury_use",
        "capacity_inconsistent",
        "recorded_case",
    }, report["counts"]
    assert all(len(v) == 1 for v in flags.values()), report["counts"]
    (suspended,) = flags["suspended_supplier"]
    assert (suspended["lot"], suspended["actor"], suspended["severity"]) == ("ORE-A2", P2, "medium")
    assert suspended["evidence"] == [i["ORE-A2"], i["SUSPEND-P2"]]
    (dispute,) = flags["site_dispute"]
    assert (dispute["lot"], dispute["site"]) == ("ORE-A3", S3)
    assert dispute["evidence"] == [i["ORE-A3"], i["DISPUTE-S3"]]
    (rich,) = flags["yield_out_of_bounds"]
    assert (rich["lot"], rich["run"], rich["severity"]) == ("AU-A4", "RUN-A4", "high")
    assert rich["evidence"] == [i["RUN-A4"], i["AUTO-FLAG"]]  # the run and the system's flag
    (hold,) = flags["long_hold"]
    assert (hold["lot"], hold["case"], hold["lifted"]) == ("AU-A0", "HOLD-LONG", False)
    assert hold["evidence"] == [i["HOLD-LONG"]] and hold["held_days"] == 35
    (mercury,) = flags["mercury_use"]
    assert (mercury["lot"], mercury["severity"]) == ("AU-A5", "high")
    assert mercury["evidence"] == [i["RUN-A4"], i["RUN-A5"]]  # the last mercury-free run before
    (capacity,) = flags["capacity_inconsistent"]
    assert (capacity["site"], capacity["year"], capacity["gold_g"]) == (S1, 2026, 83.0)
    assert capacity["evidence"] == sorted(
        [i["S1"], i["RUN-A0"], i["RUN-A1"], i["RUN-A2"], i["RUN-B1"]]
    )
    (recorded,) = flags["recorded_case"]
    assert (recorded["case"], recorded["actor"]) == ("FLAG-TAX", P3)
    assert recorded["evidence"] == [i["FLAG-TAX"]]
    # every cited entry can be proven against the checkpoint the report names
    size = report["checkpoint"]["tree_size"]
    for f in report["flags"]:
        assert f["proofs"] == [
            f"/log/proof/inclusion?index={e}&tree_size={size}" for e in f["evidence"]
        ]
    gaps = {g["rule"] for g in report["not_computable"]}
    assert "attempted_sale_by_non_custodian" in gaps


def test_flags_found_in_the_raw_log_match_the_report(world: World) -> None:
    """Out-of-bounds runs and mercury runs, found here from the raw events."""
    entries = raw_log(world.api)
    runs = [
        e
        for e in entries
        if e["type"] == "processing.recorded" and within(e["body"]["occurred_at"], *SEPT.values())
    ]
    rich = {
        e["index"]
        for e in runs
        if not 0.1
        <= sum(o["mass_mg"] for o in e["body"]["outputs"])
        / sum(i["mass_g"] for i in e["body"]["inputs"])
        * 1000
        <= 150
    }
    mercury = {e["index"] for e in runs if not e["body"]["mercury_free"]}
    flags = flags_by_category(world.json("/reports/red-flags", **SEPT))
    assert {f["evidence"][0] for f in flags["yield_out_of_bounds"]} == rich
    assert {f["evidence"][-1] for f in flags["mercury_use"]} == mercury


def test_hold_days_and_period_change_what_is_flagged(world: World) -> None:
    short = world.json("/reports/red-flags", hold_days=4, **SEPT)
    holds = {f["case"]: f for f in flags_by_category(short)["long_hold"]}
    assert set(holds) == {"HOLD-LONG", "HOLD-SHORT", "HOLD-LIFTED"}
    assert holds["HOLD-LIFTED"]["lifted"] is True
    assert holds["HOLD-LIFTED"]["evidence"] == [world.idx["HOLD-LIFTED"], world.idx["LIFT"]]
    assert holds["HOLD-SHORT"]["held_days"] == 5
    august = world.json("/reports/red-flags", **{"from": "2026-08-01", "to": "2026-08-31"})
    assert {f["category"] for f in august["flags"]} == {"capacity_inconsistent"}


def test_a_custody_gap_is_found_when_the_projection_loses_a_transfer(tmp_path: Path) -> None:
    with running_api(tmp_path) as api:
        w = build(api)
        before = flags_by_category(w.json("/reports/red-flags", **SEPT))
        assert "custody_gap" not in before
        engine = api.client.app.state.log.engine  # type: ignore[attr-defined]
        with engine.begin() as conn:  # the lot moves without an accepted transfer
            conn.execute(update(Lot).where(Lot.id == "AU-A2").values(custodian_id=BANK))
        after = flags_by_category(w.json("/reports/red-flags", **SEPT))
        (gap,) = after["custody_gap"]
        assert (gap["lot"], gap["severity"]) == ("AU-A2", "high")
        assert gap["evidence"] == [w.idx["RUN-A2"]]
        assert BANK in gap["description"]


# --- chain of custody ---------------------------------------------------------------------


def test_custody_goes_back_to_sites_and_miners_and_every_step_is_provable(world: World) -> None:
    report = world.json("/reports/custody/AU-A1")
    tree = report["tree"]
    assert (tree["lot"], tree["custodian"]) == ("AU-A1", BANK)
    types = [s["type"] for s in tree["steps"]]
    assert types[0] == "processing.recorded" and "transfer.accepted" in types
    (accepted,) = [s for s in tree["steps"] if s["type"] == "transfer.accepted"]
    assert (accepted["holder"], accepted["index"]) == (BANK, world.idx["ACCEPT-1"])
    assert accepted["occurred_at"] == "2026-09-20T10:00:00+08:00"
    inputs = {n["lot"]: n for n in tree["inputs"]}
    assert set(inputs) == {"ORE-A0", "ORE-A1"}
    for node in inputs.values():
        assert node["site"]["site"] == S1 and node["miner"]["actor"] == P1
        assert node["steps"][0]["type"] == "ore.delivered"
        assert node["steps"][0]["holder"] == CENTRE
    assert inputs["ORE-A0"]["link"]["share"]["fraction"] == "2/3"  # 1,000,000 of 1,500,000 g
    # every step's proof link verifies against the signed checkpoint
    vkeys = [
        NoteVerifier.from_vkey(k["verifier_key"])
        for k in world.api.client.get("/log/keys").json()["keys"]
    ]
    checkpoint, _ = open_checkpoint(world.api.client.get("/log/checkpoint").text, vkeys)
    assert report["checkpoint"]["tree_size"] == checkpoint.size
    entries = raw_log(world.api)
    urls = {s["proof"] for s in report["steps"]}
    urls |= {inputs[x]["site"]["proof"] for x in inputs} | {
        inputs[x]["miner"]["proof"] for x in inputs
    }
    assert len(urls) > 6
    for url in urls:
        proof = world.api.client.get(url).json()
        leaf = hash_leaf(entries[proof["index"]]["_bytes"])
        hashes = [base64.b64decode(h) for h in proof["hashes"]]
        verify_inclusion(leaf, proof["index"], checkpoint.size, hashes, checkpoint.root_hash)


def test_custody_of_an_unknown_lot_is_404(world: World) -> None:
    resp = world.api.client.get("/reports/custody/AU-NONE", headers=world.api.headers(AUDITOR))
    assert resp.status_code == 404


# --- CSV ----------------------------------------------------------------------------------


def as_cell(value: Any) -> str:
    if value is None:
        return ""
    if value is True or value is False:
        return str(value).lower()
    if isinstance(value, list):
        return " ".join(as_cell(v) for v in value)
    return str(value)


@pytest.mark.parametrize(
    ("path", "params", "tables"),
    [
        ("/reports/mass-balance", SEPT, {"centres": "centres", "runs": "runs", "stock": "stock"}),
        ("/reports/red-flags", SEPT, {"flags": "flags", "not_computable": "not_computable"}),
        ("/reports/custody/AU-A1", {}, {"steps": "steps", "origins": "origin_rows"}),
    ],
)
def test_every_table_exports_as_csv_matching_the_json(
    world: World, path: str, params: dict[str, str], tables: dict[str, str]
) -> None:
    data = world.json(path, **params)
    for table, key in tables.items():
        resp = world.get(path, format="csv", table=table, **params)
        assert resp.headers["content-type"].startswith("text/csv")
        rows = list(csv.DictReader(io.StringIO(resp.text)))
        assert len(rows) == len(data[key]) > 0, table
        for got, want in zip(rows, data[key], strict=True):
            assert set(got) >= set(want)
            for name, value in want.items():
                cell = as_cell(value)
                if isinstance(value, float):
                    assert float(got[name]) == value
                else:
                    assert got[name] == cell, (table, name)
    first = world.get(path, format="csv", **params).text
    assert first == world.get(path, format="csv", table=next(iter(tables)), **params).text


def test_csv_cells_that_a_spreadsheet_would_run_are_defused() -> None:
    from services.reports.tables import to_csv

    text = to_csv([{"description": "=HYPERLINK(1)", "n": -5, "ok": True}])
    (row,) = list(csv.DictReader(io.StringIO(text)))
    assert row == {"description": "'=HYPERLINK(1)", "n": "-5", "ok": "true"}


# --- charts and the page ------------------------------------------------------------------


def test_the_recovery_chart_has_one_mark_per_run(world: World) -> None:
    runs = [r for r in world.json("/reports/mass-balance", centre=CENTRE, **SEPT)["runs"]]
    svg = world.get("/reports/charts/recovery.svg", centre=CENTRE, **SEPT)
    assert svg.headers["content-type"].startswith("image/svg+xml")
    root = ET.fromstring(svg.text)
    assert root.tag == f"{SVG}svg" and root.get("role") == "img"
    assert root.find(f"{SVG}title") is not None and root.find(f"{SVG}desc") is not None
    marks = [el for el in root.iter() if el.get("data-run")]
    assert sorted(int(m.get("data-index", "")) for m in marks) == sorted(r["index"] for r in runs)
    assert all(m.find(f"{SVG}title") is not None for m in marks)
    (cross,) = [m for m in marks if "out-of-bounds" in (m.get("class") or "")]
    assert cross.get("data-run") == "RUN-A4"
    stock = ET.fromstring(world.get("/reports/charts/stock.svg", centre=CENTRE, **SEPT).text)
    (line,) = [el for el in stock.iter(f"{SVG}path") if el.get("class") == "stock-line"]
    series = world.json("/reports/mass-balance", centre=CENTRE, **SEPT)["stock"]
    assert line.get("data-steps") == str(len(series))
    assert line.get("d", "").count("V") == len(series)


def test_the_page_is_self_contained_and_accessible(world: World) -> None:
    resp = world.get("/reports", **SEPT)
    html = resp.text
    csp = resp.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "script-src" not in csp
    (style,) = re.findall(r"<style>(.*?)</style>", html, re.S)
    digest = base64.b64encode(__import__("hashlib").sha256(style.encode()).digest()).decode()
    assert f"'sha256-{digest}'" in csp
    lowered = html.lower()
    for external in ("<script", "<link", "<img", "<iframe", "src=", "url(", "@import", "//"):
        if external == "//":
            assert not re.search(r"(href|src|action)=\"(https?:)?//", lowered)
        else:
            assert external not in lowered, external
    hrefs = re.findall(r'href="([^"]*)"', html)
    assert hrefs and all(h.startswith(("/", "#")) for h in hrefs)
    # accessible: every table has a caption and header cells with scope
    assert html.count("<table>") == html.count("<caption>") > 0
    assert '<th scope="col">' in html and '<th scope="row">' in html
    svgs = re.findall(r"<svg.*?</svg>", html, re.S)
    assert len(svgs) == 4  # two charts per centre
    for text in svgs:
        root = ET.fromstring(text)
        assert root.find(f"{SVG}title") is not None and root.find(f"{SVG}desc") is not None
        assert root.get("aria-labelledby")
    recovery = [ET.fromstring(t) for t in svgs if 'class="chart recovery"' in t]
    marks = sum(1 for root in recovery for el in root.iter() if el.get("data-run"))
    assert marks == len(world.json("/reports/mass-balance", **SEPT)["runs"])
    # the CSV of every table is linked
    for table in ("centres", "runs", "stock", "flags", "not_computable"):
        assert f"table={table}" in html
    assert "RUN-A4" in html and "ORE-A2" in html


# --- who may read -------------------------------------------------------------------------


def test_who_may_read_the_reports(world: World) -> None:
    c, h = world.api.client, world.api.headers

    def status(actor: str | None, path: str, **params: str) -> int:
        headers = h(actor) if actor else {}
        return c.get(path, params=params, headers=headers).status_code

    everything = [
        ("/reports/mass-balance", {}),
        ("/reports/mass-balance", {"centre": CENTRE}),
        ("/reports/custody/AU-A1", {}),
        ("/reports/red-flags", {}),
        ("/reports", {}),
        ("/reports/charts/recovery.svg", {"centre": CENTRE}),
    ]
    for path, params in everything:
        assert status(None, path, **params) == 401
        for reader in ("admin:root", REGULATOR, AUDITOR):
            assert status(reader, path, **params) == 200, (reader, path)
        assert status(BANK, path, **params) == 403, path  # a buyer, even a party to AU-A1
        if params or path != "/reports/mass-balance":  # (without a centre: its own)
            assert status(CENTRE2, path, **params) == 403, path  # another centre
    # a centre reads its own mass balance (and its charts), nothing else
    assert status(CENTRE, "/reports/mass-balance", centre=CENTRE) == 200
    assert status(CENTRE, "/reports/charts/stock.svg", centre=CENTRE) == 200
    own = world.json("/reports/mass-balance", CENTRE)
    assert [r["centre"] for r in own["centres"]] == [CENTRE]
    assert {r["centre"] for r in own["runs"]} == {CENTRE}
    assert status(CENTRE, "/reports/mass-balance", centre=CENTRE2) == 403
    for path in ("/reports/red-flags", "/reports/custody/AU-A1", "/reports"):
        assert status(CENTRE, path) == 403
    problem = c.get("/reports/red-flags", headers=h(BANK)).json()
    assert problem["type"].endswith("/not-a-report-reader")


# --- the CLI and the SDK ------------------------------------------------------------------


@pytest.fixture
def through_app(world: World, monkeypatch: pytest.MonkeyPatch) -> World:
    monkeypatch.setattr(report_cli, "_http_client", lambda: world.api.client)
    return world


def altan(*args: str) -> Any:
    return CliRunner().invoke(cli.app, ["report", *args], catch_exceptions=False)


def test_cli_reports(through_app: World, tmp_path: Path) -> None:
    w, token = through_app, through_app.api.tokens[AUDITOR]
    url = "http://testserver"
    result = altan(
        "mass-balance", url, "--token", token, "--from", "2026-09-01", "--to", "2026-09-30"
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data == w.json("/reports/mass-balance", **SEPT)
    result = altan(
        "mass-balance",
        url,
        "--token",
        token,
        "--from",
        "2026-09-01",
        "--to",
        "2026-09-30",
        "--csv",
        "--table",
        "runs",
    )
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [int(r["index"]) for r in rows] == [r["index"] for r in data["runs"]]
    result = altan(
        "red-flags", url, "--token", token, "--from", "2026-09-01", "--to", "2026-09-30", "--csv"
    )
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert len(rows) == 7 and {r["category"] for r in rows} >= {"mercury_use", "long_hold"}
    result = altan("custody", url, "AU-A1", "--token", token)
    assert json.loads(result.stdout)["tree"]["lot"] == "AU-A1"
    out = tmp_path / "report.html"
    result = altan(
        "page",
        url,
        "--token",
        token,
        "--from",
        "2026-09-01",
        "--to",
        "2026-09-30",
        "--out",
        str(out),
    )
    assert result.exit_code == 0 and "<svg" in out.read_text()
    # a centre's own token: its own mass balance by default; red flags refused (exit 1)
    centre = w.api.tokens[CENTRE]
    result = altan("mass-balance", url, "--token", centre)
    assert [r["centre"] for r in json.loads(result.stdout)["centres"]] == [CENTRE]
    result = altan("red-flags", url, "--token", centre)
    assert result.exit_code == 1 and "not-a-report-reader" in result.stderr + result.output


# --- volume: a demo season ----------------------------------------------------------------


def test_a_demo_season_balances_against_its_raw_log(database: Database, tmp_path: Path) -> None:
    url, _schema = database_url(database)
    with running_api(tmp_path, database_url=url) as api:
        recorded, _ = fill_demo(api.client.app.state.events, 1200, seed=11)  # type: ignore[attr-defined]
        assert recorded == 1200
        w = World(api)
        api.tokens[AUDITOR] = api.tokens["admin:root"]
        entries = raw_log(api)
        for start, end, at_least in [(None, None, 40), ("2026-08-10", "2026-09-10", 5)]:
            params = {k: v for k, v in {"from": start, "to": end}.items() if v}
            report = w.json("/reports/mass-balance", **params)
            t = truth(entries, start, end)
            check_mass_balance(report, t)
            assert sum(r["runs"] for r in report["centres"]) >= at_least
            flags = flags_by_category(w.json("/reports/red-flags", **params))
            rich = {i for runs in t.runs.values() for i, v in runs if not 0.1 <= v <= 150}
            assert {f["evidence"][0] for f in flags["yield_out_of_bounds"]} == rich
            assert rich or start is not None  # the season has implausibly rich runs
            outputs = {
                o["lot"] for e in entries if e["index"] in rich for o in e["body"]["outputs"]
            }
            system = {
                e["index"]
                for e in entries
                if e["type"] == "case.opened"
                and e["actor"] == "system:altan"
                and e["body"]["target"]["id"] in outputs
            }
            assert {f["evidence"][1] for f in flags["yield_out_of_bounds"]} == system
            assert "custody_gap" not in flags and "mass_balance_mismatch" not in flags


def test_custody_of_a_split_lot_merged_back_and_sold_has_no_gap(tmp_path: Path) -> None:
    with running_api(tmp_path) as api:
        cast(api)
        w = World(api)
        site(api, S1, P1)
        w.deliver("ORE-X", P1, S1, 1_000_000, "2026-09-01T09:00:00+08:00")
        w.run("RUN-X", {"ORE-X": 1_000_000}, {"AU-X": 12_000}, "2026-09-02T09:00:00+08:00")
        parts = [{"lot": "AU-X1", "mass_mg": 5_000}, {"lot": "AU-X2", "mass_mg": 7_000}]
        w.ok("SPLIT", CENTRE, "lot.split", {"lot": "AU-X", "into": parts})
        w.ok("MERGE", CENTRE, "lots.merged", {"lots": ["AU-X1", "AU-X2"], "into": "AU-M"})
        w.ok("OFFER", CENTRE, "transfer.offered", {"offer": "OF-M", "lot": "AU-M", "to": BANK})
        w.ok("ACCEPT", BANK, "transfer.accepted", {"offer": "OF-M"})
        tree = w.json("/reports/custody/AU-M")["tree"]
        assert tree["custodian"] == BANK and tree["steps"][-1]["holder"] == BANK
        first, second = tree["inputs"]
        assert [first["lot"], second["lot"]] == ["AU-X1", "AU-X2"]
        (x,) = first["inputs"]
        (again,) = second["inputs"]
        assert x["lot"] == again["lot"] == "AU-X" and again["repeat"] is True
        assert "steps" not in again and x["inputs"][0]["lot"] == "ORE-X"
        assert second["link"]["share"]["fraction"] == "7/12"
        flags = w.json("/reports/red-flags", **SEPT)
        assert flags["flags"] == [], flags["counts"]
