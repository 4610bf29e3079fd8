"""list indexes: keyset pages of lots and offers (GET /lots, GET /offers, deliveries)

Each list reads newest first by (index, id) after a cursor, filtered by one actor column;
these indexes let a page start where the filter and the cursor say, at any size of log.

Revision ID: 0009_list_indexes
Revises: 0008_staff
Create Date: 2026-12-04
"""

from __future__ import annotations

from alembic import op

revision = "0009_list_indexes"
down_revision = "0008_staff"
branch_labels = None
depends_on = None

INDEXES = (
    ("ix_lots_created", "lots", ["created_index", "id"]),
    ("ix_lots_custodian_created", "lots", ["custodian_id", "created_index", "id"]),
    ("ix_lots_owner_created", "lots", ["owner_id", "created_index", "id"]),
    ("ix_lots_miner_created", "lots", ["miner_id", "created_index", "id"]),
    ("ix_offers_offered", "offers", ["offered_index", "id"]),
    ("ix_offers_to_offered", "offers", ["to_id", "offered_index", "id"]),
    ("ix_offers_from_offered", "offers", ["from_id", "offered_index", "id"]),
)


def upgrade() -> None:
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns, unique=False)


def downgrade() -> None:
    for name, table, _ in reversed(INDEXES):
        op.drop_index(name, table_name=table)
