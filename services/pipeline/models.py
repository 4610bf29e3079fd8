"""Off-log bookkeeping of the event pipeline: idempotency records."""

from __future__ import annotations

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from services.db import Base


class IdempotencyRecord(Base):
    """The first answer to a request with an Idempotency-Key, replayed on retries."""

    __tablename__ = "idempotency_records"

    actor_id: Mapped[str] = mapped_column(String(80), primary_key=True)
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    status: Mapped[int]
    response: Mapped[str] = mapped_column(Text)
    created_at: Mapped[str] = mapped_column(String(32))
