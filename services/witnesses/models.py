"""Tables of witnesses (a projection of `witness.*` entries) and of their cosignatures
(off the log: a cosignature is about the log, so it cannot be in it)."""

from __future__ import annotations

from sqlalchemy import BigInteger, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from services.db import Base, Projection


class Witness(Projection, Base):
    """A witness key the log accepts cosignatures from; removed keys stay listed."""

    __tablename__ = "witnesses"

    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    key_id: Mapped[str] = mapped_column(String(8), primary_key=True)  # hex, type 0x04 key id
    public_key: Mapped[bytes] = mapped_column(LargeBinary(32))
    vkey: Mapped[str] = mapped_column(String(300))
    status: Mapped[str] = mapped_column(String(16))  # active | removed
    registered_index: Mapped[int] = mapped_column(BigInteger)
    registered_by: Mapped[str] = mapped_column(String(80))
    removed_index: Mapped[int | None] = mapped_column(BigInteger)
    removed_by: Mapped[str | None] = mapped_column(String(80))
    removed_reason: Mapped[str | None] = mapped_column(Text)
    # Where the log submits its checkpoints (c2sp.org/tlog-witness add-checkpoint prefix);
    # None: a witness that pulls (`altan witness run`).
    url: Mapped[str | None] = mapped_column(String(300))


class LogCosignature(Base):
    """Off the log: one witness's cosignature of the published checkpoint of `size`.

    The newest valid cosignature per (size, witness key) is kept: a witness cosigns an
    unchanged checkpoint again with a fresh timestamp, and verifiers that demand recent
    cosignatures need the newest. An older or equal one is acknowledged and dropped.
    """

    __tablename__ = "log_cosignatures"

    size: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    witness: Mapped[str] = mapped_column(String(200), primary_key=True)
    key_id: Mapped[str] = mapped_column(String(8), primary_key=True)
    timestamp: Mapped[int] = mapped_column(BigInteger)  # POSIX seconds, the witness's clock
    signature: Mapped[bytes] = mapped_column(LargeBinary(64))
    received_at: Mapped[str] = mapped_column(String(32))  # RFC 3339 UTC, the service's clock
