"""An audit source reading a log straight from its database (see `ledger.audit`).

`DatabaseSource` gives the audit everything a database holds: the keys, entries and
published checkpoints, and also its stored Merkle tree and head (`ledger.audit.TreeSource`),
the proofs it would serve (`ledger.audit.ProofServer`) and, given a reader of the service's
projection tables, every lot's state as they say (`ledger.audit.StateTables`).
`open_database_source` opens one from a URL for ``altan audit sqlite:///...``; the client
CLI imports this module only then, so that auditing a server needs no SQLAlchemy.

The core knows no service table: the service hands its reader over with
`read_tables_with` when its commands are attached to ``altan`` (``services.cli``), and
`open_database_source` gives it to every source it opens. A client-only install has none,
and audits the log alone.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.orm import Session

from ledger.audit import TrustedKey
from ledger.errors import MalformedInput, StorageError
from ledger.merkle import consistency_proof
from ledger.records import LogTail, StoredEntry
from ledger.sql import pages, storage
from ledger.statemap import LotState

TableReader = Callable[[Session], Mapping[str, LotState] | None]
"""Every lot's state as the service's tables say, read in the session's transaction; None
when the database has no such tables (a log-only database)."""

_table_reader: list[TableReader | None] = [None]


def read_tables_with(reader: TableReader | None) -> None:
    """Give the sources `open_database_source` opens from now on this reader of the
    service's projection tables (None: none), so that the audit compares them."""
    _table_reader[0] = reader


class DatabaseSource:
    """Audit a log straight from its database (read-only; pages of `page` entries).

    With `tables`, the audit also compares every lot's state as the tables say with the
    states it recomputed from the entries (`ledger.audit.StateTables`)."""

    def __init__(
        self, engine: Engine, page: int = 5000, *, tables: TableReader | None = None
    ) -> None:
        self._engine = engine
        self._page = page
        self._tables = tables

    def keys(self) -> list[TrustedKey]:
        with storage.read_transaction(self._engine) as conn:
            return [TrustedKey(k.name, k.key_id, k.public_key) for k in storage.read_keys(conn)]

    def checkpoint(self) -> str:
        with storage.read_transaction(self._engine) as conn:
            cp = storage.latest_checkpoint(conn)
        if cp is None:
            raise StorageError("the database holds no checkpoint: is this an Altan log?")
        return cp.note

    def entries(self, start: int, end: int) -> Iterator[StoredEntry]:
        # Each page its own short transaction (ledger.sql.pages says why).
        return pages.entries(pages.per_page(self._engine), start, end, self._page)

    def checkpoints(self, start: int = 0) -> Iterator[tuple[int, str]]:
        for cp in pages.checkpoints(pages.per_page(self._engine), start):
            yield cp.size, cp.note

    def consistency_proof(self, first: int, second: int) -> list[bytes]:
        """RFC 9162 consistency proof between two tree sizes, from the node table."""
        with storage.read_transaction(self._engine) as conn:
            return consistency_proof(storage.NodeTable(conn), first, second)

    def nodes(self, level: int, start: int, end: int) -> Iterator[tuple[int, bytes]]:
        """Stored (index, hash) of the tree nodes at `level` with start <= index < end, in
        order (see `TreeSource`), a page per short transaction as `entries` reads."""
        return pages.nodes(pages.per_page(self._engine), level, start, end, self._page)

    def tail(self) -> LogTail:
        """What lies past the latest checkpoint, in one snapshot (see `TreeSource`)."""
        with storage.snapshot_transaction(self._engine) as conn:
            return storage.read_tail(conn)

    def table_states(self) -> tuple[int, Mapping[str, LotState]] | None:
        """The log's size and every lot's state as the tables say, in one snapshot (an
        append writes its entries and projects them in one transaction); None without a
        reader, or when the reader finds no tables (see `StateTables`)."""
        if self._tables is None:
            return None
        with storage.snapshot_transaction(self._engine) as conn:
            size = storage.read_size(conn)
            with Session(bind=conn) as session:
                states = self._tables(session)
        return None if states is None else (size, states)


def open_database_source(url: str) -> tuple[DatabaseSource, Engine]:
    """An audit source for the log in the database at `url`, and its engine (the caller
    disposes of it). Raises MalformedInput for what is not a database URL, a URL whose
    driver is not installed, or a SQLite file that does not exist."""
    try:
        parsed = make_url(url)
        # Opening a missing SQLite file would create an empty database: refuse instead.
        database = parsed.database or ""
        on_disk = parsed.get_backend_name() == "sqlite" and database not in ("", ":memory:")
        if on_disk and not Path(database).is_file():
            raise MalformedInput(f"no SQLite database file at {database}")
        engine = storage.make_engine(url)
    except (ArgumentError, ImportError) as exc:  # not a URL, or no driver for it
        raise MalformedInput(
            "expected a database URL (sqlite:///var/altan.db) or an http(s):// base URL, "
            f"got {url!r}: {exc}"
        ) from exc
    return DatabaseSource(engine, tables=_table_reader[0]), engine
