"""Offline first: the service worker, the device key and the outbox's endpoint; and the
page where a signed-in staff member adds a passkey.

A centre's clerk records ore deliveries where the connection comes and goes:

1. ``GET /app/sw.js`` serves the service worker (``static/sw.js``, scope ``/app/``). It
   keeps the centre's pages (the delivery form with its miner and site picker, the today,
   deliveries and stock pages, each with the inlined style sheet and scripts) as of the
   last online visit, and serves them when the network is gone; sign-out empties it.
2. ``static/outbox.js`` (inlined in every page) makes one Ed25519 key per actor in the
   browser (WebCrypto, not extractable, kept in IndexedDB) and registers its public half
   here (``POST /app/device-key``): an ``actor.key_added`` event recorded as the signed-in
   staff member, like any actor key.
3. Offline, the delivery form is kept in the browser's outbox (IndexedDB), its event signed
   at once with the device key over the exact bytes the pipeline verifies
   (``ledger.entry.event_signing_message``: ``altan/event/v1\\n`` + RFC 8785 JSON of
   {type, actor, body}), and shown as waiting to sync.
4. When the network returns, each item is sent once to ``POST /app/outbox`` with its own
   Idempotency-Key (made in the browser when it was recorded): the pipeline verifies the
   device key's signature and records it as the signed-in staff member; a retry of the
   same item answers with the first recording (``replayed``), never a second entry. A
   refusal comes back with the rule in Mongolian and English, and the item stays in the
   outbox, marked refused, until the clerk removes it.

Who may register a device key: `services.actors.rules` lets an actor add a key to itself
(``_may_manage_keys``), and every staff member of the actor records as the actor. So any
signed-in staff member of a centre may register its device's key; the log names the staff
member (the entry's ``staff``). The key adds no power the session lacks: an event signed
with it is still recorded only by someone signed in (or holding a token) as that actor.
"""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path
from typing import Annotated, Final, cast

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from sqlalchemy import func, select

from schemas.console import DeviceKeyIn, DeviceKeyOut, OutboxItem, OutboxOut
from services.actors.rules import actor_key_id
from services.bodies import StrictJSONRoute
from services.console import kit
from services.console.pages import page
from services.errors import Conflict, DomainError, Forbidden
from services.identity import Principal
from services.pipeline.committer import EventCommitter
from services.pipeline.service import Recorded, Submission, decode_signature
from services.reads import read_session
from services.roles import PROCESSING_CENTRE
from services.staff import sessions
from services.staff.models import Passkey
from services.staff.sessions import CSRF_HEADER

__all__ = ["OFFLINE_ROLES", "SW_HEADERS", "router"]

router = APIRouter(include_in_schema=False, route_class=StrictJSONRoute)

_STATIC: Final = Path(__file__).resolve().parent / "static"
SERVICE_WORKER: Final = (_STATIC / "sw.js").read_text(encoding="utf-8")
SW_HEADERS: Final = {
    # The worker fetches this origin's pages to keep them, nothing else.
    "Content-Security-Policy": "default-src 'none'; connect-src 'self'",
    "X-Content-Type-Options": "nosniff",
    "Service-Worker-Allowed": "/app/",
    "Cache-Control": "no-cache",  # a new version is picked up at the next visit
}
OFFLINE_ROLES: Final = frozenset({PROCESSING_CENTRE})
"""The roles whose pages work offline (their events may come from the outbox)."""


def _writer(request: Request) -> Principal:
    """The signed-in staff member of a centre, for a JSON write: session and CSRF header."""
    principal = sessions.require_staff(request)
    sessions.check_csrf(request, request.headers.get(CSRF_HEADER))
    if principal.role not in OFFLINE_ROLES:
        raise Forbidden(
            "role-not-allowed",
            f"a {principal.role} has no offline outbox (only: {', '.join(sorted(OFFLINE_ROLES))})",
        )
    return principal


WriterDep = Annotated[Principal, Depends(_writer)]


@router.get("/app/sw.js")
def service_worker() -> Response:
    """The service worker, its scope the console (``/app/``)."""
    return Response(SERVICE_WORKER, media_type="text/javascript", headers=SW_HEADERS)


async def _record(request: Request, principal: Principal, submission: Submission) -> Recorded:
    """Record through the group committer; a retry racing its own first attempt waits."""
    committer = cast(EventCommitter, request.app.state.committer)
    for attempt in range(3):
        future = committer.submit_nowait(principal, submission)
        try:
            return await asyncio.wrap_future(future)
        except Conflict as exc:
            if exc.rule != "idempotency-key-in-flight" or attempt == 2:
                raise
            await asyncio.sleep(0.2)
    raise AssertionError("unreachable")  # pragma: no cover


@router.post("/app/device-key")
async def register_device_key(
    body: DeviceKeyIn, principal: WriterDep, request: Request
) -> DeviceKeyOut:
    """Register this browser's device key to the signed-in staff member's actor (once)."""
    raw = base64.b64decode(body.public_key)
    key_id = actor_key_id(principal.actor_id, raw)
    event = {
        "occurred_at": kit.local_now(request).isoformat(),
        "actor": principal.actor_id,
        "key": {"key_id": key_id, "public_key": body.public_key},
    }
    # No Idempotency-Key: a retry carries a new occurred_at; `key-exists` answers it.
    submission = Submission("actor.key_added", event)
    try:
        await _record(request, principal, submission)
    except Conflict as exc:
        if exc.rule != "key-exists":
            raise
        return DeviceKeyOut(actor=principal.actor_id, key_id=key_id, registered=False)
    return DeviceKeyOut(actor=principal.actor_id, key_id=key_id, registered=True)


@router.post("/app/outbox", response_model=OutboxOut)
async def sync_item(item: OutboxItem, principal: WriterDep, request: Request) -> Response:
    """Record one outbox item as the signed-in staff member with the device key's
    signature; a refusal answers with its rule in both languages (and its HTTP status)."""
    try:
        submission = Submission(
            type=item.type,
            body=item.body,
            signature=decode_signature(item.signature.key_id, item.signature.signature),
            idempotency_key=item.idempotency_key,
        )
        recorded = await _record(request, principal, submission)
    except DomainError as exc:
        if exc.rule in ("idempotency-key-in-flight", "not-signed-in", "csrf-failed"):
            raise  # not a refusal of the item: the outbox tries again later
        said = {
            lang: " ".join(dict.fromkeys(kit.words(err, lang) for err in exc.errors))
            for lang in ("mn", "en")
        }
        out = OutboxOut(outcome="refused", rule=exc.rule, words=said)
        return JSONResponse(out.model_dump(), status_code=exc.status)
    out = OutboxOut(outcome="recorded", index=recorded.index, replayed=recorded.replayed)
    return JSONResponse(out.model_dump(), status_code=200 if recorded.replayed else 201)


@router.get("/app/account", response_class=HTMLResponse)
def account(request: Request, session: kit.SessionDep) -> Response:
    """The signed-in staff member's own page: its passkeys, and a button to add one."""
    with read_session(request) as s:
        count = s.scalar(
            select(func.count())
            .select_from(Passkey)
            .where(Passkey.staff_id == session.principal.staff_id)
        )
    chrome, chose = kit.chrome(request, session)
    return page(request, "account.html", chrome, chose_lang=chose, passkeys=count or 0)
