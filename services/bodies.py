"""Strict JSON request bodies: what the standard parser lets through, refused at the edge.

Python's `json.loads` (which the framework uses) keeps the last of duplicate keys, guesses
UTF-16 and UTF-32 from the first bytes, accepts `NaN` and `Infinity`, and recurses once per
level of nesting, so a body nested a few hundred levels deep overflows the stack of
whatever walks it next (the canonical-JSON hash of an idempotent request did). A route
class on the routers that take JSON bodies parses them here instead:

1. the body is UTF-8 (RFC 8259 §8.1), without a byte order mark;
2. its nesting is at most `MAX_DEPTH`, by a cheap scan of the raw bytes before any parsing;
3. it parses with no duplicate key in any object and no `NaN`/`Infinity` literal.

Each refusal is a 400 problem naming the rule. The parsed value is handed to the
framework, so the body is parsed once.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Coroutine
from typing import Any, Final

from fastapi import Request, Response
from fastapi.routing import APIRoute

from services.errors import DomainError

MAX_DEPTH: Final = 64
"""The deepest nesting of arrays and objects accepted: real bodies stay under 8."""

# A whole string (skipped: brackets inside it do not count) or one bracket. Possessive, so
# an unterminated string costs one pass, never backtracking.
_TOKENS = re.compile(rb'"[^"\\]*+(?:\\.[^"\\]*+)*+"|[\[{]|[\]}]', re.DOTALL)


class MalformedBody(DomainError):
    """The request body is not strict JSON."""

    status = 400


def json_depth(raw: bytes, limit: int = MAX_DEPTH) -> int:
    """The nesting depth of a JSON text, counting brackets outside strings; returns
    `limit + 1` as soon as the depth passes `limit`, so a deep body costs little."""
    depth = deepest = 0
    for m in _TOKENS.finditer(raw):
        ch = m.group()
        if ch in (b"[", b"{"):
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > limit:
                    return limit + 1
        elif ch in (b"]", b"}"):
            depth -= 1
    return deepest


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise MalformedBody(
                "duplicate-key",
                f"the key {key!r} appears twice in one object; JSON objects must not repeat "
                "a key (readers disagree on which one counts)",
                field=key,
            )
        out[key] = value
    return out


def _no_constant(name: str) -> Any:
    raise MalformedBody("not-a-number", f"{name} is not a JSON number", field="body")


def parse_strict(raw: bytes) -> Any:
    """Parse a request body as strict JSON (see the module's checklist) or raise
    MalformedBody naming the rule."""
    if raw.startswith(b"\xef\xbb\xbf"):
        raise MalformedBody("not-utf8", "the body starts with a byte order mark", field="body")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedBody(
            "not-utf8", f"the body is not UTF-8 (byte {exc.start}); send UTF-8 JSON", field="body"
        ) from None
    if json_depth(raw) > MAX_DEPTH:
        raise MalformedBody(
            "too-deep", f"the body nests arrays or objects more than {MAX_DEPTH} deep", field="body"
        )
    try:
        return json.loads(
            text,
            object_pairs_hook=_no_duplicates,
            parse_constant=_no_constant,
            parse_int=_bounded_int,
        )
    except json.JSONDecodeError as exc:
        raise MalformedBody(
            "invalid-json",
            f"not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}",
            field="body",
        ) from None


MAX_INT_DIGITS = 40
"""No field holds a longer integer; Python refuses to convert one of 4,300 digits with a
plain ValueError, which would otherwise surface as a 500."""


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise MalformedBody(
            "number-too-long",
            f"an integer in the body has more than {MAX_INT_DIGITS} digits",
            field="body",
        )
    return int(text)


def _is_json(content_type: str | None) -> bool:
    """Whether the framework would parse the body as JSON (no type, or a JSON type)."""
    if not content_type:
        return True
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or media.endswith("+json")


class StrictJSONRoute(APIRoute):
    """A route whose JSON body is parsed by `parse_strict` (set `route_class` on a router)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def strict(request: Request) -> Response:
            raw = await request.body()
            if raw and _is_json(request.headers.get("content-type")):
                # Starlette's Request.json() returns `_json` when set: the framework then
                # uses this parse instead of its lenient one.
                request._json = parse_strict(raw)
            return await handler(request)

        return strict
