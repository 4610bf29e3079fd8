"""The log's storage adapters: the only part of `ledger` that imports SQLAlchemy.

- `ledger.sql.storage`: the tables and the dialect-specific reads and writes;
- `ledger.sql.log`: `Log`, append, integrate and publish in one transaction;
- `ledger.sql.source`: `DatabaseSource`, an audit read straight from the database;
- `ledger.sql.backup`: the backup file, exported from and imported into the tables.

Everything else in `ledger` is the pure core (bytes in, values out), which a client-only
install uses without SQLAlchemy; an import-linter contract in pyproject.toml keeps it so.
"""
