"""A running API grown event by event, and the network the CLI's RemoteLog audits it through.

Shared by several test modules (moved from tests/ledger/test_audit_incremental.py).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from typer.testing import CliRunner

from clients import cli
from clients.remote import RemoteLog
from support.domain import Api, running_api

URL = "http://testserver"


ORIGIN = "altan.localhost/ledger"  # running_api's default origin


Edit = Callable[[httpx.Request, httpx.Response], httpx.Response]


class Network(httpx.BaseTransport):
    """Requests from the CLI into the app; `edit` may change an answer (a dishonest server)."""

    def __init__(self, api: Api) -> None:
        self.api = api
        self.paths: list[str] = []
        self.edit: Edit | None = None
        self.before: Callable[[httpx.Request], None] | None = None

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.paths.append(request.url.path)
        if self.before is not None:
            self.before(request)
        got = self.api.client.request(request.method, str(request.url))
        resp = httpx.Response(
            got.status_code,
            headers={"content-type": got.headers["content-type"]},
            content=got.content,
        )
        return self.edit(request, resp) if self.edit is not None else resp


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    with running_api(tmp_path) as a:
        grow(a, 20)
        yield a


_grown = [0]


def grow(api: Api, n: int) -> None:
    """Append `n` events through the API (one auditor registration each)."""
    for _ in range(n):
        _grown[0] += 1
        api.ok(
            "admin:root", "actor.registered", {"actor": f"auditor:a{_grown[0]}", "role": "auditor"}
        )


def vkey(api: Api) -> str:
    [key] = api.client.get("/log/keys").json()["keys"]
    return str(key["verifier_key"])


def app_of(api: Api) -> FastAPI:
    app = api.client.app
    assert isinstance(app, FastAPI)
    return app


def altan(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli.app, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, " ".join(result.stderr.split())


def audit_json(api: Api, state: Path, *extra: str) -> tuple[int, dict[str, Any]]:
    """`altan audit URL --key K --state S --json`: its exit status and its one-line report."""
    code, out, err = altan(
        "audit", URL, "--key", vkey(api), "--state", str(state), "--json", *extra
    )
    lines = out.strip().splitlines()
    assert len(lines) == 1, out + err
    return code, json.loads(lines[0])


def first_audit(api: Api, tmp_path: Path) -> tuple[Path, bytes]:
    """A first, passing audit of the log as it is: the trusted state file it saved, and
    the bytes it holds (which a later audit that refuses the log must leave unchanged)."""
    state = tmp_path / "log.json"
    code, report = audit_json(api, state)
    assert code == 0, report
    return state, state.read_bytes()


@pytest.fixture
def network(api: Api, monkeypatch: pytest.MonkeyPatch) -> Network:
    net = Network(api)
    monkeypatch.setattr(cli, "_remote_log", lambda url: RemoteLog(url, transport=net, page=7))
    return net


@pytest.fixture(autouse=True)
def _state_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg-state"))
