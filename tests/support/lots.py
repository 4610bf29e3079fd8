"""Every projection table's rows in a comparable form, to compare a log with its rebuild.

Shared by several test modules (moved from tests/services/lots/test_lots.py).
"""

from __future__ import annotations

from sqlalchemy import Engine, select

import services.domains  # noqa: F401 - every domain (tables, rules)
from services.lots.models import OfferPrice
from services.pipeline.projection import projection_tables


def snapshot(engine: Engine) -> dict[str, list[str]]:
    """Every projection table's rows (and the off-log prices), in a comparable form."""
    out: dict[str, list[str]] = {}
    with engine.connect() as conn:
        for table in [*projection_tables(), OfferPrice.__table__]:
            rows = conn.execute(select(table)).all()
            out[table.name] = sorted(repr(tuple(r)) for r in rows)
    return out
