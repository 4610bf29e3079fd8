"""Trusted state: what an auditor keeps between audits, so the next one reads only what is new.

After an audit the auditor keeps, per log, a small JSON file (`TrustedState`): the signed
checkpoint it verified, its size and root, the keys it trusted, the leaf hash of the last
entry (the next entry's ``prev``) and the tree's compact range (the hashes of the perfect
subtrees whose fold is the root, at most 64 of them). The log is what the auditor pinned:
its keys (``--key``) and their name, which is the origin (`expected_origin`); never the
text of a checkpoint a server sent. `incremental_audit` then checks, in this order:

1. the served checkpoint verifies with the trusted keys (``--key``, else those the state
   recorded, else, on a first audit, the source's own list) and names the expected origin
   (the pinned keys' name, else the state's, else the name of the source's keys); a state
   of another log (another origin, or pinned keys that share none with the state's) is
   refused before anything is read (KeyProblem). A checkpoint that a trusted key signed
   under another origin is evidence ``origin_changed`` when there is a trusted state, and
   a failure (``checkpoint_signature_invalid``, origin mismatch) on a first audit;
2. against the trusted checkpoint, when there is one:
   a. a smaller tree is a rollback: a log never shrinks (evidence ``rollback``);
   b. the same size with another root is a fork (evidence ``fork``);
   c. a larger tree must come with an RFC 9162 consistency proof from the trusted size to
      the new one that verifies against both roots. A proof that fails proves nothing on
      its own (a broken cache, a man in the middle): the auditor then reads the entries
      0..new size and recomputes the tree itself (`decide_from_entries`). Evidence
      ``inconsistent`` only when those entries give the served root and their first
      trusted-size leaves give another root than the trusted one; else a failure:
      ``consistency_proof_invalid`` (the log is consistent, the proof was bad),
      ``entry_missing`` / ``order_broken`` / ``root_mismatch`` (the server's entries do not
      back its checkpoint);
3. only the new entries are read and checked as `ledger.audit.audit_entries` checks every
   entry (leaf hash, parse, index, chain from the trusted last leaf, receipt, lot states and
   state roots), each hashed onto the trusted compact range, whose root must then be the
   served checkpoint's, and applied to the trusted `ledger.audit.StateReplay` (the lots'
   states and state map at the trusted size). A state without one at its own tree (a state
   file from before the map, or a replay lost or damaged) is no failure: that audit reads
   the whole log once, as a first one does;
4. only then the state moves forward to the served checkpoint.

A first audit (no state) checks the whole log and records the state; ``full=True`` re-reads
every entry even with a state, after step 2. Evidence is returned, never raised, and the
state is not moved by a failure or by evidence.

Evidence is only ever statements signed by the log's key that cannot all hold, checkable
offline by anyone with the key (`ledger.evidence`, ``altan evidence FILE --key K``):

- ``fork``: two checkpoints for the same size with different roots;
- ``inconsistent``: checkpoints for sizes m < n, and a consistency proof that verifies
  from a root R' at size m to the root at size n, with R' not the signed root at size m;
- ``origin_changed``: the log's key signed a checkpoint naming another origin;
- ``rollback``: the server served, as its latest, a checkpoint smaller than one the log
  signed before. The two signatures are checkable, but a checkpoint carries no time: that
  it was served as the latest is the auditor's own observation (a stale cache looks the
  same), so this kind is weaker than the others and `ledger.evidence` says so.

`StateFile` keeps a state on disk: mode 0600 from creation, replaced atomically (temporary
file, fsync, ``os.replace``), an advisory lock around each audit, and evidence files next to
it. Its state replay is kept next to it too, in ``<state>.replay`` (`StateReplay.to_bytes`,
format in `ledger.audit`), written before the state: a replay that is not of the state's
tree (size and root) is ignored. Time is passed in (RFC 3339 strings from
`ledger.entry.format_time`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import hashlib
import json
import os
import stat
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote

from ledger import files
from ledger.audit import (
    AuditFailure,
    AuditReport,
    AuditSource,
    FailureKind,
    StateReplay,
    TrustedKey,
    audit_entries,
    keys_from_strings,
)
from ledger.checkpoint import Checkpoint, open_checkpoint, pinned_origin
from ledger.encoding import b64decode, b64encode
from ledger.entry import ZERO_HASH
from ledger.errors import KeyProblem, LedgerError, MalformedInput, OriginMismatch, StorageError
from ledger.hashing import HASH_SIZE
from ledger.merkle import CompactRange, consistency_proof_plan, fold_range, verify_consistency
from ledger.note import NoteVerifier
from ledger.records import StoredEntry

STATE_FORMAT = "altan-ledger/trusted-state/v1"
EVIDENCE_FORMAT = "altan-ledger/evidence/v1"
MAX_STATE_BYTES = 1 << 20
"""A state holds one checkpoint, a few keys and at most 64 hashes: far below this."""

MAX_FILE_NAME = 200


class ProofSource(AuditSource, Protocol):
    """An audit source that also serves consistency proofs (`/log/proof/consistency`)."""

    def consistency_proof(self, first: int, second: int) -> list[bytes]:
        """The RFC 9162 consistency proof from tree size `first` to tree size `second`."""
        ...


def vkey_of(key: TrustedKey) -> str:
    """The C2SP verifier key string of a trusted key."""
    return NoteVerifier(key.name, bytes.fromhex(key.key_id), key.public_key).vkey


@dataclass(frozen=True)
class TrustedState:
    """A verified tree head and what the next audit needs to extend it (see module docs).

    Validates itself: the checkpoint verifies with `keys` and says `origin`, `size` and
    `root_hash`; the compact range folds to the root; `last_leaf` is 32 bytes (zeros for
    the empty tree). `replay` (not part of the JSON, see `StateFile`) is the lots' states
    and state map the audit recomputed, used only when it is of this tree (`go_on_from`).
    """

    origin: str
    size: int
    root_hash: bytes
    checkpoint: str
    verified_at: str
    keys: tuple[str, ...]
    last_leaf: bytes
    frontier: tuple[bytes, ...]
    source: str | None = None
    replay: StateReplay | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if not self.keys:
            raise MalformedInput("trusted state: expected at least one key, found none")
        verifiers = [NoteVerifier.from_vkey(k) for k in self.keys]
        try:
            cp, _ = open_checkpoint(self.checkpoint, verifiers, self.origin)
        except LedgerError as exc:
            raise MalformedInput(f"trusted state: its checkpoint does not verify: {exc}") from exc
        if (cp.size, cp.root_hash) != (self.size, self.root_hash):
            raise MalformedInput(
                f"trusted state: says size {self.size} root {self.root_hash.hex()} but its "
                f"checkpoint says size {cp.size} root {cp.root_hash.hex()}"
            )
        if len(self.last_leaf) != HASH_SIZE:
            raise MalformedInput(
                f"trusted state: last leaf hash must be {HASH_SIZE} bytes, "
                f"found {len(self.last_leaf)}"
            )
        if self.size == 0 and self.last_leaf != ZERO_HASH:
            raise MalformedInput("trusted state: an empty tree has no last leaf (expected zeros)")
        tree = CompactRange(self.size, self.frontier)  # checks the count and sizes
        if tree.root() != self.root_hash:
            raise MalformedInput(
                f"trusted state: the compact range folds to {tree.root().hex()}, "
                f"not the root {self.root_hash.hex()}"
            )

    @property
    def trusted_keys(self) -> list[TrustedKey]:
        """The keys this state was verified with."""
        return keys_from_strings(self.keys)

    def check_log(
        self, keys: Sequence[TrustedKey] | None = None, origin: str | None = None
    ) -> None:
        """Refuse to compare this state with another log (KeyProblem): an expected `origin`
        other than the state's, or pinned `keys` that share none with the state's (another
        log under the same origin, two demo servers say: comparing their checkpoints would
        prove nothing). Rotation: pin the old key and the new one."""
        if origin is not None and origin != self.origin:
            raise KeyProblem(
                f"the trusted state is of the log {self.origin!r}, not {origin!r}: "
                "use another --state file"
            )
        if keys is None:
            return
        pinned = {vkey_of(k) for k in keys}
        if not pinned & set(self.keys):
            raise KeyProblem(
                f"the trusted state of {self.origin} was verified with the keys "
                f"{', '.join(self.keys)}, none of which is pinned now: is this another log "
                "with the same origin? Use another --state file (or pin an old key too)"
            )

    def compact_range(self) -> CompactRange:
        """A fresh copy of the trusted tree's compact range."""
        return CompactRange(self.size, self.frontier)

    def go_on_from(self) -> StateReplay | None:
        """The state replay an incremental audit goes on from: `replay` when it is of this
        state's tree (its size and root), else None (the audit then replays the whole log).
        An audit carries it on in place, so after a failed one it no longer matches."""
        replay = self.replay
        if replay is None or replay.size != self.size or replay.tree_root != self.root_hash:
            return None
        return replay

    @classmethod
    def from_report(
        cls,
        report: AuditReport,
        note: str,
        keys: Sequence[TrustedKey],
        *,
        verified_at: str,
        source: str | None = None,
    ) -> TrustedState:
        """The state after a successful audit of the checkpoint `note`."""
        cp = report.checkpoint
        if not report.ok or cp is None:
            raise MalformedInput("trusted state: only an audit that verified can be trusted")
        return cls(
            origin=cp.origin,
            size=cp.size,
            root_hash=cp.root_hash,
            checkpoint=note,
            verified_at=verified_at,
            keys=tuple(vkey_of(k) for k in keys),
            last_leaf=report.last_leaf,
            frontier=report.frontier,
            source=source,
            replay=report.replay,
        )

    def to_json(self) -> dict[str, Any]:
        """The state as a JSON object (base64 is standard with padding, as on the wire)."""
        return {
            "format": STATE_FORMAT,
            "origin": self.origin,
            "size": self.size,
            "root_hash": b64encode(self.root_hash),
            "checkpoint": self.checkpoint,
            "verified_at": self.verified_at,
            "source": self.source,
            "keys": list(self.keys),
            "last_leaf_hash": b64encode(self.last_leaf),
            "compact_range": [b64encode(h) for h in self.frontier],
        }

    @classmethod
    def from_json(cls, obj: object) -> TrustedState:
        """Parse `to_json`'s object; MalformedInput names the field at fault."""
        if not isinstance(obj, dict):
            raise MalformedInput("trusted state: expected a JSON object")
        if obj.get("format") != STATE_FORMAT:
            raise MalformedInput(
                f"trusted state: expected format {STATE_FORMAT!r}, found {obj.get('format')!r}"
            )

        def text(name: str) -> str:
            value = obj.get(name)
            if not isinstance(value, str):
                raise MalformedInput(f"trusted state: {name}: expected a string", field=name)
            return value

        size = obj.get("size")
        if type(size) is not int:
            raise MalformedInput("trusted state: size: expected an integer", field="size")
        keys = obj.get("keys")
        hashes = obj.get("compact_range")
        if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
            raise MalformedInput("trusted state: keys: expected a list of strings", field="keys")
        if not isinstance(hashes, list) or not all(isinstance(h, str) for h in hashes):
            raise MalformedInput(
                "trusted state: compact_range: expected a list of base64 hashes",
                field="compact_range",
            )
        source = obj.get("source")
        return cls(
            origin=text("origin"),
            size=size,
            root_hash=b64decode(text("root_hash"), size=HASH_SIZE, what="root_hash"),
            checkpoint=text("checkpoint"),
            verified_at=text("verified_at"),
            keys=tuple(keys),
            last_leaf=b64decode(text("last_leaf_hash"), size=HASH_SIZE, what="last_leaf_hash"),
            frontier=tuple(b64decode(h, size=HASH_SIZE, what="compact_range") for h in hashes),
            source=source if isinstance(source, str) else None,
        )


class EvidenceKind(StrEnum):
    """Why two signed checkpoints cannot both be true of one append-only log (see
    `ledger.evidence` for what each proves and how it is checked offline)."""

    ROLLBACK = "rollback"
    FORK = "fork"
    INCONSISTENT = "inconsistent"
    ORIGIN_CHANGED = "origin_changed"


@dataclass(frozen=True)
class Evidence:
    """Two signed checkpoints of one log that contradict each other, and the proof (if any)."""

    kind: EvidenceKind
    message: str
    trusted: TrustedState
    served: Checkpoint
    served_note: str
    proof: tuple[bytes, ...] | None = None
    first_root: bytes | None = None
    """With `proof`: the root of the served tree's first `trusted.size` leaves, which the
    proof leads to together with the served root, and which is not the trusted root."""

    def to_json(self, *, found_at: str, source: str | None) -> dict[str, Any]:
        """The evidence as a JSON object: both signed notes, verbatim, can be checked by anyone
        with the log's public key."""
        return {
            "format": EVIDENCE_FORMAT,
            "kind": str(self.kind),
            "message": self.message,
            "found_at": found_at,
            "source": source,
            "origin": self.trusted.origin,
            "keys": list(self.trusted.keys),
            "trusted": {
                "size": self.trusted.size,
                "root_hash": b64encode(self.trusted.root_hash),
                "checkpoint": self.trusted.checkpoint,
                "verified_at": self.trusted.verified_at,
                "source": self.trusted.source,
            },
            "served": {
                "origin": self.served.origin,
                "size": self.served.size,
                "root_hash": b64encode(self.served.root_hash),
                "checkpoint": self.served_note,
            },
            "consistency_proof": None
            if self.proof is None
            else {
                "first": self.trusted.size,
                "second": self.served.size,
                "hashes": [b64encode(h) for h in self.proof],
                "first_root": None if self.first_root is None else b64encode(self.first_root),
            },
        }


@dataclass(frozen=True)
class Outcome:
    """One incremental audit: the audit report, the state before and after, any evidence.

    `state` is the state to keep (None when it must not move: a failure or evidence).
    """

    report: AuditReport
    previous: TrustedState | None
    state: TrustedState | None = None
    evidence: Evidence | None = None
    served_note: str | None = field(default=None, repr=False)

    @property
    def ok(self) -> bool:
        """True when everything verified and the state may move forward."""
        return self.report.ok and self.evidence is None and self.state is not None

    @property
    def old_size(self) -> int:
        """The trusted size before this audit (0 on a first audit)."""
        return self.previous.size if self.previous is not None else 0

    @property
    def new_size(self) -> int | None:
        """The served checkpoint's size, when it verified."""
        cp = self.report.checkpoint
        return cp.size if cp is not None else None


Entries = Callable[[int, int], Iterable[StoredEntry]]
"""`AuditSource.entries`: the stored entries start <= index < end, in order."""


def expected_origin(keys: Sequence[TrustedKey] | None, origin: str | None) -> str | None:
    """The origin a verifier expects: the pinned keys' name (`ledger.checkpoint.pinned_origin`)
    when keys are pinned, else `origin` (else None: the caller decides). An `origin` that
    differs from the pinned keys' name is refused (KeyProblem), as are pinned keys of
    different names."""
    if keys is None:
        return origin
    pinned = pinned_origin(k.name for k in keys)
    if origin is not None and origin != pinned:
        raise KeyProblem(
            f"the pinned keys are of the log {pinned!r}, but --origin says {origin!r}: "
            "a checkpoint's origin must be its key's name"
        )
    return pinned


def check_consistency(
    trusted: TrustedState,
    served: Checkpoint,
    served_note: str,
    prove: Callable[[int, int], list[bytes]],
    entries: Entries | None = None,
) -> Evidence | AuditFailure | None:
    """Step 2 of the module checklist: None when `served` extends `trusted` (or is it).

    `prove(first, second)` fetches a consistency proof; it is only called for a larger tree
    (and not from the empty tree, which every tree extends). A proof that fails, or that the
    source refuses (a LedgerError: OutOfRange, a malformed or oversized answer), is no
    evidence by itself: the source may be an honest log behind a broken cache. Then the
    served tree is recomputed from `entries` (see `decide_from_entries`); without `entries`
    it is a failure. Other exceptions of `prove` (network) propagate: no verdict.
    """
    if served.size < trusted.size:
        return Evidence(
            EvidenceKind.ROLLBACK,
            f"the log served a checkpoint for {served.size} entries (root "
            f"{served.root_hash.hex()}) after signing one for {trusted.size} entries (root "
            f"{trusted.root_hash.hex()}, verified {trusted.verified_at}): a log never shrinks; "
            "its history was cut back or rewritten",
            trusted,
            served,
            served_note,
        )
    if served.size == trusted.size:
        if served.root_hash == trusted.root_hash:
            return None
        return Evidence(
            EvidenceKind.FORK,
            f"two checkpoints for the same {served.size} entries with different roots: "
            f"trusted {trusted.root_hash.hex()} (verified {trusted.verified_at}), served "
            f"{served.root_hash.hex()}: the log was forked or rewritten",
            trusted,
            served,
            served_note,
        )
    if trusted.size == 0:
        return None
    try:
        proof = prove(trusted.size, served.size)
        verify_consistency(trusted.size, served.size, proof, trusted.root_hash, served.root_hash)
    except LedgerError as exc:
        why = f"the server served a bad consistency proof from {trusted.size} to {served.size}"
        if entries is None:
            return AuditFailure(FailureKind.CONSISTENCY_PROOF_INVALID, None, f"{why} ({exc})")
        return decide_from_entries(trusted, served, served_note, entries, f"{why} ({exc})")
    return None


def decide_from_entries(
    trusted: TrustedState,
    served: Checkpoint,
    served_note: str,
    entries: Entries,
    why: str = "the consistency proof failed",
) -> Evidence | AuditFailure:
    """After a failed proof, decide from the source's own entries whether `served` extends
    `trusted` (`trusted.size < served.size`).

    The leaf hashes of entries 0..served.size are streamed onto a compact range (memory
    O(log n)), keeping the nodes of the consistency proof from `trusted.size` as they are
    completed. Then:

    - fewer entries than the checkpoint covers, or entries out of order: a failure
      (``entry_missing`` / ``order_broken``): the source does not back its checkpoint;
    - a root other than the served checkpoint's: a failure (``root_mismatch``): the source's
      entries are not the tree it signed, which proves nothing about the signed trees;
    - the first `trusted.size` leaves give the trusted root: the checkpoints are consistent
      and only the proof was bad: a failure (``consistency_proof_invalid``), no evidence;
    - else evidence ``inconsistent``: the consistency proof computed here verifies from the
      root R' of the served tree's first `trusted.size` leaves to the served root, and R'
      is not the trusted root. Anyone can check that offline (`ledger.evidence`).
    """
    first, second = trusted.size, served.size
    plan = consistency_proof_plan(first, second)
    wanted = {node for element in plan for node in element}
    found: dict[tuple[int, int], bytes] = {}
    tree = CompactRange()
    first_root = trusted.root_hash if first == 0 else None
    for row in entries(0, second):
        if row.index != tree.size:
            kind = FailureKind.ENTRY_MISSING if row.index > tree.size else FailureKind.ORDER_BROKEN
            return AuditFailure(
                kind,
                tree.size,
                f"{why}; checking it against the entries: expected entry {tree.size}, the "
                f"server sent entry {row.index}",
            )
        for node, value in tree.append(row.leaf_hash):
            if node in wanted:
                found[node] = value
        if tree.size == first:
            first_root = tree.root()
        if tree.size == second:
            break
    if tree.size < second:
        return AuditFailure(
            FailureKind.ENTRY_MISSING,
            tree.size,
            f"{why}; checking it against the entries: the checkpoint covers {second} entries "
            f"but the server has only {tree.size}",
        )
    if tree.root() != served.root_hash:
        return AuditFailure(
            FailureKind.ROOT_MISMATCH,
            None,
            f"{why}; checking it against the entries: the server's {second} entries give "
            f"root {tree.root().hex()}, not its checkpoint's {served.root_hash.hex()}",
        )
    assert first_root is not None
    if first_root == trusted.root_hash:
        return AuditFailure(
            FailureKind.CONSISTENCY_PROOF_INVALID,
            None,
            f"{why}; the server's own entries show that its checkpoint for {second} entries "
            f"extends the trusted one for {first}: the proof was bad, not the log "
            "(a broken cache or proxy?)",
        )
    proof = [fold_range([found[node] for node in element]) for element in plan]
    verify_consistency(first, second, proof, first_root, served.root_hash)  # ours: must hold
    return Evidence(
        EvidenceKind.INCONSISTENT,
        f"the consistency proof from the trusted {first} entries (root "
        f"{trusted.root_hash.hex()}, verified {trusted.verified_at}) to the served {second} "
        f"entries (root {served.root_hash.hex()}), computed from the log's own entries, leads "
        f"to root {first_root.hex()} at size {first}: the log's history before entry {first} "
        "was rewritten",
        trusted,
        served,
        served_note,
        tuple(proof),
        first_root,
    )


def incremental_audit(
    source: ProofSource,
    trusted: TrustedState | None,
    *,
    now: str,
    keys: Sequence[TrustedKey] | None = None,
    origin: str | None = None,
    full: bool = False,
    workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    source_name: str | None = None,
    note: str | None = None,
) -> Outcome:
    """Audit `source` from the `trusted` state (or whole, without one); see the module docs.

    `keys` pins the log keys (else the state's, else the source's own list); the expected
    origin is the pinned keys' name (`origin`, when given, must equal it), else `origin`,
    else the state's, else the name of the source's keys: never the served checkpoint's
    text. `now` is recorded as the verification time; `note` is the served checkpoint when
    the caller already fetched it. Errors reading the source and KeyProblem (see
    `TrustedState.check_log`, `expected_origin`) propagate; verification failures and
    evidence are in the outcome.
    """
    # 1. The served checkpoint verifies with the trusted keys and names the pinned log.
    want = expected_origin(keys, origin)
    if trusted is not None:
        trusted.check_log(keys, want)
    if keys is not None:
        pinned = list(keys)
    elif trusted is not None:
        pinned = trusted.trusted_keys
    else:
        pinned = list(source.keys())
    if want is None:
        want = trusted.origin if trusted is not None else pinned_origin(k.name for k in pinned)
    if note is None:
        note = source.checkpoint()
    verifiers = [k.note_verifier() for k in pinned]
    try:
        served, _ = open_checkpoint(note, verifiers, want)
    except OriginMismatch as exc:
        # Signed by a pinned key, but for another log: after a trusted checkpoint of this
        # one, that is the log's key vouching for a second history (evidence).
        other, _ = open_checkpoint(note, verifiers)
        if trusted is not None:
            evidence = Evidence(
                EvidenceKind.ORIGIN_CHANGED,
                f"the log's key signed a checkpoint for {other.size} entries (root "
                f"{other.root_hash.hex()}) under the origin {other.origin!r}, not "
                f"{trusted.origin!r} (trusted: {trusted.size} entries, verified "
                f"{trusted.verified_at}): a history under another name escapes the "
                "consistency check",
                trusted,
                other,
                note,
            )
            return Outcome(
                AuditReport(None, 0, 0, None, start=trusted.size),
                trusted,
                evidence=evidence,
                served_note=note,
            )
        failure = AuditFailure(
            FailureKind.CHECKPOINT_SIGNATURE_INVALID,
            None,
            f"latest checkpoint: origin mismatch: {exc} (signed by the pinned key, but for "
            "another log)",
        )
        return Outcome(AuditReport(None, 0, 0, failure), trusted, served_note=note)
    except LedgerError as exc:
        failure = AuditFailure(
            FailureKind.CHECKPOINT_SIGNATURE_INVALID, None, f"latest checkpoint: {exc}"
        )
        return Outcome(AuditReport(None, 0, 0, failure), trusted, served_note=note)

    # 2. It extends the trusted checkpoint.
    if trusted is not None:
        verdict = check_consistency(trusted, served, note, source.consistency_proof, source.entries)
        if isinstance(verdict, Evidence):
            return Outcome(
                AuditReport(served, 0, 0, None, start=trusted.size),
                trusted,
                evidence=verdict,
                served_note=note,
            )
        if verdict is not None:
            report = AuditReport(served, 0, 0, verdict, start=trusted.size)
            return Outcome(report, trusted, served_note=note)

    # 3. The new entries (all of them on a first or full audit, or from a state without
    # the lots' states to go on from) verify and give its root.
    replay = trusted.go_on_from() if trusted is not None else None
    if trusted is None or full or replay is None:
        report = audit_entries(
            source,
            served,
            pinned,
            origin=want,
            workers=workers,
            progress=progress,
            replay=StateReplay(),
        )
    else:
        report = audit_entries(
            source,
            served,
            pinned,
            frontier=trusted.compact_range(),
            last_leaf=trusted.last_leaf,
            origin=want,
            workers=workers,
            progress=progress,
            replay=replay,
        )
    if not report.ok:
        return Outcome(report, trusted, served_note=note)

    # 4. Only now the state moves forward.
    state = TrustedState.from_report(report, note, pinned, verified_at=now, source=source_name)
    return Outcome(report, trusted, state=state, served_note=note)


# --- on disk -------------------------------------------------------------------------------


def state_file_name(origin: str) -> str:
    """A file name for a log's state: the origin, percent-encoded (a long one shortened and
    made unique by its SHA-256), then ``.json``."""
    name = quote(origin, safe="")
    if name.startswith("."):
        name = "%2E" + name[1:]
    if len(name) > MAX_FILE_NAME:
        digest = hashlib.sha256(origin.encode()).hexdigest()[:16]
        name = f"{name[: MAX_FILE_NAME - 17]}-{digest}"
    return name + ".json"


class StateFile:
    """One log's trusted state on disk, and the evidence files next to it."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._replay_on_disk: tuple[int, bytes | None] | None = None

    def __repr__(self) -> str:
        return f"StateFile({str(self.path)!r})"

    @property
    def replay_path(self) -> Path:
        """``<state>.replay``: the state replay kept with the state (see the module docs)."""
        return self.path.with_name(self.path.name + ".replay")

    def load(
        self, *, replay: bool = False, kept: TrustedState | None = None
    ) -> TrustedState | None:
        """The state, or None when there is no file yet. Refuses a file others can read or
        write, a file too large, and any content that does not validate (MalformedInput).

        With `replay`, the state replay next to it comes with it (see `load_replay`), unless
        `kept` (the state this process saved last) holds the replay of the same tree: that
        one is used and the file is not read again (a replay of many lots takes seconds)."""
        data = self._read_private(self.path, MAX_STATE_BYTES)
        if data is None:
            return None
        state = self._parse(data)
        if not replay:
            return state
        held = kept.go_on_from() if kept is not None else None
        if held is not None and (held.size, held.tree_root) == (state.size, state.root_hash):
            self._replay_on_disk = (held.size, held.tree_root)
            return dataclasses.replace(state, replay=held)
        loaded = self.load_replay()
        return state if loaded is None else dataclasses.replace(state, replay=loaded)

    def load_replay(self) -> StateReplay | None:
        """The state replay next to the state, or None when there is none or it is damaged
        (the next audit then replays the whole log: it is recomputed, never trusted blind).
        Refuses, like the state, a file others can read or write (StorageError)."""
        data = self._read_private(self.replay_path, None)
        if data is None:
            return None
        try:
            kept = StateReplay.from_bytes(data)
        except MalformedInput:
            return None
        self._replay_on_disk = (kept.size, kept.tree_root)
        return kept

    def _read_private(self, path: Path, limit: int | None) -> bytes | None:
        try:
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StorageError(f"trusted state {path}: cannot be opened ({exc})") from exc
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            os.close(fd)
            raise StorageError(f"trusted state {path}: expected a regular file")
        with os.fdopen(fd, "rb") as handle:
            if info.st_mode & 0o077:
                raise StorageError(
                    f"trusted state {path}: expected mode 0600 (no access for group and "
                    f"others), found {stat.S_IMODE(info.st_mode):04o}; run chmod 600 on it"
                )
            return handle.read() if limit is None else handle.read(limit + 1)

    def _parse(self, data: bytes) -> TrustedState:
        if len(data) > MAX_STATE_BYTES:
            raise MalformedInput(
                f"trusted state {self.path}: expected at most {MAX_STATE_BYTES} bytes"
            )
        try:
            obj = json.loads(data)
        except (ValueError, UnicodeDecodeError) as exc:
            raise MalformedInput(f"trusted state {self.path}: not JSON ({exc})") from exc
        try:
            return TrustedState.from_json(obj)
        except MalformedInput as exc:
            raise MalformedInput(f"{self.path}: {exc}", field=exc.field) from exc

    def save(self, state: TrustedState) -> None:
        """Replace the state atomically (mode 0600 from creation), its replay first (not
        rewritten when the one on disk is of the same tree: a round with nothing new)."""
        replay = state.go_on_from()
        if replay is None:
            with contextlib.suppress(FileNotFoundError):
                self.replay_path.unlink()
            self._replay_on_disk = None
        elif self._replay_on_disk != (replay.size, replay.tree_root):
            write_private_file(self.replay_path, replay.to_bytes())
            self._replay_on_disk = (replay.size, replay.tree_root)
        write_private_file(self.path, _dump(state.to_json()))

    def evidence_path(self, found_at: str) -> Path:
        """``<state>.evidence-<found_at as digits>.json``, next to the state."""
        stamp = "".join(c for c in found_at if c.isalnum())
        path = self.path.with_name(f"{self.path.name}.evidence-{stamp}.json")
        n = 1
        while path.exists():
            n += 1
            path = self.path.with_name(f"{self.path.name}.evidence-{stamp}-{n}.json")
        return path

    def save_evidence(self, evidence: Evidence, *, found_at: str, source: str | None) -> Path:
        """Write the evidence next to the state; the state itself is left as it was."""
        path = self.evidence_path(found_at)
        write_private_file(path, _dump(evidence.to_json(found_at=found_at, source=source)))
        return path

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold an advisory lock (``<state>.lock``) so two audits do not race on one state."""
        _ensure_dir(self.path.parent)
        fd = os.open(self.path.with_name(self.path.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing releases the lock


def _dump(obj: dict[str, Any]) -> bytes:
    return (json.dumps(obj, indent=2, ensure_ascii=False) + "\n").encode()


def _ensure_dir(directory: Path) -> None:
    if not directory.is_dir():
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)


def write_private_file(path: Path, data: bytes) -> None:
    """Write `data` to `path` atomically with mode 0600 (ledger.files), creating the folder
    (0700) when needed; StorageError when it cannot."""
    _ensure_dir(path.parent)
    try:
        files.write_private_file(path, data)
    except OSError as exc:
        raise StorageError(f"{path}: cannot write ({exc})") from exc
