"""The console's reads: what a centre's pages show, as frozen values (never rows or dicts).

Each function takes a read session (`services.reads.read_session`) and the signed-in
actor's id, and returns only what that actor may see: a centre sees the lots it holds and
the deliveries it received, never another centre's.

Ore lots never change custodian (only gold trades), so "the deliveries a centre received"
are the ore lots it holds or held: kind ``ore`` and custodian the centre. A day is matched
on the date the delivery states (``occurred_at`` as the clerk's device wrote it, with its
offset), the local day at the counter.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from ledger.entry import Entry
from ledger.sql import storage
from services.actors.models import Actor, Site
from services.cases.models import Case
from services.certificates.models import CertificateRecord
from services.lots.models import Lot, Offer
from services.roles import SITE_OWNERS

# A case is open while it is in one of these states (as services.lots.queries holds).
OPEN_CASE_STATUSES = ("raised", "responded", "escalated")
PAGE_SIZE = 50
PICKER_LIMIT = 200


@dataclass(frozen=True)
class SiteChoice:
    """One active mine site of a miner or partnership, for the delivery picker."""

    site: str
    aimag: str
    soum: str


@dataclass(frozen=True)
class MinerChoice:
    """A miner or partnership that may deliver ore, with its active sites."""

    actor: str
    role: str
    members: int | None
    sites: tuple[SiteChoice, ...]


@dataclass(frozen=True)
class Delivery:
    """An ore lot as received: who, from where, when and how much."""

    lot: str
    miner: str
    site: str
    aimag: str
    soum: str
    mass_g: int
    remaining_g: int
    mined_on: str
    occurred_at: str
    index: int
    status: str


@dataclass(frozen=True)
class StockLot:
    """A lot the centre holds with mass left."""

    lot: str
    kind: str
    form: str
    unit: str
    mass: int
    remaining: int
    occurred_at: str


@dataclass(frozen=True)
class OpenOfferRow:
    offer: str
    lot: str
    to: str
    offered_index: int


@dataclass(frozen=True)
class OpenCase:
    case: str
    kind: str
    status: str
    target_kind: str
    target_id: str
    category: str


@dataclass(frozen=True)
class Receipt:
    """What the miner's receipt prints: the delivery and its certificate token, if any."""

    delivery: Delivery
    centre: str
    token: str | None
    notes: str | None


def miner_choices(s: Session, search: str = "") -> list[MinerChoice]:
    """Active miners and partnerships with at least one active site, each with those
    sites, by actor id; `search` keeps the actors or sites whose id, aimag or soum holds
    it (case-insensitive). At most `PICKER_LIMIT` sites."""
    stmt = (
        select(Actor.id, Actor.role, Actor.members, Site.id, Site.aimag, Site.soum)
        .join(Site, Site.owner_id == Actor.id)
        .where(Actor.role.in_(sorted(SITE_OWNERS)), Actor.status == "active")
        .where(Site.status == "active")
        .order_by(Actor.id, Site.id)
        .limit(PICKER_LIMIT)
    )
    needle = search.strip().lower()
    if needle:
        like = f"%{needle}%"
        stmt = stmt.where(
            or_(
                func.lower(Actor.id).like(like),
                func.lower(Site.id).like(like),
                func.lower(Site.aimag).like(like),
                func.lower(Site.soum).like(like),
            )
        )
    found: dict[str, tuple[str, int | None, list[SiteChoice]]] = {}
    for actor, role, members, site, aimag, soum in s.execute(stmt):
        found.setdefault(actor, (role, members, []))[2].append(SiteChoice(site, aimag, soum))
    return [MinerChoice(a, r, m, tuple(sites)) for a, (r, m, sites) in found.items()]


def _delivery(lot: Lot, site: Site | None, mined_on: str) -> Delivery:
    return Delivery(
        lot=lot.id,
        miner=lot.miner_id or "",
        site=lot.site_id or "",
        aimag=site.aimag if site is not None else "",
        soum=site.soum if site is not None else "",
        mass_g=lot.mass,
        remaining_g=lot.remaining,
        mined_on=mined_on,
        occurred_at=lot.created_at,
        index=lot.created_index,
        status=lot.status,
    )


def _stated(s: Session, index: int) -> dict[str, object]:
    """The body of the log entry at `index` (what the delivery stated: its mined-on day
    and notes are kept there, not in the lot's row)."""
    rows = storage.read_entries(s.connection(), index, index + 1)
    if not rows:
        return {}
    return dict(Entry.from_bytes(rows[0].entry).event.body)


def deliveries(
    s: Session, centre: str, *, day: str | None = None, before: int | None = None
) -> list[Delivery]:
    """The ore the centre received, newest first: on `day` (YYYY-MM-DD, the delivery's
    own date) or, paging back, recorded before ledger index `before`."""
    stmt = select(Lot, Site).outerjoin(Site, Site.id == Lot.site_id)
    stmt = stmt.where(Lot.kind == "ore", Lot.custodian_id == centre)
    if day is not None:
        stmt = stmt.where(Lot.created_at.like(f"{day}T%"))
    if before is not None:
        stmt = stmt.where(Lot.created_index < before)
    stmt = stmt.order_by(Lot.created_index.desc()).limit(PAGE_SIZE)
    return [_delivery(lot, site, "") for lot, site in s.execute(stmt).all()]


def receipt(s: Session, centre: str, lot_id: str) -> Receipt | None:
    """The receipt of one delivery the centre received (None for anyone else's lot), with
    the latest ore-receipt certificate's token if one was issued."""
    row = s.execute(
        select(Lot, Site)
        .outerjoin(Site, Site.id == Lot.site_id)
        .where(Lot.id == lot_id, Lot.kind == "ore", Lot.custodian_id == centre)
    ).first()
    if row is None:
        return None
    lot, site = row
    stated = _stated(s, lot.created_index)
    token = s.scalars(
        select(CertificateRecord.token)
        .where(CertificateRecord.lot_id == lot_id, CertificateRecord.kind == "ore_receipt")
        .order_by(CertificateRecord.issued_index.desc())
        .limit(1)
    ).first()
    notes = stated.get("notes")
    return Receipt(
        _delivery(lot, site, str(stated.get("mined_on", ""))),
        centre,
        token,
        notes if isinstance(notes, str) else None,
    )


def stock(s: Session, centre: str) -> list[StockLot]:
    """The active lots the centre holds with mass left, newest first."""
    # the columns shown, not whole rows: a busy centre's stock runs to hundreds of lots
    stmt = (
        select(Lot.id, Lot.kind, Lot.form, Lot.unit, Lot.mass, Lot.remaining, Lot.created_at)
        .where(Lot.custodian_id == centre, Lot.status == "active", Lot.remaining > 0)
        .order_by(Lot.created_index.desc())
    )
    return [StockLot(*row) for row in s.execute(stmt)]


def open_offers(s: Session, actor: str) -> list[OpenOfferRow]:
    """The transfer offers the actor made that are still open, newest first."""
    stmt = (
        select(Offer)
        .where(Offer.from_id == actor, Offer.status == "open")
        .order_by(Offer.offered_index.desc())
    )
    return [OpenOfferRow(o.id, o.lot_id, o.to_id, o.offered_index) for o in s.scalars(stmt)]


def open_cases(s: Session, actor: str) -> list[OpenCase]:
    """Open cases on the actor itself or on the lots it holds, newest first."""
    held = select(Lot.id).where(Lot.custodian_id == actor, Lot.status == "active")
    stmt = (
        select(Case)
        .where(Case.status.in_(OPEN_CASE_STATUSES))
        .where(
            or_(
                and_(Case.target_kind == "actor", Case.target_id == actor),
                and_(Case.target_kind == "lot", Case.target_id.in_(held)),
            )
        )
        .order_by(Case.opened_index.desc())
    )
    return [
        OpenCase(c.id, c.kind, c.status, c.target_kind, c.target_id, c.category)
        for c in s.scalars(stmt)
    ]
