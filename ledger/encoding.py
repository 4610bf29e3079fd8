"""Canonical JSON (RFC 8785) and the strict base64 used on the wire.

Canonical bytes always come from the `rfc8785` package, never from `json.dumps`: two
implementations that agree on RFC 8785 agree on every leaf hash.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

import rfc8785

from ledger.errors import MalformedInput


def canonical_json(value: Any) -> bytes:
    """Return the RFC 8785 (JCS) canonical UTF-8 bytes of a JSON-compatible value.

    Raises MalformedInput for values JCS cannot represent (integers beyond 2**53,
    NaN, non-string keys, unsupported types).
    """
    try:
        return rfc8785.dumps(value)
    except (rfc8785.CanonicalizationError, TypeError, ValueError) as exc:
        raise MalformedInput(f"value cannot be canonicalised as RFC 8785 JSON: {exc}") from exc


def b64encode(data: bytes) -> str:
    """Standard base64 with padding (RFC 4648 §4), as every Altan wire format uses."""
    return base64.b64encode(data).decode("ascii")


def b64decode(text: str, *, size: int | None = None, what: str = "value") -> bytes:
    """Decode strict standard base64 with padding; optionally demand an exact byte length."""
    try:
        data = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError) as exc:
        raise MalformedInput(f"{what}: expected standard padded base64, got {text[:60]!r}") from exc
    # b64decode tolerates some non-canonical encodings (stray bits in the last symbol);
    # re-encoding rejects them so each value has exactly one text form.
    if base64.b64encode(data).decode("ascii") != text:
        raise MalformedInput(f"{what}: base64 is not in canonical form")
    if size is not None and len(data) != size:
        raise MalformedInput(f"{what}: expected {size} bytes, got {len(data)}")
    return data
