"""The reports read the log and the lots, actors and cases tables (see queries.py and
evidence.py); their one table of their own is `report_snapshots`, the console's
precomputed regulator report (see snapshots.py).

`report_snapshots` is off the log and derived from it: a cache of what `mass_balance` and
`red_flags` answered for one period at one tree size, never part of a backup (it is
computed again) and never emptied by `altan rebuild` (a snapshot names its tree size)."""

from __future__ import annotations

from sqlalchemy import BigInteger, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from services.db import Base

PERIOD_KEY_LENGTH = 32


class ReportSnapshot(Base):
    """The regulator report of one period ("all", or "<from>..<to>" in days of UTC+8) as
    it stood at `tree_size` entries: both reports whole, as JSON, and the part the console
    page shows (`shown`), so that a page view parses a few kilobytes, not the whole report."""

    __tablename__ = "report_snapshots"

    period: Mapped[str] = mapped_column(String(PERIOD_KEY_LENGTH), primary_key=True)
    tree_size: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    checkpoint_size: Mapped[int] = mapped_column(BigInteger)
    computed_at: Mapped[str] = mapped_column(String(32))
    mass_balance: Mapped[str] = mapped_column(Text)
    red_flags: Mapped[str] = mapped_column(Text)
    shown: Mapped[str] = mapped_column(Text)
