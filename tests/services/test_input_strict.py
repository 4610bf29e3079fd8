"""Strict input at the edge (issue 11, findings 2, 3 and 9), through real HTTP on SQLite and
PostgreSQL: every refusal is a 4xx problem naming the field and the rule, never a 5xx, and
the log does not grow.

Then a hypothesis run over every event type's body with hostile values (control
characters, impossible times, wrong types, deep nesting) asserts the same of all of them.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger.commitment import commit, new_salt
from schemas.events import EVENT_BODIES
from services.bodies import MAX_DEPTH, json_depth
from support.domain import WHEN, running_api
from support.roles import MAY_RECORD, ROLES
from support.world import (
    BANK,
    CENTRE,
    DATABASES,
    LAB,
    MINER,
    World,
    delivery,
    populated,
)

NUL = "a\x00b"


@pytest.fixture(scope="module", params=DATABASES)
def world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    with populated(Path(tmp_path_factory.mktemp("strict")), request.param) as w:
        yield w


def post_raw(
    world: World, actor: str, payload: bytes, path: str = "/events", **headers: str
) -> Any:
    return world.api.client.post(
        path,
        content=payload,
        headers=world.api.headers(actor, **{"Content-Type": "application/json", **headers}),
    )


def reports_answer(world: World) -> None:
    """Every report still answers (a bad time once broke them all with a 500)."""
    admin = world.api.headers("admin:root")
    for path in ("/reports/mass-balance", "/reports/red-flags", "/reports", "/epcis/events"):
        resp = world.api.client.get(path, headers=admin)
        assert resp.status_code == 200, (path, resp.text)


# -- finding 2: times and dates --------------------------------------------------------------

BAD_MOMENTS = [
    "2026-09-14T23:59:60+08:00",  # a leap second Python cannot hold
    "2026-09-14T24:00+08:00",
    "2026-09-14T25:12+08:00",
    "2026-09-14T10:12:00+99:99",
    "2026-09-14T10:12:00+15:00",  # no place is 15 hours ahead of UTC
    "2026-02-29T10:12:00+08:00",  # not a leap year
    "2026-13-45T99:99+99:99",
    "2026-09-14 10:12:00+08:00",
    "2026-09-14T10:12:00",  # no offset
    "1999-12-31T23:59:59Z",  # before the floor
]


@pytest.mark.parametrize("moment", BAD_MOMENTS)
def test_impossible_times_are_refused(world: World, moment: str) -> None:
    size = world.api.size()
    resp = world.api.post(
        CENTRE, "ore.delivered", {**delivery(world.next("ORE")), "occurred_at": moment}
    )
    assert resp.status_code == 422, resp.text
    assert resp.json()["field"] == "body.occurred_at", resp.json()
    assert resp.json()["type"].rsplit("/", 1)[1].startswith("invalid-date-time"), resp.json()
    resp = world.api.post(
        LAB, "assay.recorded", {"lot": "AU-1", "fineness_ppt": 900, "occurred_at": moment}
    )
    assert resp.status_code == 422 and resp.json()["field"] == "body.occurred_at", resp.text
    assert world.api.size() == size
    reports_answer(world)


@pytest.mark.parametrize("day", ["2026-02-30", "2026-13-01", "1999-12-31", "26-09-01", "2026-9-1"])
def test_impossible_mined_on_is_refused(world: World, day: str) -> None:
    size = world.api.size()
    resp = world.api.post(CENTRE, "ore.delivered", delivery(world.next("ORE"), mined_on=day))
    assert resp.status_code == 422 and resp.json()["field"] == "body.mined_on", resp.text
    assert world.api.size() == size


def test_future_times_are_refused_beyond_the_clock_skew(world: World) -> None:
    now = datetime.now(UTC)
    size = world.api.size()
    for when in (now + timedelta(minutes=10), datetime(2030, 1, 1, tzinfo=UTC)):
        resp = world.api.post(
            CENTRE,
            "ore.delivered",
            {**delivery(world.next("ORE")), "occurred_at": when.isoformat()},
        )
        world.refused(resp, 422, "in-the-future", "body.occurred_at")
    resp = world.api.post(
        CENTRE, "ore.delivered", delivery(world.next("ORE"), mined_on="2030-01-01")
    )
    world.refused(resp, 422, "in-the-future", "body.mined_on")
    assert world.api.size() == size
    # a device's clock a little fast is fine (300 s allowed by default)
    soon = (now + timedelta(minutes=2)).astimezone().isoformat(timespec="seconds")
    world.api.ok(CENTRE, "ore.delivered", {**delivery(world.next("ORE")), "occurred_at": soon})


# -- finding 3: control characters, lengths, salts, depth --------------------------------------


def test_nul_in_every_stored_text_is_refused(world: World) -> None:
    api, size = world.api, world.api.size()
    admin = api.headers("admin:root")
    resp = api.client.post(f"/actors/{CENTRE}/tokens", json={"label": NUL}, headers=admin)
    world.refused(resp, 422, "validation-error", "label")
    resp = api.client.post(f"/actors/{MINER}/personal/erasure", json={"reason": NUL}, headers=admin)
    world.refused(resp, 422, "validation-error", "reason")
    cases = [
        (CENTRE, "case.responded", {"case": "CASE-1", "response": NUL}, "body.response"),
        (
            ROLES["regulator"],
            "actor.status_changed",
            {"actor": BANK, "status": "active", "reason": NUL},
            "body.reason",
        ),
        (
            ROLES["regulator"],
            "actor.registered",
            {"actor": "miner:nul", "role": "miner", "region": {"aimag": "Töv", "soum": NUL}},
            "body.region.soum",
        ),
        (
            ROLES["regulator"],
            "case.opened",
            {
                "case": "CASE-NUL",
                "kind": "hold",
                "target": {"kind": "lot", "id": "AU\x00"},
                "category": "other",
                "description": "x",
            },
            "body.target.id",
        ),
        (CENTRE, "ore.delivered", delivery("ORE-NUL", notes="bidi \u202e txet"), "body.notes"),
        (CENTRE, "ore.delivered", delivery("ORE-NUL", notes="   "), "body.notes"),
    ]
    for actor, type_, body, field in cases:
        resp = api.post(actor, type_, body)
        assert resp.status_code == 422, (type_, resp.text)
        assert resp.json()["field"] == field, resp.json()
    # the price note is private data, kept off the log in a text column
    price = {"amount": "215000.00", "currency": "MNT", "note": NUL}
    salt = new_salt()
    resp = api.post(
        CENTRE,
        "transfer.offered",
        {"offer": "OFFER-NUL", "lot": "AU-1", "to": BANK, "price_commitment": commit(salt, price)},
        private={"price": price, "salt": salt.hex()},
    )
    world.refused(resp, 422, "validation-error", "private")
    # the idempotency key of a batch item, and the header
    item = {"type": "ore.delivered", "body": {"occurred_at": WHEN, **delivery("ORE-K")}}
    resp = api.client.post(
        "/events/batch",
        json={"items": [{**item, "idempotency_key": NUL}]},
        headers=api.headers(CENTRE),
    )
    world.refused(resp, 422, "validation-error", "items.0.idempotency_key")
    resp = api.post(
        CENTRE, "ore.delivered", delivery("ORE-K"), headers={"Idempotency-Key": "a\x01b"}
    )
    assert resp.status_code == 422, resp.text
    assert api.size() == size


def test_nul_in_a_path_is_not_found(world: World) -> None:
    for path in ("/lots/%00", "/lots/AU%00-1", "/actors/%00", "/cases/%00"):
        resp = world.api.client.get(path, headers=world.api.headers("admin:root"))
        assert resp.status_code in (400, 404, 422), (path, resp.status_code, resp.text)


def test_salt_must_be_plain_hex(world: World) -> None:
    size = world.api.size()
    price = {"amount": "1.00", "currency": "MNT"}
    salt = new_salt()
    spaced = " ".join(salt.hex()[i : i + 2] for i in range(0, 64, 2))  # bytes.fromhex takes it
    for written in (spaced, salt.hex().upper(), salt.hex()[:62]):
        resp = world.api.post(
            CENTRE,
            "transfer.offered",
            {
                "offer": world.next("OFFER"),
                "lot": "AU-1",
                "to": BANK,
                "price_commitment": commit(salt, price),
            },
            private={"price": price, "salt": written},
        )
        world.refused(resp, 422, "validation-error", "private")
    assert world.api.size() == size


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 450, 5000])
def test_deep_json_is_refused_before_parsing(world: World, depth: int) -> None:
    size = world.api.size()
    deep = "[" * depth + "]" * depth
    head = json.dumps({"occurred_at": WHEN, **delivery("ORE-D")})[:-1]
    for payload in (
        f'{{"type": "ore.delivered", "body": {head}, "x": {deep}}}}}',
        f'{{"type": "ore.delivered", "body": {head}}}, "private": {{"a": {deep}}}}}',
    ):
        resp = post_raw(world, CENTRE, payload.encode(), **{"Idempotency-Key": world.next("K")})
        world.refused(resp, 400, "too-deep", "body")
    assert world.api.size() == size


def test_json_depth_counts_brackets_outside_strings_only() -> None:
    assert json_depth(b'{"a": "[[[[{{{{", "b": [1, {"c": "\\"]]]["}]}') == 3
    assert json_depth(b"[" * 100 + b"]" * 100, limit=10) == 11
    assert json_depth(b'"\\\\"') == 0


# -- finding 9: lax JSON ------------------------------------------------------------------------


def test_duplicate_keys_are_refused(world: World) -> None:
    size = world.api.size()
    body = json.dumps({"occurred_at": WHEN, **delivery("ORE-DUP")})
    for payload in (
        f'{{"type": "ore.delivered", "body": {body[:-1]}, "mass_g": 1}}}}',  # inside the body
        f'{{"type": "ore.delivered", "type": "assay.recorded", "body": {body}}}',
    ):
        world.refused(post_raw(world, CENTRE, payload.encode()), 400, "duplicate-key")
    resp = world.api.client.post(
        f"/actors/{CENTRE}/tokens",
        content=b'{"label": "a", "label": "b"}',
        headers=world.api.headers("admin:root", **{"Content-Type": "application/json"}),
    )
    world.refused(resp, 400, "duplicate-key", "label")
    assert world.api.size() == size


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-32", "utf-8-sig"])
def test_only_utf8_bodies(world: World, encoding: str) -> None:
    size = world.api.size()
    payload = json.dumps(
        {"type": "ore.delivered", "body": {"occurred_at": WHEN, **delivery("ORE-U")}}
    )
    resp = post_raw(world, CENTRE, payload.encode(encoding))
    assert resp.status_code == 400, resp.text
    # without a byte order mark, UTF-16-LE's NUL bytes are UTF-8, but not JSON
    assert resp.json()["type"].rsplit("/", 1)[1] in ("not-utf8", "invalid-json"), resp.text
    assert world.api.size() == size


def test_nan_is_not_a_number(world: World) -> None:
    payload = b'{"type": "ore.delivered", "body": {"mass_g": NaN}}'
    world.refused(post_raw(world, CENTRE, payload), 400, "not-a-number")


def test_no_coercion_of_booleans(world: World) -> None:
    size = world.api.size()
    item = {"type": "ore.delivered", "body": {"occurred_at": WHEN, **delivery(world.next("ORE"))}}
    for atomic in ("yes", "true", 1, "1"):
        resp = world.api.client.post(
            "/events/batch",
            json={"items": [item], "atomic": atomic},
            headers=world.api.headers(CENTRE),
        )
        world.refused(resp, 422, "validation-error", "atomic")
    assert world.api.size() == size


def test_one_key_twice_in_a_batch_gives_the_first_receipt(world: World) -> None:
    api = world.api
    size = api.size()
    item = {
        "type": "ore.delivered",
        "body": {"occurred_at": WHEN, **delivery(world.next("ORE"))},
        "idempotency_key": world.next("KEY"),
    }
    resp = api.client.post(
        "/events/batch", json={"items": [item, item]}, headers=api.headers(CENTRE)
    )
    assert resp.status_code == 200, resp.text
    first, second = resp.json()["results"]
    assert first["status"] == 201 and second["status"] == 200, resp.json()
    assert second["recorded"] == first["recorded"]
    # recorded once, then the append's state.root
    assert api.size() == size + 1 + len(first["recorded"]["derived"]) + 1
    # the same key with another request in one batch: the second is a conflict, alone
    other = {
        **item,
        "body": {**item["body"], "lot": world.next("ORE")},
        "idempotency_key": world.next("KEY"),
    }
    changed = {**other, "body": {**other["body"], "lot": world.next("ORE")}}
    resp = api.client.post(
        "/events/batch", json={"items": [other, changed]}, headers=api.headers(CENTRE)
    )
    first, second = resp.json()["results"]
    assert first["status"] == 201 and second["status"] == 409, resp.json()
    assert second["problem"]["type"].endswith("/idempotency-key-reused")
    assert second["problem"]["field"] == "items.1.idempotency_key"


def test_a_newline_in_a_path_cannot_forge_a_log_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with running_api(tmp_path, log_format="text", access_log=True) as api:
        capsys.readouterr()
        api.client.get("/lots/x%0A2026-01-01 INFO forged line", headers=api.headers("admin:root"))
        err = capsys.readouterr().err
    assert "GET /lots/x\\n2026-01-01 INFO forged line 404" in err, err
    assert not any(line.startswith("2026-01-01 INFO forged") for line in err.splitlines()), err


# -- the database refuses what the edge let through: a 4xx, logged without parameters ----------


def test_database_data_errors_are_a_4xx(world: World, caplog: pytest.LogCaptureFixture) -> None:
    """Below the edge (a check missed): the database refuses a value. The catch-all answers
    422 (nothing recorded) and logs the refusal without the value."""
    from sqlalchemy.exc import DataError

    app = world.api.client.app
    route_path = "/__test_data_error"

    def boom() -> None:
        raise DataError(
            "INSERT INTO x VALUES (%(v)s)", {"v": "SECRET-NATIONAL-ID"}, ValueError("NUL")
        )

    app.add_api_route(route_path, boom)  # type: ignore[attr-defined]
    try:
        with caplog.at_level(logging.ERROR):
            resp = world.api.client.get(route_path)
    finally:
        app.router.routes[:] = [
            r for r in app.router.routes if getattr(r, "path", "") != route_path
        ]  # type: ignore[attr-defined]
    world.refused(resp, 422, "invalid-value")
    assert "SECRET-NATIONAL-ID" not in caplog.text and "database refused a value" in caplog.text


# -- the hunt: every event type's body, hostile values -------------------------------------------

HOSTILE = st.one_of(
    st.text(alphabet=st.characters(codec="utf-8", categories=["Cc", "Zs", "Cf", "L"]), max_size=8),
    st.sampled_from(
        [NUL, "\n", "\u202e", " ", "", "x" * 3000, *BAD_MOMENTS, "2026-02-30", "2999-01-01", "0"]
    ),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.booleans(),
    st.none(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=3), st.text(max_size=3), max_size=2),
)


def _actor_for(type_: str) -> str:
    roles = sorted(MAY_RECORD.get(type_) or {"administrator"})
    return ROLES[roles[0]]


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    type_=st.sampled_from(sorted(EVENT_BODIES)),
    base=st.sampled_from([{}, delivery("ORE-F"), {"lot": "AU-1", "case": "CASE-1", "offer": "O"}]),
    field=st.one_of(
        st.sampled_from(["occurred_at", "lot", "reason", "mined_on", "mass_g", "x"]),
        st.text(max_size=5),
    ),
    value=HOSTILE,
    private=st.one_of(st.none(), st.fixed_dictionaries({"salt": HOSTILE, "price": HOSTILE})),
)
def test_hostile_bodies_never_5xx_nor_grow_the_log(
    world: World, type_: str, base: dict[str, Any], field: str, value: Any, private: Any
) -> None:
    api = world.api
    size = api.size()
    body = {"occurred_at": WHEN, **base, field: value}
    payload: dict[str, Any] = {"type": type_, "body": body}
    if private is not None:
        payload["private"] = private
    resp = api.client.post("/events", json=payload, headers=api.headers(_actor_for(type_)))
    assert resp.status_code < 500, resp.text
    if resp.status_code >= 400:
        assert api.size() == size, resp.text
        problem = resp.json()
        assert problem["type"] and problem["detail"], problem
        if resp.status_code == 422:
            assert problem.get("field"), problem
