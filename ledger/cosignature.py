"""Witness cosignatures as in c2sp.org/tlog-cosignature (Ed25519 ``cosignature/v1`` only).

A cosignature is a signed-note signature line added to a checkpoint by a *witness*: a
party other than the log that checked the checkpoint is consistent with every earlier one
it saw. Clients that require cosignatures from witnesses they trust cannot be shown a
split view (a fork) unless those witnesses were shown it too.

Key (signature type ``0x04``)::

    key id = SHA-256(<name> || 0x0A || 0x04 || 32-byte Ed25519 public key)[:4]
    vkey   = <name>+<8 hex key id>+<base64(0x04 || public key)>

Signature line (``— <name> base64(key id || timestamped_signature)``, 4 + 8 + 64 bytes)::

    timestamped_signature = u64 big-endian POSIX timestamp || Ed25519 signature

Signed message: two lines, then the whole checkpoint body (the note text, with its final
newline and any extension lines, without signature lines)::

    cosignature/v1
    time <timestamp, ASCII decimal, no leading zeros>
    <origin>
    <size>
    <base64 root>

The message does not commit to the witness's name, so one Ed25519 key must never serve two
witness names (the service refuses such a registration).

Counting (:func:`count_valid_cosignatures`) over a note whose log signature the caller has
already verified:

1. a signature line whose (name, key id) is not a trusted witness's is ignored;
2. a line by a trusted witness that is malformed, does not verify, or (when ``not_after`` /
   ``not_before`` are given) is timestamped later / earlier than them, is not counted; it
   never makes the note invalid, so a bad line cannot hide the good ones;
3. each witness counts once, however many valid lines it has.

The witness protocol (c2sp.org/tlog-witness ``add-checkpoint``) sends a checkpoint to a
witness with a consistency proof from the size the witness last cosigned;
:class:`AddCheckpoint` is that request body, parsed strictly and written exactly::

    old <size>\n
    <base64 hash>\n        (0 to 63 consistency proof lines)
    \n
    <the signed checkpoint note>

Errors (ledger.errors): MalformedInput (cannot parse), UnknownKey (a cosignature by another
key than the one given), InvalidSignature (it does not verify), KeyProblem (two trusted
witness keys that cannot be told apart).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature as _CryptoInvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from ledger.checkpoint import Checkpoint
from ledger.encoding import b64decode, b64encode
from ledger.errors import InvalidSignature, KeyProblem, MalformedInput, UnknownKey
from ledger.note import Note, NoteSignature, check_key_name

__all__ = [
    "ALG_COSIGNATURE_V1",
    "COSIGNATURE_V1_HEADER",
    "MAX_ADD_CHECKPOINT_PROOF",
    "MAX_TIMESTAMP",
    "TLOG_SIZE_CONTENT_TYPE",
    "AddCheckpoint",
    "Cosignature",
    "WitnessKey",
    "WitnessSigner",
    "cosign",
    "cosignatures_by",
    "count_valid_cosignatures",
    "parse_tlog_size",
    "signed_message",
    "verify_cosignature",
    "witness_key_id",
]

ALG_COSIGNATURE_V1 = 0x04
"""Signature type byte of Ed25519 ``cosignature/v1`` keys (c2sp.org/tlog-cosignature)."""

COSIGNATURE_V1_HEADER = "cosignature/v1\n"
"""The first line of every signed message: domain separation from other note signatures."""

MAX_TIMESTAMP = (1 << 63) - 1
"""The largest timestamp the spec allows (2^63 - 1)."""

KEY_ID_SIZE = 4
TIMESTAMP_SIZE = 8
ED25519_PUBLIC_KEY_SIZE = 32
ED25519_SIGNATURE_SIZE = 64
COSIGNATURE_SIZE = TIMESTAMP_SIZE + ED25519_SIGNATURE_SIZE
"""Bytes of a ``timestamped_signature`` (what follows the key id in the line)."""

_HEX = frozenset("0123456789abcdefABCDEF")


def witness_key_id(name: str, public_key: bytes) -> bytes:
    """The 4-byte key id: SHA-256(name || 0x0A || 0x04 || public key)[:4]."""
    check_key_name(name)
    if not isinstance(public_key, bytes) or len(public_key) != ED25519_PUBLIC_KEY_SIZE:
        found = len(public_key) if isinstance(public_key, bytes | bytearray) else public_key
        raise MalformedInput(
            f"witness public key: expected {ED25519_PUBLIC_KEY_SIZE} bytes, found {found!r}"
        )
    digest = hashlib.sha256(
        name.encode("utf-8") + b"\n" + bytes([ALG_COSIGNATURE_V1]) + public_key
    ).digest()
    return digest[:KEY_ID_SIZE]


def _check_timestamp(timestamp: int) -> None:
    if isinstance(timestamp, bool) or not isinstance(timestamp, int):
        raise MalformedInput(
            f"cosignature timestamp: expected an integer, found {type(timestamp).__name__}"
        )
    if not 0 <= timestamp <= MAX_TIMESTAMP:
        raise MalformedInput(
            f"cosignature timestamp: expected 0 to {MAX_TIMESTAMP}, found {timestamp}"
        )


def _check_body(body: str) -> None:
    """A cosigned body is a checkpoint (note text without signatures): parse it strictly."""
    Checkpoint.from_text(body)


def signed_message(body: str, timestamp: int) -> bytes:
    """The bytes a witness signs: ``cosignature/v1\\ntime <ts>\\n`` then the checkpoint body."""
    _check_timestamp(timestamp)
    _check_body(body)
    return f"{COSIGNATURE_V1_HEADER}time {timestamp}\n{body}".encode()


# -- keys --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WitnessKey:
    """A witness's public key: its name, 4-byte key id and 32-byte Ed25519 public key."""

    name: str
    key_id: bytes
    public_key: bytes

    def __post_init__(self) -> None:
        expected = witness_key_id(self.name, self.public_key)  # checks name and key length
        if not isinstance(self.key_id, bytes) or not hmac.compare_digest(expected, self.key_id):
            found = self.key_id.hex() if isinstance(self.key_id, bytes) else repr(self.key_id)
            raise MalformedInput(
                f"witness key {self.name!r}: expected key id {expected.hex()}, found {found}"
            )

    @classmethod
    def from_public_key(cls, name: str, public_key: bytes) -> WitnessKey:
        """The witness key of ``name`` and a raw 32-byte Ed25519 public key."""
        return cls(name=name, key_id=witness_key_id(name, public_key), public_key=public_key)

    @classmethod
    def from_vkey(cls, vkey: str) -> WitnessKey:
        """Parse ``<name>+<8 hex key id>+<base64(0x04 || 32-byte public key)>``.

        Only type 0x04 is accepted: an Ed25519 *note* key (0x01) has another key id and is
        refused rather than converted, so that a log key is never taken for a witness key.
        """
        if not isinstance(vkey, str):
            raise MalformedInput(f"witness vkey: expected a string, found {type(vkey).__name__}")
        parts = vkey.split("+", 2)  # base64 may contain "+"; the name and id may not
        if len(parts) != 3:
            raise MalformedInput(
                f"witness vkey: expected '<name>+<hex key id>+<base64 key>', found {vkey[:100]!r}"
            )
        name, hex_id, key64 = parts
        check_key_name(name)
        if len(hex_id) != 2 * KEY_ID_SIZE or not set(hex_id) <= _HEX:
            raise MalformedInput(f"witness vkey: expected an 8-digit hex key id, found {hex_id!r}")
        typed = b64decode(key64, what="witness vkey")
        if not typed:
            raise MalformedInput("witness vkey: expected a type byte and a key, found nothing")
        if typed[0] != ALG_COSIGNATURE_V1:
            raise MalformedInput(
                f"witness vkey {name!r}: expected signature type 0x04 (Ed25519 cosignature/v1), "
                f"found 0x{typed[0]:02x}"
            )
        if len(typed) != 1 + ED25519_PUBLIC_KEY_SIZE:
            raise MalformedInput(
                f"witness vkey {name!r}: expected a {ED25519_PUBLIC_KEY_SIZE}-byte Ed25519 key, "
                f"found {len(typed) - 1} bytes"
            )
        return cls(name=name, key_id=bytes.fromhex(hex_id), public_key=typed[1:])

    @property
    def vkey(self) -> str:
        """The verifier key string ``<name>+<8 hex>+<base64(0x04 || public key)>``."""
        typed = bytes([ALG_COSIGNATURE_V1]) + self.public_key
        return f"{self.name}+{self.key_id.hex()}+{b64encode(typed)}"

    def verify(self, body: str, cosignature: Cosignature) -> None:
        """Check ``cosignature`` over the checkpoint ``body`` with this key (verify_cosignature)."""
        verify_cosignature(body, cosignature, self)


class WitnessSigner:
    """Cosigns checkpoints with a witness's Ed25519 private key; its ``repr`` shows no key."""

    __slots__ = ("_private_key", "key")

    def __init__(self, private_key: Ed25519PrivateKey, name: str) -> None:
        if not isinstance(private_key, Ed25519PrivateKey):
            raise KeyProblem(
                "witness signer: expected an Ed25519 private key, "
                f"found {type(private_key).__name__}"
            )
        public_key = private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        self._private_key = private_key
        self.key: WitnessKey = WitnessKey.from_public_key(name, public_key)

    @property
    def name(self) -> str:
        return self.key.name

    def cosign(self, body: str, timestamp: int) -> Cosignature:
        """A cosignature of the checkpoint ``body`` made at ``timestamp`` (POSIX seconds)."""
        message = signed_message(body, timestamp)
        return Cosignature(
            name=self.key.name,
            key_id=self.key.key_id,
            timestamp=timestamp,
            signature=self._private_key.sign(message),
        )

    def __repr__(self) -> str:
        return f"WitnessSigner(name={self.key.name!r}, key_id={self.key.key_id.hex()!r})"

    __str__ = __repr__


# -- cosignatures ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cosignature:
    """One parsed cosignature line: name, key id, timestamp and Ed25519 signature."""

    name: str
    key_id: bytes
    timestamp: int
    signature: bytes

    def __post_init__(self) -> None:
        check_key_name(self.name)
        if not isinstance(self.key_id, bytes) or len(self.key_id) != KEY_ID_SIZE:
            raise MalformedInput(f"cosignature by {self.name!r}: expected a 4-byte key id")
        _check_timestamp(self.timestamp)
        if not isinstance(self.signature, bytes) or len(self.signature) != ED25519_SIGNATURE_SIZE:
            found = len(self.signature) if isinstance(self.signature, bytes) else "no"
            raise MalformedInput(
                f"cosignature by {self.name!r}: expected a {ED25519_SIGNATURE_SIZE}-byte "
                f"Ed25519 signature, found {found} bytes"
            )

    @classmethod
    def from_note_signature(cls, sig: NoteSignature) -> Cosignature:
        """Read a note signature as a cosignature: 8-byte timestamp then 64-byte signature."""
        if len(sig.signature) != COSIGNATURE_SIZE:
            raise MalformedInput(
                f"cosignature by {sig.name!r}: expected {COSIGNATURE_SIZE} bytes after the key "
                f"id (8-byte timestamp, 64-byte Ed25519 signature), found {len(sig.signature)}"
            )
        timestamp = int.from_bytes(sig.signature[:TIMESTAMP_SIZE], "big")
        return cls(
            name=sig.name,
            key_id=bytes(sig.key_id),
            timestamp=timestamp,
            signature=bytes(sig.signature[TIMESTAMP_SIZE:]),
        )

    @classmethod
    def from_line(cls, line: str) -> Cosignature:
        """Parse one line ``— <name> <base64(key id || timestamp || signature)>`` (the final
        newline optional)."""
        if not isinstance(line, str):
            raise MalformedInput(f"cosignature line: expected text, found {type(line).__name__}")
        text = line[:-1] if line.endswith("\n") else line
        if "\n" in text:
            raise MalformedInput("cosignature line: expected one line, found several")
        # A one-line note signature block parses exactly as the signed-note spec says.
        note = Note.from_text("x\n\n" + text + "\n")
        return cls.from_note_signature(note.signatures[0])

    def to_note_signature(self) -> NoteSignature:
        payload = self.timestamp.to_bytes(TIMESTAMP_SIZE, "big") + self.signature
        return NoteSignature(name=self.name, key_id=self.key_id, signature=payload)

    def to_line(self) -> str:
        """The signature line, with its final newline."""
        return self.to_note_signature().to_line()


def cosign(body: str, timestamp: int, signer: WitnessSigner) -> str:
    """The cosignature line of ``signer`` over the checkpoint ``body`` at ``timestamp``."""
    return signer.cosign(body, timestamp).to_line()


def verify_cosignature(body: str, cosignature: Cosignature, witness: WitnessKey) -> None:
    """Check a cosignature of the checkpoint ``body`` by ``witness``.

    1. the line names this witness: same name and key id (else UnknownKey);
    2. the body is a well-formed checkpoint and the timestamp in range (else MalformedInput);
    3. the Ed25519 signature over the signed message verifies (else InvalidSignature).
    """
    if cosignature.name != witness.name or not hmac.compare_digest(
        cosignature.key_id, witness.key_id
    ):
        raise UnknownKey(
            f"cosignature: expected one by {witness.name}+{witness.key_id.hex()}, found one by "
            f"{cosignature.name}+{cosignature.key_id.hex()}"
        )
    message = signed_message(body, cosignature.timestamp)
    try:
        Ed25519PublicKey.from_public_bytes(witness.public_key).verify(
            cosignature.signature, message
        )
    except (_CryptoInvalidSignature, ValueError) as exc:
        raise InvalidSignature(
            f"cosignature by {witness.name} (key id {witness.key_id.hex()}) at time "
            f"{cosignature.timestamp}: expected a valid Ed25519 signature over the checkpoint, "
            "found one that does not verify"
        ) from exc


def _index(witnesses: Iterable[WitnessKey]) -> dict[tuple[str, bytes], WitnessKey]:
    known: dict[tuple[str, bytes], WitnessKey] = {}
    for witness in witnesses:
        if not isinstance(witness, WitnessKey):
            raise KeyProblem(f"expected WitnessKey values, found {type(witness).__name__}")
        slot = (witness.name, bytes(witness.key_id))
        other = known.get(slot)
        if other is not None and other.public_key != witness.public_key:
            raise KeyProblem(
                f"two trusted witness keys share name {witness.name!r} and key id "
                f"{witness.key_id.hex()}: expected distinct (name, key id) pairs"
            )
        known[slot] = witness
    return known


def _parsed(note: str | bytes | Note) -> Note:
    return note if isinstance(note, Note) else Note.from_text(note)


def cosignatures_by(
    note: str | bytes | Note, witnesses: Iterable[WitnessKey]
) -> list[tuple[WitnessKey, Cosignature | MalformedInput]]:
    """The signature lines of ``note`` by the given witnesses, in order, each parsed as a
    cosignature (or the MalformedInput that says why it is not one). Verifies nothing."""
    parsed = _parsed(note)
    known = _index(witnesses)
    out: list[tuple[WitnessKey, Cosignature | MalformedInput]] = []
    for sig in parsed.signatures:
        witness = known.get((sig.name, bytes(sig.key_id)))
        if witness is None:
            continue
        try:
            out.append((witness, Cosignature.from_note_signature(sig)))
        except MalformedInput as exc:
            out.append((witness, exc))
    return out


def count_valid_cosignatures(
    note: str | bytes | Note,
    witnesses: Iterable[WitnessKey],
    *,
    not_after: int | None = None,
    not_before: int | None = None,
) -> list[WitnessKey]:
    """The trusted witnesses with at least one valid cosignature on ``note``, in line order.

    The caller verifies the log's own signature (open_checkpoint) first; this counts the
    witnesses only (module docstring: unknown lines ignored, bad lines not counted, each
    witness once). ``not_after``: cosignatures timestamped after it (POSIX seconds) are not
    counted, e.g. the verifier's clock plus a tolerated skew. ``not_before``: nor those
    timestamped before it, e.g. the verifier's clock minus the largest age it accepts (a
    witness re-cosigns the log's latest checkpoint, so a recent cosignature says the log
    showed it no later checkpoint before then).
    """
    parsed = _parsed(note)
    found: list[WitnessKey] = []
    for witness, cosignature in cosignatures_by(parsed, witnesses):
        if isinstance(cosignature, MalformedInput) or witness in found:
            continue
        if not_after is not None and cosignature.timestamp > not_after:
            continue
        if not_before is not None and cosignature.timestamp < not_before:
            continue
        try:
            verify_cosignature(parsed.text, cosignature, witness)
        except (InvalidSignature, MalformedInput):
            continue
        found.append(witness)
    return found


# -- the witness protocol (c2sp.org/tlog-witness) ----------------------------------------------

MAX_ADD_CHECKPOINT_PROOF = 63
"""The most consistency proof lines an add-checkpoint request may carry (the spec's limit)."""

TLOG_SIZE_CONTENT_TYPE = "text/x.tlog.size"
"""The media type of a witness's 409 answer: its latest cosigned size and a newline."""

_DECIMAL = frozenset("0123456789")


def _parse_size(text: str, what: str) -> int:
    """ASCII decimal, no leading zeros (``0`` alone for zero), at most 2^63 - 1."""
    if not text or not set(text) <= _DECIMAL or (len(text) > 1 and text[0] == "0"):
        raise MalformedInput(f"{what}: expected a decimal size without leading zeros")
    if len(text) > 19 or int(text) > MAX_TIMESTAMP:
        raise MalformedInput(f"{what}: expected a size below 2^63, found {text[:30]!r}")
    return int(text)


def parse_tlog_size(body: bytes) -> int:
    """The size in a ``text/x.tlog.size`` body: a decimal size and a newline."""
    try:
        text = body.decode("ascii")
    except UnicodeDecodeError as exc:
        raise MalformedInput("tlog size: expected ASCII") from exc
    if not text.endswith("\n"):
        raise MalformedInput("tlog size: expected a size followed by a newline")
    return _parse_size(text[:-1], "tlog size")


@dataclass(frozen=True)
class AddCheckpoint:
    """An ``add-checkpoint`` request: the size the sender believes the witness last
    cosigned, a consistency proof from it, and the signed checkpoint note.

    Parsing checks the framing only (sizes, base64 32-byte hashes, at most 63 of them, a
    signed note whose text is a checkpoint); signatures and the proof are the witness's to
    check, each with its own status code.
    """

    old_size: int
    proof: tuple[bytes, ...]
    note: str

    @classmethod
    def from_bytes(cls, data: bytes) -> AddCheckpoint:
        """Parse a request body (MalformedInput: a 400 Bad Request)."""
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise MalformedInput("add-checkpoint: expected UTF-8 text") from exc
        head, sep, note = text.partition("\n\n")
        if not sep:
            raise MalformedInput("add-checkpoint: expected a blank line before the checkpoint")
        lines = head.split("\n")
        first = lines[0]
        if not first.startswith("old "):
            raise MalformedInput("add-checkpoint: expected a first line 'old <size>'")
        old_size = _parse_size(first[4:], "add-checkpoint old size")
        if len(lines) - 1 > MAX_ADD_CHECKPOINT_PROOF:
            raise MalformedInput(
                f"add-checkpoint: expected at most {MAX_ADD_CHECKPOINT_PROOF} proof lines, "
                f"found {len(lines) - 1}"
            )
        proof = tuple(
            b64decode(line, size=32, what="add-checkpoint proof line") for line in lines[1:]
        )
        Checkpoint.from_text(Note.from_text(note).text)  # a signed note of a checkpoint
        return cls(old_size, proof, note)

    def to_bytes(self) -> bytes:
        """The request body, exactly as the spec frames it."""
        _check_timestamp(self.old_size)  # the same range: 0 to 2^63 - 1
        if len(self.proof) > MAX_ADD_CHECKPOINT_PROOF:
            raise MalformedInput(
                f"add-checkpoint: expected at most {MAX_ADD_CHECKPOINT_PROOF} proof hashes"
            )
        lines = [f"old {self.old_size}\n", *(b64encode(h) + "\n" for h in self.proof), "\n"]
        return ("".join(lines) + self.note).encode("utf-8")
