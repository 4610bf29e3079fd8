"""Tables of lots, their provenance links, their history and transfer offers."""

from __future__ import annotations

from typing import Final

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from services.db import Base, Projection

AWAITING_ASSAY: Final = text("kind = 'gold' AND status = 'active' AND fineness_ppt IS NULL")
"""An active gold lot with no fineness recorded: the laboratories' waiting list. Written out
in the SQL rather than bound, so that PostgreSQL matches it to the partial index
`ix_lots_awaiting_assay` in a prepared statement's generic plan too (migration 0010)."""


class Lot(Projection, Base):
    """An ore lot (grams) or a gold lot (milligrams) and who holds it now."""

    __tablename__ = "lots"
    # Lists read newest first by (created_index, id), after a cursor: one index per filter
    # a page starts from (README "Lists"; migration 0009).
    __table_args__ = (
        Index("ix_lots_created", "created_index", "id"),
        Index("ix_lots_custodian_created", "custodian_id", "created_index", "id"),
        Index("ix_lots_owner_created", "owner_id", "created_index", "id"),
        Index("ix_lots_miner_created", "miner_id", "created_index", "id"),
        Index(
            "ix_lots_awaiting_assay",
            "created_index",
            "id",
            postgresql_where=AWAITING_ASSAY,
            sqlite_where=AWAITING_ASSAY,
        ),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(8))  # ore | gold
    form: Mapped[str] = mapped_column(String(16))  # ore | dore | concentrate
    unit: Mapped[str] = mapped_column(String(4))  # g | mg
    mass: Mapped[int] = mapped_column(BigInteger)  # as created, in `unit`
    remaining: Mapped[int] = mapped_column(BigInteger)  # not yet consumed, split or merged
    fineness_ppt: Mapped[int | None]
    custodian_id: Mapped[str] = mapped_column(String(80), index=True)
    owner_id: Mapped[str] = mapped_column(String(80), index=True)
    status: Mapped[str] = mapped_column(String(16))  # active | closed | exported | refined
    closed_by: Mapped[str | None] = mapped_column(String(32))  # consumed | split | merged ...
    site_id: Mapped[str | None] = mapped_column(String(64), index=True)  # ore lots
    miner_id: Mapped[str | None] = mapped_column(String(80), index=True)  # ore lots
    mercury_free: Mapped[bool | None] = mapped_column(Boolean)
    created_index: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[str] = mapped_column(String(40))  # occurred_at of the creating event


class LotLink(Projection, Base):
    """Provenance, exact as the event states it.

    Processing run: one link per (output, input) with `mass` = the input's grams consumed
    by the whole run (the same on every output). Split: `mass` = the part's mg. Merge:
    `mass` = the merged lot's mg from that parent. A parent's share of a child is
    link.mass / the sum of the child's links (see `services.lots.queries`).
    """

    __tablename__ = "lot_links"

    child_id: Mapped[str] = mapped_column(ForeignKey("lots.id"), primary_key=True)
    parent_id: Mapped[str] = mapped_column(ForeignKey("lots.id"), primary_key=True, index=True)
    mass: Mapped[int] = mapped_column(BigInteger)
    event_index: Mapped[int] = mapped_column(BigInteger)


class LotEvent(Projection, Base):
    """A lot's history: every ledger entry that concerns it, by index."""

    __tablename__ = "lot_events"

    lot_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    # indexed alone too: an append finds the lots it touched (services/certificates/status.py)
    index: Mapped[int] = mapped_column(BigInteger, primary_key=True, index=True)
    type: Mapped[str] = mapped_column(String(64))


class ProcessingRun(Projection, Base):
    """A processing run, so that a run id names one run only."""

    __tablename__ = "processing_runs"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    centre_id: Mapped[str] = mapped_column(String(80), index=True)
    index: Mapped[int] = mapped_column(BigInteger)


class Offer(Projection, Base):
    """A transfer offer of a lot from its custodian to a buyer."""

    __tablename__ = "offers"
    # Lists read newest first by (offered_index, id), after a cursor (migration 0009).
    __table_args__ = (
        Index("ix_offers_offered", "offered_index", "id"),
        Index("ix_offers_to_offered", "to_id", "offered_index", "id"),
        Index("ix_offers_from_offered", "from_id", "offered_index", "id"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    lot_id: Mapped[str] = mapped_column(ForeignKey("lots.id"), index=True)
    from_id: Mapped[str] = mapped_column(String(80))
    to_id: Mapped[str] = mapped_column(String(80), index=True)
    status: Mapped[str] = mapped_column(String(16))  # open | accepted | rejected | cancelled
    price_commitment: Mapped[str | None] = mapped_column(String(64))
    offered_index: Mapped[int] = mapped_column(BigInteger)
    closed_index: Mapped[int | None] = mapped_column(BigInteger)


class OfferPrice(Base):
    """Off the log: an offer's price, seen only by the two parties, auditors, regulators."""

    __tablename__ = "offer_prices"

    offer_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    amount: Mapped[str] = mapped_column(String(40))  # decimal string
    currency: Mapped[str] = mapped_column(String(3))
    salt: Mapped[str] = mapped_column(String(64))
    note: Mapped[str | None] = mapped_column(Text)
