"""C2SP tlog-tiles read from the log's tables (ledger.tiles says what a tile holds).

A hash tile of level L is a run of ``log_nodes`` rows at tree level 8L, an entry bundle a run
of ``log_entries`` rows: one index-range query each, no hashing. Tiles are cut for the tree
of the latest published checkpoint, never past it: the nodes and entries of an append
that has not published its checkpoint are not served.

The checkpoint note is the one the log stored; the service adds its witnesses'
cosignature lines (``read_notes_with``, which `altan`'s server commands register), so a
static copy made from the database carries the same note that ``/log/checkpoint`` serves.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Connection
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from ledger.errors import MalformedInput, OutOfRange, StorageError
from ledger.hashing import HASH_SIZE
from ledger.records import StoredCheckpoint
from ledger.sql import storage
from ledger.tiles import TILE_HEIGHT, Tile, encode_bundle, encode_hashes, in_tree

NoteReader = Callable[[Connection], str]
"""The latest checkpoint note as served (with cosignature lines), in the caller's transaction."""

_note_reader: list[NoteReader | None] = [None]


def read_notes_with(reader: NoteReader | None) -> None:
    """Serve checkpoint notes through `reader` (the service's, which adds cosignatures);
    None: the note as the log stored it."""
    _note_reader[0] = reader


def latest_tree(conn: Connection) -> StoredCheckpoint:
    """The latest published checkpoint: its size is the tree the tiles are cut for."""
    cp = storage.latest_checkpoint(conn)
    if cp is None:
        raise StorageError("no checkpoint published yet: the log is not initialised")
    return cp


def checkpoint_note(conn: Connection) -> str:
    """The latest checkpoint note, with cosignature lines when a reader is registered."""
    reader = _note_reader[0]
    if reader is not None:
        return reader(conn)
    return latest_tree(conn).note


def read_tile(conn: Connection, tile: Tile, size: int) -> bytes:
    """The bytes of `tile` in the tree of `size` leaves (one range query).

    Raises OutOfRange when the tree does not hold all of the tile, StorageError when rows
    it must hold are missing, and MalformedInput (naming the entry, ``field="entry"``) for
    an entry bundle holding an entry over 65,535 bytes, which the format cannot carry.
    """
    if not in_tree(tile, size):
        raise OutOfRange(f"{tile.path} is beyond the tree of size {size}")
    if tile.entries:
        rows = storage.read_entries(conn, tile.start, tile.end)
        _check_run(tile, [r.index for r in rows], tile.start)
        return encode_bundle([r.entry for r in rows], tile.start)
    level = TILE_HEIGHT * tile.level
    first = tile.index << TILE_HEIGHT
    nodes = storage.read_nodes(conn, level, first, first + tile.width, tile.width)
    _check_run(tile, [i for i, _ in nodes], first)
    for i, value in nodes:
        if len(value) != HASH_SIZE:
            raise StorageError(f"node ({level}, {i}) holds {len(value)} bytes, not {HASH_SIZE}")
    return encode_hashes([value for _, value in nodes])


def _check_run(tile: Tile, indices: list[int], first: int) -> None:
    expected = list(range(first, first + tile.width))
    if indices != expected:
        missing = sorted(set(expected) - set(indices))
        raise StorageError(
            f"{tile.path}: rows {missing[:5]} expected in storage, not found"
            if missing
            else f"{tile.path}: rows out of order"
        )


class TableTiles:
    """The tiles of the latest published tree, read in one transaction (a snapshot):
    a ``ledger.tiles.TileFetch`` (None for a tile the tree does not hold)."""

    def __init__(self, conn: Connection) -> None:
        """Pin the tree of the latest checkpoint that `conn`'s transaction sees."""
        self._conn = conn
        self.checkpoint = latest_tree(conn)
        self.note = checkpoint_note(conn)

    @property
    def size(self) -> int:
        """The tree size the tiles are cut for."""
        return self.checkpoint.size

    def __call__(self, tile: Tile) -> bytes | None:
        """The bytes of `tile`, or None when the tree does not hold it."""
        if not in_tree(tile, self.size):
            return None
        return read_tile(self._conn, tile, self.size)


@contextmanager
def database_tiles(url: str) -> Iterator[TableTiles]:
    """The tiles of the database at `url`, in one snapshot for as long as the block runs
    (REPEATABLE READ on PostgreSQL): the note and every tile agree whatever is appended.

    Raises MalformedInput for what is not a database URL, a URL whose driver is not
    installed, or a SQLite file that does not exist (opening it would create one)."""
    try:
        parsed = make_url(url)
        database = parsed.database or ""
        on_disk = parsed.get_backend_name() == "sqlite" and database not in ("", ":memory:")
        if on_disk and not Path(database).is_file():
            raise MalformedInput(f"no SQLite database file at {database}")
        engine = storage.make_engine(url)
    except (ArgumentError, ImportError) as exc:
        raise MalformedInput(
            f"expected a database URL (sqlite:///var/altan.db), got {url!r}: {exc}"
        ) from exc
    try:
        with storage.snapshot_transaction(engine) as conn:
            yield TableTiles(conn)
    except SQLAlchemyError as exc:  # its text may quote a statement: the kind only
        raise StorageError(f"cannot read the database: {type(exc).__name__}") from exc
    finally:
        engine.dispose()
