"""Backing up and restoring the log from the server side (`altan export`, `altan import`).

The file format and its checks are `ledger.sql.backup`'s. Here: which database; that it is
empty, every table of it and not only the log's, before anything is created in it; the
migrations; the projection rebuild inside the import's one transaction, so that a
restore is all or nothing (log and state together); and what a restore of the log alone
cannot bring back, said after every import:

- off-log data (personal records, offer prices, API tokens, idempotency records, witness
  cosignatures): never in the log, on purpose (personal data must stay erasable, the log
  cannot forget); a database-level backup (pg_dump, or a copy of the SQLite file) keeps it;
- the private log keys, which live in ``ALTAN_DATA_DIR/keys`` and not in any database.
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path
from typing import IO

from sqlalchemy import Connection, Engine, inspect, literal, select, table
from sqlalchemy.engine import make_url

from ledger.audit import TrustedKey
from ledger.errors import LedgerError, NotEmpty
from ledger.keystore import KeyStore
from ledger.sql import backup, storage
from services.clock import utc_now
from services.database import migrate
from services.domains import rebuild
from services.settings import Settings

OFF_LOG = (
    "personal data (personal_records), offer prices (offer_prices), API tokens (api_tokens), "
    "idempotency records and witness cosignatures (log_cosignatures)"
)
_BOOKKEEPING = frozenset({"alembic_version"})


def shown_url(url: str) -> str:
    """A database URL fit to print (no password)."""
    return make_url(url).render_as_string(hide_password=True)


def occupied_tables(conn: Connection) -> list[str]:
    """The tables of the database that hold rows: every table but Alembic's, and the log
    head once past size 0. Empty for a new database, or one fresh from the migrations."""
    out = []
    for name in inspect(conn).get_table_names():
        if name in _BOOKKEEPING:
            continue
        if name == storage.log_head.name:
            head = storage.log_head
            query = select(head.c.id).where(head.c.size != 0)
        else:
            query = select(literal(1)).select_from(table(name)).limit(1)
        if conn.execute(query).first() is not None:
            out.append(name)
    return sorted(out)


def _refuse_unless_empty(conn: Connection, url: str) -> None:
    occupied = occupied_tables(conn)
    if occupied:
        raise NotEmpty(
            f"the database {shown_url(url)} already holds data (rows in "
            f"{', '.join(occupied)}): `altan import` restores into an empty database only. "
            "Create a new database (or PostgreSQL schema), point --database-url or "
            "ALTAN_DATABASE_URL at it and import again, before `altan init` or `altan serve` "
            "run on it (they create a log key and a first checkpoint).",
            tables=tuple(occupied),
        )


def export_to_file(
    engine: Engine, path: Path, now: datetime, *, force: bool = False
) -> backup.BackupSummary:
    """Write the log of `engine` to `path` (`ledger.sql.backup.export_log`; reads only).

    The file appears under its name only once complete: it is written beside it under a
    temporary name, synced, then renamed. FileExistsError unless `force`.
    """
    if path.exists() and not force:
        raise FileExistsError(f"{path} exists: choose another name, or --force to replace it")
    partial = path.with_name(f".{path.name}.partial-{os.getpid()}")
    try:
        with open(partial, "xb") as out:
            summary = backup.export_log(engine, out, exported_at=now)
            out.flush()
            os.fsync(out.fileno())
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    return summary


def export_to_stream(engine: Engine, out: IO[bytes], now: datetime) -> backup.BackupSummary:
    """Write the log of `engine` to an open stream (stdout); a failure leaves it cut short,
    which an import detects (no trailer)."""
    summary = backup.export_log(engine, out, exported_at=now)
    out.flush()
    return summary


def describe_export(summary: backup.BackupSummary, file: str) -> str:
    """What `altan export` says once the file is written."""
    return (
        f"exported {summary.size} entries, {summary.checkpoints} checkpoints and "
        f"{len(summary.key_ids)} public log keys of {summary.origin} to {file}\n"
        f"root {summary.root_hash.hex()} at size {summary.size}\n"
        f"not in the file (back them up separately): {OFF_LOG}; the private log keys "
        "(ALTAN_DATA_DIR/keys)\n"
    )


def describe_import(summary: backup.BackupSummary, replayed: int, url: str, *, pinned: bool) -> str:
    """What `altan import` says once the restore is committed."""
    keys = (
        "the pinned key(s)"
        if pinned
        else "the file's own key records (pin the log's key with --key to prove who signed)"
    )
    return (
        f"imported {summary.size} entries, {summary.checkpoints} checkpoints and "
        f"{len(summary.key_ids)} public log keys of {summary.origin} (exported "
        f"{summary.exported_at}) into {shown_url(url)}\n"
        f"audit ok: every entry, receipt and checkpoint verifies with {keys}; root "
        f"{summary.root_hash.hex()} at size {summary.size}\n"
        f"state rebuilt from {replayed} entries\n"
        f"not restored (not in the log): {OFF_LOG}\n"
    )


def progress_printer(out: IO[str]) -> backup.Progress | None:
    """A progress callback printing a line per phase and per tenth, on a terminal only."""
    if not out.isatty():
        return None
    shown: dict[str, int] = {}

    def show(phase: str, done: int, total: int) -> None:
        tenth = 10 * done // total if total else 10
        if shown.get(phase) != tenth:
            shown[phase] = tenth
            out.write(f"  {phase}: {done:,} / {total:,}\n")
            out.flush()

    return show


def import_backup(
    engine: Engine,
    url: str,
    stream: IO[bytes],
    *,
    trusted_keys: list[TrustedKey] | None = None,
    workers: int | None = None,
    progress: backup.Progress | None = None,
) -> tuple[backup.BackupSummary, int]:
    """Restore a backup into the empty database of `engine`: migrate, load and verify the
    log (`ledger.sql.backup.import_log`), rebuild the projections, all in one transaction.

    Returns the file's summary and the number of entries replayed into the state. Raises
    NotEmpty (nothing touched: the check runs before the migrations create any table) or
    BackupInvalid (nothing committed).
    """
    with engine.connect() as conn:
        _refuse_unless_empty(conn, url)
    migrate(engine)
    with storage.write_transaction(engine) as conn:
        _refuse_unless_empty(conn, url)  # again: someone may have started in between
        summary = backup.import_log(
            conn, stream, trusted_keys=trusted_keys, workers=workers, progress=progress
        )
        if progress is not None:
            progress("rebuild", 0, summary.size)
        replayed = rebuild(conn)
    return summary, replayed


def restore_warnings(settings: Settings, summary: backup.BackupSummary) -> list[str]:
    """What stands between the restored database and a server that can go on appending."""
    out = []
    if settings.log_origin != summary.origin:
        out.append(
            f"ALTAN_LOG_ORIGIN is {settings.log_origin!r} but the restored log is "
            f"{summary.origin!r}: set ALTAN_LOG_ORIGIN={summary.origin} before `altan serve`"
        )
    keys_dir = settings.data_dir / "keys"
    if not (keys_dir / "keys.json").exists():
        out.append(
            f"no log keys in {keys_dir}: restore that folder from its own backup (with "
            "ALTAN_KEY_PASSPHRASE) before `altan serve`; a server without them makes a new "
            "key that is not the restored log's"
        )
        return out
    store = KeyStore(settings.data_dir, summary.origin, settings.passphrase_bytes)
    try:
        store.load_or_create(utc_now())  # loads, creates nothing: keys.json exists
        active = store.active().key.key_id
    except LedgerError as exc:
        out.append(f"the log keys in {keys_dir} cannot be loaded: {exc}")
        return out
    if active not in summary.key_ids:
        out.append(
            f"the active key in {keys_dir} ({active}) is not one of the restored log's keys "
            f"({', '.join(summary.key_ids)}): restore the log's own keys folder before "
            "`altan serve`"
        )
    return out
