"""Salted commitments: how the log binds to data it must not hold (personal data, prices).

commitment = hex SHA-256(salt || RFC 8785 JSON of the value), with a 32-byte random salt.
Whoever holds the value and the salt can show it matches the log; whoever holds only the
log learns nothing (the salt defeats guessing), and deleting value and salt (a lawful
erasure) leaves every hash, proof and signature of the log intact.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Any

from ledger.encoding import canonical_json
from ledger.errors import MalformedInput

SALT_BYTES = 32


def new_salt() -> bytes:
    """A fresh random salt."""
    return secrets.token_bytes(SALT_BYTES)


def commit(salt: bytes, value: Any) -> str:
    """The hex commitment to `value` under `salt`."""
    if len(salt) != SALT_BYTES:
        raise MalformedInput(f"salt: expected {SALT_BYTES} bytes, got {len(salt)}")
    return hashlib.sha256(salt + canonical_json(value)).hexdigest()


def matches(commitment: str, salt: bytes, value: Any) -> bool:
    """True when `value` and `salt` open `commitment` (constant-time comparison)."""
    return hmac.compare_digest(commit(salt, value), commitment)
