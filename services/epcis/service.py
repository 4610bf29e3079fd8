"""The EPCIS export: which entries, how many, and the document they make.

Two selections, both bounded so that one request costs the server a known amount:

- a range of the log (`start` <= index < `end`), optionally filtered by eventTime (the
  body's `occurred_at`, compared as instants: `since` <= t < `until`). One page scans at
  most `SCAN_MAX` entries and returns at most `limit` events; when it stops early, the
  page says where the next one starts (the route puts it in a `Link: rel="next"` header).
- a lot: every entry in the history of the lot and of each lot upstream of it (back to the
  ore), plus corrections of those entries, in log order. Refused with
  `epcis-too-large` past `MAX_LOT_ENTRIES` entries (and `provenance-too-large` past the
  provenance walk's own bound).

Rule slugs: RuleViolation `epcis-too-large`; LedgerError OutOfRange for a bad range and
MalformedInput for a time without a UTC offset.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from ledger.entry import format_time
from ledger.errors import MalformedInput, OutOfRange
from ledger.sql import storage
from services.epcis import repository
from services.epcis.mapping import (
    MAPPERS,
    Logged,
    Unmappable,
    epcis_document,
    event_time,
    instant,
    map_entry,
)
from services.errors import RuleViolation
from services.lots import queries

SCAN_MAX = 5_000  # entries read for one page of /epcis/events
PAGE_MAX = 1_000  # events in one page of /epcis/events (the `limit` ceiling)
MAX_LOT_ENTRIES = 5_000  # entries behind one lot's export
_READ = 500  # entries per read


@dataclass(frozen=True)
class Page:
    """One page of a range export: the document and where the next page starts."""

    document: dict[str, Any]
    next_start: int | None
    end: int


def _aware(moment: datetime | None, field: str) -> datetime | None:
    if moment is not None and moment.utcoffset() is None:
        raise MalformedInput(
            f"{field}: give the UTC offset too (2026-09-01T00:00:00+08:00), got a local time",
            field=field,
        )
    return moment


def export_range(
    session: Session,
    *,
    start: int,
    end: int | None,
    since: datetime | None,
    until: datetime | None,
    limit: int,
    now: datetime,
) -> Page:
    """The EPCIS events of entries start <= i < end (end: the log's size when None),
    whose eventTime is in [since, until), one bounded page of them."""
    since, until = _aware(since, "from"), _aware(until, "to")
    if since is not None and until is not None and since >= until:
        raise OutOfRange(f"from ({since}) must be before to ({until})", field="to")
    if end is not None and end <= start:
        raise OutOfRange(f"expected start < end, got start={start} end={end}", field="end")
    size = storage.read_size(session.connection())
    stop = size if end is None else min(end, size)
    facts = repository.ProjectionFacts(session)
    events: list[dict[str, Any]] = []
    skipped: list[Unmappable] = []
    pos, scanned = start, 0
    while pos < stop and len(events) < limit and scanned < SCAN_MAX:
        batch = repository.read_range(
            session, pos, min(stop, pos + _READ, pos + SCAN_MAX - scanned)
        )
        if not batch:  # a gap the audit reports; nothing more to read here
            break
        for e in batch:
            pos, scanned = e.index + 1, scanned + 1
            if not _may_fall_within(e, since, until):
                continue
            event = _mapped(e, facts, skipped)
            if event is not None and _within(event["eventTime"], since, until):
                events.append(event)
                if len(events) == limit:
                    break
    doc = _document(events, skipped, now)
    return Page(document=doc, next_start=pos if pos < stop else None, end=stop)


def _within(moment: str, since: datetime | None, until: datetime | None) -> bool:
    if since is None and until is None:
        return True
    t = instant(moment)
    return (since is None or since <= t) and (until is None or t < until)


def _may_fall_within(e: Logged, since: datetime | None, until: datetime | None) -> bool:
    """Skip, before mapping, an entry whose event is outside the period. An error
    declaration takes the time of the event it corrects, so it is always mapped."""
    if e.type not in MAPPERS:
        return False
    if e.type == "correction.recorded" or (since is None and until is None):
        return True
    stated = event_time(str(e.body.get("occurred_at", "")))
    return _within(e.time if stated is None else stated[0], since, until)


def export_lot(session: Session, lot_id: str, now: datetime) -> dict[str, Any]:
    """The EPCIS events of a lot and of every lot upstream of it, in log order."""
    nodes = [node["lot"] for node in queries.upstream(session, lot_id)["nodes"]]
    indices = sorted(repository.lot_indices(session, nodes))
    if len(indices) > MAX_LOT_ENTRIES:
        raise RuleViolation(
            "epcis-too-large",
            f"lot {lot_id} and the {len(nodes) - 1} lots upstream of it have "
            f"{len(indices)} ledger entries; one export holds at most {MAX_LOT_ENTRIES} "
            "(export ranges of the log with /epcis/events instead)",
            field="lot_id",
        )
    facts = repository.ProjectionFacts(session)
    found = repository.read_at(session, indices)
    skipped: list[Unmappable] = []
    events = [
        event
        for i in indices
        if i in found and (event := _mapped(found[i], facts, skipped)) is not None
    ]
    return _document(events, skipped, now)


def _mapped(e: Logged, facts: repository.ProjectionFacts, skipped: list[Unmappable]) -> Any:
    """The entry's EPCIS event, or None; an entry whose body cannot be read is skipped
    and reported (an old entry must not break the export of everything else)."""
    try:
        return map_entry(e, facts)
    except Unmappable as exc:
        skipped.append(exc)
        return None


def _document(
    events: list[dict[str, Any]], skipped: list[Unmappable], now: datetime
) -> dict[str, Any]:
    doc = epcis_document(events, format_time(now))
    if skipped:
        doc["altan:notComputable"] = [
            {"index": u.index, "reason": f"entry {u.index} left out: {u.reason}"} for u in skipped
        ]
    return doc
