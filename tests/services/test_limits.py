"""Rate limits and tokens (issue 11, finding 6): limits are counted per validated actor, else
per client address, so neither a fresh random bearer per request nor a pile of minted tokens
escapes them; live tokens per actor are capped; a write's body is not read (nor parsed)
before its bearer token is found valid."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from services.asgi import ASGIApp, Message, Receive, Scope, Send
from services.security import RateLimiter, Security
from support.clock import FakeClock
from support.db import Database, database_url
from support.domain import WHEN, Api, running_api


def _limited(api: Api) -> FakeClock:
    clock = FakeClock()
    (middleware,) = [m for m in api.client.app.user_middleware if m.cls is Security]  # type: ignore[attr-defined]
    limiter = middleware.kwargs["limiter"]
    assert isinstance(limiter, RateLimiter)
    limiter.clock = clock
    limiter._buckets.clear()  # buckets of the real clock mean nothing on this one
    return clock


def _random_bearer() -> dict[str, str]:
    return {"Authorization": "Bearer altan_" + secrets.token_urlsafe(32)}


def test_a_random_bearer_per_request_counts_against_the_address(tmp_path: Path) -> None:
    with running_api(tmp_path, rate_limit_per_minute=6) as api:
        _limited(api)
        statuses = [
            api.client.get("/lots/ORE-1", headers=_random_bearer()).status_code for _ in range(9)
        ]
        assert statuses == [401] * 6 + [429] * 3
        # and a write with a random bearer too (the address's bucket is empty)
        resp = api.client.post("/events", json={"type": "x", "body": {}}, headers=_random_bearer())
        assert resp.status_code == 429


def test_all_tokens_of_an_actor_share_one_limit(tmp_path: Path) -> None:
    with running_api(tmp_path, rate_limit_per_minute=8) as api:
        admin = api.headers("admin:root")
        tokens = []
        for i in range(3):
            resp = api.client.post(
                "/actors/admin:root/tokens", json={"label": f"t{i}"}, headers=admin
            )
            assert resp.status_code == 201, resp.text
            tokens.append(resp.json()["token"])
        _limited(api)  # a fresh start: full buckets
        statuses = [
            api.client.get(
                "/lots/ORE-1", headers={"Authorization": f"Bearer {tokens[i % 3]}"}
            ).status_code
            for i in range(12)
        ]
        # each new token's first request counts against the address (3), the rest against
        # the actor (8): one bucket for the three tokens, not three
        assert statuses == [404] * 11 + [429], statuses


def test_live_tokens_per_actor_are_capped(database: Database, tmp_path: Path) -> None:
    url, _ = database_url(database)
    with running_api(tmp_path, database_url=url, max_tokens_per_actor=3) as api:
        api.register("centre:bornuur", "processing_centre")  # its first token
        centre = api.headers("centre:bornuur")
        made = []
        for i in range(2):
            resp = api.client.post(
                "/actors/centre:bornuur/tokens", json={"label": f"till {i}"}, headers=centre
            )
            assert resp.status_code == 201, resp.text
            made.append(resp.json()["token_id"])
        over = api.client.post(
            "/actors/centre:bornuur/tokens", json={"label": "one more"}, headers=centre
        )
        assert over.status_code == 409, over.text
        assert over.headers["content-type"] == "application/problem+json"
        assert over.json()["type"].endswith("/too-many-tokens")
        assert "ALTAN_MAX_TOKENS_PER_ACTOR" in over.json()["detail"]
        # an administrator is held to it as well
        again = api.client.post(
            "/actors/centre:bornuur/tokens", json={"label": "x"}, headers=api.headers("admin:root")
        )
        assert again.status_code == 409
        assert api.client.delete(f"/tokens/{made[0]}", headers=centre).status_code == 204
        resp = api.client.post(
            "/actors/centre:bornuur/tokens", json={"label": "after revoking"}, headers=centre
        )
        assert resp.status_code == 201, resp.text


class CountingReceive:
    """Wraps the app: counts the request body bytes the app actually read."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.read = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def counting() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                self.read += len(message.get("body", b""))
            return message

        await self.app(scope, counting if scope["type"] == "http" else receive, send)


@pytest.fixture
def counted(tmp_path: Path) -> Iterator[tuple[Api, CountingReceive]]:
    from fastapi.testclient import TestClient

    from services.actors.bootstrap import bootstrap_administrator
    from services.app import create_app
    from services.settings import Settings

    app = create_app(Settings(data_dir=tmp_path / "data"))
    wrapper = CountingReceive(app)  # type: ignore[arg-type]
    with TestClient(wrapper) as client:  # type: ignore[arg-type]
        token = bootstrap_administrator(app.state.events)
        assert token is not None
        yield Api(client, token), wrapper


def _big_event() -> dict[str, Any]:
    filler = "x" * (3_450_000 // 2)
    return {"type": "actor.registered", "body": {"occurred_at": WHEN, "a": filler, "b": filler}}


@pytest.mark.parametrize("path", ["/events", "/events/batch", "/actors/admin:root/tokens"])
@pytest.mark.parametrize("bearer", ["none", "random"])
def test_no_body_is_read_before_the_token_is_valid(
    counted: tuple[Api, CountingReceive], path: str, bearer: str
) -> None:
    api, wrapper = counted
    headers = {} if bearer == "none" else _random_bearer()
    resp = api.client.post(path, json=_big_event(), headers=headers)
    assert resp.status_code == 401, resp.text
    assert resp.headers["content-type"] == "application/problem+json"
    assert resp.headers["www-authenticate"] == "Bearer"
    assert wrapper.read == 0  # not a byte of the 3.45 MB read
    # a bad body without a valid token: 401, not 422
    for bad in (b"{not json", b'{"items": "nope"}', b"[]"):
        resp = api.client.post(
            path, content=bad, headers={**headers, "Content-Type": "application/json"}
        )
        assert resp.status_code == 401, resp.text
    assert wrapper.read == 0
    # with a valid token the same bad body is read and refused as it deserves
    resp = api.client.post(
        path,
        content=b'{"items": "nope"}',
        headers={**api.headers("admin:root"), "Content-Type": "application/json"},
    )
    assert resp.status_code == 422
    assert wrapper.read > 0


def test_a_revoked_token_is_refused_before_the_body(
    counted: tuple[Api, CountingReceive],
) -> None:
    api, wrapper = counted
    admin = api.headers("admin:root")
    resp = api.client.post("/actors/admin:root/tokens", json={"label": "old"}, headers=admin)
    old = resp.json()
    assert api.client.delete(f"/tokens/{old['token_id']}", headers=admin).status_code == 204
    before = wrapper.read
    resp = api.client.post(
        "/events", json=_big_event(), headers={"Authorization": f"Bearer {old['token']}"}
    )
    assert resp.status_code == 401
    assert wrapper.read == before
