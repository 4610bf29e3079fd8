"""The declarative base of the service's own tables (the log's are in ledger.sql.storage).

Two kinds of table, kept apart on purpose:

- projection tables: current state derived from the log alone (`Base.metadata` tables
  listed in `PROJECTION`); `altan rebuild` empties and replays them;
- off-log tables: what the log must not or cannot hold (personal data, prices, tokens,
  idempotency records); never touched by a rebuild.
"""

from __future__ import annotations

from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Base of every service table."""

    metadata = MetaData(naming_convention=NAMING)


class Projection:
    """Mixin marking a table as derived from the log (rebuilt by `altan rebuild`)."""
