"""The first administrator: recorded in the log by the system itself, once."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger import storage
from ledger.entry import Event, format_time
from services.actors.models import Actor
from services.auth import issue_token
from services.events.service import SYSTEM_ACTOR, EventService
from services.projection import Applied, apply

FIRST_ADMIN = "admin:root"


def bootstrap_administrator(events: EventService, actor_id: str = FIRST_ADMIN) -> str | None:
    """Register the first administrator and return its first token (to print once), or
    None when an administrator already exists."""
    now = events.clock()
    time = format_time(now)
    with storage.write_transaction(events.engine) as conn:
        size = events.log.lock(conn)
        s = Session(bind=conn, autoflush=False)
        if s.scalars(select(Actor.id).where(Actor.role == "administrator").limit(1)).first():
            return None
        body = {"occurred_at": time, "actor": actor_id, "role": "administrator"}
        event = Event("actor.registered", SYSTEM_ACTOR, body)
        apply(s, Applied(size, time, event.type, event.actor, body))
        s.flush()
        events.log.append_in(conn, [event], now)
        _, token = issue_token(s, actor_id, "first administrator (altan init)", time)
        s.flush()
    return token
