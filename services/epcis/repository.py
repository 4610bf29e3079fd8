"""Queries of the EPCIS export: log entries by range or by index, and the facts the
mapping asks for, read from the projection tables in the caller's snapshot."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.entry import Entry
from ledger.sql import storage
from services.cases.models import Case, Correction
from services.certificates.models import CertificateRecord
from services.epcis.mapping import CaseFacts, Logged, MissingFact, OfferFacts
from services.lots.models import Lot, LotEvent, LotLink, Offer

_CHUNK = 500  # ids per IN (...) query


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
