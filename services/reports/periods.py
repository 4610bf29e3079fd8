"""Report periods: whole days in Mongolian time (UTC+8), by each event's `occurred_at`.

An event's day is its `occurred_at` (RFC 3339, with the offset the field device recorded)
converted to UTC+8, Ulaanbaatar time, then truncated to the date. So an event recorded in a
western aimag at 23:30+07:00 counts on the next day, 00:30 in Ulaanbaatar. The ledger's own
`time` (when the entry was recorded, UTC) is not used for periods: devices sync late.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Any, Final

from schemas.types import parse_moment
from services.errors import RuleViolation

ULAANBAATAR: Final = timezone(timedelta(hours=8), "UTC+8")
TIMEZONE: Final = "UTC+8"
DAY_RULE: Final = (
    "an event's day is its occurred_at converted to UTC+8 (Ulaanbaatar time); "
    "from and to are inclusive days"
)


def instant(occurred_at: str) -> datetime:
    """The moment an RFC 3339 `occurred_at` names, as an aware datetime in UTC+8."""
    moment = datetime.fromisoformat(occurred_at)
    if moment.tzinfo is None:  # the schema demands an offset; be safe with old data
        moment = moment.replace(tzinfo=ULAANBAATAR)
    return moment.astimezone(ULAANBAATAR)


def readable_instant(occurred_at: object) -> datetime | None:
    """The moment an `occurred_at` names, in UTC+8, or None when it names none.

    The edge checks every new time strictly (schemas.types.Moment), but an entry logged
    before it did may hold anything ("2026-09-14T24:00+08:00", a number, nothing): a report
    then lists that entry under `not_computable` instead of failing."""
    if not isinstance(occurred_at, str):
        return None
    try:
        return parse_moment(occurred_at).astimezone(ULAANBAATAR)
    except (ValueError, OverflowError):
        return None


@dataclass(frozen=True)
class Unreadable:
    """A logged value a report could not use: the entry, its field and what it holds."""

    index: int
    field: str
    value: object

    def to_json(self) -> dict[str, Any]:
        shown = repr(self.value)
        return {
            "rule": "unreadable_value",
            "reason": f"entry {self.index}: {self.field} is not a date and time "
            f"({shown[:80]}); the entry is left out of this report",
            "index": self.index,
            "field": self.field,
        }


def local_day(occurred_at: str) -> date:
    """The day of an `occurred_at` in UTC+8."""
    return instant(occurred_at).date()


@dataclass(frozen=True)
class Period:
    """Days `start` to `end`, both inclusive; either may be open (None)."""

    start: date | None = None
    end: date | None = None

    @classmethod
    def of(cls, start: date | None, end: date | None) -> Period:
        if start is not None and end is not None and end < start:
            raise RuleViolation("bad-period", f"to ({end}) is before from ({start})", field="to")
        return cls(start, end)

    def contains(self, day: date) -> bool:
        return (self.start is None or day >= self.start) and (self.end is None or day <= self.end)

    def by_end(self, day: date) -> bool:
        """Whether `day` is on or before the period's last day."""
        return self.end is None or day <= self.end

    def before(self, day: date) -> bool:
        """Whether `day` is before the period's first day."""
        return self.start is not None and day < self.start

    def end_instant(self) -> datetime | None:
        """The first moment after the period (midnight UTC+8 after `end`), or None."""
        if self.end is None:
            return None
        return datetime.combine(self.end + timedelta(days=1), time(), ULAANBAATAR)

    def to_json(self) -> dict[str, Any]:
        return {
            "from": None if self.start is None else self.start.isoformat(),
            "to": None if self.end is None else self.end.isoformat(),
            "timezone": TIMEZONE,
            "day_rule": DAY_RULE,
        }
