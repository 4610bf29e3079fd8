"""Offline proof bundles: one file that proves an entry is in the log (c2sp.org/tlog-proof).

The format (C2SP tlog-proof@v1), lines separated by U+000A::

    c2sp.org/tlog-proof@v1
    extra <base64 of the entry's bytes>
    index <decimal, no leading zeros>
    <base64 hash>            the RFC 9162 inclusion proof, leaf's sibling first, one a line
    ...
                             an empty line
    <the signed checkpoint, verbatim, with any witness cosignatures>

The spec leaves `extra` to the application "to reconstruct the record hash": here it is the
entry itself (its RFC 8785 bytes), so the bundle alone shows *what* was logged, and the
leaf hash is computed, not taken on trust.

Verification (`verify_bundle`), with no server, against pinned keys:

    1. the text parses strictly (header, one index, 32-byte hashes)     MalformedInput
    2. the checkpoint is signed by a pinned log key, and its origin     InvalidSignature,
       is the pinned keys' name (never the bundle's own origin line)    UnknownKey,
                                                                        OriginMismatch
    3. the entry is an Altan entry whose own index is the bundle's      MalformedInput
    4. SHA-256(0x00 || entry) is leaf `index` of the checkpoint's tree  RootMismatch
    5. at least `min_cosignatures` pinned witnesses cosigned it         NotWitnessed

A bundle proves that the entry is in the log as of its checkpoint, nothing more: not that
the certificate the entry stands for is still current (not revoked, sold or transferred
since); only the online check (`altan verify --online`) asks about status.

Step 5 is done by the caller's `cosigned` function, so that this module stays free of the
witness format: it receives the verified checkpoint note and returns how many pinned
witnesses cosigned it.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from ledger.checkpoint import Checkpoint, open_checkpoint, pinned_origin
from ledger.entry import Entry
from ledger.errors import MalformedInput, NotWitnessed
from ledger.hashing import HASH_SIZE, hash_leaf
from ledger.merkle import verify_inclusion
from ledger.note import NoteVerifier

__all__ = ["HEADER", "ProofBundle", "VerifiedBundle", "parse_bundle", "verify_bundle"]

HEADER = "c2sp.org/tlog-proof@v1"
MAX_BUNDLE_BYTES = 1 << 20
MAX_PROOF_HASHES = 64  # a tree of 2**64 leaves needs no more
_INDEX_RE = re.compile(r"index (0|[1-9][0-9]{0,19})")


@dataclass(frozen=True)
class ProofBundle:
    """An entry, its inclusion proof and the signed checkpoint it is proven against."""

    index: int
    proof: tuple[bytes, ...]
    checkpoint_note: str
    entry: bytes | None = None

    def to_text(self) -> str:
        """The bundle in the tlog-proof@v1 text form."""
        lines = [HEADER]
        if self.entry is not None:
            lines.append("extra " + base64.b64encode(self.entry).decode("ascii"))
        lines.append(f"index {self.index}")
        lines.extend(base64.b64encode(h).decode("ascii") for h in self.proof)
        return "\n".join(lines) + "\n\n" + self.checkpoint_note


@dataclass(frozen=True)
class VerifiedBundle:
    checkpoint: Checkpoint
    entry: Entry
    leaf_hash: bytes
    signed_by: list[NoteVerifier]


def _b64(text: str, what: str) -> bytes:
    try:
        data = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError) as exc:
        raise MalformedInput(f"proof bundle {what}: expected base64, found {text[:60]!r}") from exc
    if base64.b64encode(data).decode("ascii") != text:
        raise MalformedInput(f"proof bundle {what}: base64 not in canonical form")
    return data


def parse_bundle(text: str | bytes) -> ProofBundle:
    """Parse a tlog-proof@v1 bundle strictly (the checkpoint is parsed, not yet verified)."""
    if isinstance(text, bytes):
        if len(text) > MAX_BUNDLE_BYTES:
            raise MalformedInput(f"proof bundle: expected at most {MAX_BUNDLE_BYTES} bytes")
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise MalformedInput("proof bundle: expected UTF-8 text") from exc
    if len(text) > MAX_BUNDLE_BYTES:
        raise MalformedInput(f"proof bundle: expected at most {MAX_BUNDLE_BYTES} characters")
    head, sep, note = text.partition("\n\n")
    if not sep or not note:
        raise MalformedInput("proof bundle: expected an empty line and then the checkpoint")
    lines = head.split("\n")
    if lines[0] != HEADER:
        raise MalformedInput(f"proof bundle: expected first line {HEADER!r}, found {lines[0]!r}")
    rest = lines[1:]
    entry = None
    if rest and rest[0].startswith("extra "):
        entry = _b64(rest[0].removeprefix("extra "), "extra")
        rest = rest[1:]
    if not rest or not _INDEX_RE.fullmatch(rest[0]):
        raise MalformedInput("proof bundle: expected 'index <decimal>' after the header")
    index = int(rest[0].removeprefix("index "))
    hashes = rest[1:]
    if len(hashes) > MAX_PROOF_HASHES:
        raise MalformedInput(f"proof bundle: expected at most {MAX_PROOF_HASHES} proof hashes")
    proof = tuple(_b64(h, f"proof hash {i}") for i, h in enumerate(hashes))
    if any(len(h) != HASH_SIZE for h in proof):
        raise MalformedInput(f"proof bundle: expected {HASH_SIZE}-byte proof hashes")
    return ProofBundle(index=index, proof=proof, checkpoint_note=note, entry=entry)


def verify_bundle(
    text: str | bytes,
    log_keys: Iterable[NoteVerifier],
    *,
    origin: str | None = None,
    min_cosignatures: int = 0,
    cosigned: Callable[[str], int] | None = None,
) -> VerifiedBundle:
    """Verify a bundle offline (module docstring); returns the checkpoint and the entry.

    origin: the origin the checkpoint must name; by default the common name of `log_keys`
    (`ledger.checkpoint.pinned_origin`: KeyProblem when they name different logs). The
    bundle's own origin line is never taken on trust: the log's real key signing a
    checkpoint under another origin is another log's statement (OriginMismatch).
    """
    keys = list(log_keys)
    expected = origin if origin is not None else pinned_origin(k.name for k in keys)
    bundle = parse_bundle(text)
    checkpoint, signed_by = open_checkpoint(bundle.checkpoint_note, keys, expected)
    if bundle.entry is None:
        raise MalformedInput("proof bundle: expected the entry in the 'extra' line")
    entry = Entry.from_bytes(bundle.entry)
    if entry.index != bundle.index:
        raise MalformedInput(
            f"proof bundle: the entry says index {entry.index}, the bundle {bundle.index}"
        )
    if bundle.index >= checkpoint.size:
        raise MalformedInput(
            f"proof bundle: index {bundle.index} is not below the tree size {checkpoint.size}"
        )
    leaf = hash_leaf(bundle.entry)
    verify_inclusion(leaf, bundle.index, checkpoint.size, bundle.proof, checkpoint.root_hash)
    if min_cosignatures > 0:
        count = cosigned(bundle.checkpoint_note) if cosigned is not None else 0
        if count < min_cosignatures:
            raise NotWitnessed(
                f"proof bundle: expected at least {min_cosignatures} cosignatures by pinned "
                f"witnesses, found {count}"
            )
    return VerifiedBundle(checkpoint, entry, leaf, signed_by)
