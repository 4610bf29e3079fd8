"""awaiting-assay index: the laboratories' waiting list without scanning every lot

`/app/lab` lists the active gold lots with no fineness recorded, newest first. With only
`ix_lots_created`, PostgreSQL read every lot backwards and filtered (the scan grows with
the lots, and is longest when nothing waits); this partial index holds the waiting lots
alone, in the list's order. Its predicate is `services.lots.models.AWAITING_ASSAY`.

Revision ID: 0010_awaiting_assay_index
Revises: 0009_list_indexes
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010_awaiting_assay_index"
down_revision = "0009_list_indexes"
branch_labels = None
depends_on = None

WAITING = "kind = 'gold' AND status = 'active' AND fineness_ppt IS NULL"


def upgrade() -> None:
    op.create_index(
        "ix_lots_awaiting_assay",
        "lots",
        ["created_index", "id"],
        unique=False,
        postgresql_where=sa.text(WAITING),
        sqlite_where=sa.text(WAITING),
    )


def downgrade() -> None:
    op.drop_index("ix_lots_awaiting_assay", table_name="lots")
