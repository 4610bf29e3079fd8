"""Witnesses registered with the log, and cosigning over real HTTP.

Shared by several test modules (moved from tests/services/witnesses/test_witnesses.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from typer.testing import CliRunner

import clients.witness as witness_client
from clients import cli
from ledger.cosignature import (
    WitnessSigner,
    cosign,
)
from ledger.note import Note, NoteVerifier
from support.certificates import PUBLIC_URL, REGULATOR
from support.domain import Api, running_api

NOW = 1_780_000_000  # the witnesses' clock in these tests (May 2026): not in the future


def witness(name: str = "witness.example.mn/w1") -> WitnessSigner:
    return WitnessSigner(Ed25519PrivateKey.generate(), name)


def register(
    api: Api, w: WitnessSigner, by: str = "admin:root", url: str | None = None
) -> dict[str, Any]:
    """Record `w` as a witness of the log (at `url`, where the log pushes its checkpoints)."""
    body = {"witness": w.name, "key": w.key.vkey}
    if url is not None:
        body["url"] = url
    return api.ok(by, "witness.registered", body)


def log_key(client: Any) -> NoteVerifier:
    [key] = client.get("/log/keys").json()["keys"]
    return NoteVerifier.from_vkey(key["verifier_key"])


def submission(note: str, *lines: str) -> str:
    """A cosigned checkpoint as a witness hands it in: the note as served, plus lines."""
    return note + "".join(lines)


def post(client: Any, text: str) -> httpx.Response:
    resp: httpx.Response = client.post(
        "/log/cosignatures", content=text.encode(), headers={"Content-Type": "text/plain"}
    )
    return resp


def cosign_latest(client: Any, w: WitnessSigner, ts: int = NOW) -> httpx.Response:
    note = client.get("/log/checkpoint").text
    return post(client, submission(note, cosign(Note.from_text(note).text, ts, w)))


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    with running_api(tmp_path, public_url=PUBLIC_URL) as a:
        a.register(REGULATOR, "regulator")
        yield a


class Network(httpx.BaseTransport):
    """Requests to http://<host>/... go to the app registered for that host."""

    def __init__(self, **hosts: Any) -> None:
        self.hosts = hosts

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        client = self.hosts[request.url.host]
        request.read()
        resp = client.request(
            request.method,
            request.url.raw_path.decode(),
            content=request.content,
            headers={k: v for k, v in request.headers.items() if k.lower() != "host"},
        )
        return httpx.Response(
            resp.status_code,
            headers={"content-type": resp.headers.get("content-type", "text/plain")},
            content=resp.content,
        )


@pytest.fixture
def network(monkeypatch: pytest.MonkeyPatch) -> Network:
    """The witness command's and the verifier's HTTP clients, through a `Network`."""
    net = Network()
    monkeypatch.setattr(
        witness_client, "new_http_client", lambda base: httpx.Client(base_url=base, transport=net)
    )
    monkeypatch.setattr(cli, "_http_client", lambda: httpx.Client(transport=net))
    return net


def altan(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli.app, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def keygen(tmp_path: Path, name: str = "witness.example.mn/w1") -> tuple[Path, str]:
    path = tmp_path / "witness.key"
    code, out, err = altan("witness", "keygen", name, "--out", str(path))
    assert code == 0, err
    return path, out.strip()
