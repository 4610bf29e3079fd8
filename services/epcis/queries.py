"""The EPCIS export's reads: which entries, how many, and the document they make.

Two selections, both bounded so that one request costs the server a known amount:

- a range of the log (`start` <= index < `end`), optionally filtered by eventTime (the
  body's `occurred_at`, compared as instants: `since` <= t < `until`). One page scans at
  most `SCAN_MAX` entries and returns at most `limit` events; when it stops early, the
  page says where the next one starts (the route puts it in a `Link: rel="next"` header).
- a lot: every entry in the history of the lot and of each lot upstream of it (back to the
  ore), plus corrections of those entries, in log order. Refused with
  `epcis-too-large` past `MAX_LOT_ENTRIES` entries (and `provenance-too-large` past the
  provenance walk's own bound).

The entries are read from the log by range or by index, and the facts the mapping asks
for from the projection tables (`ProjectionFacts`), in the caller's snapshot.

Rule slugs: RuleViolation `epcis-too-large`; LedgerError OutOfRange for a bad range and
MalformedInput for a time without a UTC offset.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.entry import Entry, format_time
from ledger.errors import MalformedInput, OutOfRange
from ledger.sql import storage
from services.cases.models import Case, Correction
from services.certificates.models import CertificateRecord
from services.epcis.mapping import (
    MAPPERS,
    CaseFacts,
    Logged,
    MissingFact,
    OfferFacts,
    Unmappable,
    epcis_document,
    event_time,
    instant,
    map_entry,
)
from services.errors import RuleViolation
from services.lots import queries as lot_queries
from services.lots.models import Lot, LotEvent, LotLink, Offer

SCAN_MAX = 5_000  # entries read for one page of /epcis/events
PAGE_MAX = 1_000  # events in one page of /epcis/events (the `limit` ceiling)
MAX_LOT_ENTRIES = 5_000  # entries behind one lot's export
_READ = 500  # entries per read
_CHUNK = 500  # ids per IN (...) query


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
    facts = ProjectionFacts(session)
    events: list[dict[str, Any]] = []
    skipped: list[Unmappable] = []
    pos, scanned = start, 0
    while pos < stop and len(events) < limit and scanned < SCAN_MAX:
        batch = read_range(session, pos, min(stop, pos + _READ, pos + SCAN_MAX - scanned))
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
    nodes = [node["lot"] for node in lot_queries.upstream(session, lot_id)["nodes"]]
    indices = sorted(lot_indices(session, nodes))
    if len(indices) > MAX_LOT_ENTRIES:
        raise RuleViolation(
            "epcis-too-large",
            f"lot {lot_id} and the {len(nodes) - 1} lots upstream of it have "
            f"{len(indices)} ledger entries; one export holds at most {MAX_LOT_ENTRIES} "
            "(export ranges of the log with /epcis/events instead)",
            field="lot_id",
        )
    facts = ProjectionFacts(session)
    found = read_at(session, indices)
    skipped: list[Unmappable] = []
    events = [
        event
        for i in indices
        if i in found and (event := _mapped(found[i], facts, skipped)) is not None
    ]
    return _document(events, skipped, now)


def _mapped(e: Logged, facts: ProjectionFacts, skipped: list[Unmappable]) -> Any:
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


# --- reads of the log and the projection ----------------------------------------------------


def logged(row: storage.StoredEntry) -> Logged:
    """A stored entry as the mapping sees it."""
    entry = Entry.from_bytes(row.entry)
    return Logged(
        index=row.index,
        leaf_hash=row.leaf_hash,
        time=entry.time,
        type=entry.event.type,
        actor=entry.event.actor,
        body=entry.event.body,
    )


def read_range(session: Session, start: int, end: int) -> list[Logged]:
    """Entries start <= i < end, in order."""
    return [logged(row) for row in storage.read_entries(session.connection(), start, end)]


def read_at(session: Session, indices: Iterable[int]) -> dict[int, Logged]:
    """The entries at these indices (those that exist), by index."""
    wanted = sorted(set(indices))
    table = storage.log_entries
    out: dict[int, Logged] = {}
    for first in range(0, len(wanted), _CHUNK):
        chunk = wanted[first : first + _CHUNK]
        stmt = select(
            table.c.idx, table.c.entry, table.c.leaf_hash, table.c.key_id, table.c.signature
        ).where(table.c.idx.in_(chunk))
        for idx, entry, leaf, key_id, sig in session.connection().execute(stmt):
            row = storage.StoredEntry(int(idx), bytes(entry), bytes(leaf), str(key_id), bytes(sig))
            out[row.index] = logged(row)
    return out


def lot_indices(session: Session, lot_ids: Sequence[str]) -> set[int]:
    """Every entry in the history of these lots, and every correction of one of them."""
    found: set[int] = set()
    for first in range(0, len(lot_ids), _CHUNK):
        chunk = lot_ids[first : first + _CHUNK]
        found.update(session.scalars(select(LotEvent.index).where(LotEvent.lot_id.in_(chunk))))
    history = sorted(found)
    for first in range(0, len(history), _CHUNK):
        chunk2 = history[first : first + _CHUNK]
        found.update(
            session.scalars(select(Correction.index).where(Correction.corrects.in_(chunk2)))
        )
    return found


class ProjectionFacts:
    """`mapping.Facts` from the projection tables (current state, which is enough: each
    answer is either fixed once recorded or computed as of the entry asking)."""

    def __init__(self, session: Session) -> None:
        self._s = session
        self._units: dict[str, str] = {}
        self._masses: dict[str, int] = {}
        self._used: dict[str, list[tuple[int, int]]] = {}

    def _lot(self, lot_id: str) -> None:
        if lot_id in self._units:
            return
        lot = self._s.get(Lot, lot_id)
        if lot is None:
            raise MissingFact(f"no lot {lot_id!r} in the projection")
        self._units[lot_id] = lot.unit
        self._masses[lot_id] = lot.mass
        rows = self._s.execute(
            select(LotLink.event_index, LotLink.mass).where(LotLink.parent_id == lot_id)
        )
        self._used[lot_id] = sorted({(int(i), int(m)) for i, m in rows})

    def lot_unit(self, lot: str) -> str:
        self._lot(lot)
        return self._units[lot]

    def remaining_at(self, lot: str, index: int) -> int:
        """A lot's mass as created less what entries before `index` took from it: a
        processing run takes an ore lot's grams (the same figure on each of the run's
        links), a split or merge takes all of a gold lot."""
        self._lot(lot)
        before = [(i, m) for i, m in self._used[lot] if i < index]
        if not before:
            return self._masses[lot]
        if self._units[lot] == "mg":
            return 0
        taken = {i: m for i, m in before}  # one figure per run
        return self._masses[lot] - sum(taken.values())

    def offer(self, offer: str) -> OfferFacts:
        row = self._s.get(Offer, offer)
        if row is None:
            raise MissingFact(f"no offer {offer!r} in the projection")
        return OfferFacts(lot=row.lot_id, seller=row.from_id, buyer=row.to_id)

    def case(self, case: str) -> CaseFacts:
        row = self._s.get(Case, case)
        if row is None:
            raise MissingFact(f"no case {case!r} in the projection")
        return CaseFacts(kind=row.kind, target_kind=row.target_kind, target_id=row.target_id)

    def certificate_lot(self, certificate: str) -> str:
        row = self._s.get(CertificateRecord, certificate)
        if row is None:
            raise MissingFact(f"no certificate {certificate!r} in the projection")
        return row.lot_id

    def entries(self, indices: Sequence[int]) -> dict[int, Logged]:
        return read_at(self._s, indices)
