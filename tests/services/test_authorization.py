"""Who may do what, enforced by the server: the role x action matrix, and the reads that
depend on a relationship (a party to a lot or offer) rather than a role. (Issue 11: a
record a caller may not read answers 404, exactly as an absent one does.)"""

from __future__ import annotations

from pathlib import Path

import pytest

from ledger.commitment import commit, new_salt
from support.domain import Api, running_api
from support.roles import MAY_RECORD, ROLES
from support.world import ore_to_gold


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    with running_api(Path(tmp_path_factory.mktemp("authz"))) as api:
        for role, actor in ROLES.items():
            if role != "administrator":
                api.register(actor, role)
        api.ok(
            "regulator:tov",
            "site.registered",
            {
                "site": "SITE-1",
                "owner": "partnership:tuul",
                "region": {"aimag": "Töv", "soum": "Bornuur"},
                "lat": "48.5",
                "lon": "106.2",
            },
        )
        ore_to_gold(api)
        price = {"amount": "215000.00", "currency": "MNT"}
        salt = new_salt()
        api.ok(
            "centre:bornuur",
            "transfer.offered",
            {
                "offer": "OFFER-1",
                "lot": "AU-1",
                "to": "buyer:mongolbank",
                "price_commitment": commit(salt, price),
            },
            private={"price": price, "salt": salt.hex()},
        )
        api.register("buyer:stranger", "buyer")
        yield api


@pytest.mark.parametrize("event_type", sorted(MAY_RECORD))
@pytest.mark.parametrize("role", sorted(ROLES))
def test_role_matrix(world: Api, role: str, event_type: str) -> None:
    before = world.size()
    # An empty body: the role check comes first, so a permitted role fails later (on the
    # body) and a forbidden one is stopped at once, whatever the body says.
    resp = world.post(ROLES[role], event_type, {})
    problem = resp.json()
    if role in MAY_RECORD[event_type]:
        assert not problem["type"].endswith("/role-not-allowed"), problem
    else:
        assert resp.status_code == 403, problem
        assert problem["type"].endswith("/role-not-allowed")
        assert problem["field"] == "type"
    assert world.size() == before


def test_every_event_type_is_in_the_matrix() -> None:
    from schemas.events import EVENT_BODIES

    assert set(MAY_RECORD) == set(EVENT_BODIES)


@pytest.mark.parametrize(
    ("actor", "status"),
    [
        ("admin:root", 200),
        ("regulator:tov", 200),
        ("auditor:federation", 200),
        ("centre:bornuur", 200),  # custodian
        ("buyer:mongolbank", 200),  # offered to
        ("partnership:tuul", 404),  # the ore was theirs; this gold lot is the centre's
        ("buyer:stranger", 404),
        ("lab:darkhan", 404),
    ],
)
def test_who_may_read_a_lot(world: Api, actor: str, status: int) -> None:
    assert world.client.get("/lots/AU-1", headers=world.headers(actor)).status_code == status


@pytest.mark.parametrize(
    ("actor", "sees_price"),
    [
        ("centre:bornuur", True),
        ("buyer:mongolbank", True),
        ("auditor:federation", True),
        ("regulator:tov", True),
        ("admin:root", False),  # the administrator runs the system, not the market
    ],
)
def test_prices_are_for_the_parties_auditors_and_regulators(
    world: Api, actor: str, sees_price: bool
) -> None:
    resp = world.client.get("/offers/OFFER-1", headers=world.headers(actor))
    assert resp.status_code == 200
    assert ("price" in resp.json()) is sees_price
    assert (
        world.client.get("/offers/OFFER-1", headers=world.headers("buyer:stranger")).status_code
        == 404
    )


def test_miners_read_their_own_ore_lots(world: Api) -> None:
    assert (
        world.client.get("/lots/ORE-1", headers=world.headers("partnership:tuul")).status_code
        == 200
    )
    assert (
        world.client.get(
            "/actors/partnership:tuul/downstream", headers=world.headers("partnership:tuul")
        ).status_code
        == 200
    )
    assert (
        world.client.get(
            "/actors/partnership:tuul/downstream", headers=world.headers("buyer:stranger")
        ).status_code
        == 404
    )


def test_only_officers_and_self_read_personal_data(world: Api) -> None:
    for actor, status in [
        ("admin:root", 404),
        ("regulator:tov", 404),
        ("miner:bat", 404),
        ("buyer:stranger", 403),
        ("auditor:federation", 403),
    ]:
        resp = world.client.get("/actors/miner:bat/personal", headers=world.headers(actor))
        assert resp.status_code == status, (actor, resp.text)


def test_tokens_are_issued_by_those_who_may(world: Api) -> None:
    ok = world.client.post(
        "/actors/miner:bat/tokens", json={"label": "x"}, headers=world.headers("regulator:tov")
    )
    assert ok.status_code == 201
    for actor, target, status in [
        ("regulator:tov", "auditor:federation", 403),
        # to those who may not read the actor, the same 404 as an absent one
        ("buyer:stranger", "miner:bat", 404),
        ("centre:bornuur", "admin:root", 404),
    ]:
        resp = world.client.post(
            f"/actors/{target}/tokens", json={"label": "x"}, headers=world.headers(actor)
        )
        assert resp.status_code == status, (actor, target)


def test_a_sites_history_lists_its_entries(world: Api) -> None:
    resp = world.client.get("/sites/SITE-1/history", headers=world.headers("auditor:federation"))
    assert resp.status_code == 200
    events = resp.json()["events"]
    assert [e["type"] for e in events] == ["site.registered", "ore.delivered"]
    assert events == sorted(events, key=lambda e: e["index"])
    missing = world.client.get("/sites/NOPE/history", headers=world.headers("admin:root"))
    assert missing.status_code == 404
