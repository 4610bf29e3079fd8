"""Check an auditor's evidence file offline: does it prove that the log misbehaved?

An evidence file (``altan-ledger/evidence/v1``, written by `ledger.trusted`) holds two
signed checkpoints, verbatim, and for ``inconsistent`` a consistency proof. It proves
something only through what the log's key signed; everything else in the file (sizes, roots,
the message, the keys it lists) is a claim and is ignored. `check_evidence` takes the pinned
log keys, whose name is the log's origin, and checks:

1. the file is a JSON object of the evidence format, at most `MAX_EVIDENCE_BYTES`, with a
   known kind;
2. the trusted checkpoint verifies with a pinned key and names the pinned origin;
3. the served checkpoint verifies with a pinned key (and names the pinned origin, except
   for ``origin_changed``);
4. what the kind claims follows from the two signed checkpoints (and the proof):

   - ``fork``: the same size, different roots. Proves the log signed two histories.
   - ``inconsistent``: trusted size m < served size n, and the RFC 9162 consistency proof
     from m to n verifies from the file's ``first_root`` R' to the served root, with R'
     not the trusted root: the tree the log signed at n does not begin with the tree it
     signed at m (under SHA-256 collision resistance). A proof that verifies from the
     trusted root instead shows the checkpoints consistent: nothing is proven.
   - ``origin_changed``: the served checkpoint names another origin than the key's name:
     the log's key signed for a log it is not.
   - ``rollback``: served size < trusted size. Both signatures are real, but two
     checkpoints of different sizes can both hold; that the smaller was served as the
     latest is the auditor's observation, not signed by the log. It proves that the server
     went back to an older tree (a cut-back log, or a stale cache in front of it), and it
     is reported as such, not as a rewritten history.

The answer is a `Finding`: ``proves`` and a sentence saying what was (or was not) shown.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ledger.audit import TrustedKey
from ledger.checkpoint import Checkpoint, open_checkpoint, pinned_origin
from ledger.encoding import b64decode
from ledger.errors import LedgerError, MalformedInput
from ledger.hashing import HASH_SIZE
from ledger.merkle import verify_consistency
from ledger.trusted import EVIDENCE_FORMAT, EvidenceKind

MAX_EVIDENCE_BYTES = 1 << 20
"""An evidence file holds two checkpoints and at most 65 hashes: far below this."""


@dataclass(frozen=True)
class Finding:
    """What an evidence file proves: `proves` is True only when the signed statements in it
    cannot all hold of one honest log; `message` says how, or why not."""

    kind: str
    proves: bool
    message: str


def load_evidence(data: bytes) -> dict[str, Any]:
    """Parse an evidence file's bytes (MalformedInput when too large, not JSON or not of
    the evidence format)."""
    if len(data) > MAX_EVIDENCE_BYTES:
        raise MalformedInput(f"evidence: expected at most {MAX_EVIDENCE_BYTES} bytes")
    try:
        obj = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise MalformedInput(f"evidence: not JSON ({exc})") from exc
    if not isinstance(obj, dict) or obj.get("format") != EVIDENCE_FORMAT:
        raise MalformedInput(f"evidence: expected a JSON object of format {EVIDENCE_FORMAT!r}")
    return obj


def _note(obj: dict[str, Any], part: str) -> str:
    section = obj.get(part)
    note = section.get("checkpoint") if isinstance(section, dict) else None
    if not isinstance(note, str):
        raise MalformedInput(f"evidence: {part}.checkpoint: expected a signed note")
    return note


def check_evidence(obj: dict[str, Any], keys: Sequence[TrustedKey]) -> Finding:
    """Check a parsed evidence file against the pinned log `keys` (see the module docs).

    KeyProblem when the keys name different logs; MalformedInput when the file's kind or
    notes are missing. Anything that does not verify is a Finding that proves nothing.
    """
    origin = pinned_origin(k.name for k in keys)
    verifiers = [k.note_verifier() for k in keys]
    raw_kind = obj.get("kind")
    try:
        kind = EvidenceKind(str(raw_kind))
    except ValueError as exc:
        raise MalformedInput(f"evidence: unknown kind {raw_kind!r}") from exc
    trusted_note, served_note = _note(obj, "trusted"), _note(obj, "served")

    def nothing(why: str) -> Finding:
        return Finding(str(kind), False, f"proves nothing: {why}")

    try:
        trusted, _ = open_checkpoint(trusted_note, verifiers, origin)
    except LedgerError as exc:
        return nothing(f"the trusted checkpoint is not the pinned log's: {exc}")
    try:
        served, _ = open_checkpoint(
            served_note, verifiers, None if kind is EvidenceKind.ORIGIN_CHANGED else origin
        )
    except LedgerError as exc:
        return nothing(f"the served checkpoint is not the pinned log's: {exc}")

    if kind is EvidenceKind.ORIGIN_CHANGED:
        if served.origin == origin:
            return nothing(f"the served checkpoint names the log's own origin {origin!r}")
        return Finding(
            str(kind),
            True,
            f"the key of {origin!r} signed a checkpoint for {served.size} entries under "
            f"another origin, {served.origin!r}: the log vouched for a second history",
        )
    if kind is EvidenceKind.FORK:
        if served.size != trusted.size or served.root_hash == trusted.root_hash:
            return nothing(
                f"a fork needs two roots for one size; found size {trusted.size} root "
                f"{trusted.root_hash.hex()} and size {served.size} root {served.root_hash.hex()}"
            )
        return Finding(
            str(kind),
            True,
            f"the log signed two different trees of {served.size} entries (roots "
            f"{trusted.root_hash.hex()} and {served.root_hash.hex()}): it was forked",
        )
    if kind is EvidenceKind.ROLLBACK:
        if served.size >= trusted.size:
            return nothing(
                f"a rollback needs a smaller served tree; found {trusted.size} then "
                f"{served.size} entries"
            )
        return Finding(
            str(kind),
            True,
            f"both checkpoints are the log's ({trusted.size} entries, then {served.size}); "
            "the auditor records that the smaller one was served after the larger: the "
            "server went back to an older tree (a cut-back log, or a stale cache in front of "
            "it). Two checkpoints of different sizes can both hold, so this alone does not "
            "prove a rewritten history",
        )
    return _inconsistent(obj, trusted, served, nothing)


def _inconsistent(
    obj: dict[str, Any],
    trusted: Checkpoint,
    served: Checkpoint,
    nothing: Callable[[str], Finding],
) -> Finding:
    if not trusted.size < served.size:
        return nothing(
            f"an inconsistency needs a larger served tree; found {trusted.size} then "
            f"{served.size} entries"
        )
    proof = obj.get("consistency_proof")
    if not isinstance(proof, dict):
        return nothing("no consistency proof in the file")
    hashes, first_root = proof.get("hashes"), proof.get("first_root")
    if not isinstance(hashes, list) or not all(isinstance(h, str) for h in hashes):
        return nothing("consistency_proof.hashes: expected a list of base64 hashes")
    if len(hashes) > 65:
        return nothing(f"a consistency proof has at most 65 hashes, found {len(hashes)}")
    try:
        path = [b64decode(h, size=HASH_SIZE, what="proof hash") for h in hashes]
    except MalformedInput as exc:
        return nothing(f"consistency_proof.hashes: {exc}")
    try:
        verify_consistency(trusted.size, served.size, path, trusted.root_hash, served.root_hash)
    except LedgerError:
        pass
    else:
        return nothing(
            f"the proof shows the tree of {served.size} entries extends the trusted one of "
            f"{trusted.size}: the two checkpoints are consistent"
        )
    if not isinstance(first_root, str):
        return nothing(
            "a proof that fails against the trusted root shows nothing by itself (a bad "
            "proof is not a bad log): the file needs the root the proof does lead to"
        )
    try:
        other = b64decode(first_root, size=HASH_SIZE, what="first_root")
        verify_consistency(trusted.size, served.size, path, other, served.root_hash)
    except LedgerError as exc:
        return nothing(f"the consistency proof does not verify: {exc}")
    return Finding(
        "inconsistent",
        True,
        f"the log signed a tree of {served.size} entries whose first {trusted.size} give "
        f"root {other.hex()} (the proof verifies), and a tree of those {trusted.size} "
        f"entries with root {trusted.root_hash.hex()}: its history was rewritten",
    )
