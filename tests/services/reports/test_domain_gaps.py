"""Domain gaps users hit (issue 11, finding 11), through real HTTP on SQLite and PostgreSQL.

1. A split states what it lost: `loss_mg` with its `loss_reason`; the lot = its parts + the
   loss, exact in milligrams; the loss shows in the mass balance (a column per centre, a
   `losses` table, CSV and the page) and in EPCIS. Splits logged before the field existed
   project and report exactly as before.
2. A mine site lies in Mongolia (the national box of `ledger.regions.MONGOLIA`).
3. A long hold is counted to the earlier of the period's end and now.

Every refusal is a 4xx problem naming its rule and field, and changes nothing: the log
keeps its size and every projection table its rows.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine

from services.domains import rebuild
from services.reports.periods import ULAANBAATAR
from support.lots import snapshot
from support.reports import append_old
from support.world import CENTRE, DATABASES, MINER, World, delivery, populated

REGULATOR = "regulator:tov"
BANK = "buyer:mongolbank"
ADMIN = "admin:root"


@pytest.fixture(scope="module", params=DATABASES)
def world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    with populated(Path(tmp_path_factory.mktemp("gaps")), request.param) as w:
        yield w


def engine(world: World) -> Engine:
    log = world.api.client.app.state.log  # type: ignore[attr-defined]
    e: Engine = log.engine
    return e


def gold(world: World, mass_mg: int) -> str:
    """A fresh gold lot of `mass_mg` held by the centre (its own ore, its own run)."""
    ore, lot = world.next("ORE"), world.next("AU")
    world.api.ok(CENTRE, "ore.delivered", delivery(ore))
    world.api.ok(
        CENTRE,
        "processing.recorded",
        {
            "run": world.next("RUN"),
            "inputs": [{"lot": ore, "mass_g": 2_000_000}],
            "outputs": [{"lot": lot, "form": "dore", "mass_mg": mass_mg}],
            "method": "gravity",
            "mercury_free": True,
            "started_on": "2026-09-02",
            "finished_on": "2026-09-02",
        },
    )
    return lot


def refused(
    world: World, actor: str, type_: str, body: dict[str, Any], status: int, rule: str, field: str
) -> dict[str, Any]:
    """Post, expect the problem naming `rule` and `field`, and check nothing changed."""
    size, before = world.api.size(), snapshot(engine(world))
    resp = world.api.post(actor, type_, body)
    world.refused(resp, status, rule, field)
    assert world.api.size() == size
    assert snapshot(engine(world)) == before
    problem: dict[str, Any] = resp.json()
    return problem


def parts(world: World, *masses: int) -> list[dict[str, Any]]:
    return [{"lot": world.next("PART"), "mass_mg": m} for m in masses]


def get(world: World, path: str) -> Any:
    resp = world.api.client.get(path, headers=world.api.headers(ADMIN))
    assert resp.status_code == 200, (path, resp.text[:500])
    return resp


def lot(world: World, lot_id: str) -> dict[str, Any]:
    data: dict[str, Any] = get(world, f"/lots/{lot_id}").json()
    return data


# --- 1. a split states its loss -----------------------------------------------------------


def test_a_split_records_its_loss_and_the_reports_show_it(world: World) -> None:
    parent = gold(world, 30_000)
    into = parts(world, 18_000, 11_950)
    receipt = world.api.ok(
        CENTRE,
        "lot.split",
        {"lot": parent, "into": into, "loss_mg": 50, "loss_reason": "remelted into two bars"},
    )
    index = receipt["index"]
    assert lot(world, parent)["status"] == "closed"
    assert [lot(world, p["lot"])["mass"] for p in into] == [18_000, 11_950]

    mass = get(world, f"/reports/mass-balance?centre={CENTRE}").json()
    (row,) = [r for r in mass["losses"] if r["index"] == index]
    assert row == {
        "actor": CENTRE,
        "lot": parent,
        "index": index,
        "occurred_at": row["occurred_at"],
        "day": "2026-09-14",
        "parts": " ".join(p["lot"] for p in into),
        "lot_mg": 30_000,
        "parts_mg": 29_950,
        "loss_mg": 50,
        "loss_reason": "remelted into two bars",
        "proof": row["proof"],
    }
    (centre,) = mass["centres"]
    assert centre["gold_lost_in_splits_mg"] == sum(r["loss_mg"] for r in mass["losses"])
    csv = get(world, "/reports/mass-balance?format=csv&table=losses").text
    assert "remelted into two bars" in csv and f"{parent}," in csv
    page = get(world, "/reports").text
    assert "Gold lost in splits" in page and "remelted into two bars" in page
    # outside the period the loss is not counted
    other = get(world, f"/reports/mass-balance?centre={CENTRE}&from=2026-10-01").json()
    assert other["losses"] == [] and other["centres"][0]["gold_lost_in_splits_mg"] == 0

    # EPCIS: the input is the whole lot, the outputs the parts, the loss a quantity
    events = get(world, f"/epcis/events?start={index}&end={index + 1}").json()
    (event,) = events["epcisBody"]["eventList"]
    assert event["inputQuantityList"][0]["quantity"] == 30_000
    assert sum(q["quantity"] for q in event["outputQuantityList"]) == 29_950
    assert event["altan:lossQuantity"] == {"quantity": 50, "uom": "MGM"}
    assert "remelted" not in str(event)  # free text stays out of EPCIS


def test_a_split_without_loss_is_as_before(world: World) -> None:
    parent = gold(world, 20_000)
    index = world.api.ok(CENTRE, "lot.split", {"lot": parent, "into": parts(world, 5_000, 15_000)})[
        "index"
    ]
    events = get(world, f"/epcis/events?start={index}&end={index + 1}").json()
    (event,) = events["epcisBody"]["eventList"]
    assert event["inputQuantityList"][0]["quantity"] == 20_000
    assert "altan:lossQuantity" not in event
    mass = get(world, "/reports/mass-balance").json()
    assert all(r["index"] != index for r in mass["losses"])


@pytest.mark.parametrize(
    ("loss", "reason", "masses", "status", "rule", "field"),
    [
        # a negative loss: refused by the schema (the contract says ge=0)
        (-50, "dust", (10_000, 10_050), 422, None, "body.loss_mg"),
        # more lost than the lot holds
        (20_001, "stolen", (1, 1), 422, "loss-exceeds-lot", "body.loss_mg"),
        # a loss without its reason
        (50, None, (10_000, 9_950), 422, "loss-reason-missing", "body.loss_reason"),
        # a reason without a loss
        (0, "nothing", (10_000, 10_000), 422, "reason-without-loss", "body.loss_mg"),
        # parts + loss must be the lot, exact: one milligram off either way
        (50, "dust", (10_000, 9_949), 422, "mass-not-conserved", "body.into"),
        (50, "dust", (10_000, 9_951), 422, "mass-not-conserved", "body.into"),
        # the old rule still holds without a loss
        (None, None, (10_000, 9_950), 422, "mass-not-conserved", "body.into"),
    ],
)
def test_bad_losses_are_refused(
    world: World,
    loss: int | None,
    reason: str | None,
    masses: tuple[int, int],
    status: int,
    rule: str | None,
    field: str,
) -> None:
    parent = gold(world, 20_000)
    body: dict[str, Any] = {"lot": parent, "into": parts(world, *masses)}
    if loss is not None:
        body["loss_mg"] = loss
    if reason is not None:
        body["loss_reason"] = reason
    size, before = world.api.size(), snapshot(engine(world))
    resp = world.api.post(CENTRE, "lot.split", body)
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/problem+json")
    problem = resp.json()
    if rule is not None:
        assert problem["type"].endswith("/" + rule), problem
    assert field in resp.text, problem
    assert world.api.size() == size
    assert snapshot(engine(world)) == before
    assert lot(world, parent)["status"] == "active"


def test_a_loss_reason_is_bounded_text(world: World) -> None:
    parent = gold(world, 20_000)
    for bad in ("x" * 2001, "a\x00b", ""):
        body = {
            "lot": parent,
            "into": parts(world, 10_000, 9_000),
            "loss_mg": 1_000,
            "loss_reason": bad,
        }
        size = world.api.size()
        resp = world.api.post(CENTRE, "lot.split", body)
        assert resp.status_code == 422 and "body.loss_reason" in resp.text, resp.text
        assert world.api.size() == size


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_mass_is_conserved_with_loss(world: World, data: st.DataObject) -> None:
    """Accepted iff parts + loss == the lot (exact integers); then the parts and the
    reported loss add up to the lot, to the milligram."""
    mass = data.draw(st.integers(min_value=2_000, max_value=300_000), label="lot_mg")
    loss = data.draw(st.integers(min_value=0, max_value=mass - 2), label="loss_mg")
    n = data.draw(st.integers(min_value=2, max_value=min(6, mass - loss)), label="parts")
    cuts = sorted(
        data.draw(
            st.lists(
                st.integers(min_value=1, max_value=mass - loss - 1),
                min_size=n - 1,
                max_size=n - 1,
                unique=True,
            ),
            label="cuts",
        )
    )
    masses = [b - a for a, b in zip([0, *cuts], [*cuts, mass - loss], strict=True)]
    off = data.draw(st.sampled_from([0, 0, 1, -1]), label="off by")
    if masses[0] + off < 1:
        off = 0
    masses[0] += off
    parent = gold(world, mass)
    body: dict[str, Any] = {"lot": parent, "into": parts(world, *masses)}
    if loss:
        body.update(loss_mg=loss, loss_reason="cutting")
    size = world.api.size()
    resp = world.api.post(CENTRE, "lot.split", body)
    if off:
        assert resp.status_code == 422, resp.text
        assert resp.json()["type"].endswith("/mass-not-conserved"), resp.text
        assert world.api.size() == size
        return
    assert resp.status_code in (200, 201), resp.text
    got = [lot(world, p["lot"])["mass"] for p in body["into"]]
    assert got == masses
    index = resp.json()["index"]
    losses = get(world, f"/reports/mass-balance?centre={CENTRE}").json()["losses"]
    reported = sum(r["loss_mg"] for r in losses if r["index"] == index)
    assert sum(got) + reported == mass
    assert reported == loss


def test_old_splits_project_and_report_as_before(world: World) -> None:
    """A split logged without the new fields (as every split before them) and one with a
    loss: a rebuild from the log gives the very same projection, and the reports agree."""
    a = gold(world, 10_000)
    world.api.ok(CENTRE, "lot.split", {"lot": a, "into": parts(world, 4_000, 6_000)})
    b = gold(world, 10_000)
    world.api.ok(
        CENTRE,
        "lot.split",
        {"lot": b, "into": parts(world, 4_000, 5_000), "loss_mg": 1_000, "loss_reason": "assay"},
    )
    before = snapshot(engine(world))
    report = get(world, "/reports/mass-balance").json()
    with engine(world).begin() as conn:
        rebuild(conn)
    assert snapshot(engine(world)) == before
    again = get(world, "/reports/mass-balance").json()
    assert again["centres"] == report["centres"] and again["losses"] == report["losses"]


# --- 2. sites lie in Mongolia -------------------------------------------------------------

SITE_BODY = {"owner": MINER, "region": {"aimag": "Töv", "soum": "Zaamar"}}


@pytest.mark.parametrize(
    ("lat", "lon", "field"),
    [
        ("91.64", "48.01", "body.lat"),  # Khovd with lat and lon swapped
        ("48.5", "-106.2", "body.lon"),  # a lost sign: Canada
        ("0.0", "0.0", "body.lat"),  # the default of a GPS without a fix
        ("39.9", "116.4", "body.lat"),  # Beijing
        ("55.75", "37.62", "body.lat"),  # Moscow
        ("47.9", "87.6", "body.lon"),  # just west of the westernmost point
        ("41.49", "105.0", "body.lat"),  # just south of the southernmost point
        ("52.21", "98.9", "body.lat"),  # just north of the northernmost point
        ("46.7", "120.0", "body.lon"),  # just east of the easternmost point
        ("-48.5", "106.2", "body.lat"),
    ],
)
def test_a_site_outside_mongolia_is_refused(world: World, lat: str, lon: str, field: str) -> None:
    body = {**SITE_BODY, "site": world.next("SITE"), "lat": lat, "lon": lon}
    problem = refused(world, REGULATOR, "site.registered", body, 422, "outside-mongolia", field)
    assert "Mongolia" in problem["detail"]


@pytest.mark.parametrize(
    ("lat", "lon"),
    [
        ("47.918", "106.917"),  # Ulaanbaatar
        ("41.583", "105.0"),  # Bor Tolgoi, the southernmost point
        ("52.15", "98.95"),  # Mongol Sharyn Davaa, the northernmost point
        ("49.15", "87.733"),  # Maanit, the westernmost point
        ("46.7", "119.933"),  # Modot Khamar, the easternmost point
        ("41.5", "87.7"),  # the box's own corner, exact
        ("52.2", "119.95"),
    ],
)
def test_a_site_in_mongolia_is_registered(world: World, lat: str, lon: str) -> None:
    world.api.ok(
        REGULATOR,
        "site.registered",
        {**SITE_BODY, "site": world.next("SITE"), "lat": lat, "lon": lon},
    )


# --- 3. long holds are counted to now, not to the end of a future period ----------------------


def test_a_long_hold_counts_to_now_in_a_future_period(world: World) -> None:
    now = datetime.now(UTC).astimezone(ULAANBAATAR)
    held = gold(world, 20_000)
    opened = (now - timedelta(days=23)).replace(microsecond=0)
    world.api.ok(
        REGULATOR,
        "case.opened",
        {
            "occurred_at": opened.isoformat(),
            "case": world.next("HOLD"),
            "kind": "hold",
            "target": {"kind": "lot", "id": held},
            "category": "other",
            "description": "documents missing",
        },
    )
    end = (now + timedelta(days=28)).date()  # a period (this month and the next) not over yet
    start = (now - timedelta(days=40)).date()
    query = f"/reports/red-flags?from={start}&to={end}"

    def holds(hold_days: int) -> list[dict[str, Any]]:
        flags = get(world, f"{query}&hold_days={hold_days}").json()["flags"]
        return [f for f in flags if f["category"] == "long_hold" and f.get("lot") == held]

    # 23 days, not 52: with the default 30 days it is no red flag yet
    assert holds(30) == []
    (flag,) = holds(20)
    assert flag["held_days"] == 23, flag
    assert "in force for 23 days" in flag["description"]
    data = get(world, query).json()
    assert datetime.fromisoformat(data["as_of"]) <= datetime.now(UTC) + timedelta(seconds=5)
    # a period that ended counts to its end, as before
    past_end = (now - timedelta(days=3)).date()
    ended = get(world, f"/reports/red-flags?from={start}&to={past_end}&hold_days=10").json()
    (flag,) = [f for f in ended["flags"] if f["category"] == "long_hold" and f.get("lot") == held]
    assert flag["held_days"] == 20, flag


def test_old_entries_report_the_same(world: World) -> None:
    """An old split (logged below the edge, as before the loss existed) counts no loss."""
    parent = gold(world, 8_000)
    index = append_old(
        world,
        "lot.split",
        CENTRE,
        {
            "occurred_at": "2026-09-14T10:12:00+08:00",
            "lot": parent,
            "into": parts(world, 3_000, 5_000),
        },
    )
    losses = get(world, "/reports/mass-balance").json()["losses"]
    assert all(r["index"] != index for r in losses)
