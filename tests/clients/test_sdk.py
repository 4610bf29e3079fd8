"""The SDK and its offline outbox against the real app, in-process (no network).

The SDK talks to the app through the TestClient (an httpx.Client) or its transport, wrapped
where a test needs a network that fails: refused connections, lost answers, 503s.
"""

from __future__ import annotations

import sqlite3
import stat
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

import services.domains  # noqa: F401  (every domain)
from clients.outbox import Outbox
from clients.sdk import (
    ActorSigner,
    AltanClient,
    AltanError,
    ClientError,
    Conflict,
    ConnectionFailed,
    NotFound,
    RuleViolation,
    ServerError,
    Unauthenticated,
    actor_key,
)
from ledger.audit import audit
from ledger.commitment import matches
from ledger.entry import event_signing_message
from schemas.events import Region
from services.domains import HANDLERS
from support.domain import Api, running_api

URL = "http://testserver"
WHEN = "2026-09-14T10:12:00+08:00"
REGION = Region(aimag="Töv", soum="Bornuur")


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    with running_api(tmp_path) as a:
        yield a


@pytest.fixture
def admin(api: Api) -> AltanClient:
    return AltanClient(URL, api.tokens["admin:root"], http=api.client, backoff=0)


def _as(api: Api, admin: AltanClient, signer: ActorSigner, **kw: Any) -> AltanClient:
    """A client acting (and signing) as `signer.actor`, with a fresh token."""
    token = admin.issue_token(signer.actor, "sdk test").token
    return AltanClient(
        URL, token, actor=signer.actor, signing_key=signer.private_key, http=api.client, **kw
    )


def _regulator(api: Api, admin: AltanClient) -> tuple[ActorSigner, AltanClient]:
    signer = ActorSigner.generate("regulator:mrpam")
    admin.register_actor(actor=signer.actor, role="regulator", keys=[signer.public_key])
    return signer, _as(api, admin, signer)


class Network(httpx.BaseTransport):
    """A transport into the app that follows a script, one step per request:
    "refuse" (connection refused), "503", "lose" (the app answers, the answer is lost),
    "pass"; after the script, every request passes (or fails, with `then`)."""

    def __init__(self, api: Api, *script: str, then: str = "pass") -> None:
        self.inner: httpx.BaseTransport = api.client._transport
        self.script = list(script)
        self.then = then
        self.calls = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.calls += 1
        step = self.script.pop(0) if self.script else self.then
        if step == "refuse":
            raise httpx.ConnectError("connection refused", request=request)
        if step == "503":
            return httpx.Response(
                503,
                json={
                    "type": "https://altan-ledger.org/problems/storage-unavailable",
                    "title": "Storage unavailable",
                    "status": 503,
                    "detail": "the service cannot answer right now; try again later",
                },
                headers={"content-type": "application/problem+json"},
            )
        resp = self.inner.handle_request(request)
        if step == "lose":
            resp.read()
            raise httpx.ReadError("connection reset by peer", request=request)
        return resp


# --- the client ------------------------------------------------------------------------------


def test_register_actor_with_personal_data_sends_only_the_commitment(
    api: Api, admin: AltanClient
) -> None:
    personal = {"name": "Батбаяр Дорж", "national_id": "УБ99112233", "phone": "+976 9911 2233"}
    receipt = admin.register_actor(
        actor="miner:bat",
        role="miner",
        region=REGION,
        licence={"number": "ASM-0042", "valid_from": date(2026, 1, 1)},
        personal=personal,
    )
    logged = admin.entry(receipt.index).event.body
    assert logged["region"] == {"aimag": "Töv", "soum": "Bornuur"}
    assert logged["licence"] == {"number": "ASM-0042", "valid_from": "2026-01-01"}
    assert "name" not in logged and "personal" not in logged
    everything = "".join(e.entry.decode() for e in admin.entries(0, api.size()))
    assert "Батбаяр" not in everything and "УБ99112233" not in everything

    actor = admin.get_actor("miner:bat")
    assert actor["personal_commitment"] == logged["personal_commitment"]
    kept = admin.get_personal("miner:bat")
    assert kept["personal"] == personal
    assert matches(actor["personal_commitment"], bytes.fromhex(kept["salt"]), personal)

    admin.erase_personal("miner:bat", "court order 2026/114")
    assert admin.get_personal("miner:bat")["personal"] is None
    assert audit(admin.log, workers=1).ok


def test_occurred_at_defaults_to_local_time_with_offset(admin: AltanClient) -> None:
    receipt = admin.register_actor(actor="miner:bat", role="miner")
    moment = admin.entry(receipt.index).event.body["occurred_at"]
    assert moment[-6] in "+-" and moment[-3] == ":"  # "...T10:12:00+08:00"
    given = admin.register_actor(actor="miner:dorj", role="miner", occurred_at=WHEN)
    assert admin.entry(given.index).event.body["occurred_at"] == WHEN


def test_signed_events_verify_on_the_server_and_carry_the_key_in_the_log(
    api: Api, admin: AltanClient
) -> None:
    signer, regulator = _regulator(api, admin)
    receipt = regulator.register_actor(actor="miner:bat", role="miner", region=REGION)
    entry = admin.entry(receipt.index)
    assert entry.event.actor == "regulator:mrpam"
    assert entry.event.actor_key_id == signer.key_id
    assert entry.event.actor_signature is not None
    signer.private_key.public_key().verify(
        entry.event.actor_signature,
        event_signing_message(entry.event.type, entry.event.actor, entry.event.body),
    )
    checkpoint = regulator.verify_receipt(receipt)
    assert checkpoint.size > receipt.index

    site = regulator.register_site(
        site="SITE-TOV-0042", owner="miner:bat", region=REGION, lat="47.918", lon="106.917"
    )
    assert admin.entry(site.index).event.actor_key_id == signer.key_id
    assert admin.get_site("SITE-TOV-0042")["owner"] == "miner:bat"
    regulator.change_actor_status(actor="miner:bat", status="suspended", reason="licence lapsed")
    assert admin.get_actor("miner:bat")["status"] == "suspended"

    second = ActorSigner.generate("regulator:mrpam")
    regulator.add_key(actor="regulator:mrpam", key=second.private_key.public_key())
    keys = {k["key_id"] for k in admin.get_actor("regulator:mrpam")["keys"]}
    assert keys == {signer.key_id, second.key_id}
    rotated = _as(api, admin, second).register_actor(actor="miner:dorj", role="miner")
    assert admin.entry(rotated.index).event.actor_key_id == second.key_id


def test_a_key_the_server_does_not_know_is_refused(api: Api, admin: AltanClient) -> None:
    _, regulator = _regulator(api, admin)
    stranger = ActorSigner.generate("regulator:mrpam")
    impostor = AltanClient(
        URL,
        regulator._token,
        actor="regulator:mrpam",
        signing_key=stranger.private_key,
        http=api.client,
    )
    before = api.size()
    with pytest.raises(RuleViolation) as caught:
        impostor.register_actor(actor="miner:bat", role="miner")
    assert caught.value.rule == "unknown-actor-key"
    assert caught.value.field == "signature.key_id"
    assert api.size() == before


def test_idempotent_retry_returns_the_same_receipt(api: Api, admin: AltanClient) -> None:
    body = {"occurred_at": WHEN, "actor": "miner:bat", "role": "miner"}
    first = admin.record("actor.registered", body, idempotency_key="reg-miner-bat")
    size = api.size()
    again = admin.record("actor.registered", body, idempotency_key="reg-miner-bat")
    assert again == first
    assert api.size() == size
    with pytest.raises(Conflict) as caught:
        admin.record(
            "actor.registered", dict(body, actor="miner:dorj"), idempotency_key="reg-miner-bat"
        )
    assert caught.value.rule == "idempotency-key-reused"


def test_lost_answers_and_outages_are_retried_with_the_same_key(api: Api) -> None:
    network = Network(api, "refuse", "lose", "503")
    client = AltanClient(URL, api.tokens["admin:root"], transport=network, backoff=0)
    before = api.size()
    receipt = client.register_actor(actor="miner:bat", role="miner")
    assert network.calls == 4  # refused, recorded but answer lost, 503, replayed
    assert api.size() == before + 2  # recorded once (and its append's state.root)
    assert receipt.index == before
    assert client.get_actor("miner:bat")["registered_index"] == receipt.index


def test_persistent_failures_raise_after_the_retries(api: Api) -> None:
    down = Network(api, then="503")
    client = AltanClient(URL, api.tokens["admin:root"], transport=down, retries=2, backoff=0)
    with pytest.raises(ServerError) as caught:
        client.register_actor(actor="miner:bat", role="miner")
    assert (caught.value.status, caught.value.rule) == (503, "storage-unavailable")
    assert down.calls == 3

    offline = Network(api, then="refuse")
    client = AltanClient(URL, api.tokens["admin:root"], transport=offline, retries=2, backoff=0)
    with pytest.raises(ConnectionFailed) as failed:
        client.get_actor("admin:root")
    assert failed.value.status == 0 and offline.calls == 3


def test_token_issue_is_not_retried_once_sent(api: Api, admin: AltanClient) -> None:
    admin.register_actor(actor="miner:bat", role="miner")
    lossy = Network(api, "lose")
    client = AltanClient(URL, api.tokens["admin:root"], transport=lossy, backoff=0)
    with pytest.raises(ConnectionFailed):
        client.issue_token("miner:bat", "field phone")
    assert lossy.calls == 1


@pytest.mark.parametrize(
    ("fields", "field", "error"),
    [
        ({"actor": "miner:ok", "role": "king"}, "body.role", RuleViolation),
        ({"actor": "Miner X", "role": "miner"}, "body.actor", RuleViolation),
        ({"actor": "miner:ok", "role": "miner", "members": 2.0}, "body.members", RuleViolation),
        ({"actor": "admin:root", "role": "miner"}, "body.actor", Conflict),
    ],
)
def test_problems_become_altan_errors(
    api: Api, admin: AltanClient, fields: dict[str, Any], field: str, error: type[AltanError]
) -> None:
    before = api.size()
    with pytest.raises(error) as caught:
        admin.record("actor.registered", {"occurred_at": WHEN, **fields})
    exc = caught.value
    assert isinstance(exc, ClientError)
    assert exc.field == field
    assert exc.type.startswith("https://altan-ledger.org/problems/")
    assert exc.problem["status"] == exc.status
    assert field in str(exc)
    assert api.size() == before


def test_convenience_methods_check_the_body_before_sending(api: Api, admin: AltanClient) -> None:
    with pytest.raises(RuleViolation) as server:
        admin.record("actor.registered", {"occurred_at": WHEN, "actor": "miner:x", "role": "k"})
    before = api.size()
    with pytest.raises(RuleViolation) as local:
        admin.register_actor(actor="miner:x", role="k", occurred_at=WHEN)  # type: ignore[arg-type]
    assert (local.value.type, local.value.field) == (server.value.type, server.value.field)
    assert api.size() == before


def test_reads_and_tokens(api: Api, admin: AltanClient) -> None:
    with pytest.raises(NotFound) as missing:
        admin.get_actor("miner:nobody")
    assert missing.value.field == "actor_id"
    admin.register_actor(actor="miner:bat", role="miner")
    issued = admin.issue_token("miner:bat", "field phone")
    miner = AltanClient(URL, issued.token, http=api.client)
    assert miner.get_actor("miner:bat")["role"] == "miner"
    admin.revoke_token(issued.token_id)
    with pytest.raises(Unauthenticated):
        miner.get_actor("miner:bat")
    assert admin.health()["tree_size"] == api.size()
    assert admin.checkpoint().startswith("altan.localhost/ledger\n")
    assert len(admin.consistency_proof(1, api.size())) >= 1


def test_batches_record_each_item_or_say_why(api: Api, admin: AltanClient) -> None:
    def item(actor: str, role: str = "miner") -> dict[str, Any]:
        body = {"occurred_at": WHEN, "actor": actor, "role": role}
        return {"type": "actor.registered", "body": body}

    before = api.size()
    out = admin.record_batch([item("miner:a"), item("miner:a"), item("miner:b", "king")])
    assert [r.status for r in out.results] == [201, 409, 422]
    assert out.results[2].problem is not None
    err = AltanError.from_item(out.results[2].problem)
    assert isinstance(err, RuleViolation) and err.field == "body.role"
    assert api.size() == before + 2  # one recorded, then the append's state.root
    again = admin.record_batch([admin.prepare("actor.registered", item("miner:c")["body"])])
    assert again.recorded == 1


@pytest.mark.skipif("ore.delivered" not in HANDLERS, reason="lot rules not merged yet")
def test_a_centre_delivers_ore_through_the_sdk(api: Api, admin: AltanClient) -> None:
    admin.register_actor(actor="miner:bat", role="miner", region=REGION)
    admin.register_site(
        site="SITE-TOV-0042", owner="miner:bat", region=REGION, lat="47.918", lon="106.917"
    )
    signer = ActorSigner.generate("processing_centre:bornuur")
    admin.register_actor(
        actor=signer.actor, role="processing_centre", region=REGION, keys=[signer.public_key]
    )
    centre = _as(api, admin, signer)
    receipt = centre.deliver_ore(
        lot="ORE-2026-000123",
        miner="miner:bat",
        site="SITE-TOV-0042",
        mass_g=1_200_000,
        mined_on=date.today() - timedelta(days=2),
    )
    entry = admin.entry(receipt.index)
    assert entry.event.type == "ore.delivered"
    assert entry.event.actor_key_id == signer.key_id
    assert entry.event.body["mass_g"] == 1_200_000
    with pytest.raises(Conflict) as caught:
        centre.deliver_ore(
            lot="ORE-2026-000123",
            miner="miner:bat",
            site="SITE-TOV-0042",
            mass_g=5,
            mined_on=date.today() - timedelta(days=2),
        )
    assert caught.value.field == "body.lot"


# --- the outbox ------------------------------------------------------------------------------


def test_outbox_file_is_private(tmp_path: Path) -> None:
    path = tmp_path / "outbox.db"
    Outbox(path).close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    path.chmod(0o644)
    Outbox(path).close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_outbox_queues_offline_then_records_once(
    api: Api, admin: AltanClient, tmp_path: Path
) -> None:
    signer, regulator = _regulator(api, admin)
    box = Outbox(tmp_path / "outbox.db", actor=signer.actor, signing_key=signer.private_key)
    # Offline: nothing is sent while the items are queued.
    before = api.size()
    first = box.register_actor(actor="miner:bat", role="miner", region=REGION)
    second = box.add("actor.registered", {"actor": "miner:dorj", "role": "miner"})
    personal = {"name": "Дорж Ганбат"}
    third = box.register_actor(actor="miner:ganbat", role="miner", personal=personal)
    assert api.size() == before
    queued = {i.key: i for i in box.pending()}
    assert list(queued) == [first, second, third]
    stamped = queued[second].event.body["occurred_at"]
    assert stamped[-6] in "+-"
    assert queued[second].event.signature is not None

    # Reopening the file finds the same items: the queue survives a restart.
    box.close()
    box = Outbox(tmp_path / "outbox.db", actor=signer.actor, signing_key=signer.private_key)
    report = box.sync(regulator)
    assert report.ok, report
    assert report.recorded == [first, second, third]
    assert api.size() == before + 4  # the three, then their append's state.root
    receipts = {i.key: i.receipt for i in box.items("recorded")}
    entry = admin.entry(receipts[second].index)  # type: ignore[union-attr]
    assert entry.event.body == queued[second].event.body  # as signed when queued
    assert entry.event.body["occurred_at"] == stamped
    assert entry.event.actor_key_id == signer.key_id
    assert admin.get_personal("miner:ganbat")["personal"] == personal

    # A crash after the server recorded but before the outbox marked: the items are pending
    # again, and a second sync is answered with the first receipts, recording nothing.
    with sqlite3.connect(tmp_path / "outbox.db") as db:
        db.execute("UPDATE items SET status = 'pending', receipt = NULL")
    db.close()
    again = box.sync(regulator, batch_size=2)
    assert again.recorded == [first, second, third]
    assert api.size() == before + 4
    assert {i.key: i.receipt for i in box.items("recorded")} == receipts
    assert box.sync(regulator).recorded == []

    assert box.forget_private() == 1
    assert box.get(third).event.private is None
    box.close()


def test_outbox_keeps_rejected_items_with_their_problem(
    api: Api, admin: AltanClient, tmp_path: Path
) -> None:
    signer, regulator = _regulator(api, admin)
    box = Outbox(tmp_path / "outbox.db", actor=signer.actor, signing_key=signer.private_key)
    ok = box.register_actor(actor="miner:bat", role="miner")
    site = box.register_site(
        site="SITE-1", owner="miner:nobody", region=REGION, lat="47.9", lon="106.9"
    )
    later = box.register_actor(actor="miner:dorj", role="miner")
    report = box.sync(regulator)
    assert report.recorded == [ok, later]
    assert report.rejected == [site]
    assert not report.ok and report.pending == 0
    [rejected] = box.rejected()
    assert rejected.key == site
    assert rejected.problem is not None and rejected.problem.field == "body.owner"
    assert isinstance(rejected.error, NotFound)

    size = api.size()
    assert box.sync(regulator).rejected == []  # not sent again
    assert api.size() == size
    assert box.get(site).status == "rejected"

    # Once the cause is fixed the item may be sent again, with its original signature.
    admin.register_actor(actor="miner:nobody", role="miner")
    box.requeue(site)
    assert box.sync(regulator).recorded == [site]
    assert admin.get_site("SITE-1")["owner"] == "miner:nobody"
    box.close()


def test_outbox_keeps_items_through_network_errors(
    api: Api, admin: AltanClient, tmp_path: Path
) -> None:
    signer, regulator = _regulator(api, admin)
    box = Outbox(tmp_path / "outbox.db", actor=signer.actor, signing_key=signer.private_key)
    key = box.register_actor(actor="miner:bat", role="miner")
    offline = AltanClient(
        URL,
        regulator._token,
        actor=signer.actor,
        signing_key=signer.private_key,
        transport=Network(api, then="refuse"),
        retries=1,
        backoff=0,
    )
    report = box.sync(offline)
    assert isinstance(report.error, ConnectionFailed)
    assert report.pending == 1 and [i.key for i in box.pending()] == [key]

    # The answer is lost on the way back: the server recorded it, the outbox does not know.
    lossy = AltanClient(
        URL,
        regulator._token,
        actor=signer.actor,
        signing_key=signer.private_key,
        transport=Network(api, "lose", then="refuse"),
        retries=0,
        backoff=0,
    )
    size = api.size()
    assert isinstance(box.sync(lossy).error, ConnectionFailed)
    # recorded (with its append's state.root), the answer lost: still pending here
    assert api.size() == size + 2 and box.get(key).status == "pending"
    assert box.sync(regulator).recorded == [key]
    assert api.size() == size + 2
    box.close()


def test_outbox_refuses_to_sync_through_another_actor(
    api: Api, admin: AltanClient, tmp_path: Path
) -> None:
    signer = ActorSigner.generate("regulator:mrpam")
    box = Outbox(tmp_path / "outbox.db", actor=signer.actor, signing_key=signer.private_key)
    box.register_actor(actor="miner:bat", role="miner")
    other = AltanClient(URL, api.tokens["admin:root"], actor="admin:root", http=api.client)
    with pytest.raises(ValueError, match="regulator:mrpam"):
        box.sync(other)
    assert len(box.pending()) == 1
    box.close()


def test_outbox_refuses_malformed_events_at_once(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "outbox.db")
    with pytest.raises(RuleViolation) as caught:
        box.add("actor.registered", {"actor": "miner:bat", "role": "miner", "mass": 2})
    assert caught.value.field == "body.mass"
    assert box.items() == []
    box.close()


def test_actor_key_matches_the_server(api: Api, admin: AltanClient) -> None:
    signer = ActorSigner.generate("miner:bat")
    assert actor_key("miner:bat", signer.private_key.public_key()) == signer.public_key
    admin.register_actor(actor="miner:bat", role="miner", keys=[signer.private_key.public_key()])
    assert admin.get_actor("miner:bat")["keys"] == [{"key_id": signer.key_id, "status": "active"}]


def test_outbox_isolates_an_item_the_whole_batch_is_refused_for(tmp_path: Path) -> None:
    with running_api(tmp_path, max_request_bytes=2048) as api:
        admin = AltanClient(URL, api.tokens["admin:root"], http=api.client, backoff=0)
        box = Outbox(tmp_path / "outbox.db")
        small = box.register_actor(actor="miner:bat", role="miner")
        huge = box.register_actor(actor="miner:dorj", role="miner", personal={"bio": "x" * 3000})
        after = box.register_actor(actor="miner:ganbat", role="miner")
        report = box.sync(admin)
        assert (report.recorded, report.rejected, report.pending) == ([small, after], [huge], 0)
        problem = box.get(huge).problem
        assert problem is not None and problem.status == 413
        box.close()


def test_outbox_add_with_a_key_queues_once(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "outbox.db")
    body = {"occurred_at": WHEN, "actor": "miner:bat", "role": "miner"}
    assert box.add("actor.registered", body, idempotency_key="k1") == "k1"
    assert box.add("actor.registered", body, idempotency_key="k1") == "k1"
    assert len(box.pending()) == 1
    with pytest.raises(ValueError, match="k1"):
        box.add("actor.registered", dict(body, actor="miner:dorj"), idempotency_key="k1")
    box.close()
