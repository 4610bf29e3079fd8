"""Administrators from the server side: the first one (`altan init`), and the operator's
recovery of a lost or compromised one (`altan admin recover`, `altan admin revoke`).

These are the only ways an administrator is made active again, or suspended or revoked:
through the API no role may change the status of a role ranked at or above its own
(services/roles.py). Each is an entry in the log by the system principal
(`system:altan`), recorded through the same projectors and rules as any event, so the
record shows who was made administrator when, by the server's operator; they need the
database and the log key, which only the operator holds.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ledger.entry import Event, format_time
from ledger.sql import storage
from schemas.events import ActorRegistered, ActorStatusChanged
from services.actors.models import Actor, ApiToken
from services.actors.queries import active_administrators
from services.actors.rules import check_status_change
from services.errors import Conflict, RuleViolation
from services.identity import SYSTEM_ACTOR
from services.identity.auth import issue_token
from services.pipeline import Applied
from services.pipeline.service import EventService
from services.roles import ADMINISTRATOR

FIRST_ADMIN = "admin:root"
log = logging.getLogger("altan.admin")


def bootstrap_administrator(events: EventService, actor_id: str = FIRST_ADMIN) -> str | None:
    """Register the first administrator and return its first token (to print once), or
    None when an administrator already exists (whatever its status: see
    `administrators`)."""
    now = events.clock()
    time = format_time(now)
    with storage.write_transaction(events.engine) as conn:
        size = events.log.lock(conn)
        s = Session(bind=conn, autoflush=False)
        if s.scalars(select(Actor.id).where(Actor.role == ADMINISTRATOR).limit(1)).first():
            return None
        body = {"occurred_at": time, "actor": actor_id, "role": ADMINISTRATOR}
        event = Event("actor.registered", SYSTEM_ACTOR, body)
        events.registry.apply(s, Applied(size, time, event.type, event.actor, body))
        s.flush()
        events.append_closed(s, [event], now)
        _, token = issue_token(s, actor_id, "first administrator (altan init)", time)
        s.flush()
    return token


@dataclass(frozen=True)
class AdminState:
    """An administrator as the log says it is now."""

    actor: str
    status: str
    reason: str | None


def administrators(events: EventService) -> list[AdminState]:
    """Every registered administrator with its status, in id order."""
    with storage.read_transaction(events.engine) as conn:
        rows = Session(bind=conn).scalars(
            select(Actor).where(Actor.role == ADMINISTRATOR).order_by(Actor.id)
        )
        return [AdminState(a.id, a.status, a.status_reason) for a in rows]


@dataclass
class Recovery:
    """What an operator's command did: the entries it appended (index, type, what), the
    tokens it revoked, and the new token (shown once), if any."""

    actor: str
    appended: list[tuple[int, str, str]] = field(default_factory=list)
    revoked_tokens: int = 0
    token: str | None = None


def _validated(model: type[BaseModel], body: dict[str, Any]) -> None:
    try:
        model.model_validate(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise RuleViolation("invalid-body", f"{where}: {first['msg']}", field=where) from exc


def _append_system(
    events: EventService,
    type_: str,
    body: dict[str, Any],
    model: type[BaseModel],
    then: Callable[[Session], None],
) -> int:
    """Append one event by the system principal in its own write transaction, after
    `then(session)` (the rules, run under the append lock) passes; returns its index."""
    now = events.clock()
    time = format_time(now)
    body = {"occurred_at": time, **body}
    _validated(model, body)
    with storage.write_transaction(events.engine) as conn:
        size = events.log.lock(conn)
        s = Session(bind=conn, autoflush=False)
        then(s)
        event = Event(type_, SYSTEM_ACTOR, body)
        events.registry.apply(s, Applied(size, time, type_, SYSTEM_ACTOR, body))
        s.flush()
        events.append_closed(s, [event], now)
    return size


def recover_administrator(
    events: EventService, actor_id: str, reason: str, *, label: str = "altan admin recover"
) -> Recovery:
    """Make `actor_id` an active administrator and give it a fresh token.

    - absent: registered as an administrator (`actor.registered` by the system);
    - a suspended administrator: made active (`actor.status_changed` by the system);
    - an active administrator: nothing is appended (running twice appends once);
    - revoked, or not an administrator: refused (choose another id).

    Then every earlier token of `actor_id` is revoked (they are lost or compromised, or
    recovery would not be needed) and a new one issued, to print once.
    """
    out = Recovery(actor_id)
    with storage.read_transaction(events.engine) as conn:
        found = Session(bind=conn).get(Actor, actor_id)
        state = None if found is None else (found.role, found.status)

    def still(s: Session) -> None:  # the state seen above, checked again under the lock
        row = s.get(Actor, actor_id)
        if (None if row is None else (row.role, row.status)) != state:
            raise Conflict("changed", f"{actor_id} changed meanwhile; run the command again")

    if state is None:
        body = {"actor": actor_id, "role": ADMINISTRATOR}
        index = _append_system(events, "actor.registered", body, ActorRegistered, still)
        out.appended.append((index, "actor.registered", f"registered {actor_id} as administrator"))
    elif state[0] != ADMINISTRATOR:
        raise RuleViolation(
            "not-an-administrator",
            f"{actor_id} is a {state[0]}, not an administrator; choose a new id",
            field="actor",
        )
    elif state[1] == "revoked":
        raise RuleViolation(
            "actor-revoked", f"{actor_id} is revoked for good; choose a new id", field="actor"
        )
    elif state[1] != "active":
        body = {
            "actor": actor_id,
            "status": "active",
            "reason": f"recovered by the server's operator: {reason}",
        }

        def rules(s: Session) -> None:
            still(s)
            row = s.get(Actor, actor_id)
            assert row is not None
            check_status_change(s, None, row, "active")

        index = _append_system(events, "actor.status_changed", body, ActorStatusChanged, rules)
        out.appended.append((index, "actor.status_changed", f"made {actor_id} active again"))
    with storage.write_transaction(events.engine) as conn:
        s = Session(bind=conn)
        time = format_time(events.clock())
        result = s.execute(
            update(ApiToken)
            .where(ApiToken.actor_id == actor_id, ApiToken.revoked_at.is_(None))
            .values(revoked_at=time)
        )
        out.revoked_tokens = int(getattr(result, "rowcount", 0) or 0)
        _, out.token = issue_token(s, actor_id, label, time)
        s.flush()
    log.warning(
        "administrator %s recovered by the operator (entries %s, %d tokens revoked)",
        actor_id,
        [i for i, _, _ in out.appended],
        out.revoked_tokens,
    )
    return out


def revoke_administrator(
    events: EventService, actor_id: str, reason: str, *, status: str = "revoked"
) -> Recovery:
    """Revoke (or suspend, with `status="suspended"`) an administrator that is lost or
    compromised, through the log, by the system; a revoked one's tokens stop at once, a
    suspended one's only read. Refused for the last active administrator
    (`last-administrator`: recover another first), for an actor that is not an
    administrator (the API's status changes are for them), and for no change."""
    out = Recovery(actor_id)
    body = {"actor": actor_id, "status": status, "reason": reason}

    def rules(s: Session) -> None:
        row = s.get(Actor, actor_id)
        if row is None:
            raise RuleViolation("unknown-actor", f"no actor {actor_id!r}", field="actor")
        if row.role != ADMINISTRATOR:
            raise RuleViolation(
                "not-an-administrator",
                f"{actor_id} is a {row.role}; change its status with actor.status_changed",
                field="actor",
            )
        check_status_change(s, None, row, status)

    index = _append_system(events, "actor.status_changed", body, ActorStatusChanged, rules)
    out.appended.append((index, "actor.status_changed", f"{status} {actor_id}"))
    log.warning("administrator %s %s by the operator (entry %d)", actor_id, status, index)
    return out


__all__ = [
    "FIRST_ADMIN",
    "AdminState",
    "Recovery",
    "active_administrators",
    "administrators",
    "bootstrap_administrator",
    "recover_administrator",
    "revoke_administrator",
]
