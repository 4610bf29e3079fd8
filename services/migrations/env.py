"""Alembic environment: always run by `services.database.migrate` with a connection."""

from __future__ import annotations

from alembic import context

import services.domains  # noqa: F401 - every model is imported
from ledger.sql.storage import metadata as log_metadata
from services.db import Base

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=[log_metadata, Base.metadata],
    render_as_batch=True,
)
with context.begin_transaction():
    context.run_migrations()
