"""The reads of the processing centre's later pages (runs, offers, certificates, cases, the
day's register), as frozen values; each takes the signed-in centre's id and returns only
what that centre may see (its own lots, offers and cases).

The register's checkpoint is the first one the log published whose tree covers the day's
last delivery (size above its ledger index): a root hash signed by the log over every entry
of that day and before.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date

from sqlalchemy import ColumnElement, and_, or_, select
from sqlalchemy.orm import Session

from ledger.sql import storage
from services.actors.models import Actor, Site
from services.cases.models import Case
from services.certificates.models import CertificateRecord
from services.console.queries import OPEN_CASE_STATUSES, Delivery, _delivery, _stated
from services.lots.models import Lot, Offer
from services.roles import BUYER

OFFER_STATUSES = ("open", "accepted", "rejected", "cancelled")
REGISTER_LIMIT = 2_000
"""At most this many deliveries on one day's register (a centre takes 10-200)."""


@dataclass(frozen=True)
class OreLeft:
    """An ore lot the centre holds with mass left: a run's possible input."""

    lot: str
    miner: str
    site: str
    remaining_g: int
    occurred_at: str


@dataclass(frozen=True)
class GoldLot:
    """A gold lot the centre holds (active, mass left), and whether an offer is open on it."""

    lot: str
    form: str
    mass_mg: int
    remaining_mg: int
    fineness_ppt: int | None
    open_offer: str | None


@dataclass(frozen=True)
class OfferRow:
    offer: str
    lot: str
    to: str
    status: str
    offered_index: int
    closed_index: int | None


@dataclass(frozen=True)
class CertificateRow:
    certificate: str
    kind: str
    entry_index: int
    issued_index: int
    issued_time: str
    superseded: bool
    revoked: bool


@dataclass(frozen=True)
class CaseView:
    """A case on the centre or one of its lots, with what was said last."""

    case: str
    kind: str
    status: str
    target_kind: str
    target_id: str
    category: str
    description: str
    last_note: str | None


@dataclass(frozen=True)
class CheckpointView:
    """A published checkpoint: its size, root hash (hex) and the SHA-256 of its signed
    note (the text `/log/checkpoint` served when it was the latest)."""

    size: int
    root_hex: str
    note_sha256: str
    published_at: str


@dataclass(frozen=True)
class Register:
    """Every delivery of a day, oldest first, and the checkpoint covering the last one."""

    day: str
    rows: tuple[Delivery, ...]
    total_g: int
    checkpoint: CheckpointView | None
    log_size: int


def ore_left(s: Session, centre: str) -> list[OreLeft]:
    """The active ore lots the centre holds with mass left, oldest first (used first)."""
    stmt = (
        select(Lot)
        .where(Lot.custodian_id == centre, Lot.kind == "ore")
        .where(Lot.status == "active", Lot.remaining > 0)
        .order_by(Lot.created_index)
    )
    return [
        OreLeft(lot.id, lot.miner_id or "", lot.site_id or "", lot.remaining, lot.created_at)
        for lot in s.scalars(stmt)
    ]


def gold_lots(s: Session, centre: str) -> list[GoldLot]:
    """The active gold lots the centre holds with mass left, newest first."""
    stmt = (
        select(Lot, Offer.id)
        .outerjoin(Offer, and_(Offer.lot_id == Lot.id, Offer.status == "open"))
        .where(Lot.custodian_id == centre, Lot.kind == "gold")
        .where(Lot.status == "active", Lot.remaining > 0)
        .order_by(Lot.created_index.desc())
    )
    return [
        GoldLot(lot.id, lot.form, lot.mass, lot.remaining, lot.fineness_ppt, offer)
        for lot, offer in s.execute(stmt)
    ]


def own_lot(s: Session, centre: str, lot_id: str) -> Lot | None:
    """The lot if the centre holds it (any status), else None."""
    lot = s.get(Lot, lot_id)
    if lot is None or lot.custodian_id != centre:
        return None
    return lot


def buyers(s: Session) -> list[str]:
    """The active buyers' ids, for the offer form."""
    stmt = select(Actor.id).where(Actor.role == BUYER, Actor.status == "active")
    return list(s.scalars(stmt.order_by(Actor.id)))


def offers(s: Session, centre: str, status: str | None = None) -> list[OfferRow]:
    """The transfer offers the centre made (of `status`, else all), newest first."""
    stmt = select(Offer).where(Offer.from_id == centre)
    if status is not None:
        stmt = stmt.where(Offer.status == status)
    stmt = stmt.order_by(Offer.offered_index.desc()).limit(500)
    return [
        OfferRow(o.id, o.lot_id, o.to_id, o.status, o.offered_index, o.closed_index)
        for o in s.scalars(stmt)
    ]


def offer(s: Session, centre: str, offer_id: str) -> OfferRow | None:
    """One offer the centre made, else None."""
    o = s.get(Offer, offer_id)
    if o is None or o.from_id != centre:
        return None
    return OfferRow(o.id, o.lot_id, o.to_id, o.status, o.offered_index, o.closed_index)


def certificates(s: Session, lot_id: str) -> list[CertificateRow]:
    """The lot's certificates, newest first."""
    stmt = (
        select(CertificateRecord)
        .where(CertificateRecord.lot_id == lot_id)
        .order_by(CertificateRecord.issued_index.desc())
    )
    return [
        CertificateRow(
            c.id,
            c.kind,
            c.entry_index,
            c.issued_index,
            c.issued_time,
            c.superseded_by is not None,
            c.revoked_index is not None,
        )
        for c in s.scalars(stmt)
    ]


def certificate(s: Session, centre: str, certificate_id: str) -> CertificateRecord | None:
    """A certificate of a lot the centre holds, else None."""
    record = s.get(CertificateRecord, certificate_id)
    if record is None or own_lot(s, centre, record.lot_id) is None:
        return None
    return record


def _case_view(c: Case) -> CaseView:
    return CaseView(
        c.id, c.kind, c.status, c.target_kind, c.target_id, c.category, c.description, c.last_note
    )


def _cases_of(centre: str) -> ColumnElement[bool]:
    held = select(Lot.id).where(Lot.custodian_id == centre)
    return or_(
        and_(Case.target_kind == "actor", Case.target_id == centre),
        and_(Case.target_kind == "lot", Case.target_id.in_(held)),
    )


def cases(s: Session, centre: str) -> list[CaseView]:
    """Open cases on the centre or the lots it holds (or held), newest first."""
    stmt = (
        select(Case)
        .where(Case.status.in_(OPEN_CASE_STATUSES), _cases_of(centre))
        .order_by(Case.opened_index.desc())
    )
    return [_case_view(c) for c in s.scalars(stmt)]


def case(s: Session, centre: str, case_id: str) -> CaseView | None:
    """One case on the centre or its lots (any status), else None."""
    found = s.scalars(select(Case).where(Case.id == case_id, _cases_of(centre))).first()
    return _case_view(found) if found is not None else None


def register(s: Session, centre: str, day: date) -> Register:
    """Every ore delivery the centre received on `day` (the delivery's own date), oldest
    first, their total, and the first checkpoint covering the last of them."""
    stmt = (
        select(Lot)
        .where(Lot.kind == "ore", Lot.custodian_id == centre)
        .where(Lot.created_at.like(f"{day.isoformat()}T%"))
        .order_by(Lot.created_index)
        .limit(REGISTER_LIMIT)
    )
    lots = list(s.scalars(stmt))
    sites = {
        site.id: site
        for site in s.scalars(select(Site).where(Site.id.in_({lot.site_id for lot in lots})))
    }
    rows = tuple(
        _delivery(
            lot,
            sites.get(lot.site_id or ""),
            str(_stated(s, lot.created_index).get("mined_on", "")),
        )
        for lot in lots
    )
    conn = s.connection()
    found = None
    if rows:
        after = storage.read_checkpoints_after(conn, rows[-1].index, 1)
        if after:
            cp = after[0]
            found = CheckpointView(
                cp.size,
                cp.root_hash.hex(),
                hashlib.sha256(cp.note.encode("utf-8")).hexdigest(),
                cp.published_at,
            )
    return Register(
        day.isoformat(), rows, sum(r.mass_g for r in rows), found, storage.read_size(conn)
    )
