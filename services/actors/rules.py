"""Rules of actors, their keys and mine sites, and `rules`, the domain's `Rules` (its
projectors are in `services.actors.projectors`, its reads in `services.actors.queries`);
and the off-log commands on bearer tokens and personal data, with their permission rules."""

from __future__ import annotations

import base64
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from ledger.commitment import matches
from ledger.encoding import canonical_json
from ledger.entry import format_time
from ledger.errors import LedgerError
from ledger.note import key_id as note_key_id
from ledger.regions import MONGOLIA, aimag_code
from ledger.sql import storage
from schemas.actors import ErasureOut
from schemas.api import TokenOut
from schemas.events import (
    ActorKeyAdded,
    ActorKeyRevoked,
    ActorRegistered,
    ActorStatusChanged,
    PublicKey,
    SiteRegistered,
    SiteStatusChanged,
)
from services.actors.models import Actor, ActorKey, ApiToken, PersonalRecord, Site
from services.actors.projectors import PROJECTORS
from services.actors.queries import active_administrators
from services.clock import utc_now
from services.errors import Conflict, Forbidden, NotFound, RuleViolation
from services.identity import Principal
from services.identity.auth import hidden, issue_token, may_read, require_active, revoke_token
from services.limits import ensure_token_room
from services.pipeline import Context, Rules, lookup
from services.roles import (
    ADMINISTRATOR,
    BUYER,
    GOVERNMENT,
    OFFICERS,
    PRIVILEGED,
    REGULATOR,
    ROLES,
    SITE_OWNERS,
    may_change_status,
    outranks,
)

# This domain's handlers (registered below) and projectors (see domain.py).
rules = Rules(projectors=dict(PROJECTORS))

MAX_PERSONAL_BYTES = 16 * 1024


def actor_key_id(actor_id: str, public_key: bytes) -> str:
    """An actor key's id: C2SP style, first 4 bytes of SHA-256(actor || 0x0A || 0x01 || key)."""
    return note_key_id(actor_id, public_key).hex()


def _public_key(key: PublicKey, actor_id: str, field: str) -> bytes:
    raw = base64.b64decode(key.public_key)
    if len(raw) != 32:
        raise RuleViolation("bad-public-key", "public_key: expected 32 bytes", field=field)
    expected = actor_key_id(actor_id, raw)
    if key.key_id != expected:
        raise RuleViolation(
            "key-id-mismatch",
            f"key_id: expected {expected} for this actor and key, got {key.key_id}",
            field=f"{field}.key_id",
        )
    return raw


# --- actors ------------------------------------------------------------------------------


def _store_personal(ctx: Context, body: ActorRegistered, private: dict[str, Any] | None) -> None:
    if body.personal_commitment is None:
        if private is not None:
            raise RuleViolation(
                "unexpected-private-data",
                "private data needs a personal_commitment in the body",
                field="private",
            )
        return
    if not isinstance(private, dict) or set(private) != {"personal", "salt"}:
        raise RuleViolation(
            "personal-data-missing",
            "a personal_commitment needs private.personal (an object) and private.salt (hex)",
            field="private",
        )
    personal, salt_hex = private["personal"], private["salt"]
    try:
        salt = bytes.fromhex(salt_hex) if isinstance(salt_hex, str) else b""
        data = canonical_json(personal)
        opened = isinstance(personal, dict) and matches(body.personal_commitment, salt, personal)
    except (ValueError, LedgerError):
        opened = False
        data = b""
    if not opened:
        raise RuleViolation(
            "commitment-mismatch",
            "private.personal and private.salt do not open personal_commitment",
            field="private",
        )
    if len(data) > MAX_PERSONAL_BYTES:
        raise RuleViolation(
            "personal-data-too-large", f"at most {MAX_PERSONAL_BYTES} bytes", field="private"
        )
    ctx.session.merge(PersonalRecord(actor_id=body.actor, salt=salt_hex, data=data.decode()))


@rules.handles("actor.registered", ActorRegistered, GOVERNMENT, store_private=_store_personal)
def _register_actor(ctx: Context, body: ActorRegistered) -> None:
    if ctx.session.get(Actor, body.actor) is not None:
        raise Conflict(
            "actor-exists", f"actor {body.actor} is already registered", field="body.actor"
        )
    if body.role in PRIVILEGED and ctx.principal.role != ADMINISTRATOR:
        raise Forbidden(
            "role-not-allowed",
            f"only an administrator registers a {body.role}",
            field="body.role",
        )
    if body.region is not None:
        _known_aimag(body.region.aimag)
    if (body.role == BUYER) != (body.buyer_kind is not None):
        raise RuleViolation(
            "buyer-kind",
            "buyer_kind is required for buyers and only for them",
            field="body.buyer_kind",
        )
    if (
        body.licence
        and body.licence.valid_until
        and body.licence.valid_until < body.licence.valid_from
    ):
        raise RuleViolation(
            "licence-dates", "licence.valid_until is before valid_from", field="body.licence"
        )
    seen: set[str] = set()
    for i, key in enumerate(body.keys):
        _public_key(key, body.actor, f"body.keys.{i}")
        if key.key_id in seen:
            raise RuleViolation("duplicate-key", "a key is listed twice", field=f"body.keys.{i}")
        seen.add(key.key_id)


def check_status_change(s: Session, by: Principal | None, actor: Actor, status: str) -> None:
    """The rules of a change of `actor`'s status to `status`, asked by `by` (None: the
    server's operator, through `altan admin`). Raises the problem that refuses it.

    Rank before state, so a caller who may not touch the actor learns nothing of its state.
    """
    if by is not None:
        if actor.id == by.actor_id:
            raise Forbidden(
                "own-status", "an actor cannot change its own status", field="body.actor"
            )
        if not may_change_status(by.role, actor.role):
            raise Forbidden(
                "role-outranked",
                f"a {by.role} may not change the status of a {actor.role}: only a role that "
                "ranks above it may (administrator > regulator > auditor > the trading roles; "
                "administrators are suspended or revoked only by the server's operator)",
                field="body.actor",
            )
    if actor.status == "revoked":
        raise RuleViolation("actor-revoked", f"{actor.id} is revoked for good", field="body.actor")
    if actor.status == status:
        raise RuleViolation("no-change", f"{actor.id} is already {status}", field="body.status")
    if (
        actor.role == ADMINISTRATOR
        and actor.status == "active"
        and status != "active"
        and active_administrators(s) == [actor.id]
    ):
        raise Conflict(
            "last-administrator",
            f"{actor.id} is the last active administrator; make another one first "
            "(`altan admin recover --actor <new id>` on the server)",
            field="body.actor",
        )


@rules.handles("actor.status_changed", ActorStatusChanged, GOVERNMENT)
def _change_actor_status(ctx: Context, body: ActorStatusChanged) -> None:
    actor: Actor = lookup(ctx.session, Actor, body.actor, "actor", "body.actor")
    check_status_change(ctx.session, ctx.principal, actor, body.status)


def _may_manage_keys(ctx: Context, actor_id: str) -> None:
    if ctx.principal.role not in GOVERNMENT and ctx.principal.actor_id != actor_id:
        raise Forbidden("not-own-key", "an actor manages only its own keys", field="body.actor")


@rules.handles("actor.key_added", ActorKeyAdded, ROLES)
def _add_key(ctx: Context, body: ActorKeyAdded) -> None:
    _may_manage_keys(ctx, body.actor)
    lookup(ctx.session, Actor, body.actor, "actor", "body.actor")
    _public_key(body.key, body.actor, "body.key")
    if ctx.session.get(ActorKey, (body.actor, body.key.key_id)) is not None:
        raise Conflict("key-exists", "this key is already registered", field="body.key")


@rules.handles("actor.key_revoked", ActorKeyRevoked, ROLES)
def _revoke_key(ctx: Context, body: ActorKeyRevoked) -> None:
    _may_manage_keys(ctx, body.actor)
    key: ActorKey = lookup(
        ctx.session, ActorKey, (body.actor, body.key_id), "actor-key", "body.key_id"
    )
    if key.status != "active":
        raise RuleViolation("key-revoked", "this key is already revoked", field="body.key_id")


# --- sites --------------------------------------------------------------------------------


def _known_aimag(name: str) -> None:
    # Certificates state the region as an ISO 3166-2:MN code, so it must be one we know.
    if aimag_code(name) is None:
        raise RuleViolation(
            "unknown-aimag",
            f"region.aimag: {name!r} is not one of Mongolia's 21 aimags or Ulaanbaatar "
            "(English or Mongolian name)",
            field="body.region.aimag",
        )


@rules.handles("site.registered", SiteRegistered, GOVERNMENT)
def _register_site(ctx: Context, body: SiteRegistered) -> None:
    if ctx.session.get(Site, body.site) is not None:
        raise Conflict("site-exists", f"site {body.site} is already registered", field="body.site")
    owner: Actor = lookup(ctx.session, Actor, body.owner, "actor", "body.owner")
    if owner.role not in SITE_OWNERS:
        raise RuleViolation(
            "not-a-site-owner",
            f"a site belongs to a miner or partnership, not a {owner.role}",
            field="body.owner",
        )
    _known_aimag(body.region.aimag)
    _in_mongolia(body.lat, body.lon)


def _in_mongolia(lat_text: str, lon_text: str) -> None:
    # Exact decimals (the schema's pattern guarantees digits), never binary floats: a point
    # on the box's edge is inside. Only the national box: ledger.regions keeps no outline
    # per aimag, so a site in the wrong aimag but in Mongolia is not caught here.
    lat, lon = Decimal(lat_text), Decimal(lon_text)
    if not MONGOLIA.contains(lat, lon):
        box = MONGOLIA
        field = "body.lat" if not box.south <= lat <= box.north else "body.lon"
        raise RuleViolation(
            "outside-mongolia",
            f"lat {lat_text}, lon {lon_text} is outside Mongolia (latitude {box.south} to "
            f"{box.north} N, longitude {box.west} to {box.east} E); a mine site must be in "
            "Mongolia: check the order of lat and lon and their signs",
            field=field,
        )


@rules.handles("site.status_changed", SiteStatusChanged, GOVERNMENT)
def _change_site_status(ctx: Context, body: SiteStatusChanged) -> None:
    site: Site = lookup(ctx.session, Site, body.site, "site", "body.site")
    if site.status == body.status:
        raise RuleViolation(
            "no-change", f"{body.site} is already {body.status}", field="body.status"
        )
    if site.status == "closed":
        raise RuleViolation("site-closed", f"{body.site} is closed for good", field="body.site")


# --- off-log commands: bearer tokens and personal data ------------------------------------
# These change no log entry, so they run outside the event pipeline, each in its own write
# transaction; their permission rules live here beside the log's rules, not in the routes.
# Reading personal data is in services.actors.queries.


def _now() -> str:
    return format_time(utc_now())


def _may_issue_for(principal: Principal, target: Actor) -> bool:
    """Administrators issue tokens for anyone; regulators for the roles they outrank that
    are not officers (the trading roles); any actor for its own users."""
    return (
        principal.role == ADMINISTRATOR
        or principal.actor_id == target.id
        or (
            principal.role == REGULATOR
            and target.role not in OFFICERS
            and outranks(principal.role, target.role)
        )
    )


def issue_actor_token(
    engine: Engine, principal: Principal, actor_id: str, label: str, max_tokens: int
) -> TokenOut:
    """Mint a bearer token for a user of `actor_id`, if `principal` may (see
    `_may_issue_for`): only an active caller mints tokens, and only for an active actor."""
    with storage.write_transaction(engine) as conn:
        s = Session(bind=conn)
        require_active(s, principal)
        target = s.get(Actor, actor_id)
        if target is None or not may_read(principal, {target.id}):
            # a stranger learns nothing of whether the actor exists (officers and the
            # actor itself, all who may ever issue for it, read it anyway)
            raise hidden("actor", "actor_id")
        if not _may_issue_for(principal, target):
            raise Forbidden("not-allowed", "you may not issue tokens for this actor")
        if target.status != "active":
            raise RuleViolation("actor-not-active", f"{actor_id} is {target.status}")
        ensure_token_room(s, actor_id, max_tokens)
        token_id, token = issue_token(s, actor_id, label, _now())
        s.flush()
    return TokenOut(token_id=token_id, actor=actor_id, token=token)


def revoke_actor_token(engine: Engine, principal: Principal, token_id: str) -> None:
    """Revoke a token: an administrator any, an actor its own (even while suspended)."""
    with storage.write_transaction(engine) as conn:
        s = Session(bind=conn)
        row = s.get(ApiToken, token_id)
        if row is None:
            raise NotFound("unknown-token", f"no token {token_id!r}", field="token_id")
        if principal.role != ADMINISTRATOR and principal.actor_id != row.actor_id:
            raise Forbidden("not-allowed", "only an administrator or the token's actor may")
        if principal.actor_id != row.actor_id:
            require_active(s, principal)  # a suspended actor may still revoke its own
        revoke_token(s, token_id, _now())
        s.flush()


def erase_personal(engine: Engine, principal: Principal, actor_id: str, reason: str) -> ErasureOut:
    """Delete an actor's personal data and its salt (administrators only); the salted
    commitment in the log then opens to nothing anyone holds, and every entry, proof and
    signature still verifies. Erasing twice keeps the first time."""
    if principal.role != ADMINISTRATOR:
        raise Forbidden("not-allowed", "only an administrator erases personal data")
    with storage.write_transaction(engine) as conn:
        s = Session(bind=conn)
        require_active(s, principal)
        row = s.get(PersonalRecord, actor_id)
        if row is None:
            raise NotFound("no-personal-data", f"no personal data for {actor_id!r}")
        row.data = None
        row.salt = None
        row.erased_at = row.erased_at or _now()
        row.erased_reason = reason
        s.flush()
        return ErasureOut(actor=actor_id, erased_at=row.erased_at)
