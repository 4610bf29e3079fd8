"""The Alembic migrations create exactly the tables the code declares, on both databases."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

import services.domains  # noqa: F401 - every model
from ledger.sql.storage import metadata as log_metadata
from services.database import migrate
from services.db import Base
from support.db import Database


def test_migrated_schema_matches_the_models(database: Database) -> None:
    migrate(database.engine)
    migrate(database.engine)  # twice: a restart must find nothing to do
    with database.engine.connect() as conn:
        ctx = MigrationContext.configure(conn)
        diff = compare_metadata(ctx, [log_metadata, Base.metadata])
    assert diff == [], diff
