"""state map: every lot's state in a sparse Merkle map the log commits to (issue 14)

The last entry of every append is a `state.root` entry holding the map's root
(services/certificates/status.py); these tables hold the map (ledger/sql/statemap.py).
A database migrated from before has lots but no map: `altan rebuild` (or the first start,
services/runtime.py) writes it from the projection tables, and the next append commits it.
`lot_events` gets an index on the entry index: an append finds the lots it touched by it.

Revision ID: 0012_state_map
Revises: 0011_report_snapshots
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012_state_map"
down_revision = "0011_report_snapshots"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "state_values",
        sa.Column("key", sa.LargeBinary(length=32), nullable=False),
        sa.Column("lot_id", sa.String(length=64), nullable=False),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column("value", sa.LargeBinary(length=32), nullable=False),
        sa.PrimaryKeyConstraint("key"),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "state_nodes",
        sa.Column("node", sa.LargeBinary(length=33), nullable=False),
        sa.Column("hash", sa.LargeBinary(length=32), nullable=False),
        sa.PrimaryKeyConstraint("node"),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "state_tips",
        sa.Column("node", sa.LargeBinary(length=33), nullable=False),
        sa.Column("key", sa.LargeBinary(length=32), nullable=False),
        sa.PrimaryKeyConstraint("node"),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "state_head",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("root", sa.LargeBinary(length=32), nullable=False),
        sa.Column("lots", sa.BigInteger(), nullable=False),
        sa.Column("root_index", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_lot_events_index", "lot_events", ["index"])


def downgrade() -> None:
    op.drop_index("ix_lot_events_index", table_name="lot_events")
    for table in ("state_head", "state_tips", "state_nodes", "state_values"):
        op.drop_table(table)
