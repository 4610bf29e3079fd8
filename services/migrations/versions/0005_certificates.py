"""certificates

Revision ID: 0005_certificates
Revises: 0004_site_history
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_certificates"
down_revision = "0004_site_history"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "certificates",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("lot_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("token", sa.String(length=1024), nullable=False),
        sa.Column("entry_index", sa.BigInteger(), nullable=False),
        sa.Column("issued_index", sa.BigInteger(), nullable=False),
        sa.Column("issued_time", sa.String(length=40), nullable=False),
        sa.Column("superseded_by", sa.String(length=32), nullable=True),
        sa.Column("revoked_index", sa.BigInteger(), nullable=True),
        sa.Column("revoked_by", sa.String(length=80), nullable=True),
        sa.Column("revoked_time", sa.String(length=40), nullable=True),
        sa.Column("revoked_reason", sa.String(length=2000), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_certificates")),
    )
    op.create_index(op.f("ix_certificates_lot_id"), "certificates", ["lot_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_certificates_lot_id"), table_name="certificates")
    op.drop_table("certificates")
