"""Staff accounts, console sessions, CSRF, the sign-in rate limit and passkeys, over HTTP
through the app, on SQLite and PostgreSQL; and the log entry's `staff` field."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import Depends
from hypothesis import given
from hypothesis import strategies as st

from ledger.entry import Entry, Event
from ledger.errors import MalformedInput
from services.identity import Principal
from services.pipeline.service import Submission
from services.staff import passwords
from services.staff.sessions import SESSION_COOKIE, require_staff
from support.reliability import audit_database
from support.staff import (
    CENTRE,
    DATABASES,
    OTHER_CENTRE,
    PASSWORD,
    SoftAuthenticator,
    StaffApi,
    staff_api,
)


@pytest.fixture(params=DATABASES)
def world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StaffApi]:
    with staff_api(tmp_path, request.param) as w:
        yield w


def refused(resp: Any, status: int, rule: str, field: str | None = None) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/problem+json"), resp.text
    problem: dict[str, Any] = resp.json()
    assert problem["type"].endswith("/" + rule), problem
    if field is not None:
        assert problem.get("field") == field, problem
    return problem


# -- accounts --------------------------------------------------------------------------------


def test_who_may_create_staff(world: StaffApi) -> None:
    # the system administrator's token, for any actor; the actor's own token, for itself
    admin = world.made("admin:root", CENTRE, "bat.admin", is_admin=True)
    assert admin["id"].startswith("stf_") and len(admin["id"]) == 20
    assert admin["actor"] == CENTRE and admin["is_admin"] is True
    world.made(CENTRE, CENTRE, "dorj.clerk")
    refused(world.create(CENTRE, OTHER_CENTRE, "intruder"), 404, "unknown-actor", "actor")
    # the actor's administrator, through a session (with its CSRF token)
    browser, csrf = world.signed_in("bat.admin")
    body = {"actor": CENTRE, "username": "saraa", "display_name": "Сараа", "password": PASSWORD}
    made = browser.post("/app/staff", json=body, headers={"X-CSRF-Token": csrf})
    assert made.status_code == 201, made.text
    # ... but not for another actor
    other = {**body, "actor": OTHER_CENTRE, "username": "saraa2"}
    refused(
        browser.post("/app/staff", json=other, headers={"X-CSRF-Token": csrf}), 404, "unknown-actor"
    )
    # a clerk who is not its actor's administrator creates no one
    clerk, clerk_csrf = world.signed_in("dorj.clerk")
    again = {**body, "username": "tuya"}
    refused(
        clerk.post("/app/staff", json=again, headers={"X-CSRF-Token": clerk_csrf}),
        403,
        "not-allowed",
    )
    # the list: never a hash
    listed = world.client.get("/staff", params={"actor": CENTRE}, headers=world.api.headers(CENTRE))
    assert listed.status_code == 200, listed.text
    assert {s["username"] for s in listed.json()["staff"]} == {"bat.admin", "dorj.clerk", "saraa"}
    assert "argon2" not in listed.text and "password" not in listed.text
    # signed-in staff read their actor's list; another actor's token does not
    assert browser.get("/staff", params={"actor": CENTRE}).status_code == 200
    refused(
        world.client.get(
            "/staff", params={"actor": CENTRE}, headers=world.api.headers(OTHER_CENTRE)
        ),
        404,
        "unknown-actor",
    )


def test_the_password_and_username_rules(world: StaffApi) -> None:
    refused(world.create(CENTRE, CENTRE, "bat", password="short"), 422, "weak-password", "password")
    refused(
        world.create(CENTRE, CENTRE, "bat", password="x" * 257), 422, "weak-password", "password"
    )
    refused(
        world.create(CENTRE, CENTRE, "Long.Username", password="long.username"),
        422,
        "password-is-username",
        "password",
    )
    refused(world.create(CENTRE, CENTRE, "a b"), 422, "bad-username", "username")
    refused(world.create(CENTRE, CENTRE, "x" * 65), 422, "bad-username", "username")
    # usernames are NFKC and lower case: "ＢＡＴ" (full width) is "bat"
    assert world.made(CENTRE, CENTRE, "ＢＡＴ")["username"] == "bat"
    refused(world.create(CENTRE, CENTRE, "Bat"), 409, "username-taken", "username")
    problem = world.client.post(
        "/staff",
        json={"actor": CENTRE, "username": "bold", "display_name": "Болд", "password": "short"},
        headers={**world.api.headers(CENTRE), "Accept-Language": "mn"},
    ).json()
    assert problem["detail"] and problem["detail"] != problem["title"]


def test_sign_in_sign_out_and_the_cookie(world: StaffApi) -> None:
    world.made(CENTRE, CENTRE, "bat")
    browser = world.browser()
    resp = world.sign_in(browser, "BAT", PASSWORD)  # the name as typed, normalised
    assert resp.status_code == 200, resp.text
    who = resp.json()
    assert who["actor"] == CENTRE and who["role"] == "processing_centre"
    cookie = resp.headers["set-cookie"]
    assert cookie.startswith(f"{SESSION_COOKIE}=")
    flags = {part.strip().lower() for part in cookie.split(";")}
    assert {"httponly", "samesite=strict", "path=/"} <= flags
    assert "secure" not in flags  # plain http
    assert browser.get("/app/session").json()["staff"] == who["staff"]
    # sign-out needs the CSRF token; then the old cookie opens nothing
    value = browser.cookies[SESSION_COOKIE]
    refused(browser.delete("/app/session"), 403, "csrf-failed")
    refused(browser.delete("/app/session", headers={"X-CSRF-Token": "wrong"}), 403, "csrf-failed")
    assert (
        browser.delete("/app/session", headers={"X-CSRF-Token": who["csrf_token"]}).status_code
        == 204
    )
    thief = world.browser()
    thief.cookies.set(SESSION_COOKIE, value)
    refused(thief.get("/app/session"), 401, "not-signed-in")


def test_the_cookie_is_secure_over_https(world: StaffApi) -> None:
    world.made(CENTRE, CENTRE, "bat")
    resp = world.sign_in(world.browser("https://testserver"), "bat")
    assert resp.status_code == 200, resp.text
    flags = {part.strip().lower() for part in resp.headers["set-cookie"].split(";")}
    assert "secure" in flags


def test_wrong_password_and_unknown_user_get_the_same_answer(world: StaffApi) -> None:
    world.made(CENTRE, CENTRE, "bat")
    browser = world.browser()
    wrong = refused(world.sign_in(browser, "bat", "not-the-password"), 401, "sign-in-failed")
    unknown = refused(world.sign_in(browser, "nobody", "not-the-password"), 401, "sign-in-failed")
    assert {k: v for k, v in wrong.items() if k != "instance"} == {
        k: v for k, v in unknown.items() if k != "instance"
    }
    assert SESSION_COOKIE not in browser.cookies


def test_the_rate_limit_refuses_even_the_right_password(world: StaffApi) -> None:
    world.made(CENTRE, CENTRE, "bat")
    browser = world.browser()
    for _ in range(5):
        refused(world.sign_in(browser, "bat", "not-the-password"), 401, "sign-in-failed")
    limited = world.sign_in(browser, "bat", PASSWORD)
    refused(limited, 429, "too-many-sign-ins")
    assert 0 < int(limited.headers["retry-after"]) <= 15 * 60
    # the window passes: the right password works again
    world.clock.advance(minutes=16)
    assert world.sign_in(browser, "bat", PASSWORD).status_code == 200


def test_the_rate_limit_per_address(world: StaffApi) -> None:
    world.made(CENTRE, CENTRE, "bat")
    browser = world.browser()
    for n in range(20):
        refused(world.sign_in(browser, f"guess{n}", "not-the-password"), 401, "sign-in-failed")
    refused(world.sign_in(browser, "bat", PASSWORD), 429, "too-many-sign-ins")


def test_idle_timeout_and_lifetime(world: StaffApi) -> None:
    world.made(CENTRE, CENTRE, "bat")
    browser, _ = world.signed_in("bat")
    world.clock.advance(minutes=29)
    assert browser.get("/app/session").status_code == 200  # a request: not idle
    world.clock.advance(minutes=29)
    assert browser.get("/app/session").status_code == 200
    world.clock.advance(minutes=31)
    refused(browser.get("/app/session"), 401, "not-signed-in")
    # however busy, a session ends 12 hours after sign-in
    browser, _ = world.signed_in("bat")
    for _ in range(12 * 3 + 1):
        world.clock.advance(minutes=20)
        browser.get("/app/session")
    refused(browser.get("/app/session"), 401, "not-signed-in")


def test_a_disabled_account_signs_in_no_more(world: StaffApi) -> None:
    made = world.made(CENTRE, CENTRE, "bat")
    browser, _ = world.signed_in("bat")
    resp = world.client.post(f"/staff/{made['id']}/disable", headers=world.api.headers(CENTRE))
    assert resp.status_code == 200 and resp.json()["disabled_at"], resp.text
    refused(browser.get("/app/session"), 401, "not-signed-in")
    refused(world.sign_in(world.browser(), "bat"), 401, "sign-in-failed")


def test_no_hash_or_password_in_any_answer_or_log_line(
    world: StaffApi, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    answers = [world.create(CENTRE, CENTRE, "bat", display_name="Бат-Эрдэнэ Дорж").text]
    browser = world.browser()
    answers.append(world.sign_in(browser, "bat", "not-the-password").text)
    answers.append(world.sign_in(browser, "bat").text)
    answers.append(browser.get("/app/session").text)
    answers.append(
        world.client.get("/staff", params={"actor": CENTRE}, headers=world.api.headers(CENTRE)).text
    )
    logged = "\n".join(r.getMessage() for r in caplog.records)
    for text_ in [*answers, logged]:
        assert "$argon2" not in text_
        assert PASSWORD not in text_ and "not-the-password" not in text_
    assert "Бат-Эрдэнэ" not in logged


def test_an_event_recorded_by_staff_names_them_in_the_log(world: StaffApi) -> None:
    # the console's routes take the signed-in principal and record through the pipeline
    def record(principal: Principal = Depends(require_staff)) -> dict[str, int]:
        body = {
            "actor": "auditor:new",
            "role": "auditor",
            "occurred_at": "2026-09-14T10:12:00+08:00",
        }
        done = world.app.state.events.submit(principal, Submission("actor.registered", body))
        return {"index": done.index}

    world.app.add_api_route("/app/test-record", record, methods=["GET"])
    made = world.made("admin:root", "admin:root", "root.admin", is_admin=True)
    browser, _ = world.signed_in("root.admin")
    resp = browser.get("/app/test-record")
    assert resp.status_code == 200, resp.text
    index = resp.json()["index"]
    row = world.client.get("/log/entries", params={"start": index, "end": index + 1}).json()
    import base64

    entry = Entry.from_bytes(base64.b64decode(row["entries"][0]["entry"]))
    assert entry.event.staff == made["id"] and entry.event.actor == "admin:root"
    assert b"root.admin" not in entry.to_bytes()
    assert audit_database(world.app.state.log.engine) == world.api.size()


# -- passkeys --------------------------------------------------------------------------------


def test_a_passkey_is_added_and_signs_in(world: StaffApi) -> None:
    world.made(CENTRE, CENTRE, "bat")
    browser, csrf = world.signed_in("bat")
    origin = "http://testserver"
    key = SoftAuthenticator()
    refused(browser.post("/app/passkeys/registration/options"), 403, "csrf-failed")
    options = browser.post("/app/passkeys/registration/options", headers={"X-CSRF-Token": csrf})
    assert options.status_code == 200, options.text
    answer = key.create(options.json(), origin)
    made = browser.post(
        "/app/passkeys/registration/verify", json=answer, headers={"X-CSRF-Token": csrf}
    )
    assert made.status_code == 201, made.text
    # a challenge answers once
    refused(
        browser.post(
            "/app/passkeys/registration/verify", json=answer, headers={"X-CSRF-Token": csrf}
        ),
        422,
        "passkey-refused",
    )
    # sign in with it: a discoverable credential, then after typing the username
    for body in (None, {"username": "bat"}):
        stranger = world.browser()
        opts = stranger.post("/app/passkeys/authentication/options", json=body)
        assert opts.status_code == 200, opts.text
        signed = stranger.post(
            "/app/passkeys/authentication/verify", json=key.get(opts.json(), origin)
        )
        assert signed.status_code == 200, signed.text
        assert signed.json()["actor"] == CENTRE
        assert stranger.get("/app/session").status_code == 200
    # another origin or a forged signature is refused
    stranger = world.browser()
    opts = stranger.post("/app/passkeys/authentication/options").json()
    refused(
        stranger.post(
            "/app/passkeys/authentication/verify", json=key.get(opts, "https://evil.example")
        ),
        401,
        "sign-in-failed",
    )
    opts = stranger.post("/app/passkeys/authentication/options").json()
    forged = key.get(opts, origin)
    forged["response"]["signature"] = SoftAuthenticator().get(opts, origin)["response"]["signature"]
    refused(
        stranger.post("/app/passkeys/authentication/verify", json=forged), 401, "sign-in-failed"
    )


# -- the entry's `staff` field ---------------------------------------------------------------

_STAFF = st.none() | st.binary(min_size=8, max_size=8).map(lambda b: "stf_" + b.hex())


@given(staff=_STAFF, index=st.integers(0, 2**40), actor=st.sampled_from(["centre:a", "admin:root"]))
def test_entries_with_and_without_staff_round_trip(
    staff: str | None, index: int, actor: str
) -> None:
    event = Event("actor.registered", actor, {"actor": "x:y", "role": "auditor"}, staff=staff)
    entry = Entry(index, bytes(32), "2026-09-14T02:12:00.000000Z", event)
    data = entry.to_bytes()
    assert Entry.from_bytes(data) == entry
    assert (b'"staff"' in data) == (staff is not None)
    if staff is None:  # the encoding of entries without it is what it always was
        plain = Entry(index, bytes(32), entry.time, Event(event.type, actor, event.body))
        assert plain.to_bytes() == data


@pytest.mark.parametrize(
    "bad", ["", "stf_", "stf_0123456789ABCDEF", "stf_0123456789abcdef0", "usr_0123456789abcdef", 7]
)
def test_a_malformed_staff_id_is_refused(bad: Any) -> None:
    with pytest.raises(MalformedInput):
        Event("actor.registered", "admin:root", {}, staff=bad)
    good = Entry(
        0,
        bytes(32),
        "2026-09-14T02:12:00.000000Z",
        Event("a.b", "x:y", {}, staff="stf_0123456789abcdef"),
    )
    obj = good.to_json()
    obj["staff"] = bad
    with pytest.raises(MalformedInput):
        Entry.from_json(obj)


def test_passwords_rehash_when_the_parameters_change() -> None:
    from argon2 import PasswordHasher

    old = PasswordHasher(time_cost=1, memory_cost=8192).hash(PASSWORD)
    verified = passwords.verify(old, PASSWORD)
    assert verified.ok and verified.new_hash is not None and verified.new_hash != old
    assert passwords.verify(verified.new_hash, PASSWORD) == passwords.Verified(True)
    assert not passwords.verify(old, "not-the-password").ok
