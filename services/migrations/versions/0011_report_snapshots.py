"""report snapshots: the console's regulator report, computed in the background

`/app/officer/reports` read the whole season on every view (5.4 s at 85k entries); the
report is now computed by a background task of each worker (services/reports/snapshots.py)
and stored here per period and tree size; the page reads the newest row.

Revision ID: 0011_report_snapshots
Revises: 0010_awaiting_assay_index
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011_report_snapshots"
down_revision = "0010_awaiting_assay_index"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "report_snapshots",
        sa.Column("period", sa.String(length=32), nullable=False),
        sa.Column("tree_size", sa.BigInteger(), nullable=False),
        sa.Column("checkpoint_size", sa.BigInteger(), nullable=False),
        sa.Column("computed_at", sa.String(length=32), nullable=False),
        sa.Column("mass_balance", sa.Text(), nullable=False),
        sa.Column("red_flags", sa.Text(), nullable=False),
        sa.Column("shown", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("period", "tree_size", name=op.f("pk_report_snapshots")),
    )


def downgrade() -> None:
    op.drop_table("report_snapshots")
