"""Constrained types shared by every request and event body: the strict edge of the log.

The log is append-only, so a bad value that gets in stays forever; these types decide what
may get in. Each refusal is a pydantic error whose `type` names the rule (it becomes the
problem's `invalid-<rule>`) and whose message says, in plain words, what was wrong.

- `Moment`: an RFC 3339 date-time with its UTC offset, a real calendar moment (no second
  60, no hour 24, offset within ±14:00), not before `FLOOR`. Kept as the client wrote it:
  the body is logged exactly as sent, so that the actor's signature over it still verifies.
- `Day`: a real calendar date `YYYY-MM-DD` (a licence's validity); `EventDay`: the day
  something happened (`mined_on`), also not before `FLOOR`.
- `Text` (may hold line breaks and tabs), `ShortText` (one line), `Name` and `Identifier`:
  bounded, with at least one visible character, and no control characters (C0, C1, DEL),
  no lone surrogates (they cannot be stored as UTF-8) and no bidirectional overrides (they
  make a name read differently from what it holds).

Whether a moment lies in the future depends on the log's clock, which schemas do not
read: the service checks every field marked `HAPPENED` against it (see
`services.pipeline.times`).
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Annotated, Any, Final

from pydantic import AfterValidator, Field
from pydantic_core import PydanticCustomError

FLOOR: Final = datetime(2000, 1, 1, tzinfo=UTC)
"""No ledger event happened before this; an earlier time is a typo or a device's reset clock."""
DAY_FLOOR: Final = date(1900, 1, 1)
DAY_CEILING: Final = date(2199, 12, 31)
MAX_OFFSET: Final = timedelta(hours=14)  # the widest UTC offset in use (UTC+14, Kiribati)


class _Happened:
    """Marks a field that records when something happened: not later than the log's clock
    (plus the allowed skew). The service walks a validated body for fields so marked."""

    def __repr__(self) -> str:
        return "HAPPENED"


HAPPENED: Final = _Happened()

_MOMENT = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,6}))?)?(Z|[+-]\d{2}:\d{2})"
)
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
MOMENT_PATTERN: Final = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:\d{2})$"
DAY_PATTERN: Final = r"^\d{4}-\d{2}-\d{2}$"


def parse_moment(text: str) -> datetime:
    """The aware datetime an RFC 3339 `Moment` names; ValueError when it names none.

    Stricter than `datetime.fromisoformat`: the offset is required and within ±14:00, and
    only the RFC 3339 layout is accepted (no week dates, no spaces, no lowercase `t`)."""
    m = _MOMENT.fullmatch(text)
    if m is None:
        raise ValueError("expected YYYY-MM-DDTHH:MM[:SS[.ffffff]] with Z or ±HH:MM")
    year, month, day, hour, minute, second, fraction, offset = m.groups()
    if offset == "Z":
        tz = UTC
    else:
        oh, om = int(offset[1:3]), int(offset[4:6])
        if om >= 60:
            raise ValueError(f"offset {offset}: minutes must be 00 to 59")
        delta = timedelta(hours=oh, minutes=om)
        if delta > MAX_OFFSET:
            raise ValueError(f"offset {offset}: no place is more than 14 hours from UTC")
        tz = timezone(-delta if offset[0] == "-" else delta)
    micro = int((fraction or "0").ljust(6, "0"))
    try:
        return datetime(
            int(year), int(month), int(day), int(hour), int(minute), int(second or 0), micro, tz
        )
    except ValueError as exc:
        raise ValueError(f"not a real date and time ({exc})") from None


def parse_day(text: str) -> date:
    """The date a `Day` names (`YYYY-MM-DD`, a real calendar date); ValueError otherwise."""
    if _DAY.fullmatch(text) is None:
        raise ValueError("expected YYYY-MM-DD")
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise ValueError(f"not a real date ({exc})") from None


def _check_moment(value: str) -> str:
    try:
        moment = parse_moment(value)
    except ValueError as exc:
        raise PydanticCustomError(
            "date_time",
            "not an RFC 3339 date and time with its UTC offset: {why}",
            {"why": str(exc)},
        ) from None
    if moment < FLOOR:
        raise PydanticCustomError(
            "date_time_too_early",
            "before {floor}: no ledger event is that old",
            {"floor": "2000-01-01"},
        )
    return value


def _check_day(value: str) -> str:
    try:
        day = parse_day(value)
    except ValueError as exc:
        raise PydanticCustomError("date", "not a date: {why}", {"why": str(exc)}) from None
    if not DAY_FLOOR <= day <= DAY_CEILING:
        raise PydanticCustomError("date_out_of_range", "the year must be between 1900 and 2199", {})
    return value


def _check_event_day(value: str) -> str:
    if parse_day(value) < FLOOR.date():
        raise PydanticCustomError(
            "date_too_early", "before {floor}: no ledger event is that old", {"floor": "2000-01-01"}
        )
    return value


# -- text ----------------------------------------------------------------------------------

_BIDI = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
_NEVER = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff" + _BIDI + "]"
)  # controls (C0 but tab, LF, CR; DEL; C1), lone surrogates, bidi overrides
_ONE_LINE = re.compile("[\t\n\r]")


def _bad_character(value: str, pattern: re.Pattern[str]) -> None:
    found = pattern.search(value)
    if found is not None:
        raise PydanticCustomError(
            "control_character",
            "character U+{code} at position {pos} is not allowed (control characters, lone "
            "surrogates and direction overrides are refused)",
            {"code": f"{ord(found.group()):04X}", "pos": found.start()},
        )


def check_text(value: str) -> str:
    """Refuse control characters other than tab and line breaks, lone surrogates and
    bidirectional overrides, and text with nothing visible in it."""
    _bad_character(value, _NEVER)
    if not value.strip():
        raise PydanticCustomError("blank", "must contain a visible character", {})
    return value


def check_line(value: str) -> str:
    """As `check_text`, and on one line (no tab, no line break)."""
    check_text(value)
    _bad_character(value, _ONE_LINE)
    return value


def check_json_strings(value: Any) -> Any:
    """Every string in a JSON value (keys too) passes `check_text`'s character rule; used
    for free-form objects kept off the log (private data), which land in text columns."""
    stack: list[Any] = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            _bad_character(item, _NEVER)
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return value


Moment = Annotated[
    str,
    AfterValidator(_check_moment),
    Field(
        description="RFC 3339 with its UTC offset, as the field device recorded it; a real "
        "moment, not before 2000 and not in the future (beyond a few minutes' clock skew)",
        examples=["2026-09-14T10:12:00+08:00"],
        json_schema_extra={"pattern": MOMENT_PATTERN, "format": "date-time"},
        max_length=40,
    ),
    HAPPENED,
]
Day = Annotated[
    str,
    AfterValidator(_check_day),
    Field(
        description="A calendar date YYYY-MM-DD",
        examples=["2026-09-10"],
        json_schema_extra={"pattern": DAY_PATTERN, "format": "date"},
        max_length=10,
    ),
]
EventDay = Annotated[
    str,
    AfterValidator(_check_day),
    AfterValidator(_check_event_day),
    Field(
        description="The day something happened, YYYY-MM-DD: not before 2000, not in the future",
        examples=["2026-09-10"],
        json_schema_extra={"pattern": DAY_PATTERN, "format": "date"},
        max_length=10,
    ),
    HAPPENED,
]
Text = Annotated[str, Field(min_length=1, max_length=2000), AfterValidator(check_text)]
"""Free text (a reason, a description): may hold line breaks."""
ShortText = Annotated[str, Field(min_length=1, max_length=200), AfterValidator(check_line)]
"""A one-line text (a name, a region, a party)."""
Name = ShortText
Identifier = Annotated[str, Field(min_length=1, max_length=200), AfterValidator(check_line)]
"""A key chosen by the client (an Idempotency-Key): one line, no controls."""
StrictBool = Annotated[bool, Field(strict=True)]
"""true or false, never \"yes\", 1 or \"true\"."""
