"""Limits at the edge, as pure ASGI middleware so that nothing is read before it passes:
bounded request bodies (`BodyLimit`), a bearer token checked before a write's body is read
(`AuthBeforeBody`), and the cap on live tokens per actor (`ensure_token_room`)."""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import Executor
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from services.asgi import ASGIApp, Message, Receive, Scope, Send
from services.problem_texts import API_DEFAULT_LANG
from services.problems import RETRY_AFTER_SECONDS, scope_language, send_problem


class BodyTooLarge(Exception):
    pass


class BodyLimit:
    """Refuse request bodies over `max_bytes` with a 413 problem+json."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length" and value.isdigit() and int(value) > self.max_bytes:
                await self._refuse(send)
                return
        seen = 0
        started = refused = False

        async def limited_receive() -> Message:
            nonlocal seen, refused
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    # Answer now: the framework would turn the error below into a 400.
                    if not started and not refused:
                        refused = True
                        await self._refuse(send)
                    raise BodyTooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if refused:
                return  # the 413 is out; whatever the app says after it is dropped
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except BodyTooLarge:
            if not started and not refused:
                await self._refuse(send)

    async def _refuse(self, send: Send) -> None:
        detail = f"request bodies are limited to {self.max_bytes} bytes"
        await send_problem(send, 413, "body-too-large", detail, title="Request body too large")


# --- a bearer token is checked before a body is read ------------------------------------------

# Paths whose writes carry no bearer token (a witness's cosignature is signed by its key;
# the console's writes under /app/ carry its session cookie and CSRF token, which their
# routes check: services/staff/sessions.py).
ANONYMOUS_WRITES = ("/log/", "/app/")
_WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# A token seen valid is not looked up again for this long. The route still checks it (in
# the batch's transaction for POST /events), so a revoked token fails there at once; this
# check only keeps bodies of unknown tokens unread.
KNOWN_TOKEN_SECONDS = 30.0
_MAX_KNOWN_TOKENS = 10_000


class AuthBeforeBody:
    """Answer a write without a valid bearer token with 401 before its body is read.

    Without it, FastAPI reads and parses the whole body (a 3.45 MB body took 0.29 s)
    before the route sees the token, and a bad body without a token got 422 instead of
    401 (issue 11, findings 6 and 10). The token is looked up in the primary database on
    `pool` (threads of its own), bounded by `timeout` (503 with Retry-After after it).
    """

    def __init__(self, app: ASGIApp, *, timeout: float, pool: Callable[[], Executor]) -> None:
        self.app = app
        self.timeout = timeout
        self._known: dict[str, float] = {}
        self._pool = pool

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] not in _WRITE_METHODS
            or scope["path"].startswith(ANONYMOUS_WRITES)
        ):
            await self.app(scope, receive, send)
            return
        token = _bearer(scope)
        if token is None:
            await send_problem(
                send,
                401,
                "missing-token",
                "send Authorization: Bearer <token>",
                field="Authorization",
                headers=[(b"www-authenticate", b"Bearer")],
                lang=scope_language(scope),
            )
            return
        digest = hashlib.sha256(token.encode()).hexdigest()
        now = time.monotonic()
        if self._known.get(digest, 0.0) < now:
            refusal = await self._check(scope, token)
            if refusal is not None:
                await refusal(send)
                return
            if len(self._known) >= _MAX_KNOWN_TOKENS:
                self._known.clear()
            self._known[digest] = now + KNOWN_TOKEN_SECONDS
        await self.app(scope, receive, send)

    async def _check(self, scope: Scope, token: str) -> Callable[[Send], Awaitable[None]] | None:
        from services.errors import DomainError

        engine = scope["app"].state.log.engine
        loop = asyncio.get_running_loop()
        try:
            await asyncio.wait_for(
                loop.run_in_executor(self._pool(), _check_token, engine, token), self.timeout
            )
        except DomainError as exc:
            error = exc
            return lambda send: send_problem(
                send,
                error.status,
                error.rule,
                error.detail,
                field=error.field,
                headers=[(b"www-authenticate", b"Bearer")] if error.status == 401 else [],
                lang=scope_language(scope),
            )
        except (TimeoutError, SQLAlchemyError):
            return _unavailable
        return None


def _bearer(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            token = token.strip()
            return token if scheme.lower() == "bearer" and token else None
    return None


def _check_token(engine: Any, token: str) -> None:
    from sqlalchemy.orm import Session

    from ledger.sql import storage
    from services.identity.auth import principal_for

    with storage.read_transaction(engine) as conn:
        principal_for(Session(bind=conn), token)


async def _unavailable(send: Send) -> None:
    await send_problem(
        send,
        503,
        "database-unavailable",
        "the service cannot reach its database right now; try again later",
        headers=[(b"retry-after", str(RETRY_AFTER_SECONDS).encode())],
        lang=API_DEFAULT_LANG,
    )


# --- live tokens per actor --------------------------------------------------------------------


def ensure_token_room(session: Any, actor_id: str, max_live: int) -> None:
    """Refuse (409) a new bearer token for an actor that already has `max_live` unrevoked
    ones: an actor minting tokens without end would multiply whatever is counted per token
    (issue 11, finding 6)."""
    from sqlalchemy import func, select

    from services.errors import Conflict
    from services.identity.tables import ApiToken

    live = session.scalar(
        select(func.count())
        .select_from(ApiToken)
        .where(ApiToken.actor_id == actor_id, ApiToken.revoked_at.is_(None))
    )
    if live is not None and live >= max_live:
        raise Conflict(
            "too-many-tokens",
            f"{actor_id} has {live} live tokens, the most allowed (ALTAN_MAX_TOKENS_PER_ACTOR"
            f" = {max_live}); revoke one (DELETE /tokens/{{token_id}}) first",
            field="actor_id",
        )
