"""Where the log lives: SQLAlchemy tables and the dialect-specific parts of appending.

The row types (`StoredEntry`, `StoredCheckpoint`, `StoredKey`, `LogTail`) are the pure
`ledger.records`; this module reads and writes them.

Tables (append-only in code: this module has no UPDATE or DELETE for entries, nodes or
checkpoints):

- ``log_entries``: index, entry bytes, leaf hash, and the log's receipt (key id, signature).
- ``log_nodes``: every perfect subtree hash, (level, index) -> hash, level 0 being leaves.
  Any root, inclusion or consistency proof for any tree size is then O(log n) node reads.
- ``log_checkpoints``: every signed checkpoint published, by tree size, so consistency
  between any two published sizes can be served and audited.
- ``log_head``: one row holding the tree size; it is the lock that serialises appends.
- ``log_keys``: the public half of every log key, so an audit from the database alone can
  check receipts and checkpoints.

Serialising appenders is the database's job, never process memory: SQLite takes the write
lock with ``BEGIN IMMEDIATE``; PostgreSQL locks the head row (``SELECT ... FOR UPDATE``).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Engine,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    SmallInteger,
    String,
    Table,
    Text,
    create_engine,
    event,
    func,
    insert,
    literal,
    select,
)
from sqlalchemy.engine import make_url

from ledger.errors import StorageError
from ledger.merkle import NodeId

# The row types are the pure `ledger.records`, re-exported: `storage.StoredEntry` reads well.
from ledger.records import LogTail as LogTail
from ledger.records import StoredCheckpoint as StoredCheckpoint
from ledger.records import StoredEntry as StoredEntry
from ledger.records import StoredKey as StoredKey

metadata = MetaData()

log_entries = Table(
    "log_entries",
    metadata,
    Column("idx", BigInteger, primary_key=True, autoincrement=False),
    Column("entry", LargeBinary, nullable=False),
    Column("leaf_hash", LargeBinary(32), nullable=False),
    Column("key_id", String(8), nullable=False),
    Column("signature", LargeBinary(64), nullable=False),
)

log_nodes = Table(
    "log_nodes",
    metadata,
    Column("level", SmallInteger, nullable=False),
    Column("idx", BigInteger, nullable=False),
    Column("hash", LargeBinary(32), nullable=False),
    PrimaryKeyConstraint("level", "idx"),
    sqlite_with_rowid=False,
)

log_checkpoints = Table(
    "log_checkpoints",
    metadata,
    Column("size", BigInteger, primary_key=True, autoincrement=False),
    Column("root_hash", LargeBinary(32), nullable=False),
    Column("key_id", String(8), nullable=False),
    Column("published_at", String(32), nullable=False),
    Column("note", Text, nullable=False),
)

log_head = Table(
    "log_head",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("size", BigInteger, nullable=False),
)

log_keys = Table(
    "log_keys",
    metadata,
    Column("key_id", String(8), primary_key=True),
    Column("name", String(255), nullable=False),
    Column("public_key", LargeBinary(32), nullable=False),
    Column("algorithm", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    Column("not_before", String(32), nullable=False),
    Column("not_after", String(32), nullable=True),
)

HEAD_ID = 1
_WRITE = "altan_write"


def make_engine(url: str, *, echo: bool = False, **kwargs: Any) -> Engine:
    """An engine configured for the log: SQLite in WAL mode with write transactions that
    take the lock at BEGIN; PostgreSQL as it comes."""
    parsed = make_url(url)
    kwargs.setdefault("hide_parameters", True)  # errors must not carry personal data, prices
    if parsed.get_backend_name() == "sqlite":
        engine = create_engine(url, echo=echo, **kwargs)
        _configure_sqlite(engine)
        return engine
    if parsed.get_backend_name() == "postgresql" and parsed.get_driver_name() in ("", "psycopg2"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return create_engine(parsed, echo=echo, pool_pre_ping=True, **kwargs)


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Take transaction control from the sqlite3 module so BEGIN is ours to choose.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA busy_timeout=60000")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # Writers take the write lock up front: a deferred BEGIN that later upgrades can
        # deadlock against another upgrader and fail with SQLITE_BUSY at once.
        if conn.get_execution_options().get(_WRITE):
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            conn.exec_driver_sql("BEGIN")


def create_schema(engine: Engine) -> None:
    """Create the log tables and the head row if missing (tests and demos; the service
    runs Alembic migrations, which create the same tables)."""
    metadata.create_all(engine)
    with engine.begin() as conn:
        ensure_head(conn)


def ensure_head(conn: Connection) -> None:
    """Insert the head row (size 0) unless it exists."""
    if conn.execute(select(log_head.c.id).where(log_head.c.id == HEAD_ID)).first() is None:
        conn.execute(insert(log_head).values(id=HEAD_ID, size=0))


@contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """A transaction that holds the log's append lock from its first statement on."""
    with engine.connect() as conn:
        conn.execution_options(**{_WRITE: True})
        with conn.begin():
            yield conn


@contextmanager
def read_transaction(engine: Engine) -> Iterator[Connection]:
    """A read-only snapshot (one transaction, so multi-query answers agree)."""
    with engine.connect() as conn, conn.begin():
        yield conn


@contextmanager
def snapshot_transaction(engine: Engine) -> Iterator[Connection]:
    """A read transaction that sees one snapshot from its first read to its end, however
    many queries it makes (a backup): REPEATABLE READ on PostgreSQL, where the default
    READ COMMITTED gives each statement its own snapshot; a SQLite read transaction in WAL
    mode is one already. Holding it long keeps old row versions (and SQLite's WAL) alive,
    never blocks the writers."""
    with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():
            yield conn


def lock_head(conn: Connection) -> int:
    """Lock the log head for this transaction and return the tree size."""
    row = conn.execute(
        select(log_head.c.size).where(log_head.c.id == HEAD_ID).with_for_update()
    ).first()
    if row is None:
        raise StorageError("the log has no head row: run the migrations (altan init)")
    return int(row.size)


def read_size(conn: Connection) -> int:
    """The tree size as of this transaction."""
    row = conn.execute(select(log_head.c.size).where(log_head.c.id == HEAD_ID)).first()
    if row is None:
        raise StorageError("the log has no head row: run the migrations (altan init)")
    return int(row.size)


# The hot statements of an append go to the driver directly: building SQLAlchemy
# expressions for them cost a third of a batched append (bench/append.py, py-spy).
# Only placeholders are interpolated into these strings (hence the S608 waivers).


def placeholder(conn: Connection) -> str:
    """The driver's parameter marker, for driver-level SQL (``?`` or ``%s``)."""
    return "?" if conn.dialect.paramstyle == "qmark" else "%s"


_placeholder = placeholder


def insert_entries(conn: Connection, rows: Sequence[StoredEntry]) -> None:
    """Append entries (the caller holds the lock and has checked the indices)."""
    p = _placeholder(conn)
    conn.exec_driver_sql(
        "INSERT INTO log_entries (idx, entry, leaf_hash, key_id, signature) "  # noqa: S608
        f"VALUES ({p}, {p}, {p}, {p}, {p})",
        [(r.index, r.entry, r.leaf_hash, r.key_id, r.signature) for r in rows],
    )


def insert_nodes(conn: Connection, nodes: Sequence[tuple[NodeId, bytes]]) -> None:
    """Store perfect subtree hashes."""
    p = _placeholder(conn)
    conn.exec_driver_sql(
        f"INSERT INTO log_nodes (level, idx, hash) VALUES ({p}, {p}, {p})",  # noqa: S608
        [(level, idx, h) for (level, idx), h in nodes],
    )


def set_size(conn: Connection, size: int) -> None:
    """Move the head forward (the one update this module makes: the head is a counter)."""
    conn.execute(log_head.update().where(log_head.c.id == HEAD_ID).values(size=size))


def insert_checkpoint(
    conn: Connection, size: int, root_hash: bytes, key_id: str, published_at: str, note: str
) -> None:
    """Keep a published signed checkpoint."""
    conn.execute(
        insert(log_checkpoints).values(
            size=size, root_hash=root_hash, key_id=key_id, published_at=published_at, note=note
        )
    )


def insert_checkpoints(conn: Connection, rows: Sequence[StoredCheckpoint]) -> None:
    """Keep many published checkpoints at once (a restore from a backup)."""
    p = _placeholder(conn)
    conn.exec_driver_sql(
        "INSERT INTO log_checkpoints (size, root_hash, key_id, published_at, note) "  # noqa: S608
        f"VALUES ({p}, {p}, {p}, {p}, {p})",
        [(r.size, r.root_hash, r.key_id, r.published_at, r.note) for r in rows],
    )


def occupied_log_tables(conn: Connection) -> list[str]:
    """The log tables holding anything: rows in entries, nodes, checkpoints or keys, or a
    head past size 0. Empty for a database fresh from the migrations."""
    out = [
        table.name
        for table in (log_entries, log_nodes, log_checkpoints, log_keys)
        if conn.execute(select(literal(1)).select_from(table).limit(1)).first() is not None
    ]
    if conn.execute(select(log_head.c.id).where(log_head.c.size != 0)).first() is not None:
        out.append(log_head.name)
    return out


def count_checkpoints(conn: Connection, max_size: int) -> int:
    """How many published checkpoints have a tree size of at most `max_size`."""
    return int(
        conn.execute(
            select(func.count())
            .select_from(log_checkpoints)
            .where(log_checkpoints.c.size <= max_size)
        ).scalar_one()
    )


class NodeTable:
    """A merkle.NodeReader over log_nodes inside one transaction."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def get_nodes(self, ids: Sequence[NodeId]) -> Mapping[NodeId, bytes]:
        """Fetch many nodes in one query of primary-key point lookups.

        Not ``(level, idx) IN (VALUES ...)``: SQLite plans that as a scan of the whole
        table, which made proofs at a million entries take 200 ms instead of 0.5 ms.
        """
        if not ids:
            return {}
        sql = _nodes_sql(len(ids), _placeholder(self._conn))
        rows = self._conn.exec_driver_sql(sql, tuple(x for node in ids for x in node))
        return {(int(level), int(idx)): bytes(h) for level, idx, h in rows}


@lru_cache(maxsize=256)
def _nodes_sql(count: int, p: str) -> str:
    lookups = " OR ".join([f"(level = {p} AND idx = {p})"] * count)
    return f"SELECT level, idx, hash FROM log_nodes WHERE {lookups}"  # noqa: S608


def read_entries(
    conn: Connection, start: int, end: int, limit: int | None = None
) -> list[StoredEntry]:
    """Stored entries with start <= index < end, in order, at most `limit`, whatever the
    gaps (finding gaps is the audit's job). Driver-level: the audit reads every row."""
    p = _placeholder(conn)
    sql = (
        "SELECT idx, entry, leaf_hash, key_id, signature FROM log_entries "  # noqa: S608
        f"WHERE idx >= {p} AND idx < {p} ORDER BY idx LIMIT {p}"
    )
    rows = conn.exec_driver_sql(sql, (start, end, end - start if limit is None else limit))
    return [
        StoredEntry(int(i), bytes(entry), bytes(leaf), str(key_id), bytes(sig))
        for i, entry, leaf, key_id, sig in rows
    ]


def read_nodes(
    conn: Connection, level: int, start: int, end: int, limit: int
) -> list[tuple[int, bytes]]:
    """Stored (index, hash) of the nodes at `level` with start <= index < end, in index
    order, at most `limit`, whatever the gaps (the audit compares them with the entries)."""
    p = _placeholder(conn)
    sql = (
        "SELECT idx, hash FROM log_nodes "  # noqa: S608
        f"WHERE level = {p} AND idx >= {p} AND idx < {p} ORDER BY idx LIMIT {p}"
    )
    rows = conn.exec_driver_sql(sql, (level, start, end, limit))
    return [(int(i), bytes(h)) for i, h in rows]


def read_tail(conn: Connection) -> LogTail:
    """Read `LogTail` in the caller's transaction: a few index seeks, no scan."""
    size = read_size(conn)
    cp = latest_checkpoint(conn)
    signed = 0 if cp is None else cp.size
    p = _placeholder(conn)
    first = conn.exec_driver_sql(
        f"SELECT idx FROM log_entries WHERE idx >= {p} ORDER BY idx LIMIT 1",  # noqa: S608
        (signed,),
    ).first()
    if first is None:
        first = conn.exec_driver_sql(
            "SELECT idx FROM log_entries WHERE idx < 0 ORDER BY idx LIMIT 1"
        ).first()
    return LogTail(
        checkpoint_size=signed,
        head_size=size,
        unsigned_entry=None if first is None else int(first[0]),
        stray_node=_stray_node(conn, signed),
    )


def _stray_node(conn: Connection, size: int) -> NodeId | None:
    # The tree of `size` leaves holds, at each level L, the nodes 0 <= idx < size >> L, and
    # no level above size.bit_length() - 1: seek just past each level's range, and beyond.
    p = _placeholder(conn)
    top = size.bit_length()
    row = (
        conn.exec_driver_sql(
            f"SELECT level, idx FROM log_nodes WHERE level >= {p} LIMIT 1",  # noqa: S608
            (top,),
        ).first()
        or conn.exec_driver_sql("SELECT level, idx FROM log_nodes WHERE level < 0 LIMIT 1").first()
    )
    if row is not None:
        return (int(row[0]), int(row[1]))
    past = f"SELECT idx FROM log_nodes WHERE level = {p} AND idx >= {p} LIMIT 1"  # noqa: S608
    below = f"SELECT idx FROM log_nodes WHERE level = {p} AND idx < 0 LIMIT 1"  # noqa: S608
    for level in range(top):
        found = conn.exec_driver_sql(past, (level, size >> level)).first()
        found = found or conn.exec_driver_sql(below, (level,)).first()
        if found is not None:
            return (level, int(found[0]))
    return None


def _checkpoint(r: Any) -> StoredCheckpoint:
    return StoredCheckpoint(
        size=int(r.size),
        root_hash=bytes(r.root_hash),
        key_id=str(r.key_id),
        published_at=str(r.published_at),
        note=str(r.note),
    )


def latest_checkpoint(conn: Connection) -> StoredCheckpoint | None:
    """The published checkpoint with the largest tree size."""
    row = conn.execute(
        select(log_checkpoints).order_by(log_checkpoints.c.size.desc()).limit(1)
    ).first()
    return None if row is None else _checkpoint(row)


def checkpoint_at(conn: Connection, size: int) -> StoredCheckpoint | None:
    """The published checkpoint of tree size `size`, if one was published."""
    row = conn.execute(select(log_checkpoints).where(log_checkpoints.c.size == size)).first()
    return None if row is None else _checkpoint(row)


def read_checkpoints_after(conn: Connection, size: int, limit: int) -> list[StoredCheckpoint]:
    """Up to `limit` published checkpoints with a tree size above `size`, in size order."""
    rows = conn.execute(
        select(log_checkpoints)
        .where(log_checkpoints.c.size > size)
        .order_by(log_checkpoints.c.size)
        .limit(limit)
    )
    return [_checkpoint(r) for r in rows]


def read_keys(conn: Connection) -> list[StoredKey]:
    """Every log key ever used, oldest first."""
    rows = conn.execute(select(log_keys).order_by(log_keys.c.not_before, log_keys.c.key_id))
    return [
        StoredKey(
            key_id=str(r.key_id),
            name=str(r.name),
            public_key=bytes(r.public_key),
            algorithm=str(r.algorithm),
            status=str(r.status),
            not_before=str(r.not_before),
            not_after=None if r.not_after is None else str(r.not_after),
        )
        for r in rows
    ]


def upsert_key(conn: Connection, key: StoredKey) -> None:
    """Record a key's public half, or refresh its status and validity after a rotation.

    A key id that is already stored with a different public key is refused: key ids are
    how verifiers find keys, so one id must never name two keys.
    """
    existing = conn.execute(select(log_keys).where(log_keys.c.key_id == key.key_id)).first()
    values = {
        "name": key.name,
        "public_key": key.public_key,
        "algorithm": key.algorithm,
        "status": key.status,
        "not_before": key.not_before,
        "not_after": key.not_after,
    }
    if existing is None:
        conn.execute(insert(log_keys).values(key_id=key.key_id, **values))
        return
    if bytes(existing.public_key) != key.public_key or existing.name != key.name:
        raise StorageError(
            f"key id {key.key_id} is already stored for another key: refusing to replace it"
        )
    conn.execute(log_keys.update().where(log_keys.c.key_id == key.key_id).values(**values))
