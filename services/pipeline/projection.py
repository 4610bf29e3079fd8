"""Current state as a projection of the log.

Every event type has one projector: a function of the entry alone (its index, time,
actor and body) that updates the projection tables. The live path runs it right after
the rules pass, inside the append's transaction; `rebuild` runs the very same functions
over the whole log into emptied tables. So the live state and a rebuilt state can only
differ if a projector reads something other than its entry, which the rebuild test checks.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from sqlalchemy import Connection, delete, insert
from sqlalchemy.orm import Session

from ledger.entry import Entry
from ledger.sql import pages, storage
from services.db import Base, Projection


@dataclass(frozen=True)
class Applied:
    """An entry as projectors see it."""

    index: int
    time: str
    type: str
    actor: str
    body: dict[str, Any]


Projector = Callable[[Session, Applied], None]
Apply = Projector  # projects any entry: a registry's `apply`


def insert_row(session: Session, model: type[Base], **values: Any) -> None:
    """Insert one projection row at once with a Core statement, skipping the ORM's unit of
    work (which cost ~0.2 ms a row on the hot path, bench/http_append.py). For rows no
    pending ORM object depends on: histories, new lots."""
    session.connection().execute(_insert_of(model), values)


@lru_cache(maxsize=64)
def _insert_of(model: type[Base]) -> Any:
    return insert(model)


def projection_tables() -> list[Any]:
    """The tables `rebuild` empties, children before parents."""
    mapped = {m.local_table for m in Base.registry.mappers if issubclass(m.class_, Projection)}
    return [t for t in reversed(Base.metadata.sorted_tables) if t in mapped]


def rebuild(conn: Connection, apply: Apply, page: int = 5000) -> int:
    """Empty the projection tables and replay the whole log into them, in the caller's
    write transaction, with `apply` (a registry's: `services.domains.rebuild`). Returns the
    number of entries replayed."""
    storage.lock_head(conn)
    for table in projection_tables():
        conn.execute(delete(table))
    session = Session(bind=conn, autoflush=False)
    size = storage.read_size(conn)
    done = 0
    for row in pages.entries(pages.on(conn), 0, size, page):
        entry = Entry.from_bytes(row.entry)
        apply(
            session,
            Applied(
                row.index,
                entry.time,
                entry.event.type,
                entry.event.actor,
                dict(entry.event.body),
            ),
        )
        session.flush()
        done = row.index + 1
    session.flush()
    return done
