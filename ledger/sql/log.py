"""The append-only log: append, integrate and publish, and the reads auditors need.

One append is one database transaction in three named steps, under the head lock:

1. append: each event becomes an entry chained to its predecessor, hashed, and signed
   (the receipt);
2. integrate: the entries' leaves and every perfect subtree they complete go into the
   node table, so any later proof costs O(log n) reads;
3. publish: a C2SP checkpoint for the new size is signed and kept.

A batch of events shares one transaction and one checkpoint (group commit).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, Engine

from ledger.checkpoint import Checkpoint, sign_checkpoint
from ledger.entry import (
    ZERO_HASH,
    Entry,
    Event,
    Receipt,
    format_time,
    receipt_message,
)
from ledger.errors import MalformedInput, OutOfRange, StorageError
from ledger.hashing import hash_leaf
from ledger.keys import LogKey, LogSigner
from ledger.merkle import CompactRange, NodeId, consistency_proof, inclusion_proof, root_nodes
from ledger.records import stored_key
from ledger.sql import storage

MAX_BATCH = 10_000


@dataclass(frozen=True)
class AppendResult:
    """What an appender gets back: a receipt per event and the checkpoint that covers them."""

    receipts: tuple[Receipt, ...]
    size: int
    checkpoint: str
    time: str = ""


class Log:
    """A transparency log stored in a SQL database and signed by the log key.

    `signer` is called for every append so that a key rotation takes effect without a
    restart.
    """

    def __init__(self, engine: Engine, origin: str, signer: Callable[[], LogSigner]) -> None:
        self.engine = engine
        self.origin = origin
        self._signer = signer

    def initialise(self, keys: Sequence[LogKey], now: datetime) -> None:
        """Record the public keys and, on an empty log, publish the size-0 checkpoint."""
        with storage.write_transaction(self.engine) as conn:
            for key in keys:
                storage.upsert_key(conn, stored_key(key))
            size = storage.lock_head(conn)  # first, so two initialisers cannot both publish
            if storage.latest_checkpoint(conn) is None:
                frontier, _ = self._frontier(conn, size)
                self._publish(conn, frontier, self._signer(), now)

    def signer(self) -> LogSigner:
        """The key that signs now (certificate tokens are signed by the log key too)."""
        return self._signer()

    def append(self, events: Sequence[Event], now: datetime) -> AppendResult:
        """Append events in one transaction with one checkpoint; all or nothing."""
        if not events:
            raise MalformedInput("append: expected at least one event")
        if len(events) > MAX_BATCH:
            raise MalformedInput(f"append: at most {MAX_BATCH} events per batch, got {len(events)}")
        with storage.write_transaction(self.engine) as conn:
            return self.append_in(conn, events, now)

    def append_in(
        self, conn: Connection, events: Sequence[Event], now: datetime, *, publish: bool = True
    ) -> AppendResult:
        """Append within the caller's write transaction (`storage.write_transaction`), so a
        domain can check its rules and update its own tables atomically with the log.

        Takes the head lock if the caller has not already (see `lock`). Nothing is durable
        until the caller's transaction commits; if it rolls back, no entry was appended.
        publish=False appends without signing a checkpoint (the result's `checkpoint` is
        empty): the caller appends more in the same transaction, and the last append
        publishes the one checkpoint that covers them all.
        """
        if not events:
            raise MalformedInput("append: expected at least one event")
        if len(events) > MAX_BATCH:
            raise MalformedInput(f"append: at most {MAX_BATCH} events per batch, got {len(events)}")
        signer = self._signer()
        size = storage.lock_head(conn)
        frontier, prev = self._frontier(conn, size)
        rows, receipts, nodes = _append_step(events, size, prev, frontier, signer, now)
        storage.insert_entries(conn, rows)
        storage.insert_nodes(conn, nodes)  # integrate
        if publish:
            note = self._publish(conn, frontier, signer, now)
        else:
            note = ""
            storage.set_size(conn, frontier.size)
        return AppendResult(
            receipts=tuple(receipts), size=frontier.size, checkpoint=note, time=format_time(now)
        )

    def publish_in(self, conn: Connection, now: datetime) -> str:
        """Sign and keep the checkpoint of the current size, in the caller's write
        transaction (after appends made with ``publish=False``); returns its note."""
        size = storage.lock_head(conn)
        frontier, _ = self._frontier(conn, size)
        return self._publish(conn, frontier, self._signer(), now)

    @staticmethod
    def lock(conn: Connection) -> int:
        """Take the append lock in the caller's write transaction and return the size.

        Every writer takes it first, so rules checked after it see a state no other writer
        can change before this transaction ends.
        """
        return storage.lock_head(conn)

    def _frontier(self, conn: Connection, size: int) -> tuple[CompactRange, bytes]:
        """The tree's frontier at `size` and the last leaf hash (the next entry's prev),
        in one read."""
        ids = root_nodes(size)
        last: NodeId | None = (0, size - 1) if size else None
        found = storage.NodeTable(conn).get_nodes(ids if last is None else [*ids, last])
        missing = [i for i in (*ids, *([last] if last else [])) if i not in found]
        if missing:
            raise StorageError(f"log nodes missing for tree size {size}: {missing}")
        prev = ZERO_HASH if last is None else found[last]
        return CompactRange(size, [found[i] for i in ids]), prev

    def _publish(
        self, conn: Connection, frontier: CompactRange, signer: LogSigner, now: datetime
    ) -> str:
        root = frontier.root()
        note = sign_checkpoint(Checkpoint(self.origin, frontier.size, root), signer.note_signer)
        storage.insert_checkpoint(
            conn, frontier.size, root, signer.key.key_id, format_time(now), note
        )
        storage.set_size(conn, frontier.size)
        return note

    # Reads ---------------------------------------------------------------------------

    def size(self) -> int:
        """Entries integrated so far."""
        with storage.read_transaction(self.engine) as conn:
            return storage.read_size(conn)

    def checkpoint(self) -> storage.StoredCheckpoint:
        """The latest signed checkpoint."""
        with storage.read_transaction(self.engine) as conn:
            cp = storage.latest_checkpoint(conn)
        if cp is None:
            raise StorageError("no checkpoint published yet: the log is not initialised")
        return cp

    def entries(self, start: int, end: int, limit: int) -> list[storage.StoredEntry]:
        """Entries start <= i < min(end, start + limit, size)."""
        if start < 0 or end <= start:
            raise OutOfRange(
                f"entries: expected 0 <= start < end, got start={start} end={end}", field="end"
            )
        with storage.read_transaction(self.engine) as conn:
            size = storage.read_size(conn)
            if start >= size:
                raise OutOfRange(
                    f"entries: start {start} is not below the log size {size}", field="start"
                )
            return storage.read_entries(conn, start, min(end, start + limit, size))

    def inclusion_proof(self, index: int, tree_size: int) -> list[bytes]:
        """RFC 9162 inclusion proof of leaf `index` in the tree of size `tree_size`."""
        with storage.read_transaction(self.engine) as conn:
            self._check_size(conn, tree_size, "tree_size")
            if not 0 <= index < tree_size:
                raise OutOfRange(f"index {index} is not below tree size {tree_size}", field="index")
            return inclusion_proof(storage.NodeTable(conn), index, tree_size)

    def consistency_proof(self, first: int, second: int) -> list[bytes]:
        """RFC 9162 consistency proof between tree sizes first and second."""
        with storage.read_transaction(self.engine) as conn:
            self._check_size(conn, second, "second")
            if not 0 < first <= second:
                raise OutOfRange(
                    f"expected 0 < first <= second, got first={first} second={second}",
                    field="first",
                )
            return consistency_proof(storage.NodeTable(conn), first, second)

    @staticmethod
    def _check_size(conn: Connection, tree_size: int, field: str) -> None:
        size = storage.read_size(conn)
        if not 0 < tree_size <= size:
            raise OutOfRange(
                f"tree size {tree_size} is not within the log's size 1..{size}", field=field
            )

    def public_keys(self) -> list[storage.StoredKey]:
        """Every log key, retired ones included."""
        with storage.read_transaction(self.engine) as conn:
            return storage.read_keys(conn)


def _append_step(
    events: Sequence[Event],
    size: int,
    prev: bytes,
    frontier: CompactRange,
    signer: LogSigner,
    now: datetime,
) -> tuple[list[storage.StoredEntry], list[Receipt], list[tuple[NodeId, bytes]]]:
    """Chain, hash and sign each event, and grow the frontier (pure, no I/O)."""
    rows: list[storage.StoredEntry] = []
    receipts: list[Receipt] = []
    nodes: list[tuple[NodeId, bytes]] = []
    key_id = signer.key.key_id
    for offset, ev in enumerate(events):
        index = size + offset
        data = Entry.create(index, prev, now, ev).to_bytes()
        leaf = hash_leaf(data)
        sig = signer.sign(receipt_message(leaf))
        rows.append(storage.StoredEntry(index, data, leaf, key_id, sig))
        receipts.append(Receipt(index, leaf, key_id, sig))
        nodes.extend(frontier.append(leaf))
        prev = leaf
    return rows, receipts, nodes
