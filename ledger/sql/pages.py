"""The log's tables read a page at a time, in index order: the one paged reader behind the
audit's database source, the backup's reader and its export.

Each page reads the rows that exist from a position on (at most `page` of them), so a gap
is stepped over, never stuck on; finding gaps is the audit's job. Where the pages come
from is the caller's: a short read transaction per page (`per_page`: rows below a signed
size never change, and a long snapshot would hold up the writers) or one connection for
them all (`on`: an import audited inside its own transaction).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import TypeVar

from sqlalchemy import Connection, Engine

from ledger.records import StoredCheckpoint, StoredEntry
from ledger.sql import storage

Opener = Callable[[], AbstractContextManager[Connection]]
"""Where each page is read: a context that gives a connection."""

CHECKPOINT_PAGE = 1000
Row = TypeVar("Row")


def per_page(engine: Engine) -> Opener:
    """Each page in its own short read transaction on `engine`."""
    return lambda: storage.read_transaction(engine)


def on(conn: Connection) -> Opener:
    """Every page on `conn`, in the caller's transaction."""
    return lambda: nullcontext(conn)


def _pages(
    read: Callable[[Connection, int], Sequence[Row]],
    opener: Opener,
    start: int,
    end: int | None,
    position: Callable[[Row], int],
) -> Iterator[Row]:
    after = start
    while end is None or after < end:
        with opener() as conn:
            rows = read(conn, after)
        if not rows:
            return
        yield from rows
        after = position(rows[-1]) + 1


def entries(opener: Opener, start: int, end: int, page: int) -> Iterator[StoredEntry]:
    """The stored entries with start <= index < end, in order."""
    return _pages(
        lambda conn, after: storage.read_entries(conn, after, end, page),
        opener,
        start,
        end,
        lambda row: row.index,
    )


def nodes(
    opener: Opener, level: int, start: int, end: int, page: int
) -> Iterator[tuple[int, bytes]]:
    """The stored (index, hash) of the tree nodes at `level` with start <= index < end."""
    return _pages(
        lambda conn, after: storage.read_nodes(conn, level, after, end, page),
        opener,
        start,
        end,
        lambda row: row[0],
    )


def checkpoints(
    opener: Opener, start: int = 0, page: int = CHECKPOINT_PAGE
) -> Iterator[StoredCheckpoint]:
    """The published checkpoints with a tree size of at least `start`, in size order."""
    return _pages(
        lambda conn, after: storage.read_checkpoints_after(conn, after - 1, page),
        opener,
        start,
        None,
        lambda cp: cp.size,
    )
