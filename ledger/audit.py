"""Audit: re-derive the whole log from its entries and check every promise it made.

The audit streams entries from a source (a database, or a remote server's ``/log/*`` API;
see `AuditSource`), in order, with memory flat in the log's size, and checks in this order:

1. the latest checkpoint's signature verifies with a trusted log key (and its origin);
2. for each entry, in index order:
   a. no index is skipped (``entry_missing``) or repeated (``order_broken``);
   b. the stored leaf hash is SHA-256(0x00 || entry bytes) (``content_changed``);
   c. the entry parses (``malformed_entry``), its bytes are the RFC 8785 encoding of their
      own parse with no repeated key (``non_canonical``), and it names its own index
      (``order_broken``);
   d. its ``prev`` is the previous entry's leaf hash (``chain_broken``);
   e. its receipt is a valid log signature over that leaf hash (``unknown_key``,
      ``receipt_invalid``);
   f. (a database source, see `TreeSource`) every perfect subtree the entry completes
      equals the stored node at its (level, index), the node proofs are served from
      (``tree_node_mismatch``, also for a missing node);
   g. the entry is applied to every lot's state (the pure projection
      `ledger.lotstate.LotStates`) and the state map (`ledger.statemap.StateMap`: key
      ``lot_key(lot)``, value ``LotState.hash()``); a ``state.root`` entry at index i must
      parse (`ledger.statemap.StateRoot.from_entry`: its size is i) and hold the root of the
      map after entries 0..i-1 and its number of lots (``state_root_mismatch``). An entry the
      projection cannot apply is ``state_projection`` once the log commits to a map (a
      ``state.root`` before or after it): a log that never does (the core's test logs, a log
      from before the map) is not accused, there is nothing its map could be compared with;
3. every published checkpoint the source keeps verifies and its root equals the root
   recomputed at its size (``checkpoint_signature_invalid``, ``checkpoint_fork``);
4. the log holds at least the latest checkpoint's size (``entry_missing``) and the root
   recomputed at that size equals the checkpoint's (``root_mismatch``);
5. (a database source) nothing lies past the latest checkpoint, read in one snapshot: no
   entry (``entry_unsigned``; an append writes its entries and their checkpoint in one
   transaction), no tree node (``tree_node_mismatch``), and the log head's size is the
   checkpoint's (``head_mismatch``);
6. (a source that serves proofs, see `ProofServer`) a sample of its inclusion proofs (first,
   last and random leaves of this audit) and consistency proofs (random earlier sizes)
   verify against the leaf hashes and roots this audit computed itself
   (``proof_invalid``): the stored tree a remote server proves from is checked by sampling;
7. (a source with projection tables, see `StateTables`: a service's database) every lot's
   state as its tables say equals the state recomputed in step 2g, every field of every
   lot (``state_table_mismatch``, naming each lot, field and both values: an
   ``UPDATE certificates SET revoked_index = NULL`` is caught). The tables are read in one
   snapshot with the log's size; entries appended since the checkpoint was read are
   projected too (read, not verified: the next audit verifies them). Skipped when the
   projection broke in a log that never committed to a map (step 2g).

The first failure, by index, stops the audit and is reported with what was expected and
what was found. Steps 2b, 2c and 2e, the costly ones, run in a pool of processes; step 2g
runs in this process, in index order. A map update costs a lot state's hash and about
log2(lots) node hashes, so the map is brought up to date only where a root is compared (a
``state.root`` entry, the end of the audit): a lot changed by several entries in between is
hashed once.

`audit` checks a whole log (from a database through `ledger.sql.source.DatabaseSource`,
from a server through `clients.remote.RemoteLog`). `audit_entries` runs steps 2 to 7 from a
tree the caller already trusts (its frontier and last leaf hash, see `ledger.trusted`): only
the entries after it are read, chained from the trusted last leaf and hashed onto the trusted
frontier, so the new checkpoint's root is checked without fetching the old entries again;
with the `StateReplay` of the entries before it (step 2g), the map goes on from there too.

A `StateReplay` is kept between audits (`ledger.trusted` writes it next to the trusted
state) as `StateReplay.to_bytes`::

    altan-ledger/state-replay/v1\n            the format line, then zlib (RFC 1950) of
    {                                         one UTF-8 JSON object:
      "size": N,                              entries 0..N-1 were applied
      "tree_root": "<b64>" | null,            the log's root at size N (binds the replay to
                                              the checkpoint it was verified at)
      "map_root": "<b64>",                    the state map's root after entry N-1
      "committed": i | null,                  index of the first state.root entry seen
      "broken": [i, "why"] | null,            the entry the projection could not apply
      "lots": [[id, status, custodian, owner, mass_left, latest_index,
                [open hold ids], [standing certificate ids, in issue order]], ...],
                                              every lot, in creation order
      "values": "<b64>",                      the map's values: 32 bytes per lot, in the
                                              order of "lots" (key: lot_key(id))
      "certificates": [[id, lot position], ...],   every certificate issued, in issue order
      "revoked": [id, ...],                   the revoked certificates, sorted
      "offers": [[id, lot position, to], ...],
      "cases": [[id, lot position | -1, hold (bool)], ...]
    }

The values are stored, not recomputed: rebuilding the map from them costs one hash per
node; re-hashing every lot's state would cost more than reading 32 bytes a lot. Loading
checks the rebuilt map's root against ``map_root``.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import zlib
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, NoReturn, Protocol, cast, runtime_checkable

from cryptography.exceptions import InvalidSignature as _CryptoInvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from ledger.checkpoint import Checkpoint, open_checkpoint
from ledger.encoding import b64decode, b64encode, parse_canonical_json
from ledger.entry import MAX_ENTRY_BYTES, ZERO_HASH, Entry, receipt_message
from ledger.errors import LedgerError, MalformedInput, StateProjectionError
from ledger.hashing import hash_leaf
from ledger.lotstate import EVENT_TYPES, LotStates
from ledger.merkle import (
    CompactRange,
    NodeId,
    verify_consistency,
    verify_inclusion,
)
from ledger.note import NoteVerifier
from ledger.records import LogTail, StoredEntry
from ledger.statemap import STATE_ROOT_TYPE, LotState, StateMap, StateRoot, lot_key

CHUNK = 2000
PROOF_SAMPLE = 16
"""Inclusion proofs an audit of a proof-serving source checks by default (and a quarter as
many consistency proofs): O(log n) requests each, so the sample costs little."""


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
    NON_CANONICAL = "non_canonical"
    TREE_NODE_MISMATCH = "tree_node_mismatch"
    ENTRY_UNSIGNED = "entry_unsigned"
    HEAD_MISMATCH = "head_mismatch"
    PROOF_INVALID = "proof_invalid"
    CONSISTENCY_PROOF_INVALID = "consistency_proof_invalid"  # ledger.trusted: a bad proof
    STATE_ROOT_MISMATCH = "state_root_mismatch"
    STATE_PROJECTION = "state_projection"
    STATE_TABLE_MISMATCH = "state_table_mismatch"


@dataclass(frozen=True)
class StateDifference:
    """One field of one lot on which the source's tables and the entries disagree.

    `field` is a `LotState` field, or ``"lot"`` for a lot only one side has (then the
    values say whether it exists). `index` is where they part: the lot's latest entry as
    the entries say (as the tables say for a lot the entries never created)."""

    lot: str
    field: str
    entries: Any
    tables: Any
    index: int | None

    def __str__(self) -> str:
        if self.field == "lot":
            has = "the entries create it" if self.entries else "the entries never create it"
            says = "the tables hold it" if self.tables else "the tables do not hold it"
            return f"lot {self.lot}: {has}, {says}"
        return (
            f"lot {self.lot} {self.field}: the entries give {self.entries!r}, "
            f"the tables say {self.tables!r}"
        )


@dataclass(frozen=True)
class AuditFailure:
    """The first thing found wrong: its kind, the entry index (when one is at fault) and why.

    `differences` lists every lot field that differs (``state_table_mismatch`` only)."""

    kind: FailureKind
    index: int | None
    message: str
    differences: tuple[StateDifference, ...] = ()


@dataclass(frozen=True)
class AuditReport:
    """The outcome of an audit.

    `entries_verified` counts the entries this audit checked, from index `start` (0 for a
    whole log). `frontier` (the compact range, see `ledger.merkle.CompactRange`) and
    `last_leaf` describe the tree where the audit stopped: at the checkpoint's size when it
    is ok, which is what a later audit needs to go on from there. So does `replay`, the
    lots' states and map recomputed from the entries (step 2g), when it is at that size
    (None when the audit recomputed none, or went past the checkpoint for step 7).
    """

    checkpoint: Checkpoint | None
    entries_verified: int
    checkpoints_verified: int
    failure: AuditFailure | None
    start: int = 0
    frontier: tuple[bytes, ...] = ()
    last_leaf: bytes = ZERO_HASH
    replay: StateReplay | None = None

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


@runtime_checkable
class TreeSource(Protocol):
    """A source that also exposes its stored Merkle tree and head (a database): the audit
    then recomputes every stored node and checks what lies past the latest checkpoint."""

    def nodes(self, level: int, start: int, end: int) -> Iterator[tuple[int, bytes]]:
        """Stored (index, hash) of the nodes at `level` with start <= index < end, in
        index order; gaps are the audit's to find."""
        ...

    def tail(self) -> LogTail:
        """The latest checkpoint's size, the head's, and anything stored past them, read in
        one snapshot."""
        ...


@runtime_checkable
class ProofServer(Protocol):
    """A source that serves RFC 9162 proofs (a remote log): the audit checks a sample."""

    def inclusion_proof(self, index: int, tree_size: int) -> list[bytes]:
        """The inclusion proof of leaf `index` in the tree of `tree_size` leaves."""
        ...

    def consistency_proof(self, first: int, second: int) -> list[bytes]:
        """The consistency proof from tree size `first` to `second`."""
        ...


@runtime_checkable
class StateTables(Protocol):
    """A source that also keeps every lot's state in tables (a service's database): the
    audit compares them with the states it recomputed from the entries (step 7)."""

    def table_states(self) -> tuple[int, Mapping[str, LotState]] | None:
        """The log's size and every lot's state as the tables say, read in one snapshot;
        None when the source keeps no such tables."""
        ...


class _Stop(Exception):
    def __init__(self, failure: AuditFailure) -> None:
        self.failure = failure


# What step 2g reads of a parsed entry: (type, actor, body); actor and body are None for a
# type that changes no lot's state (only its index counts).
_Seen = tuple[str, str | None, Any]

# A worker's verdict on one entry: (recomputed leaf, parsed index, parsed prev, problem,
# what step 2g reads of it or None). problem is None or (kind, message) for the checks a
# worker can make alone.
_Verdict = tuple[bytes, int | None, bytes | None, tuple[FailureKind, str] | None, _Seen | None]

_worker_keys: dict[str, Ed25519PublicKey] = {}
_worker_reads = [True]  # whether workers send back what step 2g reads (not when it is off)
_READ_TYPES = EVENT_TYPES | {STATE_ROOT_TYPE}


def _init_worker(keys: dict[str, bytes], reads: bool = True) -> None:
    _worker_keys.clear()
    _worker_keys.update({k: Ed25519PublicKey.from_public_bytes(v) for k, v in keys.items()})
    _worker_reads[0] = reads


def _init_pool_worker(keys: dict[str, bytes], reads: bool) -> None:
    # Ctrl-C is the parent's to handle (it stops the audit and the pool): a worker that
    # also caught it would print a traceback per process.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _init_worker(keys, reads)


def _seen(entry: Entry) -> _Seen:
    event = entry.event
    if event.type in _READ_TYPES:
        return (event.type, event.actor, event.body)
    return (event.type, None, None)


def _check_entries(rows: Sequence[StoredEntry]) -> list[_Verdict]:
    out: list[_Verdict] = []
    reads = _worker_reads[0]
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
                    None,
                )
            )
            continue
        try:
            entry = _parse_entry(row)
        except _Refused as exc:
            out.append((leaf, None, None, (exc.kind, f"entry {row.index}: {exc.message}"), None))
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
        out.append((leaf, entry.index, entry.prev, problem, _seen(entry) if reads else None))
    return out


class _Refused(Exception):
    def __init__(self, kind: FailureKind, message: str) -> None:
        self.kind = kind
        self.message = message


def _parse_entry(row: StoredEntry) -> Entry:
    """Parse an entry once, demanding canonical form (what `Entry.from_bytes` does, with the
    two refusals told apart for the report)."""
    if len(row.entry) > MAX_ENTRY_BYTES:
        raise _Refused(
            FailureKind.MALFORMED_ENTRY, f"at most {MAX_ENTRY_BYTES} bytes, got {len(row.entry)}"
        )
    try:
        obj, problem = parse_canonical_json(row.entry)
    except LedgerError as exc:
        raise _Refused(FailureKind.MALFORMED_ENTRY, str(exc)) from exc
    if problem is not None:
        raise _Refused(
            FailureKind.NON_CANONICAL,
            f"the entry's bytes are not in canonical form (RFC 8785): {problem}; another "
            "parser could read another event under the same signature",
        )
    try:
        return Entry.from_json(obj)
    except LedgerError as exc:
        raise _Refused(FailureKind.MALFORMED_ENTRY, str(exc)) from exc


def audit(
    source: AuditSource,
    *,
    trusted_keys: Sequence[TrustedKey] | None = None,
    origin: str | None = None,
    workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    check_tree: bool = True,
    check_proofs: int = PROOF_SAMPLE,
    check_state: bool = True,
) -> AuditReport:
    """Verify a whole log from `source` (see the module docstring for the checklist).

    `trusted_keys` pins the log keys; without it the source's own key list is used, which
    proves internal consistency but not who signed. `workers` is the number of processes
    for signature checks (default: one per core; 1 checks in this process). `check_tree`
    (step 2f and 5, for a `TreeSource`), `check_proofs` (step 6, the number of inclusion
    proofs sampled from a `ProofServer`; 0 checks none) and `check_state` (steps 2g and 7)
    are for benchmarks and tests.
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
        source,
        checkpoint,
        keys,
        origin=origin,
        workers=workers,
        progress=progress,
        check_tree=check_tree,
        check_proofs=check_proofs,
        replay=StateReplay() if check_state else None,
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
    check_tree: bool = True,
    check_proofs: int = PROOF_SAMPLE,
    replay: StateReplay | None = None,
) -> AuditReport:
    """Steps 2 to 7 for the entries from `frontier.size` up to the size of `checkpoint`.

    `checkpoint` has been verified by the caller (step 1). `frontier` is the trusted tree of
    the entries before (default: none, a whole-log audit) and `last_leaf` the leaf hash of
    its last entry (the next entry's `prev`). The frontier is copied, not changed. Published
    checkpoints of the source from `frontier.size` on are checked (step 3); so are the
    stored nodes completed by the entries read (step 2f) and the proofs sampled (step 6):
    inclusion of leaves read by this audit only, and consistency from earlier sizes only on
    a whole-log audit (from a frontier, the caller has checked consistency from there).

    `replay` is the lots' states and map after the entries before (a fresh `StateReplay()`
    for a whole log; one at another size than the frontier is refused, MalformedInput); it
    is carried on in place, and the report holds it. Without it, steps 2g and 7 are skipped.
    """
    tree = CompactRange(frontier.size, frontier.hashes) if frontier is not None else CompactRange()
    start = tree.size
    if replay is not None and replay.size != start:
        raise MalformedInput(
            f"the state replay covers {replay.size} entries, the trusted tree {start}"
        )
    verifiers = [k.note_verifier() for k in keys]
    stored = source if check_tree and isinstance(source, TreeSource) else None
    sample = None
    if check_proofs > 0 and isinstance(source, ProofServer) and checkpoint.size > start:
        sample = _ProofSample.choose(start, checkpoint.size, check_proofs)
    state = _Walk(
        checkpoint,
        verifiers,
        origin,
        iter(source.checkpoints(start)),
        tree,
        last_leaf,
        stored=stored,
        sample=sample,
        replay=replay,
    )
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
        stream = _verify_stream(
            source, start, checkpoint.size, keys, n_workers, reads=replay is not None
        )
        for verdicts, rows in stream:
            for row, verdict in zip(rows, verdicts, strict=True):
                state.take(row, verdict)
            if progress is not None:
                progress(state.frontier.size, checkpoint.size)
        state.finish()
        if stored is not None:
            state.check_tail(stored.tail())
        if sample is not None:
            assert isinstance(source, ProofServer)  # as when the sample was chosen
            state.check_proofs(source)
        if replay is not None and isinstance(source, StateTables):
            state.check_tables(source, source)
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
    source: AuditSource,
    start: int,
    end: int,
    keys: Sequence[TrustedKey],
    workers: int,
    *,
    reads: bool = True,
) -> Iterator[tuple[list[_Verdict], list[StoredEntry]]]:
    key_bytes = {k.key_id: k.public_key for k in keys}
    if workers <= 1 or end - start <= CHUNK:
        _init_worker(key_bytes, reads)
        for rows in _chunks(source, start, end):
            yield _check_entries(rows), rows
        return
    # Bounded read-ahead keeps memory flat while every core verifies signatures.
    init = (key_bytes, reads)
    with ProcessPoolExecutor(workers, initializer=_init_pool_worker, initargs=init) as pool:
        pending: deque[tuple[Future[list[_Verdict]], list[StoredEntry]]] = deque()
        for rows in _chunks(source, start, end):
            pending.append((pool.submit(_check_entries, rows), rows))
            if len(pending) >= 2 * workers:
                fut, done = pending.popleft()
                yield fut.result(), done
        while pending:
            fut, done = pending.popleft()
            yield fut.result(), done


@dataclass
class _ProofSample:
    """Which served proofs an audit checks, chosen before the walk (so that the leaves and
    roots they need are kept as the walk passes them), and what the walk kept."""

    indices: frozenset[int]
    sizes: frozenset[int]
    leaves: dict[int, bytes]
    roots: dict[int, bytes]

    @classmethod
    def choose(cls, start: int, end: int, count: int) -> _ProofSample:
        """Inclusion of `count` leaves of [start, end) in the tree of `end` leaves: the last,
        the first and random ones; consistency to `end` from ``max(1, count // 4)`` sizes
        in (start, end) on a whole-log audit (start 0): size 1 and random ones. The random
        part comes from `secrets`, so a server cannot tell which proofs will be checked."""
        rng = secrets.SystemRandom()
        indices = {end - 1, start} if count > 1 else {end - 1}
        while len(indices) < min(count, end - start):
            indices.add(rng.randrange(start, end))
        sizes: set[int] = set()
        if start == 0 and end > 1:
            sizes.add(1)
            while len(sizes) < min(max(1, count // 4), end - 1):
                sizes.add(rng.randrange(1, end))
        return cls(frozenset(indices), frozenset(sizes), {}, {})


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
        *,
        stored: TreeSource | None = None,
        sample: _ProofSample | None = None,
        replay: StateReplay | None = None,
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
        self._stored = stored
        # One cursor per level over the stored nodes, in index order, each reading pages
        # from the first node the walk completes at that level up to the checkpoint's
        # size: memory stays flat (a page per level) and no query scans or sorts.
        self._cursors: dict[int, Iterator[tuple[int, bytes]]] = {}
        self._sample = sample
        self._replay = replay
        self._resumable = True  # the replay ends at the checkpoint (not past it, see step 7)

    def begin(self) -> None:
        """Check a published checkpoint at the starting size (0 for a whole log)."""
        self._check_published()

    def report(self, failure: AuditFailure | None) -> AuditReport:
        replay = self._replay
        if replay is not None and failure is None and self._resumable:
            replay.tree_root = self.frontier.root()
        return AuditReport(
            self.checkpoint,
            self.frontier.size - self.start,
            self.checkpoints_verified,
            failure,
            start=self.start,
            frontier=tuple(self.frontier.hashes),
            last_leaf=self.prev,
            replay=replay if self._resumable else None,
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
        leaf, index, prev, problem, seen = verdict
        if problem is not None and problem[0] in (
            FailureKind.CONTENT_CHANGED,
            FailureKind.MALFORMED_ENTRY,
            FailureKind.NON_CANONICAL,
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
        if self._replay is not None:
            assert seen is not None  # workers send it for every entry they parsed
            wrong = self._replay.take(expected, seen)
            if wrong is not None:
                self.fail(*wrong)
        completed = self.frontier.append(leaf)
        self.prev = leaf
        if self._stored is not None:
            self._check_nodes(completed)
        if self._sample is not None:
            if expected in self._sample.indices:
                self._sample.leaves[expected] = leaf
            if self.frontier.size in self._sample.sizes:
                self._sample.roots[self.frontier.size] = self.frontier.root()
        self._check_published()

    def _check_nodes(self, completed: list[tuple[NodeId, bytes]]) -> None:
        assert self._stored is not None
        for (level, index), value in completed:
            cursor = self._cursors.get(level)
            if cursor is None:
                cursor = self._stored.nodes(
                    level, self.start >> level, self.checkpoint.size >> level
                )
                self._cursors[level] = cursor
            row = next(cursor, None)
            first, last = index << level, ((index + 1) << level) - 1
            where = f"tree node (level {level}, index {index}) over entries {first}..{last}"
            # The walk completes the nodes of each level in index order from the cursor's
            # first, so a row with another index means this node's row is missing.
            if row is None or row[0] != index:
                self.fail(
                    FailureKind.TREE_NODE_MISMATCH,
                    None,
                    f"{where} is missing from the node table: proofs that need it fail",
                )
            if row[1] != value:
                self.fail(
                    FailureKind.TREE_NODE_MISMATCH,
                    None,
                    f"{where}: stored hash {row[1].hex()} but the entries give "
                    f"{value.hex()}: proofs served from it are wrong",
                )

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

    def check_tail(self, tail: LogTail) -> None:
        """Step 5: nothing stored past the latest checkpoint, and the head agrees."""
        signed = tail.checkpoint_size
        if tail.unsigned_entry is not None:
            self.fail(
                FailureKind.ENTRY_UNSIGNED,
                tail.unsigned_entry,
                f"entry {tail.unsigned_entry} is stored but no checkpoint covers it (the "
                f"latest covers {signed} entries): appends publish their checkpoint in the "
                "same transaction, so this entry was written around the log",
            )
        if tail.stray_node is not None:
            level, index = tail.stray_node
            self.fail(
                FailureKind.TREE_NODE_MISMATCH,
                None,
                f"tree node (level {level}, index {index}) is stored but is no node of the "
                f"tree of {signed} entries the latest checkpoint covers",
            )
        if tail.head_size != signed:
            self.fail(
                FailureKind.HEAD_MISMATCH,
                None,
                f"the log head says {tail.head_size} entries but the entries and the latest "
                f"checkpoint say {signed}: proofs and reads bounded by the head are wrong",
            )

    def check_proofs(self, server: ProofServer) -> None:
        """Step 6: the sampled proofs the source serves verify against this audit's tree."""
        sample = self._sample
        assert sample is not None
        size, root = self.checkpoint.size, self.frontier.root()
        for index in sorted(sample.indices):
            try:
                proof = server.inclusion_proof(index, size)
                verify_inclusion(sample.leaves[index], index, size, proof, root)
            except LedgerError as exc:
                self.fail(
                    FailureKind.PROOF_INVALID,
                    index,
                    f"the served inclusion proof of entry {index} in the tree of {size} "
                    f"entries does not verify against the leaf hash and root this audit "
                    f"computed ({exc}): the proofs buyers get are wrong",
                )
        for first in sorted(sample.sizes):
            try:
                proof = server.consistency_proof(first, size)
                verify_consistency(first, size, proof, sample.roots[first], root)
            except LedgerError as exc:
                self.fail(
                    FailureKind.PROOF_INVALID,
                    None,
                    f"the served consistency proof from size {first} to {size} does not "
                    f"verify against the roots this audit computed ({exc})",
                )

    def check_tables(self, tables: StateTables, source: AuditSource) -> None:
        """Step 7: the source's tables hold the states the entries give, every field."""
        replay = self._replay
        assert replay is not None
        if replay.broken is not None:
            return  # a log that never committed to a map (else step 2g failed): see 2g
        read = tables.table_states()
        if read is None:
            return
        size, states = read
        if size < replay.size:
            self.fail(
                FailureKind.STATE_TABLE_MISMATCH,
                None,
                f"the tables reflect a log of {size} entries, but the checkpoint covers "
                f"{replay.size}",
            )
        if size > replay.size:
            # Appended since the checkpoint was read: the tables are newer. Project those
            # entries too; this replay no longer ends at the checkpoint (not resumable).
            self._resumable = False
            for row in source.entries(replay.size, size):
                try:
                    entry = Entry.from_bytes(row.entry)
                except LedgerError as exc:
                    self.fail(FailureKind.MALFORMED_ENTRY, row.index, f"entry {row.index}: {exc}")
                if entry.index != replay.size:
                    self.fail(
                        FailureKind.ORDER_BROKEN,
                        replay.size,
                        f"entry {replay.size} is missing past the checkpoint",
                    )
                wrong = replay.apply(entry)
                if wrong is not None:
                    self.fail(*wrong)
            if replay.broken is not None:
                return
        found = state_differences(replay.lots, states)
        if found:
            shown = "; ".join(str(d) for d in found[:_SHOWN])
            more = f"; and {len(found) - _SHOWN} more" if len(found) > _SHOWN else ""
            raise _Stop(
                AuditFailure(
                    FailureKind.STATE_TABLE_MISMATCH,
                    found[0].index,
                    f"the service's tables differ from the lots' states the entries give, on "
                    f"{len(found)} field{'s' if len(found) != 1 else ''} (reads and verdicts "
                    f"served from the tables are wrong): {shown}{more}",
                    tuple(found),
                )
            )

    def fail(self, kind: FailureKind, index: int | None, message: str) -> NoReturn:
        raise _Stop(AuditFailure(kind, index, message))


_SHOWN = 20
"""Differences between tables and entries named in a failure's message (all are in
`AuditFailure.differences`)."""


def state_differences(lots: LotStates, tables: Mapping[str, LotState]) -> list[StateDifference]:
    """Every field on which `tables` (a lot's state by lot id) and the states projected
    from the entries differ, lots only one side holds included; ordered by where they part
    (`StateDifference.index`), then lot and field."""
    found: list[StateDifference] = []
    for lot_id in set(lots.lot_ids()) | set(tables):
        mine, theirs = lots.state(lot_id), tables.get(lot_id)
        if mine is None or theirs is None:
            either = mine or theirs
            index = either.latest_index if either is not None else None
            found.append(
                StateDifference(lot_id, "lot", mine is not None, theirs is not None, index)
            )
            continue
        if mine == theirs:
            continue
        a, b = mine.to_json(), theirs.to_json()
        found.extend(
            StateDifference(lot_id, name, a[name], b[name], mine.latest_index)
            for name in a
            if a[name] != b[name]
        )
    found.sort(key=lambda d: (d.index if d.index is not None else -1, d.lot, d.field))
    return found


# --- step 2g: the lots' states and the state map -------------------------------------------


class _ReadEvent:
    __slots__ = ("actor", "body", "type")

    def __init__(self, type_: str, actor: str | None, body: Any) -> None:
        self.type = type_
        self.actor = actor
        self.body = body


class _Read:
    """The part of a parsed entry that `LotStates.apply` and `StateRoot.from_entry` read
    (``index``, ``event.type``, ``event.actor``, ``event.body``). A worker parsed and
    checked the entry; building a whole `Entry` again here, in the one process that applies
    entries in order, cost about 16 µs an entry (its fields' checks), a tenth of the audit."""

    __slots__ = ("event", "index")

    def __init__(self, index: int, seen: _Seen) -> None:
        self.index = index
        self.event = _ReadEvent(*seen)


_UNTAKEN = 4096


class StateReplay:
    """Every lot's state and the state map, recomputed from entries 0..size-1 (step 2g).

    `lots` is the projection (`ledger.lotstate.LotStates`), `map` the map of their states
    (brought up to date by `flush`, which `map_root` calls). `committed` is the index of the
    first ``state.root`` entry seen (None: the log has not committed to a map yet);
    `broken` the index of an entry the projection could not apply, and why (the projection
    stops there). `tree_root` is the log's root at `size`, set when an audit that ended
    there verified. `to_bytes` and `from_bytes` keep it between audits (the format is in the
    module docstring).
    """

    FORMAT = b"altan-ledger/state-replay/v1\n"

    def __init__(self) -> None:
        self.lots = LotStates()
        self.map = StateMap()
        self.size = 0
        self.committed: int | None = None
        self.broken: tuple[int, str] | None = None
        self.tree_root: bytes | None = None
        self._dirty: set[str] = set()
        self._untaken = 0

    def flush(self) -> None:
        """Set every lot changed since the last flush to its state's hash in the map."""
        lots, smap = self.lots, self.map
        for lot_id in self._dirty:
            state = lots.state(lot_id)
            assert state is not None  # a lot, once created, stays
            smap.set(lot_key(lot_id), state.hash())
        self._untaken += len(self._dirty)
        self._dirty.clear()
        if self._untaken > _UNTAKEN:
            # The map remembers what changed, for a store to write; nothing is written here,
            # so forget it now and then (not at every flush: that cost a tenth of a flush).
            smap.take_changes()
            self._untaken = 0

    def map_root(self) -> bytes:
        """The map's root after entry `size` - 1."""
        self.flush()
        return self.map.root

    def apply(self, entry: Entry) -> tuple[FailureKind, int, str] | None:
        """Apply the next entry (its index must be `size`) and check it if it is a
        ``state.root``: None, or the failure (kind, index, message)."""
        return self.take(entry.index, _seen(entry))

    def take(self, index: int, seen: _Seen) -> tuple[FailureKind, int, str] | None:
        """Apply entry `index` (which must be entry `size`; what a worker read of it) and
        check it if it is a ``state.root``: None, or the failure (kind, index, message)."""
        assert index == self.size, (index, self.size)
        read = _Read(index, seen)
        wrong = self._check_root(read) if read.event.type == STATE_ROOT_TYPE else None
        if self.broken is None:
            try:
                changed = self.lots.apply(cast(Entry, read))
            except StateProjectionError as exc:
                self.broken = (index, str(exc))
            else:
                if changed:
                    self._dirty.update(changed)
        self.size += 1
        if wrong is None and self.committed is not None and self.broken is not None:
            wrong = self._uncommittable(self.committed)
        return wrong

    def _uncommittable(self, root_index: int) -> tuple[FailureKind, int, str]:
        assert self.broken is not None
        at, why = self.broken
        return (
            FailureKind.STATE_PROJECTION,
            at,
            f"entry {at} cannot be applied to the lots' states ({why}), yet the log commits "
            f"to a state map (the state.root entry at {root_index}): no honest map has it",
        )

    def _check_root(self, read: _Read) -> tuple[FailureKind, int, str] | None:
        index = read.index
        try:
            committed = StateRoot.from_entry(cast(Entry, read))
        except MalformedInput as exc:
            return (
                FailureKind.STATE_ROOT_MISMATCH,
                index,
                f"the state root at entry {index} is not a valid state.root entry: {exc}",
            )
        if self.committed is None:
            self.committed = index
        if self.broken is not None:
            return self._uncommittable(index)
        root = self.map_root()
        wrong = []
        if committed.root != root:
            wrong.append(
                f"it commits to root {committed.root.hex()}, the map of the {index} entries "
                f"before it has root {root.hex()}"
            )
        if committed.lots != len(self.map):
            wrong.append(f"it counts {committed.lots} lots, the entries create {len(self.map)}")
        if not wrong:
            return None
        return (
            FailureKind.STATE_ROOT_MISMATCH,
            index,
            f"the state root at entry {index} differs from the recomputed map: "
            f"{'; '.join(wrong)} (status proofs against it are wrong)",
        )

    # --- kept between audits --------------------------------------------------------------

    def to_bytes(self) -> bytes:
        """The replay as the module docstring's format (the map is flushed first)."""
        root = self.map_root()
        lots = self.lots
        # The projection's own records, read here: it keeps more than a lot's state (offers,
        # cases, certificates still standing) and the next entries may need any of it.
        records = lots._lots
        position = {lot_id: n for n, lot_id in enumerate(records)}
        values = b"".join(self.map.get(lot_key(lot_id)) or b"" for lot_id in records)
        if len(values) != 32 * len(records):
            raise MalformedInput("state replay: the map does not hold every lot")
        obj = {
            "size": self.size,
            "tree_root": None if self.tree_root is None else b64encode(self.tree_root),
            "map_root": b64encode(root),
            "committed": self.committed,
            "broken": None if self.broken is None else list(self.broken),
            "lots": [
                [
                    lot_id,
                    r.status,
                    r.custodian,
                    r.owner,
                    r.remaining,
                    r.latest,
                    sorted(r.holds),
                    list(r.standing),
                ]
                for lot_id, r in records.items()
            ],
            "values": b64encode(values),
            "certificates": [[c, position[lot]] for c, lot in lots._certificates.items()],
            "revoked": sorted(lots._revoked),
            "offers": [[o, position[lot], to] for o, (lot, to) in lots._offers.items()],
            "cases": [
                [c, -1 if case.lot is None else position[case.lot], case.hold]
                for c, case in lots._cases.items()
            ],
        }
        text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
        return self.FORMAT + zlib.compress(text.encode("utf-8"), 1)

    @classmethod
    def from_bytes(cls, data: bytes) -> StateReplay:
        """Parse `to_bytes`; MalformedInput for anything else, or a map whose root is not
        the one recorded."""
        if not data.startswith(cls.FORMAT):
            raise MalformedInput("state replay: not an altan-ledger/state-replay/v1 file")
        try:
            obj = json.loads(zlib.decompress(data[len(cls.FORMAT) :]))
            return cls._from_json(obj)
        except (zlib.error, ValueError, KeyError, TypeError, IndexError) as exc:
            raise MalformedInput(f"state replay: damaged ({exc!r})"[:300]) from exc

    @classmethod
    def _from_json(cls, obj: dict[str, Any]) -> StateReplay:
        from ledger import lotstate  # its record types: this restores its own records

        self = cls()
        lots = self.lots
        ids: list[str] = []
        for lot_id, status, custodian, owner, remaining, latest, holds, standing in obj["lots"]:
            ids.append(lot_id)
            lots._lots[lot_id] = lotstate._Lot(
                status, custodian, owner, int(remaining), int(latest), set(holds), set(), standing
            )
        for cert, n in obj["certificates"]:
            lots._certificates[cert] = ids[n]
        for cert in obj["revoked"]:
            lots._revoked.add(cert)
            lots._lots[lots._certificates[cert]].revoked.add(cert)
        for offer, n, to in obj["offers"]:
            lots._offers[offer] = (ids[n], to)
        for case, n, hold in obj["cases"]:
            lots._cases[case] = lotstate._Case(None if n < 0 else ids[n], bool(hold))
        self.size = lots._size = int(obj["size"])
        broken = obj["broken"]
        if broken is not None:
            self.broken = (int(broken[0]), str(broken[1]))
            lots._broken = self.broken[0]
        committed = obj["committed"]
        self.committed = None if committed is None else int(committed)
        tree_root = obj["tree_root"]
        self.tree_root = None if tree_root is None else b64decode(tree_root, size=32)
        values = b64decode(obj["values"])
        if len(values) != 32 * len(ids):
            raise ValueError(f"{len(ids)} lots but {len(values)} bytes of values")
        self.map = StateMap(
            {lot_key(lot_id): values[32 * n : 32 * n + 32] for n, lot_id in enumerate(ids)}
        )
        self.map.take_changes()  # nothing for a store to write: it is all loaded
        if self.map.root != b64decode(obj["map_root"], size=32):
            raise ValueError("the map's values do not give the recorded map root")
        return self


def keys_from_strings(vkeys: Iterable[str]) -> list[TrustedKey]:
    """Trusted keys from C2SP verifier key strings (`<name>+<hex id>+<base64>`)."""
    out = []
    for vkey in vkeys:
        v = NoteVerifier.from_vkey(vkey)
        out.append(TrustedKey(v.name, v.key_id.hex(), v.public_key))
    return out
