"""The service's clock (the ledger core never reads one itself)."""

from __future__ import annotations

from datetime import UTC, datetime


def utc_now() -> datetime:
    """The service's clock (the ledger core never reads one itself)."""
    return datetime.now(UTC)
