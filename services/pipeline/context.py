"""What a domain's rules, projectors and followers see: the context of one item, the
entries they answer, and the lookups they share."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy.orm import Session

from ledger.entry import Event
from ledger.keys import LogSigner
from services.errors import NotFound
from services.identity import SYSTEM_ACTOR, Principal
from services.pipeline.projection import Applied
from services.settings import Settings


@dataclass
class Context:
    """What a rule sees: the state (session), who asks, the settings, the time."""

    session: Session
    principal: Principal
    settings: Settings
    now: datetime
    time: str
    next_index: int
    derived: list[Event] = field(default_factory=list)
    pending: list[tuple[int, Finish]] = field(default_factory=list)  # (offset in item, step)

    def derive(self, type_: str, body: dict[str, Any]) -> None:
        """Add an event the system records as a consequence (e.g. an automatic red flag)."""
        self.derived.append(Event(type=type_, actor=SYSTEM_ACTOR, body=body))


Decide = Callable[[Context, Any], None]


@dataclass(frozen=True)
class Appended:
    """An entry of this batch as a follower sees it once it is in the log."""

    index: int
    leaf_hash: bytes


# A follower answers an entry with more entries that need the entry's leaf hash (a
# certificate token names the entry it reflects). It runs in two steps: `prepare` right
# after the entry is projected, so it reads the state exactly as of that entry; the step it
# returns runs once the entry is appended, inside the same transaction.
Finish = Callable[[Appended, LogSigner, datetime], list[Event]]
Prepare = Callable[[Session, Applied], Finish | None]


StorePrivate = Callable[[Context, Any, dict[str, Any] | None], None]


Row = TypeVar("Row")


def lookup(session: Session, model: type[Row], key: object, what: str, field_name: str) -> Row:
    """Fetch a row by primary key or raise NotFound naming the field."""
    row = keep(session, session.get(model, key))
    if row is None:
        raise NotFound(f"unknown-{what}", f"no {what} {key!r}", field=field_name)
    return row


def keep(session: Session, row: Row | None) -> Row | None:
    """Hold a strong reference to `row` for the session's life: the identity map holds
    rows weakly, so a row looked up once per item of a batch (the centre, the site) was
    fetched again by SQL for every item (bench/http_append.py, pyinstrument)."""
    if row is not None:
        session.info.setdefault("keep", []).append(row)
    return row
