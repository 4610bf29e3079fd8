"""The event pipeline over HTTP: authentication, roles, strict bodies, signatures,
idempotency, batches, size limits, personal data; a refusal never changes anything."""

from __future__ import annotations

from pathlib import Path

import pytest

from ledger.audit import audit
from ledger.commitment import commit, new_salt
from ledger.sql.source import DatabaseSource
from support.domain import WHEN, ActorKeyPair, Api, running_api


@pytest.fixture
def api(tmp_path: Path):  # type: ignore[no-untyped-def]
    with running_api(tmp_path) as a:
        yield a


def test_writes_need_a_valid_token(api: Api) -> None:
    before = api.size()
    payload = {
        "type": "actor.registered",
        "body": {"occurred_at": WHEN, "actor": "miner:x", "role": "miner"},
    }
    resp = api.client.post("/events", json=payload)
    assert resp.status_code == 401
    assert resp.headers["content-type"] == "application/problem+json"
    assert resp.headers["www-authenticate"] == "Bearer"
    resp = api.client.post("/events", json=payload, headers={"Authorization": "Bearer altan_nope"})
    assert resp.status_code == 401
    assert api.size() == before


def test_revoked_token_stops_working(api: Api) -> None:
    api.register("regulator:mrpam", "regulator")
    api.register("miner:bat", "miner", by="regulator:mrpam")
    tokens = api.client.post(
        "/actors/regulator:mrpam/tokens",
        json={"label": "second"},
        headers=api.headers("admin:root"),
    ).json()
    assert (
        api.client.delete(
            f"/tokens/{tokens['token_id']}", headers=api.headers("admin:root")
        ).status_code
        == 204
    )
    resp = api.client.get(
        "/actors/miner:bat", headers={"Authorization": f"Bearer {tokens['token']}"}
    )
    assert resp.status_code == 401


def test_roles_are_enforced_and_refusals_record_nothing(api: Api) -> None:
    api.register("regulator:mrpam", "regulator")
    before = api.size()
    resp = api.post(
        "regulator:mrpam", "actor.registered", {"actor": "auditor:x", "role": "auditor"}
    )
    assert resp.status_code == 403
    assert resp.json()["type"].endswith("/role-not-allowed")
    api.register("miner:bat", "miner", by="regulator:mrpam")
    mid = api.size()
    resp = api.post("miner:bat", "actor.registered", {"actor": "miner:y", "role": "miner"})
    assert resp.status_code == 403
    assert api.size() == mid == before + 2  # the registration and its append's state.root


@pytest.mark.parametrize(
    ("body", "field", "status"),
    [
        ({"actor": "miner:ok", "role": "miner", "members": 2.0}, "body.members", 422),
        ({"actor": "Miner X", "role": "miner"}, "body.actor", 422),
        ({"actor": "miner:ok", "role": "king"}, "body.role", 422),
        ({"actor": "miner:ok", "role": "miner", "extra": 1}, "body.extra", 422),
        ({"actor": "miner:ok"}, "body.role", 422),
        ({"actor": "buyer:b", "role": "buyer"}, "body.buyer_kind", 422),
        ({"actor": "admin:root", "role": "miner"}, "body.actor", 409),
    ],
)
def test_bad_bodies_name_the_field(api: Api, body: dict, field: str, status: int) -> None:  # type: ignore[type-arg]
    before = api.size()
    resp = api.post("admin:root", "actor.registered", body)
    assert resp.status_code == status, resp.text
    problem = resp.json()
    assert problem["field"] == field
    assert problem["type"].startswith("https://altan-ledger.org/problems/")
    assert api.size() == before


def test_unknown_event_type_is_404(api: Api) -> None:
    resp = api.post("admin:root", "gold.teleported", {})
    assert resp.status_code == 404
    assert resp.json()["field"] == "type"


def test_idempotency_key_records_once_and_refuses_another_body(api: Api) -> None:
    h = {"Idempotency-Key": "reg-miner-bat"}
    first = api.post(
        "admin:root", "actor.registered", {"actor": "miner:bat", "role": "miner"}, headers=h
    )
    assert first.status_code == 201
    size = api.size()
    again = api.post(
        "admin:root", "actor.registered", {"actor": "miner:bat", "role": "miner"}, headers=h
    )
    assert again.status_code == 200
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    other = api.post(
        "admin:root", "actor.registered", {"actor": "miner:dorj", "role": "miner"}, headers=h
    )
    assert other.status_code == 409
    assert api.size() == size


def test_signed_events_keep_the_signature_in_the_log(api: Api, tmp_path: Path) -> None:
    key = ActorKeyPair("regulator:mrpam")
    api.register("regulator:mrpam", "regulator", keys=[key.wire()])
    body = {"occurred_at": WHEN, "actor": "miner:bat", "role": "miner"}
    resp = api.client.post(
        "/events",
        json={
            "type": "actor.registered",
            "body": body,
            "signature": key.sign("actor.registered", body),
        },
        headers=api.headers("regulator:mrpam"),
    )
    assert resp.status_code == 201, resp.text
    index = resp.json()["index"]
    import base64
    import json

    entry = api.client.get(f"/log/entries?start={index}&end={index + 1}").json()["entries"][0]
    logged = json.loads(base64.b64decode(entry["entry"]))
    assert logged["actor_key_id"] == key.key_id
    assert logged["body"] == body

    before = api.size()
    forged = dict(body, actor="miner:dorj")
    resp = api.client.post(
        "/events",
        json={
            "type": "actor.registered",
            "body": forged,
            "signature": key.sign("actor.registered", body),
        },
        headers=api.headers("regulator:mrpam"),
    )
    assert resp.status_code == 422
    assert resp.json()["type"].endswith("/bad-actor-signature")
    stranger = ActorKeyPair("regulator:mrpam")
    resp = api.client.post(
        "/events",
        json={
            "type": "actor.registered",
            "body": forged,
            "signature": stranger.sign("actor.registered", forged),
        },
        headers=api.headers("regulator:mrpam"),
    )
    assert resp.status_code == 422
    assert resp.json()["type"].endswith("/unknown-actor-key")
    assert api.size() == before


def test_deployments_may_require_signatures(tmp_path: Path) -> None:
    with running_api(tmp_path, require_signatures=True) as api:
        resp = api.post("admin:root", "actor.registered", {"actor": "miner:bat", "role": "miner"})
        assert resp.status_code == 422
        assert resp.json()["type"].endswith("/signature-required")


def test_batch_records_valid_items_or_nothing_when_atomic(api: Api) -> None:
    def item(actor: str, role: str = "miner") -> dict:  # type: ignore[type-arg]
        return {
            "type": "actor.registered",
            "body": {"occurred_at": WHEN, "actor": actor, "role": role},
        }

    before = api.size()
    resp = api.client.post(
        "/events/batch",
        json={
            "items": [item("miner:a"), item("miner:a"), item("miner:b", "king"), item("miner:c")]
        },
        headers=api.headers("admin:root"),
    )
    assert resp.status_code == 200, resp.text
    out = resp.json()
    assert [r["status"] for r in out["results"]] == [201, 409, 422, 201]
    assert (out["recorded"], out["failed"]) == (2, 2)
    assert api.size() == before + 3  # the two, then the append's state.root

    resp = api.client.post(
        "/events/batch",
        json={"items": [item("miner:d"), item("miner:a")], "atomic": True},
        headers=api.headers("admin:root"),
    )
    # nothing recorded: a 422 problem listing each item (issue 11, finding 10)
    assert resp.status_code == 422, resp.text
    out = resp.json()
    assert out["type"].endswith("/batch-failed")
    assert [r["status"] for r in out["results"]] == [422, 409]
    assert out["results"][0]["problem"]["type"].endswith("/batch-aborted")
    assert api.size() == before + 3
    assert api.client.get("/actors/miner:d", headers=api.headers("admin:root")).status_code == 404


def test_oversized_bodies_are_refused_before_reading(tmp_path: Path) -> None:
    with running_api(tmp_path, max_request_bytes=2048) as api:
        before = api.size()
        resp = api.post(
            "admin:root",
            "actor.registered",
            {"actor": "miner:bat", "role": "miner", "x": "y" * 5000},
        )
        assert resp.status_code == 413
        assert resp.headers["content-type"] == "application/problem+json"
        assert api.size() == before


def test_personal_data_stays_off_the_log_and_can_be_erased(api: Api) -> None:
    personal = {"name": "Батбаяр Дорж", "national_id": "УБ99112233", "phone": "+976 9911 2233"}
    salt = new_salt()
    c = commit(salt, personal)
    resp = api.post(
        "admin:root",
        "actor.registered",
        {"actor": "miner:bat", "role": "miner", "personal_commitment": c},
        private={"personal": personal, "salt": salt.hex()},
    )
    assert resp.status_code == 201, resp.text
    entries = api.client.get(f"/log/entries?start=0&end={api.size()}").text
    assert "Батбаяр" not in entries and "УБ99112233" not in entries
    got = api.client.get("/actors/miner:bat/personal", headers=api.headers("admin:root")).json()
    assert got["personal"] == personal

    wrong = api.post(
        "admin:root",
        "actor.registered",
        {"actor": "miner:dorj", "role": "miner", "personal_commitment": c},
        private={"personal": {"name": "someone else"}, "salt": salt.hex()},
    )
    assert wrong.status_code == 422
    assert wrong.json()["type"].endswith("/commitment-mismatch")

    erased = api.client.post(
        "/actors/miner:bat/personal/erasure",
        json={"reason": "court order 2026/114"},
        headers=api.headers("admin:root"),
    )
    assert erased.status_code == 200
    got = api.client.get("/actors/miner:bat/personal", headers=api.headers("admin:root")).json()
    assert got["personal"] is None and got["salt"] is None
    report = audit(DatabaseSource(api.client.app.state.log.engine), workers=1)  # type: ignore[attr-defined]
    assert report.ok, report.failure
