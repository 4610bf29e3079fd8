"""Audit: re-derive the whole log from its entries and check every promise it made.

The audit streams entries from a source (a database, or a remote server's ``/log/*`` API;
see `AuditSource`), in order, with memory flat in the log's size, and checks in this order:

1. the latest checkpoint's signature verifies with a trusted log key (and its origin);
2. for each entry, in index order:
   a. no index is skipped (``entry_missing``) or repeated (``order_broken``);
   b. the stored leaf hash is SHA-256(0x00 || entry bytes) (``content_changed``);
   c. the entry parses (``malformed_entry``) and names its own index (``order_broken``);
   d. its ``prev`` is the previous entry's leaf hash (``chain_broken``);
   e. its receipt is a valid log signature over that leaf hash (``unknown_key``,
      ``receipt_invalid``);
3. every published checkpoint the source keeps verifies and its root equals the root
   recomputed at its size (``checkpoint_signature_invalid``, ``checkpoint_fork``);
4. the log holds at least the latest checkpoint's size (``entry_missing``) and the root
   recomputed at that size equals the checkpoint's (``root_mismatch``).

The first failure, by index, stops the audit and is reported with what was expected and
what was found. Steps 2b, 2c and 2e, the costly ones, run in a pool of processes.

`audit` checks a whole log. `audit_entries` runs steps 2 to 4 from a tree the caller already
trusts (its frontier and last leaf hash, see `ledger.trusted`): only the entries after it are
read, chained from the trusted last leaf and hashed onto the trusted frontier, so the new
checkpoint's root is checked without fetching the old entries again.
"""

from __future__ import annotations

import os
import signal
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from cryptography.exceptions import InvalidSignature as _CryptoInvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import Engine

from ledger import storage
from ledger.checkpoint import Checkpoint, open_checkpoint
from ledger.entry import ZERO_HASH, Entry, receipt_message
from ledger.errors import LedgerError, StorageError
from ledger.hashing import hash_leaf
from ledger.merkle import CompactRange, consistency_proof
from ledger.note import NoteVerifier
from ledger.storage import StoredEntry

CHUNK = 2000


class FailureKind(StrEnum):
    """What an audit found wrong; stable names for scripts."""

    CHECKPOINT_SIGNATURE_INVALID = "checkpoint_signature_invalid"
    ENTRY_MISSING = "entry_missing"
    ORDER_BROKEN = "order_broken"
    CONTENT_CHANGED = "content_changed"
    MALFORMED_ENTRY = "malformed_entry"
    CHAIN_BROKEN = "chain_broken"
    UNKNOWN_KEY = "unknown_key"
    RECEIPT_INVALID = "receipt_invalid"
    CHECKPOINT_FORK = "checkpoint_fork"
    ROOT_MISMATCH = "root_mismatch"


@dataclass(frozen=True)
class AuditFailure:
    """The first thing found wrong: its kind, the entry index (when one is at fault) and why."""

    kind: FailureKind
    index: int | None
    message: str


@dataclass(frozen=True)
class AuditReport:
    """The outcome of an audit.

    `entries_verified` counts the entries this audit checked, from index `start` (0 for a
    whole log). `frontier` (the compact range, see `ledger.merkle.CompactRange`) and
    `last_leaf` describe the tree where the audit stopped: at the checkpoint's size when it
    is ok, which is what a later audit needs to go on from there.
    """

    checkpoint: Checkpoint | None
    entries_verified: int
    checkpoints_verified: int
    failure: AuditFailure | None
    start: int = 0
    frontier: tuple[bytes, ...] = ()
    last_leaf: bytes = ZERO_HASH

    @property
    def ok(self) -> bool:
        """True when everything verified."""
        return self.failure is None


@dataclass(frozen=True)
class TrustedKey:
    """A log public key the auditor accepts signatures from."""

    name: str
    key_id: str
    public_key: bytes

    def note_verifier(self) -> NoteVerifier:
        """The signed-note verifier for this key."""
        return NoteVerifier(self.name, bytes.fromhex(self.key_id), self.public_key)


class AuditSource(Protocol):
    """Where an audit reads a log from."""

    def keys(self) -> Sequence[TrustedKey]:
        """The log's public keys as the source publishes them."""
        ...

    def checkpoint(self) -> str:
        """The latest signed checkpoint note."""
        ...

    def entries(self, start: int, end: int) -> Iterator[StoredEntry]:
        """Stored entries with start <= index < end, in order; gaps are the audit's to find."""
        ...

    def checkpoints(self, start: int = 0) -> Iterator[tuple[int, str]]:
        """Every published (size, signed note) with size >= start the source keeps, in size
        order; may be empty."""
        ...


class _Stop(Exception):
    def __init__(self, failure: AuditFailure) -> None:
        self.failure = failure


# A worker's verdict on one entry: (recomputed leaf, parsed index, parsed prev, problem).
# problem is None or (kind, message) for the checks a worker can make alone.
_Verdict = tuple[bytes, int | None, bytes | None, tuple[FailureKind, str] | None]

_worker_keys: dict[str, Ed25519PublicKey] = {}


def _init_worker(keys: dict[str, bytes]) -> None:
    _worker_keys.clear()
    _worker_keys.update({k: Ed25519PublicKey.from_public_bytes(v) for k, v in keys.items()})


def _init_pool_worker(keys: dict[str, bytes]) -> None:
    # Ctrl-C is the parent's to handle (it stops the audit and the pool): a worker that
    # also caught it would print a traceback per process.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _init_worker(keys)


def _check_entries(rows: Sequence[StoredEntry]) -> list[_Verdict]:
    out: list[_Verdict] = []
    for row in rows:
        leaf = hash_leaf(row.entry)
        if leaf != row.leaf_hash:
            out.append(
                (
                    leaf,
                    None,
                    None,
                    (
                        FailureKind.CONTENT_CHANGED,
                        f"entry {row.index}: stored leaf hash {row.leaf_hash.hex()} but the "
                        f"entry's bytes hash to {leaf.hex()}: the entry was changed",
                    ),
                )
            )
            continue
        try:
            entry = Entry.from_bytes(row.entry)
        except LedgerError as exc:
            out.append(
                (leaf, None, None, (FailureKind.MALFORMED_ENTRY, f"entry {row.index}: {exc}"))
            )
            continue
        key = _worker_keys.get(row.key_id)
        problem: tuple[FailureKind, str] | None = None
        if key is None:
            problem = (
                FailureKind.UNKNOWN_KEY,
                f"entry {row.index}: receipt signed by key {row.key_id}, which is not a log key",
            )
        else:
            try:
                key.verify(row.signature, receipt_message(leaf))
            except _CryptoInvalidSignature:
                problem = (
                    FailureKind.RECEIPT_INVALID,
                    f"entry {row.index}: the log's receipt signature does not verify over the "
                    f"entry's leaf hash: the entry or its receipt was changed after signing",
                )
        out.append((leaf, entry.index, entry.prev, problem))
    return out


def audit(
    source: AuditSource,
    *,
    trusted_keys: Sequence[TrustedKey] | None = None,
    origin: str | None = None,
    workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> AuditReport:
    """Verify a whole log from `source` (see the module docstring for the checklist).

    `trusted_keys` pins the log keys; without it the source's own key list is used, which
    proves internal consistency but not who signed. `workers` is the number of processes
    for signature checks (default: one per core; 1 checks in this process).
    """
    keys = list(trusted_keys) if trusted_keys is not None else list(source.keys())
    verifiers = [k.note_verifier() for k in keys]
    try:
        checkpoint, _ = open_checkpoint(source.checkpoint(), verifiers, origin)
    except LedgerError as exc:
        failure = AuditFailure(
            FailureKind.CHECKPOINT_SIGNATURE_INVALID, None, f"latest checkpoint: {exc}"
        )
        return AuditReport(None, 0, 0, failure)
    return audit_entries(
        source, checkpoint, keys, origin=origin, workers=workers, progress=progress
    )


def audit_entries(
    source: AuditSource,
    checkpoint: Checkpoint,
    keys: Sequence[TrustedKey],
    *,
    frontier: CompactRange | None = None,
    last_leaf: bytes = ZERO_HASH,
    origin: str | None = None,
    workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> AuditReport:
    """Steps 2 to 4 for the entries from `frontier.size` up to the size of `checkpoint`.

    `checkpoint` has been verified by the caller (step 1). `frontier` is the trusted tree of
    the entries before (default: none, a whole-log audit) and `last_leaf` the leaf hash of
    its last entry (the next entry's `prev`). The frontier is copied, not changed. Published
    checkpoints of the source from `frontier.size` on are checked (step 3).
    """
    tree = CompactRange(frontier.size, frontier.hashes) if frontier is not None else CompactRange()
    start = tree.size
    verifiers = [k.note_verifier() for k in keys]
    state = _Walk(checkpoint, verifiers, origin, iter(source.checkpoints(start)), tree, last_leaf)
    n_workers = workers if workers is not None else (os.cpu_count() or 1)
    try:
        state.begin()
        if start > checkpoint.size:
            state.fail(
                FailureKind.ENTRY_MISSING,
                None,
                f"the checkpoint covers {checkpoint.size} entries, fewer than the {start} "
                "already verified",
            )
        for verdicts, rows in _verify_stream(source, start, checkpoint.size, keys, n_workers):
            for row, verdict in zip(rows, verdicts, strict=True):
                state.take(row, verdict)
            if progress is not None:
                progress(state.frontier.size, checkpoint.size)
        state.finish()
    except _Stop as stop:
        return state.report(stop.failure)
    return state.report(None)


def _chunks(source: AuditSource, start: int, end: int) -> Iterator[list[StoredEntry]]:
    chunk: list[StoredEntry] = []
    for row in source.entries(start, end):
        chunk.append(row)
        if len(chunk) >= CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _verify_stream(
    source: AuditSource, start: int, end: int, keys: Sequence[TrustedKey], workers: int
) -> Iterator[tuple[list[_Verdict], list[StoredEntry]]]:
    key_bytes = {k.key_id: k.public_key for k in keys}
    if workers <= 1 or end - start <= CHUNK:
        _init_worker(key_bytes)
        for rows in _chunks(source, start, end):
            yield _check_entries(rows), rows
        return
    # Bounded read-ahead keeps memory flat while every core verifies signatures.
    with ProcessPoolExecutor(workers, initializer=_init_pool_worker, initargs=(key_bytes,)) as pool:
        pending: deque[tuple[Future[list[_Verdict]], list[StoredEntry]]] = deque()
        for rows in _chunks(source, start, end):
            pending.append((pool.submit(_check_entries, rows), rows))
            if len(pending) >= 2 * workers:
                fut, done = pending.popleft()
                yield fut.result(), done
        while pending:
            fut, done = pending.popleft()
            yield fut.result(), done


class _Walk:
    """The in-order part of the audit: positions, chain links, tree and checkpoints."""

    def __init__(
        self,
        checkpoint: Checkpoint,
        verifiers: Sequence[NoteVerifier],
        origin: str | None,
        published: Iterator[tuple[int, str]],
        frontier: CompactRange,
        prev: bytes,
    ) -> None:
        self.checkpoint = checkpoint
        self.verifiers = verifiers
        self.origin = origin
        self.frontier = frontier
        self.start = frontier.size
        self.prev = prev
        self.checkpoints_verified = 0
        self._published = published
        self._next_cp = next(published, None)

    def begin(self) -> None:
        """Check a published checkpoint at the starting size (0 for a whole log)."""
        self._check_published()

    def report(self, failure: AuditFailure | None) -> AuditReport:
        return AuditReport(
            self.checkpoint,
            self.frontier.size - self.start,
            self.checkpoints_verified,
            failure,
            start=self.start,
            frontier=tuple(self.frontier.hashes),
            last_leaf=self.prev,
        )

    def take(self, row: StoredEntry, verdict: _Verdict) -> None:
        expected = self.frontier.size
        if row.index > expected:
            self.fail(
                FailureKind.ENTRY_MISSING,
                expected,
                f"entry {expected} is missing: the next stored entry is {row.index}",
            )
        if row.index < expected:
            self.fail(
                FailureKind.ORDER_BROKEN,
                row.index,
                f"entry {row.index} appears again after entry {expected - 1}",
            )
        leaf, index, prev, problem = verdict
        if problem is not None and problem[0] in (
            FailureKind.CONTENT_CHANGED,
            FailureKind.MALFORMED_ENTRY,
        ):
            self.fail(problem[0], expected, problem[1])
        if index != expected:
            self.fail(
                FailureKind.ORDER_BROKEN,
                expected,
                f"entry stored at index {expected} says it is entry {index}: entries were moved",
            )
        if prev != self.prev:
            self.fail(
                FailureKind.CHAIN_BROKEN,
                expected,
                f"entry {expected}: prev is {(prev or b'').hex()} but entry {expected - 1}'s "
                f"leaf hash is {self.prev.hex()}",
            )
        if problem is not None:
            self.fail(problem[0], expected, problem[1])
        self.frontier.append(leaf)
        self.prev = leaf
        self._check_published()

    def _check_published(self) -> None:
        while self._next_cp is not None and self._next_cp[0] <= self.frontier.size:
            size, note = self._next_cp
            if size == self.frontier.size:
                try:
                    cp, _ = open_checkpoint(note, self.verifiers, self.origin)
                except LedgerError as exc:
                    self.fail(
                        FailureKind.CHECKPOINT_SIGNATURE_INVALID,
                        None,
                        f"checkpoint at size {size}: {exc}",
                    )
                root = self.frontier.root()
                if cp.size != size or cp.root_hash != root:
                    self.fail(
                        FailureKind.CHECKPOINT_FORK,
                        size - 1 if size else None,
                        f"checkpoint published at size {size} says size {cp.size} root "
                        f"{cp.root_hash.hex()}, but the entries give root {root.hex()}: "
                        f"the log was forked or rewritten",
                    )
                self.checkpoints_verified += 1
            self._next_cp = next(self._published, None)

    def finish(self) -> None:
        size = self.checkpoint.size
        if self.frontier.size < size:
            self.fail(
                FailureKind.ENTRY_MISSING,
                self.frontier.size,
                f"the checkpoint covers {size} entries but the log has only "
                f"{self.frontier.size}: entries from {self.frontier.size} on are missing",
            )
        root = self.frontier.root()
        if root != self.checkpoint.root_hash:
            self.fail(
                FailureKind.ROOT_MISMATCH,
                None,
                f"checkpoint root {self.checkpoint.root_hash.hex()} but the entries give "
                f"{root.hex()} at size {size}",
            )

    def fail(self, kind: FailureKind, index: int | None, message: str) -> None:
        raise _Stop(AuditFailure(kind, index, message))


def keys_from_strings(vkeys: Iterable[str]) -> list[TrustedKey]:
    """Trusted keys from C2SP verifier key strings (`<name>+<hex id>+<base64>`)."""
    out = []
    for vkey in vkeys:
        v = NoteVerifier.from_vkey(vkey)
        out.append(TrustedKey(v.name, v.key_id.hex(), v.public_key))
    return out


class DatabaseSource:
    """Audit a log straight from its database (read-only; pages of `page` entries)."""

    def __init__(self, engine: Engine, page: int = 5000) -> None:
        self._engine = engine
        self._page = page

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
        # Paged by index, each page its own short transaction: rows below a signed
        # size never change, and a long-lived snapshot would hold up the writers.
        after = start
        while after < end:
            with storage.read_transaction(self._engine) as conn:
                # up to a page of the rows that exist, so a gap is stepped over, not stuck on
                rows = storage.read_entries(conn, after, end, self._page)
            if not rows:
                return
            yield from rows
            after = rows[-1].index + 1

    def checkpoints(self, start: int = 0) -> Iterator[tuple[int, str]]:
        last = start - 1
        while True:
            with storage.read_transaction(self._engine) as conn:
                batch = storage.read_checkpoints_after(conn, last, 1000)
            if not batch:
                return
            for cp in batch:
                yield cp.size, cp.note
            last = batch[-1].size

    def consistency_proof(self, first: int, second: int) -> list[bytes]:
        """RFC 9162 consistency proof between two tree sizes, from the node table."""
        with storage.read_transaction(self._engine) as conn:
            return consistency_proof(storage.NodeTable(conn), first, second)
