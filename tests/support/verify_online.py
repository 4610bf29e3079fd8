"""A certificate world served through an editable transport, for `altan verify` online.

Shared by several test modules (moved from tests/clients/test_verify_online.py).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from support.certificates import (
    PUBLIC_URL,
    World,
    populate,
)
from support.domain import running_api

Edit = Callable[[dict[str, Any]], dict[str, Any]]


class App(httpx.BaseTransport):
    """A network into the app: every request goes to the TestClient, whatever its host
    (the QR names https://altan.mn); `edit` rewrites a JSON answer (a lying server), `fail`
    replaces the answer altogether."""

    def __init__(
        self,
        world: World,
        edit: Edit | None = None,
        fail: Callable[[httpx.Request], httpx.Response] | None = None,
    ) -> None:
        self.client = world.c
        self.edit = edit
        self.fail = fail
        self.urls: list[str] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.urls.append(str(request.url))
        if self.fail is not None:
            return self.fail(request)
        resp = self.client.request(request.method, str(request.url), headers=request.headers)
        body = resp.content
        if self.edit is not None:
            body = json.dumps(self.edit(resp.json())).encode()
        return httpx.Response(
            resp.status_code,
            headers={"content-type": resp.headers["content-type"]},
            content=body,
        )


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    with running_api(tmp_path, public_url=PUBLIC_URL) as api:
        yield populate(api)
