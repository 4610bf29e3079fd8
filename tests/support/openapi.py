"""A player that posts every event type the OpenAPI document describes.

Shared by several test modules (moved from tests/services/test_openapi_contract.py).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from support.db import Database, database_url
from support.domain import Api, running_api


@pytest.fixture
def api(database: Database, tmp_path: Path) -> Iterator[Api]:
    url, _ = database_url(database)
    with running_api(tmp_path, database_url=url) as api:
        yield api


class Player:
    """Posts events through the real HTTP app as the actors they name, minting each
    actor's token (by the administrator) the first time it is needed."""

    def __init__(self, api: Api) -> None:
        self.api = api
        self.receipts: list[tuple[dict[str, Any], dict[str, Any]]] = []

    def token(self, actor: str) -> str:
        if actor not in self.api.tokens:
            resp = self.api.client.post(
                f"/actors/{actor}/tokens", json={"label": "scenario"}, headers=self.headers()
            )
            assert resp.status_code == 201, resp.text
            self.api.tokens[actor] = resp.json()["token"]
        return self.api.tokens[actor]

    def headers(self, actor: str = "admin:root", **extra: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(actor)}", **extra}

    def post(self, actor: str, request: dict[str, Any], **headers: str) -> dict[str, Any]:
        """Post one request; it must be recorded (201). Returns the receipt."""
        resp = self.api.client.post("/events", json=request, headers=self.headers(actor, **headers))
        assert resp.status_code == 201, (actor, request["type"], resp.text)
        receipt: dict[str, Any] = resp.json()
        self.receipts.append((request, receipt))
        return receipt

    def index_of(self, type_: str, **body: Any) -> int:
        """The log index of the posted event of `type_` whose body has these values."""
        for request, receipt in self.receipts:
            if request["type"] == type_ and all(
                request["body"].get(k) == v for k, v in body.items()
            ):
                return int(receipt["index"])
        raise AssertionError(f"no {type_} {body} was posted")

    def entries(self, type_: str) -> list[dict[str, Any]]:
        """The logged entries of one type, decoded."""
        size = self.api.size()
        out: list[dict[str, Any]] = []
        start = 0
        while start < size:
            page = self.api.client.get("/log/entries", params={"start": start, "end": size})
            assert page.status_code == 200, page.text
            for row in page.json()["entries"]:
                entry = json.loads(base64.b64decode(row["entry"]))
                if entry["type"] == type_:
                    out.append(entry)
                start = row["index"] + 1
        return out
