"""What the log stores, as plain values: its entries, checkpoints and keys as rows.

These are the shapes every reader of a log shares, whatever it reads from: the SQL tables
(`ledger.sql.storage`), a server's ``/log/*`` API (`clients.remote`), a backup file
(`ledger.sql.backup`). They hold bytes and strings only, and import no database driver, so
an auditor's or a buyer's tools can use them without the server's stack.
"""

from __future__ import annotations

from dataclasses import dataclass

from ledger.entry import format_time, parse_time
from ledger.keys import LogKey
from ledger.merkle import NodeId

__all__ = ["LogTail", "StoredCheckpoint", "StoredEntry", "StoredKey", "log_key", "stored_key"]


@dataclass(frozen=True, slots=True)
class StoredEntry:
    """One entry of the log as stored: its index, bytes, leaf hash and receipt."""

    index: int
    entry: bytes
    leaf_hash: bytes
    key_id: str
    signature: bytes


@dataclass(frozen=True)
class StoredCheckpoint:
    """One published checkpoint as stored: its size, root, signing key, time and note."""

    size: int
    root_hash: bytes
    key_id: str
    published_at: str
    note: str


@dataclass(frozen=True)
class StoredKey:
    """One log key as stored: public facts only."""

    key_id: str
    name: str
    public_key: bytes
    algorithm: str
    status: str
    not_before: str
    not_after: str | None


@dataclass(frozen=True)
class LogTail:
    """What lies past the latest checkpoint, read in one snapshot (`storage.read_tail`).

    An append writes its entries, their nodes, the checkpoint and the head in one
    transaction, so in an honest database nothing lies past the latest checkpoint and the
    head equals its size.
    """

    checkpoint_size: int
    head_size: int
    unsigned_entry: int | None
    """The lowest entry index no checkpoint covers (at or past its size, or negative)."""
    stray_node: NodeId | None
    """A stored node that is not part of the tree of `checkpoint_size` leaves."""


def stored_key(key: LogKey) -> StoredKey:
    """The public half of a log key as the key table keeps it."""
    return StoredKey(
        key_id=key.key_id,
        name=key.name,
        public_key=key.public_key,
        algorithm=key.algorithm,
        status=key.status,
        not_before=format_time(key.not_before),
        not_after=None if key.not_after is None else format_time(key.not_after),
    )


def log_key(stored: StoredKey) -> LogKey:
    """A key row back as a LogKey, with its validity period (inverse of stored_key)."""
    return LogKey(
        name=stored.name,
        key_id=stored.key_id,
        public_key=stored.public_key,
        status="retired" if stored.status == "retired" else "active",
        not_before=parse_time(stored.not_before),
        not_after=None if stored.not_after is None else parse_time(stored.not_after),
    )
