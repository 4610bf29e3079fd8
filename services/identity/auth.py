"""Bearer tokens: issued per user of an actor, stored as SHA-256 hashes, revocable; and
who may read whose records.

Reads (README "Reads"): officers (administrators, regulators, auditors) read every record;
anyone else reads the records it is a party to. To anyone else a record that exists is
answered exactly as one that does not (the same 404 problem), so ids cannot be probed.
"""

from __future__ import annotations

import hashlib
import secrets
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import select
from sqlalchemy.orm import Session

from services import observability
from services.errors import Forbidden, NotFound, RuleViolation, Unauthenticated
from services.identity import BearerToken, Principal
from services.identity.tables import Actor, ApiToken
from services.roles import OFFICERS

TOKEN_PREFIX = "altan_"  # noqa: S105 - a prefix, not a secret


def hash_token(token: str) -> str:
    """Tokens carry 256 random bits, so a plain SHA-256 is enough to store them safely."""
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(session: Session, actor_id: str, label: str, now: str) -> tuple[str, str]:
    """Create a token for a user of `actor_id`; returns (token id, the token, shown once).

    Only for an active actor: a suspended actor's token could not record anything, and a
    revoked actor's would be refused at once, so minting one is always a mistake (for an
    administrator, see `altan admin recover`)."""
    actor = session.get(Actor, actor_id)
    if actor is None:
        raise NotFound("unknown-actor", f"no actor {actor_id!r}", field="actor")
    if actor.status != "active":
        raise RuleViolation(
            "actor-not-active",
            f"{actor_id} is {actor.status}; no token is issued for it",
            field="actor",
        )
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token_id = "tok_" + secrets.token_hex(8)
    session.add(
        ApiToken(
            id=token_id,
            token_hash=hash_token(token),
            actor_id=actor_id,
            label=label,
            created_at=now,
        )
    )
    return token_id, token


def revoke_token(session: Session, token_id: str, now: str) -> None:
    """Revoke a token; it stops working at once."""
    row = session.get(ApiToken, token_id)
    if row is None:
        raise NotFound("unknown-token", f"no token {token_id!r}", field="token_id")
    row.revoked_at = row.revoked_at or now


def principal_for(session: Session, token: str) -> Principal:
    """The principal a bearer token stands for, or Unauthenticated."""
    token_hash = hash_token(token)
    row = session.scalars(select(ApiToken).where(ApiToken.token_hash == token_hash)).first()
    if row is None or row.revoked_at is not None:
        raise Unauthenticated("bad-token", "the bearer token is unknown or revoked")
    actor = session.get(Actor, row.actor_id)
    if actor is None or actor.status == "revoked":
        raise Unauthenticated("bad-token", "the token's actor is not registered or revoked")
    observability.note_principal(token_hash, actor.id)  # the log line names the actor
    return Principal(actor_id=actor.id, role=actor.role, token_id=row.id)


def bearer_token(request: Request) -> BearerToken:
    """The request's bearer token, unchecked (for the event pipeline to resolve)."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated(
            "missing-token", "send Authorization: Bearer <token>", field="Authorization"
        )
    return BearerToken(token.strip())


def authenticate(request: Request) -> Principal:
    """FastAPI dependency: the principal of the request's bearer token."""
    token = bearer_token(request)
    from ledger.sql import storage

    with storage.read_transaction(request.app.state.log.engine) as conn:
        return principal_for(Session(bind=conn), token.token)


def require_active(session: Session, principal: Principal) -> None:
    """Refuse a caller whose actor is not active (suspended): its token still reads what it
    may, but it changes nothing, on the log (see the event pipeline) or off it (tokens,
    personal data)."""
    actor = session.get(Actor, principal.actor_id)
    if actor is None or actor.status != "active":
        status = "unknown" if actor is None else actor.status
        raise Forbidden(
            "caller-not-active",
            f"{principal.actor_id} is {status} and may not do this",
            field="Authorization",
        )


def may_read(principal: Principal, parties: set[str]) -> bool:
    """Whether `principal` reads a record whose parties are `parties` (officers read all)."""
    return principal.role in OFFICERS or principal.actor_id in parties


def hidden(what: str, field: str) -> NotFound:
    """The one answer for a record that does not exist or that the caller may not read:
    the same status and body either way, so a stranger cannot tell them apart."""
    # The detail does not echo the id: some routes look a lot up by another record's id (a
    # certificate's), and the lot's id must not reach a stranger either.
    return NotFound(f"unknown-{what}", f"no such {what}, or none that you may read", field=field)


def require_reader_of(principal: Principal, owners: set[str]) -> None:
    """Readers of a record: auditors, regulators, administrators, and the parties to it.
    (For a record looked up by id, use `may_read` and `hidden` instead: this 403 tells a
    stranger that the record exists.)"""
    if may_read(principal, owners):
        return
    raise Forbidden("not-a-party", "only its parties, auditors and regulators may read this")


PrincipalDep = Annotated[Principal, Depends(authenticate)]
