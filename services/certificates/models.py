"""The table of issued certificates and receipts, projected from `certificate.*` entries."""

from __future__ import annotations

from typing import Final

from sqlalchemy import BigInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from ledger.certificate import CertificateKind
from services.db import Base, Projection

KIND_NAMES: Final = {
    CertificateKind.GOLD_LOT: "gold_lot",
    CertificateKind.ORE_RECEIPT: "ore_receipt",
}
"""The `kind` column's value for each kind of token."""


class CertificateRecord(Projection, Base):
    """One issued token; superseded and revoked marks are kept, never deleted."""

    __tablename__ = "certificates"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # hex SHA-256(token)[:16]
    lot_id: Mapped[str] = mapped_column(String(64), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # gold_lot | ore_receipt
    token: Mapped[str] = mapped_column(String(1024))  # base32, as in the QR
    entry_index: Mapped[int] = mapped_column(BigInteger)  # the entry it reflects
    issued_index: Mapped[int] = mapped_column(BigInteger)  # its certificate.issued entry
    issued_time: Mapped[str] = mapped_column(String(40))
    superseded_by: Mapped[str | None] = mapped_column(String(32))
    revoked_index: Mapped[int | None] = mapped_column(BigInteger)
    revoked_by: Mapped[str | None] = mapped_column(String(80))
    revoked_time: Mapped[str | None] = mapped_column(String(40))
    revoked_reason: Mapped[str | None] = mapped_column(String(2000))
