"""The identity tables: actors (as the log says they are now), their signing keys, and the
bearer tokens of their users. The event pipeline reads them to authorise every event; the
actors domain's projectors write the first two, its routes the third."""

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


class ApiToken(Base):
    """Off the log: a bearer token of one user acting for an actor; only its hash is kept."""

    __tablename__ = "api_tokens"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    actor_id: Mapped[str] = mapped_column(String(80), index=True)
    label: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[str] = mapped_column(String(32))
    revoked_at: Mapped[str | None] = mapped_column(String(32))
