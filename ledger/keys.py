"""The log's Ed25519 keys as values: `LogKey` (public facts, verification) and `LogSigner`.

A verifier needs `LogKey` alone (its verifier key string, `verify`, `valid_at`); the log
signs with a `LogSigner`. Where the keys are kept (files on disk, the passphrase,
rotation) is `ledger.keystore`'s business: this module touches no file.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar, Literal

from cryptography.exceptions import InvalidSignature as _CryptoInvalidSignature
from cryptography.hazmat.primitives.asymmetric import dh, dsa, ec, ed448, rsa, x448, x25519
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    PublicFormat,
)

from ledger.errors import InvalidSignature, KeyProblem, MalformedInput
from ledger.note import ALG_ED25519, NoteSigner, NoteVerifier, key_id

__all__ = [
    "ED25519_PUBLIC_KEY_SIZE",
    "ED25519_SIGNATURE_SIZE",
    "KeyStatus",
    "LogKey",
    "LogSigner",
    "check_aware",
    "describe_private_key",
]

KeyStatus = Literal["active", "retired"]

ED25519_PUBLIC_KEY_SIZE = 32
ED25519_SIGNATURE_SIZE = 64


def check_aware(value: datetime, what: str) -> None:
    """Raise MalformedInput unless `value` is a timezone-aware datetime."""
    if not isinstance(value, datetime):
        raise MalformedInput(f"{what}: expected a datetime, found {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise MalformedInput(f"{what}: expected a timezone-aware datetime, found {value!r}")


@dataclass(frozen=True)
class LogKey:
    """Public facts about one log key; safe to print, log and store in a database."""

    name: str
    key_id: str
    public_key: bytes
    status: KeyStatus
    not_before: datetime
    not_after: datetime | None = None

    algorithm: ClassVar[str] = "Ed25519"

    def __post_init__(self) -> None:
        if not isinstance(self.public_key, bytes) or len(self.public_key) != (
            ED25519_PUBLIC_KEY_SIZE
        ):
            raise MalformedInput(
                f"log key {self.key_id!r}: expected a {ED25519_PUBLIC_KEY_SIZE}-byte Ed25519 "
                "public key"
            )
        expected_id = key_id(self.name, self.public_key).hex()  # also checks the name
        if self.key_id != expected_id:
            raise MalformedInput(
                f"log key {self.name!r}: expected key id {expected_id}, found {self.key_id!r}"
            )
        if self.status not in ("active", "retired"):
            raise MalformedInput(
                f"log key {self.key_id}: expected status 'active' or 'retired', "
                f"found {self.status!r}"
            )
        check_aware(self.not_before, f"log key {self.key_id} not_before")
        if self.not_after is not None:
            check_aware(self.not_after, f"log key {self.key_id} not_after")
            if self.not_after < self.not_before:
                raise MalformedInput(
                    f"log key {self.key_id}: expected not_after >= not_before "
                    f"({self.not_before.isoformat()}), found {self.not_after.isoformat()}"
                )
        if self.status == "active" and self.not_after is not None:
            raise MalformedInput(
                f"log key {self.key_id}: expected no not_after on the active key, "
                f"found {self.not_after.isoformat()}"
            )
        if self.status == "retired" and self.not_after is None:
            raise MalformedInput(
                f"log key {self.key_id}: expected not_after on a retired key, found none"
            )

    @property
    def verifier_key(self) -> str:
        """``<name>+<key id>+<base64(0x01 || public key)>`` (c2sp.org/signed-note vkey)."""
        typed = base64.b64encode(bytes([ALG_ED25519]) + self.public_key).decode("ascii")
        return f"{self.name}+{self.key_id}+{typed}"

    def note_verifier(self) -> NoteVerifier:
        """This key as a signed-note verifier (for checkpoints)."""
        return NoteVerifier(
            name=self.name, key_id=bytes.fromhex(self.key_id), public_key=self.public_key
        )

    def verify(self, message: bytes, signature: bytes) -> None:
        """Raise InvalidSignature unless ``signature`` is this key's signature of ``message``."""
        if len(signature) != ED25519_SIGNATURE_SIZE:
            raise InvalidSignature(
                f"signature by log key {self.key_id}: expected {ED25519_SIGNATURE_SIZE} bytes, "
                f"found {len(signature)}"
            )
        try:
            Ed25519PublicKey.from_public_bytes(self.public_key).verify(signature, message)
        except (_CryptoInvalidSignature, ValueError) as exc:
            raise InvalidSignature(
                f"signature by log key {self.key_id}: expected a valid Ed25519 signature "
                f"over the {len(message)}-byte message, found one that does not verify"
            ) from exc

    def valid_at(self, when: datetime) -> bool:
        """True when the key was the signing key at ``when``: not_before <= when < not_after."""
        check_aware(when, "when")
        if when < self.not_before:
            return False
        return self.not_after is None or when < self.not_after


class LogSigner:
    """The log's signing key: public facts (``key``) and the private key, which never shows.

    ``repr()`` and ``str()`` name the key id only.
    """

    __slots__ = ("_note_signer", "_private_key", "key")

    def __init__(self, key: LogKey, private_key: Ed25519PrivateKey) -> None:
        if not isinstance(private_key, Ed25519PrivateKey):
            raise KeyProblem(
                f"log key {key.key_id}: expected an Ed25519 private key, "
                f"found {describe_private_key(private_key)}"
            )
        public_key = private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        if public_key != key.public_key:
            raise KeyProblem(
                f"log key {key.key_id}: the private key does not match the recorded public key"
            )
        self.key: LogKey = key
        self._private_key = private_key
        self._note_signer = NoteSigner(private_key, key.name)

    def sign(self, message: bytes) -> bytes:
        """The 64-byte Ed25519 signature of ``message``."""
        return self._private_key.sign(message)

    @property
    def note_signer(self) -> NoteSigner:
        """This key as a signed-note signer (for checkpoints)."""
        return self._note_signer

    def __repr__(self) -> str:
        return f"LogSigner(name={self.key.name!r}, key_id={self.key.key_id!r})"

    __str__ = __repr__


def describe_private_key(key: object) -> str:
    """A key's algorithm in words (never its value)."""
    if isinstance(key, rsa.RSAPrivateKey):
        return f"an RSA-{key.key_size} key"
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return f"an ECDSA {key.curve.name} key"
    if isinstance(key, ed448.Ed448PrivateKey):
        return "an Ed448 key"
    if isinstance(key, dsa.DSAPrivateKey):
        return "a DSA key"
    if isinstance(key, x25519.X25519PrivateKey | x448.X448PrivateKey):
        return "an X25519/X448 key-agreement key"
    if isinstance(key, dh.DHPrivateKey):
        return "a Diffie-Hellman key"
    return f"a {type(key).__name__}"
