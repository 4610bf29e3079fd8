"""A running API with staff accounts, a settable wall clock, and a software passkey.

For tests/services/staff/test_staff.py (and the console's tests): `staff_api` starts the service on
SQLite or on a fresh PostgreSQL schema, registers two processing centres and hands back
helpers to create staff and sign in over HTTP.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import cbor2
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi import FastAPI
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from starlette.exceptions import StarletteDeprecationWarning

from support.db import postgres_base
from support.domain import Api, running_api

with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

CENTRE, OTHER_CENTRE = "centre:bornuur", "centre:mandal"
PASSWORD = "tsagaan-sar-2026"  # a test password
DATABASES = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


class WallClock:
    """The service's clock, set by the test (`app.state.events.clock`)."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC).replace(microsecond=0)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


class StaffApi:
    """The running API, its clock, and helpers for staff and sessions."""

    def __init__(self, api: Api) -> None:
        self.api = api
        self.client = api.client
        self.clock = WallClock()
        self.app.state.events.clock = self.clock

    @property
    def app(self) -> FastAPI:
        app = self.client.app
        assert isinstance(app, FastAPI)
        return app

    def browser(self, base_url: str = "http://testserver") -> TestClient:
        """Another client with a cookie jar of its own (the app is already started)."""
        return TestClient(self.app, base_url=base_url)

    def create(
        self,
        by: str,
        actor: str,
        username: str,
        *,
        password: str = PASSWORD,
        is_admin: bool = False,
        display_name: str = "Бат-Эрдэнэ Дорж",
    ) -> Any:
        """POST /staff with the bearer token of actor `by`."""
        body = {
            "actor": actor,
            "username": username,
            "display_name": display_name,
            "password": password,
            "is_admin": is_admin,
        }
        return self.client.post("/staff", json=body, headers=self.api.headers(by))

    def made(self, by: str, actor: str, username: str, **kw: Any) -> dict[str, Any]:
        resp = self.create(by, actor, username, **kw)
        assert resp.status_code == 201, resp.text
        out: dict[str, Any] = resp.json()
        return out

    @staticmethod
    def sign_in(client: TestClient, username: str, password: str = PASSWORD) -> Any:
        return client.post("/app/session", json={"username": username, "password": password})

    def signed_in(self, username: str, password: str = PASSWORD) -> tuple[TestClient, str]:
        """A browser signed in as `username`, and its CSRF token."""
        browser = self.browser()
        resp = self.sign_in(browser, username, password)
        assert resp.status_code == 200, resp.text
        return browser, str(resp.json()["csrf_token"])


def _schema_url(base: str) -> tuple[str, str]:
    schema = "t_" + secrets.token_hex(6)
    admin = create_engine(base)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    admin.dispose()
    url = make_url(base).update_query_dict({"options": f"-csearch_path={schema}"})
    return url.render_as_string(hide_password=False), schema


@contextmanager
def staff_api(tmp: Path, database: str, **settings: Any) -> Iterator[StaffApi]:
    """A running API on `database` with two processing centres (tokens in `api.tokens`)."""
    schema = None
    base = None
    if database == "postgresql":
        base = postgres_base()
        if base is None:
            pytest.skip("PostgreSQL not reachable")
        settings["database_url"], schema = _schema_url(base)
    try:
        with running_api(tmp, **settings) as api:
            for actor in (CENTRE, OTHER_CENTRE):
                api.register(actor, "processing_centre")
            yield StaffApi(api)
    finally:
        if schema is not None and base is not None:
            admin = create_engine(base)
            with admin.begin() as conn:
                conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
            admin.dispose()


# -- a software authenticator (WebAuthn, ES256, attestation "none") ----------------------------


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class SoftAuthenticator:
    """A platform authenticator in software: one discoverable ES256 credential."""

    def __init__(self) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.credential_id = os.urandom(16)
        self.count = 0
        self.user_handle = b""

    def _client_data(self, kind: str, challenge: str, origin: str) -> bytes:
        return json.dumps(
            {"type": kind, "challenge": challenge, "origin": origin, "crossOrigin": False}
        ).encode()

    def create(self, options: dict[str, Any], origin: str) -> dict[str, Any]:
        """navigator.credentials.create(): the registration answer, as JSON."""
        rp_id = options["rp"]["id"]
        self.user_handle = base64.urlsafe_b64decode(options["user"]["id"] + "==")
        numbers = self.key.public_key().public_numbers()
        cose = cbor2.dumps(
            {
                1: 2,
                3: -7,
                -1: 1,
                -2: numbers.x.to_bytes(32, "big"),
                -3: numbers.y.to_bytes(32, "big"),
            }
        )
        auth_data = (
            hashlib.sha256(rp_id.encode()).digest()
            + bytes([0x45])  # user present, user verified, attested credential data
            + self.count.to_bytes(4, "big")
            + bytes(16)  # AAGUID
            + len(self.credential_id).to_bytes(2, "big")
            + self.credential_id
            + cose
        )
        attestation = cbor2.dumps({"fmt": "none", "attStmt": {}, "authData": auth_data})
        client_data = self._client_data("webauthn.create", options["challenge"], origin)
        return {
            "id": b64url(self.credential_id),
            "rawId": b64url(self.credential_id),
            "type": "public-key",
            "response": {
                "clientDataJSON": b64url(client_data),
                "attestationObject": b64url(attestation),
            },
            "clientExtensionResults": {},
        }

    def get(self, options: dict[str, Any], origin: str, rp_id: str | None = None) -> dict[str, Any]:
        """navigator.credentials.get(): the assertion, as JSON."""
        self.count += 1
        auth_data = (
            hashlib.sha256((rp_id or options["rpId"]).encode()).digest()
            + bytes([0x05])  # user present, user verified
            + self.count.to_bytes(4, "big")
        )
        client_data = self._client_data("webauthn.get", options["challenge"], origin)
        signature = self.key.sign(
            auth_data + hashlib.sha256(client_data).digest(), ec.ECDSA(hashes.SHA256())
        )
        return {
            "id": b64url(self.credential_id),
            "rawId": b64url(self.credential_id),
            "type": "public-key",
            "response": {
                "clientDataJSON": b64url(client_data),
                "authenticatorData": b64url(auth_data),
                "signature": b64url(signature),
                "userHandle": b64url(self.user_handle),
            },
            "clientExtensionResults": {},
        }
