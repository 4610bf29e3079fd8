"""Canonical JSON (RFC 8785) and the strict base64 used on the wire.

Canonical bytes come from the `rfc8785` package, except on one fast path where
`json.dumps` provably writes the same bytes (tests/ledger/test_encoding.py holds the two equal
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
import threading
from typing import Any

import rfc8785

from ledger.errors import MalformedInput


def canonical_json(value: Any) -> bytes:
    """Return the RFC 8785 (JCS) canonical UTF-8 bytes of a JSON-compatible value.

    Raises MalformedInput for values JCS cannot represent (integers beyond 2**53,
    NaN, non-string keys, unsupported types).
    """
    return _encode(value, simple=_simple(value))


def _encode(value: Any, *, simple: bool) -> bytes:
    if simple:
        try:
            return _FAST.encode(value).encode("utf-8")
        except UnicodeEncodeError:
            pass  # a lone surrogate: rfc8785 names the problem
    try:
        return rfc8785.dumps(value)
    except (rfc8785.CanonicalizationError, TypeError, ValueError) as exc:
        raise MalformedInput(f"value cannot be canonicalised as RFC 8785 JSON: {exc}") from exc


def parse_canonical_json(data: bytes) -> tuple[Any, str | None]:
    """Parse JSON bytes and say whether they are in canonical form.

    Returns ``(value, problem)``: `problem` is None when `data` is exactly the RFC 8785
    encoding of `value` and no object repeats a key; otherwise it says what is wrong (a
    repeated key at any depth, a value JCS cannot represent, or other bytes than the
    canonical ones). A repeated key must be refused, not resolved: parsers disagree on which
    of the two values wins, so one signed entry could be read two ways. Raises
    MalformedInput for bytes that are not UTF-8 JSON at all.
    """
    _parsed.simple = True
    try:
        # UTF-8 only (canonical bytes are), and a decoder made once: json.loads with
        # hooks builds a new one per call, which doubled the cost of this check.
        value = _STRICT.decode(data.decode("utf-8"))
    except _RepeatedKey as exc:
        return None, str(exc)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise MalformedInput(f"not UTF-8 JSON ({exc})") from exc
    try:
        # The hooks saw every number and key: when `_simple(value)` holds they skip the
        # walk over the value (its cost was most of this check's, bench/audit.py).
        canonical = _encode(value, simple=_parsed.simple)
    except MalformedInput as exc:
        return value, str(exc)
    if canonical != data:
        at = next(
            (i for i, (a, b) in enumerate(zip(canonical, data, strict=False)) if a != b),
            min(len(canonical), len(data)),
        )
        return value, (
            f"the bytes differ from the RFC 8785 encoding of their own parse from byte {at} on "
            f"(expected {canonical[at : at + 24]!r}, found {data[at : at + 24]!r})"
        )
    return value, None


class _RepeatedKey(ValueError):
    pass


class _Parsed(threading.local):
    """Whether the value being parsed (in this thread) is `_simple`: it is unless a hook
    saw a float, an integer beyond the safe range, NaN or infinity, or a non-ASCII key."""

    simple = True


_parsed = _Parsed()


def _parse_int(text: str) -> int | float:
    # JSON numbers are IEEE doubles to RFC 8785: a float of 2**53 or more is written as an
    # integer literal, which must read back as that float (as an int it would be refused).
    value = int(text)
    if -_MAX_INT <= value <= _MAX_INT:
        return value
    _parsed.simple = False
    try:
        return float(value)
    except OverflowError:
        return float("inf")  # beyond any double: canonical_json names the problem


def _parse_float(text: str) -> float:
    _parsed.simple = False
    return float(text)


def _refuse_repeated_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _RepeatedKey(f"an object repeats the key {key[:60]!r}")
            seen.add(key)
    if not "".join(out).isascii():
        _parsed.simple = False
    return out


_STRICT = json.JSONDecoder(
    object_pairs_hook=_refuse_repeated_keys,
    parse_int=_parse_int,
    parse_float=_parse_float,
    parse_constant=_parse_float,  # NaN, Infinity, -Infinity
)
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
