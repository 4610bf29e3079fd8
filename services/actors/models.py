"""Tables of actors and sites."""

from __future__ import annotations

from sqlalchemy import BigInteger, ForeignKey, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from services.db import Base, Projection


class Actor(Projection, Base):
    """A registered participant, as the log says it is now."""

    __tablename__ = "actors"

    id: Mapped[str] = mapped_column(String(80), primary_key=True)
    role: Mapped[str] = mapped_column(String(32))
    buyer_kind: Mapped[str | None] = mapped_column(String(32))
    licence_number: Mapped[str | None] = mapped_column(String(200))
    licence_valid_from: Mapped[str | None] = mapped_column(String(10))
    licence_valid_until: Mapped[str | None] = mapped_column(String(10))
    aimag: Mapped[str | None] = mapped_column(String(200))
    soum: Mapped[str | None] = mapped_column(String(200))
    members: Mapped[int | None]
    status: Mapped[str] = mapped_column(String(16), default="active")
    status_reason: Mapped[str | None] = mapped_column(Text)
    status_by: Mapped[str | None] = mapped_column(String(80))
    personal_commitment: Mapped[str | None] = mapped_column(String(64))
    registered_index: Mapped[int] = mapped_column(BigInteger)
    registered_by: Mapped[str] = mapped_column(String(80))


class ActorKey(Projection, Base):
    """An actor's Ed25519 public key for signing its own events."""

    __tablename__ = "actor_keys"

    actor_id: Mapped[str] = mapped_column(ForeignKey("actors.id"), primary_key=True)
    key_id: Mapped[str] = mapped_column(String(8), primary_key=True)
    public_key: Mapped[bytes] = mapped_column(LargeBinary(32))
    status: Mapped[str] = mapped_column(String(16), default="active")


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


class ApiToken(Base):
    """Off the log: a bearer token of one user acting for an actor; only its hash is kept."""

    __tablename__ = "api_tokens"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    actor_id: Mapped[str] = mapped_column(String(80), index=True)
    label: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[str] = mapped_column(String(32))
    revoked_at: Mapped[str | None] = mapped_column(String(32))
