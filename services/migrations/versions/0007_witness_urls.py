"""witness urls: where the log submits its checkpoints (c2sp.org/tlog-witness add-checkpoint)

Revision ID: 0007_witness_urls
Revises: 0006_witnesses
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_witness_urls"
down_revision = "0006_witnesses"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("witnesses") as batch:
        batch.add_column(sa.Column("url", sa.String(length=300), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("witnesses") as batch:
        batch.drop_column("url")
