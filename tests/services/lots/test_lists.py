"""The lists the console and integrators read (README "Lists"): `GET /lots`, `GET /offers`,
`GET /actors/{id}/deliveries`, `GET /actors`, `GET /sites`, through real HTTP on SQLite and
PostgreSQL: filters, keyset pages that return each record exactly once, a non-officer's
own records only, bad cursors and limits as 422 problems naming the parameter, and the
SDK walking every page."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from support.world import BANK, CENTRE, DATABASES, MINER, SITE, World, delivery, populated

OTHER_CENTRE = "centre:mandal"
STRANGER = "buyer:stranger"
ADMIN = "admin:root"
ORE_LOTS = [f"ORE-L{i:02d}" for i in range(12)]  # delivered to CENTRE (besides ORE-1)
OTHER_ORE = ["ORE-M1", "ORE-M2"]  # delivered to OTHER_CENTRE


def _gold(api: Any, centre: str, ore: str, gold: str) -> None:
    api.ok(
        centre,
        "processing.recorded",
        {
            "run": "RUN-" + gold,
            "inputs": [{"lot": ore, "mass_g": 1_000_000}],
            "outputs": [{"lot": gold, "form": "dore", "mass_mg": 12_000}],
            "method": "gravity",
            "mercury_free": True,
            "started_on": "2026-09-02",
            "finished_on": "2026-09-02",
        },
    )


@pytest.fixture(scope="module", params=DATABASES)
def world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    with populated(Path(tmp_path_factory.mktemp("lists")), request.param) as w:
        api = w.api
        api.register(OTHER_CENTRE, "processing_centre")
        api.register(STRANGER, "buyer")
        for lot in ORE_LOTS:
            api.ok(CENTRE, "ore.delivered", delivery(lot, mass_g=1_500_000))
        for lot in OTHER_ORE:
            api.ok(OTHER_CENTRE, "ore.delivered", delivery(lot))
        # gold of CENTRE: AU-1 (from the world), AU-L0 and AU-L1 offered to BANK, AU-L1
        # accepted; OTHER_CENTRE's AU-M1 offered to BANK too
        _gold(api, CENTRE, ORE_LOTS[0], "AU-L0")
        _gold(api, CENTRE, ORE_LOTS[1], "AU-L1")
        _gold(api, OTHER_CENTRE, OTHER_ORE[0], "AU-M1")
        for offer, lot, by in (
            ("OF-0", "AU-L0", CENTRE),
            ("OF-1", "AU-L1", CENTRE),
            ("OF-M", "AU-M1", OTHER_CENTRE),
        ):
            api.ok(by, "transfer.offered", {"offer": offer, "lot": lot, "to": BANK})
        api.ok(BANK, "transfer.accepted", {"offer": "OF-1"})
        yield w


def get(world: World, who: str, path: str, **params: Any) -> Any:
    resp = world.api.client.get(path, params=params, headers=world.api.headers(who))
    assert resp.status_code == 200, resp.text
    return resp.json()


def walk(world: World, who: str, path: str, limit: int, **params: Any) -> list[dict[str, Any]]:
    """Every item of a list, page by page."""
    items: list[dict[str, Any]] = []
    query: dict[str, Any] = {**params, "limit": limit}
    while True:
        page = get(world, who, path, **query)
        assert len(page["items"]) <= limit
        items.extend(page["items"])
        if page["next_cursor"] is None:
            return items
        assert page["items"], "a page before the last is never empty"
        query["cursor"] = page["next_cursor"]


def all_lots(world: World) -> list[dict[str, Any]]:
    return walk(world, ADMIN, "/lots", 200)


# --- GET /lots ----------------------------------------------------------------------------


def test_lots_are_newest_first_with_their_facts(world: World) -> None:
    lots = all_lots(world)
    keys = [(lot["created_index"], lot["lot"]) for lot in lots]
    assert keys == sorted(keys, reverse=True)
    by_id = {lot["lot"]: lot for lot in lots}
    ore = by_id["ORE-L05"]
    assert ore["kind"] == "ore" and ore["unit"] == "g" and ore["mass"] == 1_500_000
    assert ore["custodian"] == CENTRE and ore["owner"] == MINER and ore["status"] == "active"
    assert ore["updated_index"] == ore["created_index"] + 1  # its receipt, issued at once
    used = by_id["ORE-L00"]
    assert used["remaining"] == 500_000 and used["updated_index"] > used["created_index"]
    assert by_id["AU-L1"]["owner"] == BANK


def test_filters(world: World) -> None:
    lots = all_lots(world)
    for params, keep in (
        ({"custodian": CENTRE}, lambda x: x["custodian"] == CENTRE),
        ({"owner": BANK}, lambda x: x["owner"] == BANK),
        ({"kind": "gold"}, lambda x: x["kind"] == "gold"),
        ({"status": "closed"}, lambda x: x["status"] == "closed"),
        (
            {"custodian": CENTRE, "kind": "ore"},
            lambda x: x["custodian"] == CENTRE and x["kind"] == "ore",
        ),
    ):
        want = [x["lot"] for x in lots if keep(x)]
        assert want, params
        assert [x["lot"] for x in walk(world, ADMIN, "/lots", 200, **params)] == want


def test_a_party_lists_only_its_lots(world: World) -> None:
    lots = {x["lot"] for x in walk(world, CENTRE, "/lots", 200)}
    assert {"ORE-1", "AU-1", "AU-L0", *ORE_LOTS} <= lots
    assert "AU-L1" in lots  # sold to BANK: the centre was a side of its offer
    assert not lots & {"ORE-M1", "ORE-M2", "AU-M1"}
    bank = {x["lot"] for x in walk(world, BANK, "/lots", 200)}
    assert bank == {"AU-L0", "AU-L1", "AU-M1"}  # offered to it (one accepted)
    miner = {x["lot"] for x in walk(world, MINER, "/lots", 200, kind="ore")}
    assert miner == {"ORE-1", *ORE_LOTS, *OTHER_ORE}


def test_a_stranger_sees_nothing_of_anothers_lots(world: World) -> None:
    assert get(world, STRANGER, "/lots")["items"] == []
    for params in ({"custodian": CENTRE}, {"owner": BANK}, {"kind": "gold"}):
        assert get(world, STRANGER, "/lots", **params) == {"items": [], "next_cursor": None}
    # another centre filtering for this centre's lots sees only what it is a party to
    assert get(world, OTHER_CENTRE, "/lots", custodian=CENTRE)["items"] == []


@settings(
    max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(limit=st.integers(min_value=1, max_value=9))
def test_walking_every_page_returns_each_lot_once(world: World, limit: int) -> None:
    everything = [x["lot"] for x in all_lots(world)]
    assert [x["lot"] for x in walk(world, ADMIN, "/lots", limit)] == everything
    mine = [x["lot"] for x in walk(world, CENTRE, "/lots", 200)]
    paged = [x["lot"] for x in walk(world, CENTRE, "/lots", limit)]
    assert paged == mine and len(set(paged)) == len(paged)


# --- GET /offers --------------------------------------------------------------------------


def test_a_buyers_inbox_lists_the_offers_made_to_it(world: World) -> None:
    inbox = get(world, BANK, "/offers", to=BANK, status="open")
    assert [o["offer"] for o in inbox["items"]] == ["OF-M", "OF-0"]
    assert all(o["to"] == BANK and o["status"] == "open" for o in inbox["items"])
    every = [o["offer"] for o in walk(world, BANK, "/offers", 1, to=BANK)]
    assert every == ["OF-M", "OF-1", "OF-0"]
    assert [o["offer"] for o in walk(world, CENTRE, "/offers", 1)] == ["OF-1", "OF-0"]
    assert [
        o["offer"] for o in get(world, ADMIN, "/offers", **{"from": OTHER_CENTRE})["items"]
    ] == ["OF-M"]
    # a stranger asking for BANK's inbox gets an empty list, not an error
    assert get(world, STRANGER, "/offers", to=BANK)["items"] == []
    assert get(world, OTHER_CENTRE, "/offers", to=BANK)["items"][0]["offer"] == "OF-M"


# --- bad cursor, bad limit ----------------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["/lots", "/offers", "/actors", "/sites", f"/actors/{MINER}/deliveries"]
)
@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"cursor": "not-a-cursor"}, "cursor"),
        ({"cursor": "WzEsMiwzXQ"}, "cursor"),  # [1,2,3]: a key of the wrong shape
        ({"limit": 0}, "limit"),
        ({"limit": 201}, "limit"),
        ({"limit": "many"}, "limit"),
    ],
)
def test_a_bad_cursor_or_limit_is_a_problem_naming_it(
    world: World, path: str, params: dict[str, Any], field: str
) -> None:
    resp = world.api.client.get(path, params=params, headers=world.api.headers(ADMIN))
    assert resp.status_code == 422, resp.text
    assert resp.headers["content-type"].startswith("application/problem+json")
    assert resp.json()["field"] == field


# --- deliveries, actors, sites --------------------------------------------------------------


def test_a_miners_deliveries(world: World) -> None:
    mine = walk(world, MINER, f"/actors/{MINER}/deliveries", 5)
    assert [d["lot"] for d in mine][:3] == ["ORE-M2", "ORE-M1", "ORE-L11"]
    assert len(mine) == 1 + len(ORE_LOTS) + len(OTHER_ORE)
    first = next(d for d in mine if d["lot"] == "ORE-L03")
    assert first["site"] == SITE and first["centre"] == CENTRE and first["mass_g"] == 1_500_000
    assert first["mined_on"] == "2026-09-01" and first["occurred_at"].startswith("2026-")
    receipts = get(world, MINER, "/lots/ORE-L03/certificates")["certificates"]
    assert first["receipt"] == receipts[0]["id"]
    centre = {d["lot"] for d in walk(world, CENTRE, f"/actors/{MINER}/deliveries", 200)}
    assert centre == {"ORE-1", *ORE_LOTS}  # its own deliveries only
    assert walk(world, ADMIN, f"/actors/{MINER}/deliveries", 200) == mine
    for who in (STRANGER, BANK):
        resp = world.api.client.get(f"/actors/{MINER}/deliveries", headers=world.api.headers(who))
        world.refused(resp, 404, "unknown-actor", "actor_id")


def test_actors_for_pickers(world: World) -> None:
    every = walk(world, ADMIN, "/actors", 3)
    ids = [a["actor"] for a in every]
    assert ids == sorted(ids) and {CENTRE, BANK, STRANGER, MINER} <= set(ids)
    assert set(every[0]) == {"actor", "role", "buyer_kind", "status"}
    centres = {a["actor"] for a in walk(world, ADMIN, "/actors", 50, role="processing_centre")}
    assert centres == {CENTRE, OTHER_CENTRE}
    # a centre: itself and those it trades with (the partnership, the bank), as
    # GET /actors/{id} lets it read them; a stranger: itself
    assert {a["actor"] for a in walk(world, CENTRE, "/actors", 2)} == {CENTRE, MINER, BANK}
    assert [a["actor"] for a in walk(world, STRANGER, "/actors", 50)] == [STRANGER]


def test_sites_for_pickers(world: World) -> None:
    sites = get(world, ADMIN, "/sites", owner=MINER)["items"]
    assert sites == [
        {
            "site": SITE,
            "owner": MINER,
            "region": {"aimag": "Töv", "soum": "Bornuur"},
            "status": "active",
        }
    ]
    assert get(world, MINER, "/sites")["items"] == sites
    assert get(world, CENTRE, "/sites")["items"] == []
    assert get(world, CENTRE, "/sites", owner=MINER)["items"] == []


# --- history, downstream --------------------------------------------------------------------


def test_history_says_when_and_what(world: World) -> None:
    events = get(world, CENTRE, "/lots/ORE-L00/history")["events"]
    assert [e["type"] for e in events] == [
        "ore.delivered",
        "certificate.issued",
        "processing.recorded",
    ]
    assert events[0]["occurred_at"] == events[2]["occurred_at"] == "2026-09-14T10:12:00+08:00"
    assert events[1]["summary"].startswith("ore receipt ") and events[1]["occurred_at"]
    assert events[0]["summary"] == (
        f"ore delivered: 1,500,000 g from {MINER} at site {SITE} to {CENTRE}"
    )
    assert events[2]["summary"] == f"processed by {CENTRE} in run RUN-AU-L0: 1,000,000 g used"
    gold = get(world, BANK, "/lots/AU-L1/history")["events"]
    assert [e["summary"] for e in gold] == [
        f"made by {CENTRE} in run RUN-AU-L1: 12,000 mg of dore from 1 ore lot(s), mercury-free",
        f"offered by {CENTRE} to {BANK} (offer OF-1)",
        f"offer OF-1 accepted by {BANK}",
    ]


def test_a_centres_downstream_is_its_lots_onward(world: World) -> None:
    found = get(world, CENTRE, f"/actors/{CENTRE}/downstream")["downstream"]
    lots = {d["lot"]: d for d in found}
    assert {"ORE-1", "AU-1", "AU-L0", "AU-L1", *ORE_LOTS} == set(lots)
    assert lots["AU-L1"]["depth"] == 1 and lots["AU-L1"]["owner"] == BANK
    assert get(world, BANK, f"/actors/{BANK}/downstream")["downstream"] == []


# --- the SDK ----------------------------------------------------------------------------------


def test_the_sdk_walks_every_page(world: World) -> None:
    from clients.sdk import AltanClient

    def client(who: str) -> AltanClient:
        return AltanClient(
            "http://testserver",
            world.api.tokens[who],
            transport=world.api.client._transport,
            backoff=0,
        )

    admin, centre, bank, miner = client(ADMIN), client(CENTRE), client(BANK), client(MINER)
    assert [x["lot"] for x in admin.lots(page_size=2)] == [x["lot"] for x in all_lots(world)]
    assert {x["lot"] for x in centre.lots(kind="ore", page_size=3)} == {"ORE-1", *ORE_LOTS}
    assert [o["offer"] for o in bank.offers(to=BANK, status="open", page_size=1)] == [
        "OF-M",
        "OF-0",
    ]
    assert [o["offer"] for o in admin.offers(from_=OTHER_CENTRE)] == ["OF-M"]
    assert len(list(miner.deliveries(MINER, page_size=4))) == 1 + len(ORE_LOTS) + len(OTHER_ORE)
    assert {a["actor"] for a in admin.actors(role="buyer", page_size=1)} == {BANK, STRANGER}
    assert [s["site"] for s in miner.sites()] == [SITE]
    assert centre.lot_history("ORE-L01")[0]["summary"].startswith("ore delivered: 1,500,000 g")
