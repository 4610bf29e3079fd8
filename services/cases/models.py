"""Tables of cases (holds, red flags, disputes) and corrections."""

from __future__ import annotations

from sqlalchemy import BigInteger, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from services.db import Base, Projection


class Case(Projection, Base):
    """A hold (blocks trade), a red flag (warns) or a dispute (over a site)."""

    __tablename__ = "cases"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    target_kind: Mapped[str] = mapped_column(String(8))
    target_id: Mapped[str] = mapped_column(String(80), index=True)
    category: Mapped[str] = mapped_column(String(40))
    description: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))  # raised | responded | resolved | escalated
    raised_by: Mapped[str] = mapped_column(String(80))
    opened_index: Mapped[int] = mapped_column(BigInteger)
    last_index: Mapped[int] = mapped_column(BigInteger)
    last_note: Mapped[str | None] = mapped_column(Text)


class Correction(Projection, Base):
    """An entry declared mistaken by a later one (nothing is ever edited)."""

    __tablename__ = "corrections"

    index: Mapped[int] = mapped_column(BigInteger, primary_key=True)  # the correcting entry
    corrects: Mapped[int] = mapped_column(BigInteger, index=True)
    reason: Mapped[str] = mapped_column(Text)
    by: Mapped[str] = mapped_column(String(80))
