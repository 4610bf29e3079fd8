"""Log entries: one ledger event as RFC 8785 canonical JSON, and its receipt.

An entry is a JSON object::

    {"v": 1, "index": 7, "prev": "<base64 leaf hash of entry 6>",
     "time": "2026-08-14T02:12:00.000000Z", "type": "ore.delivered",
     "actor": "centre:bornuur", "body": {...},
     "actor_key_id": "<8 hex>", "actor_sig": "<base64>",   # these two when the actor signed
     "staff": "stf_<16 hex>"}                              # when a staff member recorded it

Its leaf hash is SHA-256(0x00 || canonical bytes) (RFC 9162); the first entry's `prev` is
32 zero bytes. The log signs every entry at append time: the receipt is an Ed25519
signature over ``altan/entry/v1\\n`` followed by the 32-byte leaf hash.

An actor that signs its own event signs ``altan/event/v1\\n`` followed by the canonical
bytes of ``{"type", "actor", "body"}``: the part of the entry the actor knows before the
log assigns an index, a time and a predecessor.

`staff` names the staff member (an id, never a name: no personal data) who recorded the
event for its actor through the console; it is outside what the actor signs.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ledger.encoding import b64decode, b64encode, canonical_json, parse_canonical_json
from ledger.errors import MalformedInput
from ledger.hashing import HASH_SIZE

ENTRY_VERSION = 1
ZERO_HASH = bytes(HASH_SIZE)
RECEIPT_CONTEXT = b"altan/entry/v1\n"
EVENT_CONTEXT = b"altan/event/v1\n"
MAX_ENTRY_BYTES = 64 * 1024
MAX_ACTOR_LENGTH = 128

_TYPE_RE = re.compile(r"[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*")
_TYPE_MAX = 64
_KEY_ID_RE = re.compile(r"[0-9a-f]{8}")
_STAFF_RE = re.compile(r"stf_[0-9a-f]{16}")
_TIME_RE = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z")
_REQUIRED = frozenset({"v", "index", "prev", "time", "type", "actor", "body"})
_OPTIONAL = frozenset({"actor_key_id", "actor_sig", "staff"})


def format_time(moment: datetime) -> str:
    """RFC 3339 UTC with microseconds and a `Z`, the only time form entries carry."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise MalformedInput("entry time must be timezone-aware, got a naive datetime")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(text: str) -> datetime:
    """Inverse of format_time."""
    if not _TIME_RE.fullmatch(text):
        raise MalformedInput(f"time: expected YYYY-MM-DDTHH:MM:SS.ffffffZ, got {text[:40]!r}")
    try:
        return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    except ValueError as exc:
        raise MalformedInput(f"time: {text!r} is not a valid date and time") from exc


@dataclass(frozen=True)
class Event:
    """What a caller asks the log to record: the part of an entry the log does not assign."""

    type: str
    actor: str
    body: Mapping[str, Any]
    actor_key_id: str | None = None
    actor_signature: bytes | None = field(default=None, repr=False)
    staff: str | None = None  # the staff member who recorded it (an id), if one did

    def __post_init__(self) -> None:
        if len(self.type) > _TYPE_MAX or not _TYPE_RE.fullmatch(self.type):
            raise MalformedInput(
                f"type: expected dotted lower-case words such as 'ore.delivered' "
                f"(at most {_TYPE_MAX} characters), got {self.type[:80]!r}"
            )
        if not self.actor or len(self.actor) > MAX_ACTOR_LENGTH or "\n" in self.actor:
            raise MalformedInput(
                f"actor: expected 1 to {MAX_ACTOR_LENGTH} characters without newlines"
            )
        if not isinstance(self.body, Mapping):
            raise MalformedInput("body: expected a JSON object")
        if (self.actor_key_id is None) != (self.actor_signature is None):
            raise MalformedInput("actor_key_id and actor_sig come together or not at all")
        if self.actor_key_id is not None and not _KEY_ID_RE.fullmatch(self.actor_key_id):
            raise MalformedInput("actor_key_id: expected 8 lower-case hex digits")
        if self.actor_signature is not None and len(self.actor_signature) != 64:
            raise MalformedInput("actor_sig: expected a 64-byte Ed25519 signature")
        if self.staff is not None and not (
            isinstance(self.staff, str) and _STAFF_RE.fullmatch(self.staff)
        ):
            raise MalformedInput("staff: expected 'stf_' and 16 lower-case hex digits")


def event_signing_message(type_: str, actor: str, body: Mapping[str, Any]) -> bytes:
    """``altan/event/v1\\n`` + canonical JSON of {type, actor, body}."""
    return EVENT_CONTEXT + canonical_json({"type": type_, "actor": actor, "body": dict(body)})


@dataclass(frozen=True)
class Entry:
    """One log entry. Build with `Entry.create`, parse with `Entry.from_bytes`."""

    index: int
    prev: bytes
    time: str
    event: Event

    def __post_init__(self) -> None:
        if self.index < 0:
            raise MalformedInput(f"index: expected >= 0, got {self.index}")
        if len(self.prev) != HASH_SIZE:
            raise MalformedInput(f"prev: expected {HASH_SIZE} bytes, got {len(self.prev)}")
        if not _TIME_RE.fullmatch(self.time):
            raise MalformedInput(f"time: expected YYYY-MM-DDTHH:MM:SS.ffffffZ, got {self.time!r}")

    @classmethod
    def create(cls, index: int, prev: bytes, moment: datetime, event: Event) -> Entry:
        """A new entry at `index` following the entry whose leaf hash is `prev`."""
        return cls(index=index, prev=prev, time=format_time(moment), event=event)

    def to_json(self) -> dict[str, Any]:
        """The entry as a JSON object (before canonicalisation)."""
        obj: dict[str, Any] = {
            "v": ENTRY_VERSION,
            "index": self.index,
            "prev": b64encode(self.prev),
            "time": self.time,
            "type": self.event.type,
            "actor": self.event.actor,
            "body": dict(self.event.body),
        }
        if self.event.actor_key_id is not None and self.event.actor_signature is not None:
            obj["actor_key_id"] = self.event.actor_key_id
            obj["actor_sig"] = b64encode(self.event.actor_signature)
        if self.event.staff is not None:
            obj["staff"] = self.event.staff
        return obj

    def to_bytes(self) -> bytes:
        """RFC 8785 canonical bytes; refuses entries over MAX_ENTRY_BYTES."""
        data = canonical_json(self.to_json())
        if len(data) > MAX_ENTRY_BYTES:
            raise MalformedInput(f"entry: at most {MAX_ENTRY_BYTES} bytes, got {len(data)}")
        return data

    @classmethod
    def from_bytes(cls, data: bytes) -> Entry:
        """Parse entry bytes; raise MalformedInput naming the first field at fault.

        Demands canonical form (RFC 8785, no repeated key): the leaf hash binds the exact
        bytes, but a verifier reading another parse of them (which of two repeated keys
        wins, say) would see another event under the same signature. The service builds
        its entries with `create`, so appends never pay for this check.
        """
        if len(data) > MAX_ENTRY_BYTES:
            raise MalformedInput(f"entry: at most {MAX_ENTRY_BYTES} bytes, got {len(data)}")
        try:
            obj, problem = parse_canonical_json(data)
        except MalformedInput as exc:
            raise MalformedInput(f"entry: {exc}") from exc
        if problem is not None:
            raise MalformedInput(f"entry: not in canonical form (RFC 8785): {problem}")
        return cls.from_json(obj)

    @classmethod
    def from_json(cls, obj: Any) -> Entry:
        """Build an entry from its parsed JSON object (`to_json`'s inverse), checking every
        field; whether the bytes it came from were canonical is `from_bytes`'s concern."""
        if not isinstance(obj, dict):
            raise MalformedInput("entry: expected a JSON object")
        keys = obj.keys()
        missing = _REQUIRED - keys
        if missing:
            raise MalformedInput(f"entry: missing fields {sorted(missing)}")
        extra = keys - _REQUIRED - _OPTIONAL
        if extra:
            raise MalformedInput(f"entry: unknown fields {sorted(extra)}")
        if obj["v"] != ENTRY_VERSION or type(obj["v"]) is not int:
            raise MalformedInput(f"v: expected {ENTRY_VERSION}, got {obj['v']!r}")
        index = obj["index"]
        if type(index) is not int:
            raise MalformedInput("index: expected an integer")
        for name in ("prev", "time", "type", "actor"):
            if not isinstance(obj[name], str):
                raise MalformedInput(f"{name}: expected a string")
        sig = obj.get("actor_sig")
        if sig is not None and not isinstance(sig, str):
            raise MalformedInput("actor_sig: expected a base64 string")
        event = Event(
            type=obj["type"],
            actor=obj["actor"],
            body=obj["body"],
            actor_key_id=obj.get("actor_key_id"),
            actor_signature=None if sig is None else b64decode(sig, size=64, what="actor_sig"),
            staff=obj.get("staff"),
        )
        return cls(
            index=index,
            prev=b64decode(obj["prev"], size=HASH_SIZE, what="prev"),
            time=obj["time"],
            event=event,
        )


def receipt_message(leaf_hash: bytes) -> bytes:
    """The bytes the log signs for an entry: ``altan/entry/v1\\n`` || leaf hash."""
    if len(leaf_hash) != HASH_SIZE:
        raise MalformedInput(f"leaf hash: expected {HASH_SIZE} bytes, got {len(leaf_hash)}")
    return RECEIPT_CONTEXT + leaf_hash


@dataclass(frozen=True)
class Receipt:
    """The log's signed promise that an entry sits at `index` (like a CT SCT)."""

    index: int
    leaf_hash: bytes
    key_id: str
    signature: bytes
