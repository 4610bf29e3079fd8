"""Where the lot-state map lives: its tables, and the partial loads that update and prove it.

The map (``ledger.statemap.StateMap``) is three dicts; here each is a table, and an update or
a proof loads only the nodes on the paths of the keys it touches (one query per table per
~4,000 node ids), runs the pure map over them, and writes back what changed:

- ``state_values``: key (SHA-256 of the lot id) -> lot id, the state's canonical JSON, and
  its hash (the map value). The JSON is kept so a status proof can show the state it proves.
- ``state_nodes``: node id -> hash of every subtree holding two keys or more.
- ``state_tips``: node id -> the key of every one-key subtree whose parent is interior.
- ``state_head``: one row: the map's root, its number of keys, and the index of the
  ``state.root`` entry that committed it (-1 before the first).

A node id is the integer ``(1 << depth) | prefix`` of ``ledger.statemap``, stored as its
minimal big-endian bytes (1 to 33 of them; injective because the leading 1 bit marks the
depth). These tables are derived from the log: ``altan audit`` recomputes the map from the
entries, and a rebuild writes them anew (:func:`replace`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    delete,
    insert,
    select,
    update,
)

from ledger.encoding import canonical_json
from ledger.sql.storage import metadata
from ledger.sql.storage import placeholder as storage_placeholder
from ledger.statemap import EMPTY_ROOT, KEY_BITS, LotState, MapProof, StateMap, lot_key

__all__ = ["Head", "MapStore", "has_head", "read_head", "replace"]

state_values = Table(
    "state_values",
    metadata,
    Column("key", LargeBinary(32), primary_key=True),
    Column("lot_id", String(64), nullable=False),
    Column("state", Text, nullable=False),
    Column("value", LargeBinary(32), nullable=False),
    sqlite_with_rowid=False,
)

state_nodes = Table(
    "state_nodes",
    metadata,
    Column("node", LargeBinary(33), primary_key=True),
    Column("hash", LargeBinary(32), nullable=False),
    sqlite_with_rowid=False,
)

state_tips = Table(
    "state_tips",
    metadata,
    Column("node", LargeBinary(33), primary_key=True),
    Column("key", LargeBinary(32), nullable=False),
    sqlite_with_rowid=False,
)

state_head = Table(
    "state_head",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("root", LargeBinary(32), nullable=False),
    Column("lots", BigInteger, nullable=False),
    Column("root_index", BigInteger, nullable=False),
)

_HEAD_ID = 1
_CHUNK = 4000  # ids per IN list: far below SQLite's 32,766 variables and PostgreSQL's 65,535


@dataclass(frozen=True)
class Head:
    """The map as last committed: its root, number of keys, and the index of the
    ``state.root`` entry that holds it (-1: none yet, the map is empty)."""

    root: bytes
    lots: int
    root_index: int


def _node_bytes(node: int) -> bytes:
    return node.to_bytes((node.bit_length() + 7) // 8, "big")


def _node_int(data: bytes) -> int:
    return int.from_bytes(data, "big")


def read_head(conn: Connection) -> Head:
    """The committed map's head (an empty map committed nowhere when there is no row)."""
    row = conn.execute(
        select(state_head.c.root, state_head.c.lots, state_head.c.root_index).where(
            state_head.c.id == _HEAD_ID
        )
    ).first()
    if row is None:
        return Head(EMPTY_ROOT, 0, -1)
    return Head(bytes(row.root), int(row.lots), int(row.root_index))


def has_head(conn: Connection) -> bool:
    """Whether the map was ever written (a database from before the map has no head)."""
    return conn.execute(select(state_head.c.id)).first() is not None


def _path(k: int, depth: int) -> int:
    return (1 << depth) | (k >> (KEY_BITS - depth))


@lru_cache(maxsize=64)
def _select_sql(table: str, key: str, other: str, count: int, p: str) -> str:
    marks = ", ".join([p] * count)
    return f"SELECT {key}, {other} FROM {table} WHERE {key} IN ({marks})"  # noqa: S608


@lru_cache(maxsize=64)
def _delete_sql(table: str, key: str, count: int, p: str) -> str:
    marks = ", ".join([p] * count)
    return f"DELETE FROM {table} WHERE {key} IN ({marks})"  # noqa: S608


def _upsert_sql(table: str, columns: Sequence[str], p: str) -> str:
    # INSERT ... ON CONFLICT DO UPDATE: SQLite 3.24+ and PostgreSQL 9.5+ alike
    names = ", ".join(columns)
    marks = ", ".join([p] * len(columns))
    sets = ", ".join(f"{c} = excluded.{c}" for c in columns[1:])
    return (
        f"INSERT INTO {table} ({names}) VALUES ({marks}) "  # noqa: S608
        f"ON CONFLICT ({columns[0]}) DO UPDATE SET {sets}"
    )


class MapStore:
    """The map's tables seen through one connection (the caller's transaction).

    Driver-level SQL with cached texts: an update reads and writes thousands of 32-byte
    keys, and SQLAlchemy's per-parameter processing of expanding IN lists cost more than
    the database (a profile of a 500-lot batch: 40% in bind processing)."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self._p = storage_placeholder(conn)

    # --- partial loads --------------------------------------------------------------------

    def _rows(
        self, table: str, key: str, other: str, ids: Sequence[bytes]
    ) -> list[tuple[bytes, bytes]]:
        out: list[tuple[bytes, bytes]] = []
        for i in range(0, len(ids), _CHUNK):
            chunk = tuple(ids[i : i + _CHUNK])
            sql = _select_sql(table, key, other, len(chunk), self._p)
            out.extend((bytes(a), bytes(b)) for a, b in self.conn.exec_driver_sql(sql, chunk))
        return out

    def load(self, keys: Iterable[bytes], lots: int) -> StateMap:
        """A map holding every node on the paths of ``keys`` and their siblings, enough to
        set or prove each of them (``lots``: the map's size, to guess the depth to load)."""
        ints = sorted({int.from_bytes(key, "big") for key in keys})
        interior: dict[int, bytes] = {}
        tips: dict[int, bytes] = {}
        start, depth = 0, min(KEY_BITS, max(lots, 1).bit_length() + 4)
        pending = ints
        while pending:
            ids: set[int] = set()
            for k in pending:
                for d in range(start, depth + 1):
                    node = _path(k, d)
                    ids.add(node)
                    ids.add(node ^ 1)  # the sibling (the root's "sibling" 0 matches nothing)
            wanted = [_node_bytes(n) for n in ids]
            for node_b, h in self._rows("state_nodes", "node", "hash", wanted):
                interior[_node_int(node_b)] = h
            for node_b, key in self._rows("state_tips", "node", "key", wanted):
                tips[_node_int(node_b)] = key
            # A path interior all the way down to `depth` goes on: load the next levels.
            pending = [k for k in pending if _path(k, depth) in interior and depth < KEY_BITS]
            start, depth = depth + 1, min(KEY_BITS, depth + 16)
        values = dict(self._rows("state_values", "key", "value", list(set(tips.values()))))
        return StateMap.load(values, interior, tips)

    def state(self, lot_id: str) -> LotState | None:
        """The committed state of a lot (None when the map holds no such lot)."""
        row = self.conn.execute(
            select(state_values.c.state).where(state_values.c.key == lot_key(lot_id))
        ).first()
        return None if row is None else LotState.from_json(json.loads(row.state))

    def prove(self, lot_id: str, lots: int) -> MapProof:
        """The proof of the lot's committed value (or of its absence)."""
        key = lot_key(lot_id)
        return self.load([key], lots).prove(key)

    # --- writing --------------------------------------------------------------------------

    def update(self, states: Mapping[str, LotState], head: Head, root_index: int) -> Head:
        """Set every lot of ``states`` in the map, write what changed, and record the new
        head as committed by the ``state.root`` entry at ``root_index``."""
        keys = {lot_key(lot_id): lot_id for lot_id in states}
        smap = self.load(keys, head.lots)
        added = 0
        rows: list[tuple[bytes, str, str, bytes]] = []
        for key, lot_id in keys.items():
            data = canonical_json(states[lot_id].to_json())
            value = hashlib.sha256(data).digest()  # LotState.hash, without encoding twice
            before = smap.get(key)  # a present key's tip is on its path: loaded
            if before is None:
                added += 1
            if before != value:
                rows.append((key, lot_id, data.decode(), value))
                smap.set(key, value)
        changes = smap.take_changes()
        self._write(rows, changes.interior, changes.tips)
        new = Head(smap.root, head.lots + added, root_index)
        self.set_head(new)
        return new

    def _write(
        self,
        rows: Sequence[tuple[bytes, str, str, bytes]],
        interior: Mapping[int, bytes | None],
        tips: Mapping[int, bytes | None],
    ) -> None:
        p = self._p
        if rows:
            sql = _upsert_sql("state_values", ("key", "lot_id", "state", "value"), p)
            self.conn.exec_driver_sql(sql, list(rows))
        self._replace("state_nodes", "hash", interior)
        self._replace("state_tips", "key", tips)

    def _replace(self, table: str, column: str, changed: Mapping[int, bytes | None]) -> None:
        gone = [_node_bytes(n) for n, h in changed.items() if h is None]
        for i in range(0, len(gone), _CHUNK):
            chunk = tuple(gone[i : i + _CHUNK])
            self.conn.exec_driver_sql(_delete_sql(table, "node", len(chunk), self._p), chunk)
        kept = [(_node_bytes(n), h) for n, h in changed.items() if h is not None]
        if kept:
            sql = _upsert_sql(table, ("node", column), self._p)
            self.conn.exec_driver_sql(sql, kept)

    def set_head(self, head: Head) -> None:
        """Record ``head`` as the committed map (the map's tables already hold it)."""
        values = {"root": head.root, "lots": head.lots, "root_index": head.root_index}
        done = self.conn.execute(
            update(state_head).where(state_head.c.id == _HEAD_ID).values(**values)
        )
        if done.rowcount == 0:
            self.conn.execute(insert(state_head).values(id=_HEAD_ID, **values))


def replace(conn: Connection, states: Mapping[str, LotState], root_index: int) -> Head:
    """Empty the map's tables and write the map of ``states`` (a rebuild), committed by the
    ``state.root`` entry at ``root_index`` (-1: none)."""
    for table in (state_values, state_nodes, state_tips, state_head):
        conn.execute(delete(table))
    rows = [
        (lot_key(lot_id), lot_id, canonical_json(state.to_json()).decode(), state.hash())
        for lot_id, state in states.items()
    ]
    smap = StateMap({key: value for key, _, _, value in rows})
    store = MapStore(conn)
    for i in range(0, len(rows), _CHUNK):
        store._write(rows[i : i + _CHUNK], {}, {})
    changes = smap.take_changes()
    store._replace("state_nodes", "hash", changes.interior)
    store._replace("state_tips", "key", changes.tips)
    head = Head(smap.root, len(rows), root_index)
    store.set_head(head)
    return head
