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

A bundle may also carry a certificate's status as of its checkpoint (issue 14). Its
`extra` is then, instead of the entry, the RFC 8785 bytes of the JSON object::

    {"entry": "<base64 of the entry's bytes>",
     "status": {the lot's status proof (ledger.status) without "checkpoint": the bundle's},
     "certificate": "<the token, base32>"}       when the entry is the one it reflects

An entry always has the member "v" and the envelope never has it, so each form reads one
way; the file stays a tlog-proof@v1 that any tool can check against the log key (the
extra is opaque to it). The status is about a certificate: the token given (which must
reflect this entry: its index and leaf-hash prefix), or the one this `certificate.issued`
entry records.

Verification (`verify_bundle`), with no server, against pinned keys:

    1. the text parses strictly (header, one index, 32-byte hashes)     MalformedInput
    2. the checkpoint is signed by a pinned log key, and its origin     InvalidSignature,
       is the pinned keys' name (never the bundle's own origin line)    UnknownKey,
                                                                        OriginMismatch
    3. the entry is an Altan entry whose own index is the bundle's      MalformedInput
    4. SHA-256(0x00 || entry) is leaf `index` of the checkpoint's tree  RootMismatch
    5. at least `min_cosignatures` pinned witnesses cosigned it         NotWitnessed
    6. with a status: the certificate verifies against the pinned keys  CertificateInvalid,
       and is the one of this entry (reflects it, or is recorded by it) MalformedInput
    7. with a status: the status proof of the certificate's lot         StatusProofInvalid
       verifies against the checkpoint (ledger.status's checklist)

Without a status, a bundle proves that the entry is in the log as of its checkpoint,
nothing more: not that the certificate the entry stands for is still current (not
revoked, sold or transferred since). With one, it proves the certificate's status as of
the checkpoint (`ledger.status.judge` on the proven state): not since.

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
from datetime import UTC, datetime
from typing import Any

from ledger.certificate import (
    LEAF_HASH_PREFIX_SIZE,
    MAX_QR_TEXT_CHARS,
    Certificate,
    certificate_id,
    parse_qr_text,
    token_text,
    verify_certificate,
)
from ledger.checkpoint import Checkpoint, open_checkpoint, pinned_origin
from ledger.encoding import b64decode, b64encode, canonical_json, parse_canonical_json
from ledger.entry import MAX_ENTRY_BYTES, Entry
from ledger.errors import MalformedInput, NotWitnessed
from ledger.hashing import HASH_SIZE, hash_leaf
from ledger.keys import LogKey
from ledger.merkle import verify_inclusion
from ledger.note import NoteVerifier
from ledger.status import ProvenStatus, StatusProof, Verdict, VerdictReason, judge, verify_status

__all__ = [
    "HEADER",
    "ProofBundle",
    "VerifiedBundle",
    "bundle_certificate",
    "parse_bundle",
    "verify_bundle",
]

HEADER = "c2sp.org/tlog-proof@v1"
MAX_BUNDLE_BYTES = 1 << 20
MAX_PROOF_HASHES = 64  # a tree of 2**64 leaves needs no more
_INDEX_RE = re.compile(r"index (0|[1-9][0-9]{0,19})")


@dataclass(frozen=True)
class ProofBundle:
    """An entry, its inclusion proof and the signed checkpoint it is proven against; and
    optionally a status proof of a certificate's lot against that checkpoint, with the
    certificate's token (base32) when the entry is the one it reflects."""

    index: int
    proof: tuple[bytes, ...]
    checkpoint_note: str
    entry: bytes | None = None
    status: StatusProof | None = None
    certificate: str | None = None

    def extra(self) -> bytes | None:
        """What the `extra` line holds: the entry, or the envelope with the status."""
        if self.status is None and self.certificate is None:
            return self.entry
        if self.entry is None or self.status is None:
            raise MalformedInput("proof bundle: a status goes with the entry and its proof")
        envelope: dict[str, Any] = {
            "entry": b64encode(self.entry),
            "status": self.status.to_json(checkpoint=False),
        }
        if self.certificate is not None:
            envelope["certificate"] = self.certificate
        return canonical_json(envelope)

    def to_text(self) -> str:
        """The bundle in the tlog-proof@v1 text form."""
        lines = [HEADER]
        extra = self.extra()
        if extra is not None:
            lines.append("extra " + base64.b64encode(extra).decode("ascii"))
        lines.append(f"index {self.index}")
        lines.extend(base64.b64encode(h).decode("ascii") for h in self.proof)
        return "\n".join(lines) + "\n\n" + self.checkpoint_note


@dataclass(frozen=True)
class VerifiedBundle:
    """What a bundle proved: the entry in the checkpoint's tree and, when it carries one,
    the certificate's proven status and the verdict on it (``judge``)."""

    checkpoint: Checkpoint
    entry: Entry
    leaf_hash: bytes
    signed_by: list[NoteVerifier]
    status: ProvenStatus | None = None
    certificate: Certificate | None = None
    certificate_id: str | None = None
    verdict: tuple[Verdict, VerdictReason | None] | None = None


_ENVELOPE = frozenset({"entry", "status"})
_MAX_ENTRY_B64 = 4 * ((MAX_ENTRY_BYTES + 2) // 3)


def _envelope(extra: bytes) -> tuple[bytes, StatusProof, str | None] | None:
    """The entry, status proof and token of an `extra` that is an envelope; None when it
    is not one (an entry's bytes: `verify_bundle` parses them)."""
    try:
        value, problem = parse_canonical_json(extra)
    except MalformedInput:
        return None
    if not isinstance(value, dict) or "v" in value or "entry" not in value:
        return None
    if problem is not None:
        raise MalformedInput(f"proof bundle extra: not in canonical form (RFC 8785): {problem}")
    if set(value) not in (_ENVELOPE, _ENVELOPE | {"certificate"}):
        raise MalformedInput(
            f"proof bundle extra: expected entry, status (and certificate), got {sorted(value)}"
        )
    text = value["entry"]
    if not isinstance(text, str) or len(text) > _MAX_ENTRY_B64:
        raise MalformedInput(
            f"proof bundle extra: the entry must be base64 of at most {MAX_ENTRY_BYTES} bytes"
        )
    entry = b64decode(text, what="proof bundle entry")
    status = value["status"]
    if not isinstance(status, dict) or "checkpoint" in status:
        raise MalformedInput("proof bundle extra: the status is against the bundle's checkpoint")
    token = value.get("certificate")
    if token is not None and (
        not isinstance(token, str) or not 0 < len(token) <= MAX_QR_TEXT_CHARS
    ):
        raise MalformedInput("proof bundle extra: the certificate must be a token (base32)")
    if token is not None and token_text(parse_qr_text(token)) != token:
        # one text form: a token read in another case would be the same token
        raise MalformedInput("proof bundle extra: the token must be upper-case base32")
    return entry, StatusProof.from_json(status), token


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
    status: StatusProof | None = None
    token: str | None = None
    if rest and rest[0].startswith("extra "):
        entry = _b64(rest[0].removeprefix("extra "), "extra")
        rest = rest[1:]
        found = _envelope(entry)
        if found is not None:
            entry, status, token = found
    if not rest or not _INDEX_RE.fullmatch(rest[0]):
        raise MalformedInput("proof bundle: expected 'index <decimal>' after the header")
    index = int(rest[0].removeprefix("index "))
    hashes = rest[1:]
    if len(hashes) > MAX_PROOF_HASHES:
        raise MalformedInput(f"proof bundle: expected at most {MAX_PROOF_HASHES} proof hashes")
    proof = tuple(_b64(h, f"proof hash {i}") for i, h in enumerate(hashes))
    if any(len(h) != HASH_SIZE for h in proof):
        raise MalformedInput(f"proof bundle: expected {HASH_SIZE}-byte proof hashes")
    return ProofBundle(
        index=index,
        proof=proof,
        checkpoint_note=note,
        entry=entry,
        status=status,
        certificate=token,
    )


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
    if bundle.status is None:
        return VerifiedBundle(checkpoint, entry, leaf, signed_by)
    cert, cid = bundle_certificate(bundle, entry, leaf, keys)
    proven = verify_status(bundle.status, checkpoint, cert.lot_id)
    return VerifiedBundle(
        checkpoint,
        entry,
        leaf,
        signed_by,
        status=proven,
        certificate=cert,
        certificate_id=cid,
        verdict=judge(cid, cert.custodian, proven.state),
    )


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def bundle_certificate(
    bundle: ProofBundle, entry: Entry, leaf: bytes, keys: list[NoteVerifier]
) -> tuple[Certificate, str]:
    """The certificate a bundle's status is about, verified against the pinned log keys,
    and its id: the token in the bundle, which must reflect the entry (its index and leaf
    hash prefix), else the token a ``certificate.issued`` entry records for its lot."""
    if bundle.certificate is not None:
        token = parse_qr_text(bundle.certificate)
    elif entry.event.type == "certificate.issued" and isinstance(
        entry.event.body.get("token"), str
    ):
        token = parse_qr_text(entry.event.body["token"])
    else:
        raise MalformedInput(
            "proof bundle: a status needs the certificate it is about (a token reflecting the "
            "entry, or a certificate.issued entry)"
        )
    # A pinned key carries no validity period: valid at every time (clients.verify too).
    pinned = [LogKey(k.name, k.key_id.hex(), k.public_key, "active", _EPOCH) for k in keys]
    cert = verify_certificate(token, pinned)
    cid = certificate_id(token)
    if bundle.certificate is not None:
        if (
            cert.ledger_index != entry.index
            or cert.leaf_hash_prefix != leaf[:LEAF_HASH_PREFIX_SIZE]
        ):
            raise MalformedInput(
                f"proof bundle: the certificate reflects entry {cert.ledger_index} with another "
                f"leaf hash, not entry {entry.index}"
            )
    elif (entry.event.body.get("certificate"), entry.event.body.get("lot")) != (cid, cert.lot_id):
        raise MalformedInput("proof bundle: the certificate.issued entry names another token")
    return cert, cid
