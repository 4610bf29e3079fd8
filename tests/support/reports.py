"""Entries appended the way the service did before the edge was strict (no body validation).

Shared by several test modules (moved from tests/services/reports/test_reports_robust.py).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from ledger.entry import Event, format_time
from ledger.sql import storage
from services.clock import utc_now
from services.domains import apply
from services.pipeline.projection import Applied
from support.world import World


def append_old(
    world: World, type_: str, actor: str, body: dict[str, Any], *, project: bool = True
) -> int:
    """Append an entry and its projection the way the service did before the edge was
    strict: no body validation. Returns its index."""
    log = world.api.client.app.state.log  # type: ignore[attr-defined]
    now = utc_now()
    with storage.write_transaction(log.engine) as conn:
        size: int = log.lock(conn)
        session = Session(bind=conn, autoflush=False)
        if project:
            apply(session, Applied(size, format_time(now), type_, actor, dict(body)))
        session.flush()
        log.append_in(conn, [Event(type_, actor, body)], now)
    return size
