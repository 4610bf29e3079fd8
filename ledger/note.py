"""Signed notes as in c2sp.org/signed-note (and golang.org/x/mod/sumdb/note), Ed25519 only.

A signed note is a UTF-8 text that ends in a newline, a blank line, then one or more
signature lines ``— <key name> <base64(4-byte key id || signature)>``::

    example.com/log
    42
    <base64 root>

    — example.com/log <base64>

Only signature type ``0x01`` (Ed25519 over the note text) is supported. The key id is the
first four bytes of ``SHA-256(name || 0x0A || 0x01 || public key)``; a verifier key is
written ``<name>+<8 hex key id>+<base64(0x01 || public key)>``.

Opening a note (:func:`open_note`) follows the spec's rules:

1. the note parses (:meth:`Note.from_text`): valid UTF-8, no ASCII control characters
   other than newline, at most :data:`MAX_NOTE_BYTES` bytes and :data:`MAX_SIGNATURES`
   signature lines, each well formed;
2. a signature line whose (name, key id) is unknown is ignored;
3. a signature line whose (name, key id) is known must verify, else
   :class:`~ledger.errors.InvalidSignature` (the whole note is rejected);
4. at least one known key must have signed, else :class:`~ledger.errors.UnknownKey`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from collections.abc import Iterable
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature as _CryptoInvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from ledger.errors import InvalidSignature, KeyProblem, MalformedInput, UnknownKey

__all__ = [
    "ALG_ED25519",
    "MAX_NOTE_BYTES",
    "MAX_SIGNATURES",
    "Note",
    "NoteSignature",
    "NoteSigner",
    "NoteVerifier",
    "check_key_name",
    "key_id",
    "open_note",
]

ALG_ED25519 = 0x01
"""Signature type byte of Ed25519 note signatures (c2sp.org/signed-note)."""

MAX_NOTE_BYTES = 1 << 20
"""The largest note accepted, in UTF-8 bytes (1 MiB)."""

MAX_SIGNATURES = 100
"""The most signature lines accepted in one note (the spec asks for at least 16)."""

KEY_ID_SIZE = 4
ED25519_PUBLIC_KEY_SIZE = 32
ED25519_SEED_SIZE = 32
ED25519_SIGNATURE_SIZE = 64

_SIG_PREFIX = "\u2014 "  # em dash, space
_SEPARATOR = "\n\n"
_FORBIDDEN_CHARS = re.compile("[\x00-\x09\x0b-\x1f\ud800-\udfff]")


# -- small strict helpers ------------------------------------------------------------------


def _b64decode(text: str, what: str) -> bytes:
    """Decode standard padded base64 (RFC 4648 §4), refusing any non-canonical spelling."""
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (UnicodeEncodeError, binascii.Error, ValueError) as exc:
        raise MalformedInput(
            f"{what}: expected standard padded base64, found {text[:60]!r}"
        ) from exc
    if base64.b64encode(raw).decode("ascii") != text:
        raise MalformedInput(
            f"{what}: expected canonical standard padded base64, found {text[:60]!r}"
        )
    return raw


def _b64encode(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _check_text_chars(text: str, what: str) -> None:
    """Valid UTF-8 (no lone surrogates) and no ASCII control character other than newline."""
    bad = _FORBIDDEN_CHARS.search(text)
    if bad is None:
        return
    code = ord(bad.group())
    if code < 0x20:
        raise MalformedInput(
            f"{what}: expected no ASCII control characters other than newline, "
            f"found U+{code:04X} at offset {bad.start()}"
        )
    raise MalformedInput(
        f"{what}: expected valid UTF-8 text, found a lone surrogate U+{code:04X} "
        f"at offset {bad.start()}"
    )


def check_key_name(name: str) -> None:
    """Raise MalformedInput unless ``name`` is a valid note key name.

    Key names are non-empty, contain no Unicode space and no ``+`` (the spec), and, since
    they appear in a note, no control character and no lone surrogate.
    """
    if not isinstance(name, str) or not name:
        raise MalformedInput(f"key name: expected a non-empty string, found {name!r}")
    _check_text_chars(name, "key name")
    if any(char.isspace() for char in name):
        raise MalformedInput(f"key name: expected no Unicode spaces, found {name!r}")
    if "+" in name:
        raise MalformedInput(f"key name: expected no '+' character, found {name!r}")


def _check_hex_key_id(text: str, what: str) -> bytes:
    if len(text) != 2 * KEY_ID_SIZE or any(c not in "0123456789abcdefABCDEF" for c in text):
        raise MalformedInput(f"{what}: expected an 8-digit hex key id, found {text!r}")
    return bytes.fromhex(text)


def key_id(name: str, public_key: bytes) -> bytes:
    """The 4-byte key id of an Ed25519 note key: SHA-256(name || 0x0A || 0x01 || key)[:4]."""
    check_key_name(name)
    if len(public_key) != ED25519_PUBLIC_KEY_SIZE:
        raise MalformedInput(
            f"Ed25519 public key: expected {ED25519_PUBLIC_KEY_SIZE} bytes, found {len(public_key)}"
        )
    digest = hashlib.sha256(
        name.encode("utf-8") + b"\n" + bytes([ALG_ED25519]) + public_key
    ).digest()
    return digest[:KEY_ID_SIZE]


# -- keys ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NoteVerifier:
    """A trusted Ed25519 note key: its name, 4-byte key id and 32-byte public key."""

    name: str
    key_id: bytes
    public_key: bytes

    def __post_init__(self) -> None:
        expected = key_id(self.name, self.public_key)  # checks the name and the key length
        if not hmac.compare_digest(expected, self.key_id):
            raise MalformedInput(
                f"verifier key {self.name!r}: expected key id {expected.hex()}, "
                f"found {bytes(self.key_id).hex()}"
            )

    @classmethod
    def from_vkey(cls, vkey: str) -> NoteVerifier:
        """Parse ``<name>+<8 hex key id>+<base64(0x01 || 32-byte public key)>``."""
        if not isinstance(vkey, str):
            raise MalformedInput(f"verifier key: expected a string, found {type(vkey).__name__}")
        parts = vkey.split("+", 2)  # base64 may contain "+"; name and id may not
        if len(parts) != 3:
            raise MalformedInput(
                f"verifier key: expected '<name>+<hex key id>+<base64 key>', found {vkey[:100]!r}"
            )
        name, hex_id, key64 = parts
        check_key_name(name)
        claimed_id = _check_hex_key_id(hex_id, "verifier key id")
        typed_key = _b64decode(key64, "verifier key")
        if not typed_key:
            raise MalformedInput("verifier key: expected a type byte and a key, found nothing")
        if typed_key[0] != ALG_ED25519:
            raise MalformedInput(
                f"verifier key {name!r}: expected signature type 0x01 (Ed25519), "
                f"found 0x{typed_key[0]:02x} (not supported)"
            )
        public_key = typed_key[1:]
        if len(public_key) != ED25519_PUBLIC_KEY_SIZE:
            raise MalformedInput(
                f"verifier key {name!r}: expected a {ED25519_PUBLIC_KEY_SIZE}-byte Ed25519 "
                f"key, found {len(public_key)} bytes"
            )
        return cls(name=name, key_id=claimed_id, public_key=public_key)

    @property
    def vkey(self) -> str:
        """The verifier key string ``<name>+<8 hex>+<base64(0x01 || public key)>``."""
        typed_key = bytes([ALG_ED25519]) + self.public_key
        return f"{self.name}+{self.key_id.hex()}+{_b64encode(typed_key)}"

    def verify(self, message: bytes, signature: bytes) -> bool:
        """True when ``signature`` is a valid Ed25519 signature of ``message`` by this key."""
        if len(signature) != ED25519_SIGNATURE_SIZE:
            return False
        try:
            Ed25519PublicKey.from_public_bytes(self.public_key).verify(signature, message)
        except (_CryptoInvalidSignature, ValueError):
            return False
        return True


def _raw_public_key(private_key: Ed25519PrivateKey) -> bytes:
    return private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


class NoteSigner:
    """Signs notes with an Ed25519 private key under a key name.

    Its ``repr`` shows the name and key id only, never key material.
    """

    __slots__ = ("_private_key", "key_id", "name", "verifier")

    def __init__(self, private_key: Ed25519PrivateKey, name: str) -> None:
        if not isinstance(private_key, Ed25519PrivateKey):
            raise KeyProblem(
                f"note signer: expected an Ed25519 private key, found {type(private_key).__name__}"
            )
        public_key = _raw_public_key(private_key)
        self._private_key = private_key
        self.name: str = name
        self.key_id: bytes = key_id(name, public_key)
        self.verifier: NoteVerifier = NoteVerifier(
            name=name, key_id=self.key_id, public_key=public_key
        )

    @classmethod
    def from_skey(cls, skey: str) -> NoteSigner:
        """Parse a Go ``sumdb/note`` signer key ``PRIVATE+KEY+<name>+<hex id>+<base64>``.

        The base64 part is ``0x01 || 32-byte Ed25519 seed``. Meant for test vectors and
        tests; the log keeps its own keys as PKCS8 files (see ledger.keystore).
        """
        if not isinstance(skey, str):
            raise MalformedInput(f"signer key: expected a string, found {type(skey).__name__}")
        parts = skey.split("+", 4)  # base64 may contain "+"
        if len(parts) != 5 or parts[0] != "PRIVATE" or parts[1] != "KEY":
            # The key itself is never echoed back in a message.
            raise MalformedInput(
                "signer key: expected 'PRIVATE+KEY+<name>+<hex key id>+<base64 key>', "
                f"found {len(parts)} '+'-separated fields"
            )
        name, hex_id, key64 = parts[2], parts[3], parts[4]
        check_key_name(name)
        claimed_id = _check_hex_key_id(hex_id, "signer key id")
        try:
            typed_seed = base64.b64decode(key64.encode("ascii"), validate=True)
        except (UnicodeEncodeError, binascii.Error, ValueError):
            # `from None`: the decoder's message could quote the key.
            raise MalformedInput("signer key: expected standard padded base64 key") from None
        if len(typed_seed) != 1 + ED25519_SEED_SIZE or typed_seed[0] != ALG_ED25519:
            raise MalformedInput(
                "signer key: expected type byte 0x01 (Ed25519) and a 32-byte seed, "
                f"found {len(typed_seed)} bytes"
            )
        signer = cls(Ed25519PrivateKey.from_private_bytes(typed_seed[1:]), name)
        if not hmac.compare_digest(signer.key_id, claimed_id):
            raise MalformedInput(
                f"signer key {name!r}: expected key id {signer.key_id.hex()} "
                f"(derived from the key), found {claimed_id.hex()}"
            )
        return signer

    def _sign_bytes(self, text: str) -> bytes:
        _check_note_text(text)
        return self._private_key.sign(text.encode("utf-8"))

    def signature_line(self, text: str) -> str:
        """The line ``— <name> <base64(key id || signature over text)>\\n``."""
        signature = self._sign_bytes(text)
        return f"{_SIG_PREFIX}{self.name} {_b64encode(self.key_id + signature)}\n"

    def sign(self, text: str) -> str:
        """The complete signed note: ``text``, a blank line, this key's signature line."""
        note = text + "\n" + self.signature_line(text)
        if len(note.encode("utf-8")) > MAX_NOTE_BYTES:
            raise MalformedInput(
                f"note: expected at most {MAX_NOTE_BYTES} bytes once signed, "
                f"found {len(note.encode('utf-8'))}"
            )
        return note

    def __repr__(self) -> str:
        return f"NoteSigner(name={self.name!r}, key_id={self.key_id.hex()!r})"

    __str__ = __repr__


# -- notes -----------------------------------------------------------------------------------


def _check_note_text(text: str) -> None:
    if not isinstance(text, str):
        raise MalformedInput(f"note text: expected a string, found {type(text).__name__}")
    if not text.endswith("\n"):
        raise MalformedInput(
            f"note text: expected text ending in a newline, found {text[-20:]!r} at the end"
        )
    if len(text) > MAX_NOTE_BYTES:
        raise MalformedInput(
            f"note text: expected at most {MAX_NOTE_BYTES} bytes, found {len(text)} characters"
        )
    _check_text_chars(text, "note text")


@dataclass(frozen=True)
class NoteSignature:
    """One signature line of a note: key name, 4-byte key id, signature bytes."""

    name: str
    key_id: bytes
    signature: bytes

    def __post_init__(self) -> None:
        check_key_name(self.name)
        if len(self.key_id) != KEY_ID_SIZE:
            raise MalformedInput(
                f"signature by {self.name!r}: expected a {KEY_ID_SIZE}-byte key id, "
                f"found {len(self.key_id)} bytes"
            )
        if not self.signature:
            raise MalformedInput(
                f"signature by {self.name!r}: expected signature bytes after the key id, found none"
            )

    def to_line(self) -> str:
        """The signature line, with its final newline."""
        return f"{_SIG_PREFIX}{self.name} {_b64encode(self.key_id + self.signature)}\n"


@dataclass(frozen=True)
class Note:
    """A parsed (not yet verified) signed note: its text and its signature lines."""

    text: str
    signatures: tuple[NoteSignature, ...]

    def __post_init__(self) -> None:
        _check_note_text(self.text)
        if not self.signatures:
            raise MalformedInput("note: expected at least one signature line, found none")
        if len(self.signatures) > MAX_SIGNATURES:
            raise MalformedInput(
                f"note: expected at most {MAX_SIGNATURES} signature lines, "
                f"found {len(self.signatures)}"
            )

    @classmethod
    def from_text(cls, note: str | bytes) -> Note:
        """Parse a signed note. Raises MalformedInput; verifies nothing (see open_note)."""
        if isinstance(note, bytes | bytearray):
            if len(note) > MAX_NOTE_BYTES:
                raise MalformedInput(
                    f"note: expected at most {MAX_NOTE_BYTES} bytes, found {len(note)}"
                )
            try:
                note = bytes(note).decode("utf-8")
            except UnicodeDecodeError as exc:
                raise MalformedInput(
                    f"note: expected valid UTF-8, found an invalid byte at offset {exc.start}"
                ) from exc
        if not isinstance(note, str):
            raise MalformedInput(f"note: expected text, found {type(note).__name__}")
        # 1. Size first, before any per-character work.
        if len(note) > MAX_NOTE_BYTES:
            raise MalformedInput(
                f"note: expected at most {MAX_NOTE_BYTES} bytes, found {len(note)} characters"
            )
        _check_text_chars(note, "note")
        size = len(note.encode("utf-8"))
        if size > MAX_NOTE_BYTES:
            raise MalformedInput(f"note: expected at most {MAX_NOTE_BYTES} bytes, found {size}")
        # 2. The text ends at the last blank line; the signature block follows it.
        split = note.rfind(_SEPARATOR)
        if split < 0:
            raise MalformedInput(
                "note: expected text, a blank line and signature lines, found no blank line"
            )
        text, block = note[: split + 1], note[split + 2 :]
        if not block:
            raise MalformedInput("note: expected signature lines after the blank line, found none")
        if not block.endswith("\n"):
            raise MalformedInput("note: expected the last signature line to end in a newline")
        lines = block[:-1].split("\n")
        if len(lines) > MAX_SIGNATURES:
            raise MalformedInput(
                f"note: expected at most {MAX_SIGNATURES} signature lines, found {len(lines)}"
            )
        # 3. Every line is "— <name> <base64(key id || signature)>".
        signatures = tuple(_parse_signature_line(line, number) for number, line in enumerate(lines))
        return cls(text=text, signatures=signatures)

    def to_text(self) -> str:
        """The note as text: the text, a blank line, the signature lines."""
        return self.text + "\n" + "".join(sig.to_line() for sig in self.signatures)


def _parse_signature_line(line: str, number: int) -> NoteSignature:
    what = f"note signature line {number + 1}"
    if not line.startswith(_SIG_PREFIX):
        raise MalformedInput(f"{what}: expected it to start with '\u2014 ', found {line[:20]!r}")
    rest = line[len(_SIG_PREFIX) :]
    name, space, b64 = rest.partition(" ")
    if not space or not b64:
        raise MalformedInput(f"{what}: expected '<key name> <base64 signature>', found {rest!r}")
    check_key_name(name)
    raw = _b64decode(b64, what)
    if len(raw) < KEY_ID_SIZE + 1:
        raise MalformedInput(
            f"{what}: expected a 4-byte key id and a signature, found {len(raw)} bytes"
        )
    return NoteSignature(name=name, key_id=raw[:KEY_ID_SIZE], signature=raw[KEY_ID_SIZE:])


def open_note(
    note: str | bytes | Note, verifiers: Iterable[NoteVerifier]
) -> tuple[Note, list[NoteVerifier]]:
    """Parse and verify a signed note against trusted keys.

    Returns the note and the trusted verifiers whose signatures verified, in the order of
    their signature lines. Signatures by unknown keys are ignored (they may be witnesses or
    a key the caller does not follow).

    Raises MalformedInput (cannot parse), InvalidSignature (a line by a known key does not
    verify), UnknownKey (no known key signed it) and KeyProblem (two trusted keys share both
    a name and a key id, so a signature line cannot be attributed).
    """
    parsed = note if isinstance(note, Note) else Note.from_text(note)

    known: dict[tuple[str, bytes], NoteVerifier] = {}
    for verifier in verifiers:
        if not isinstance(verifier, NoteVerifier):
            raise KeyProblem(
                f"open_note: expected NoteVerifier values, found {type(verifier).__name__}"
            )
        slot = (verifier.name, bytes(verifier.key_id))
        other = known.get(slot)
        if other is not None and other.public_key != verifier.public_key:
            raise KeyProblem(
                f"two trusted keys share name {verifier.name!r} and key id "
                f"{verifier.key_id.hex()}: expected distinct (name, key id) pairs"
            )
        known[slot] = verifier

    message = parsed.text.encode("utf-8")
    signed_by: list[NoteVerifier] = []
    for signature in parsed.signatures:
        match = known.get((signature.name, bytes(signature.key_id)))
        if match is None:
            continue  # the spec: ignore signatures from unknown keys
        if not match.verify(message, signature.signature):
            raise InvalidSignature(
                f"note signature by {signature.name!r} (key id {signature.key_id.hex()}): "
                "expected a valid Ed25519 signature over the note text, found one that "
                "does not verify"
            )
        if match not in signed_by:
            signed_by.append(match)

    if not signed_by:
        expected = ", ".join(f"{v.name}+{v.key_id.hex()}" for v in known.values()) or "none"
        found = ", ".join(f"{s.name}+{s.key_id.hex()}" for s in parsed.signatures) or "none"
        raise UnknownKey(
            f"note: expected a signature by a trusted key ({expected}), found signatures "
            f"only by unknown keys ({found})"
        )
    return parsed, signed_by
