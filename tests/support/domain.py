"""Helpers for tests that drive the supply chain through the real HTTP API."""

from __future__ import annotations

import base64
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from starlette.exceptions import StarletteDeprecationWarning

from ledger.encoding import b64encode
from ledger.entry import event_signing_message
from services.actors.bootstrap import bootstrap_administrator
from services.actors.rules import actor_key_id
from services.app import create_app
from services.identity import Principal
from services.settings import Settings

with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

WHEN = "2026-09-14T10:12:00+08:00"

# The cast of the domain tests: one principal per part the rules tell apart.
ADMIN = Principal("admin:root", "administrator")
AUDITOR = Principal("auditor:mrpam", "auditor")
REGULATOR = Principal("regulator:tov", "regulator")
PARTNERSHIP = Principal("partnership:tuul", "partnership")
MINER = Principal("miner:bat", "miner")
CENTRE = Principal("centre:bornuur", "processing_centre")
CENTRE2 = Principal("centre:mandal", "processing_centre")
BANK = Principal("buyer:mongolbank", "buyer")
TRADER = Principal("buyer:altan-trade", "buyer")
LAB = Principal("lab:darkhan", "laboratory")


class Api:
    """A TestClient with the first administrator's token and helpers to act as others."""

    def __init__(self, client: TestClient, admin_token: str) -> None:
        self.client = client
        self.tokens: dict[str, str] = {"admin:root": admin_token}

    def headers(self, actor: str, **extra: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[actor]}", **extra}

    def post(self, actor: str, type_: str, body: dict[str, Any], **kw: Any) -> Any:
        extra_headers = kw.pop("headers", {})
        payload = {"type": type_, "body": {"occurred_at": WHEN, **body}, **kw}
        return self.client.post(
            "/events", json=payload, headers=self.headers(actor, **extra_headers)
        )

    def ok(self, actor: str, type_: str, body: dict[str, Any], **kw: Any) -> dict[str, Any]:
        resp = self.post(actor, type_, body, **kw)
        assert resp.status_code in (200, 201), resp.text
        out: dict[str, Any] = resp.json()
        return out

    def register(self, actor: str, role: str, by: str = "admin:root", **fields: Any) -> str:
        body: dict[str, Any] = {"actor": actor, "role": role, **fields}
        if role == "buyer" and "buyer_kind" not in fields:
            body["buyer_kind"] = "trader"
        self.ok(by, "actor.registered", body)
        resp = self.client.post(
            f"/actors/{actor}/tokens", json={"label": "test"}, headers=self.headers("admin:root")
        )
        assert resp.status_code == 201, resp.text
        self.tokens[actor] = resp.json()["token"]
        return actor

    def size(self) -> int:
        return int(self.client.get("/healthz").json()["tree_size"])


@contextmanager
def running_api(tmp_path: Path, **settings: Any) -> Iterator[Api]:
    cfg = Settings(data_dir=tmp_path / "data", **settings)
    app = create_app(cfg)
    with TestClient(app) as client:
        token = bootstrap_administrator(app.state.events)
        assert token is not None
        yield Api(client, token)


class ActorKeyPair:
    """An actor's own Ed25519 key, as the SDK keeps it."""

    def __init__(self, actor: str) -> None:
        self.actor = actor
        self.private = Ed25519PrivateKey.generate()
        self.public = self.private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        self.key_id = actor_key_id(actor, self.public)

    def wire(self) -> dict[str, str]:
        return {"key_id": self.key_id, "public_key": b64encode(self.public)}

    def sign(self, type_: str, body: dict[str, Any]) -> dict[str, str]:
        sig = self.private.sign(event_signing_message(type_, self.actor, body))
        return {"key_id": self.key_id, "signature": base64.b64encode(sig).decode()}
