"""Tables of actors and sites. The actors, their keys and their tokens are identity
tables (services.identity.tables, which the event pipeline reads too); they are named here
as well because this domain projects the log into them."""

from __future__ import annotations

from sqlalchemy import BigInteger, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from services.db import Base, Projection
from services.identity.tables import Actor as Actor
from services.identity.tables import ActorKey as ActorKey
from services.identity.tables import ApiToken as ApiToken


class Site(Projection, Base):
    """A mine site owned by a miner or partnership."""

    __tablename__ = "sites"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    owner_id: Mapped[str] = mapped_column(ForeignKey("actors.id"), index=True)
    aimag: Mapped[str] = mapped_column(String(200))
    soum: Mapped[str] = mapped_column(String(200))
    lat: Mapped[str] = mapped_column(String(16))
    lon: Mapped[str] = mapped_column(String(16))
    permit_number: Mapped[str | None] = mapped_column(String(200))
    permit_valid_until: Mapped[str | None] = mapped_column(String(10))
    capacity_g_per_year: Mapped[int | None] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16), default="active")
    status_reason: Mapped[str | None] = mapped_column(Text)
    registered_index: Mapped[int] = mapped_column(BigInteger)


class SiteEvent(Projection, Base):
    """A site's history: every ledger entry that concerns it (registration, status,
    deliveries of its ore, cases about it), by index."""

    __tablename__ = "site_events"

    site_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    index: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    type: Mapped[str] = mapped_column(String(64))


class PersonalRecord(Base):
    """Off the log: a person's data, bound to the log by a salted commitment.

    Erasure deletes `data` and `salt`; the commitment in the log then binds to nothing
    anyone can recover, and every proof still holds.
    """

    __tablename__ = "personal_records"

    actor_id: Mapped[str] = mapped_column(String(80), primary_key=True)
    salt: Mapped[str | None] = mapped_column(String(64))
    data: Mapped[str | None] = mapped_column(Text)  # RFC 8785 JSON
    erased_at: Mapped[str | None] = mapped_column(String(32))
    erased_reason: Mapped[str | None] = mapped_column(Text)
