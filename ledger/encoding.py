"""Canonical JSON (RFC 8785) and the strict base64 used on the wire.

Canonical bytes come from the `rfc8785` package, except on one fast path where
`json.dumps` provably writes the same bytes (tests/test_encoding.py holds the two equal
with hypothesis and the RFC's vectors): objects whose keys are all ASCII, strings,
integers within +-(2**53 - 1), booleans and null, no floats. There the differences between
the two disappear: JCS sorts keys by UTF-16 code units (for ASCII, the code point order
`sort_keys` uses), escapes exactly what `json.dumps(ensure_ascii=False)` escapes, in the
same forms, and writes such integers plainly. Anything else (a float, a bigger integer, a
non-ASCII key, a lone surrogate) goes to `rfc8785`. The fast path made an entry's bytes
several times cheaper, which a busy writer pays for every entry (bench/http_append.py).
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

import rfc8785

from ledger.errors import MalformedInput


def canonical_json(value: Any) -> bytes:
    """Return the RFC 8785 (JCS) canonical UTF-8 bytes of a JSON-compatible value.

    Raises MalformedInput for values JCS cannot represent (integers beyond 2**53,
    NaN, non-string keys, unsupported types).
    """
    if _simple(value):
        try:
            return _FAST.encode(value).encode("utf-8")
        except UnicodeEncodeError:
            pass  # a lone surrogate: rfc8785 names the problem
    try:
        return rfc8785.dumps(value)
    except (rfc8785.CanonicalizationError, TypeError, ValueError) as exc:
        raise MalformedInput(f"value cannot be canonicalised as RFC 8785 JSON: {exc}") from exc


_FAST = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), sort_keys=True)
_MAX_INT = 2**53 - 1  # the safe-integer domain of JSON numbers (I-JSON, RFC 7493)


def _simple(value: Any) -> bool:
    """True when json.dumps writes the RFC 8785 bytes of `value` (see the module docstring)."""
    kind = type(value)
    if kind is str or kind is bool or value is None:
        return True
    if kind is int:
        return bool(-_MAX_INT <= value <= _MAX_INT)
    if kind is dict:
        return all(type(k) is str and k.isascii() and _simple(v) for k, v in value.items())
    if kind is list:
        return all(_simple(v) for v in value)
    return False


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
