"""When an event says it happened, checked against the log's clock.

The schemas (schemas.types) make sure every time and date is real and not before 2000;
only the service knows "now". A field marked `HAPPENED` (an `occurred_at`, a `mined_on`)
may lie at most `max_clock_skew_seconds` ahead of the log's clock: a delivery dated next
year is a typo or a forged record, and once logged it cannot be taken back.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel

from schemas.types import HAPPENED, MAX_OFFSET, parse_day, parse_moment
from services.errors import RuleViolation


def happened_fields(model: BaseModel, prefix: str = "body") -> Iterator[tuple[str, str]]:
    """(field path, value) of every field marked HAPPENED in a validated body, however deep."""
    for name, info in type(model).model_fields.items():
        value: Any = getattr(model, name)
        path = f"{prefix}.{name}"
        if isinstance(value, str) and HAPPENED in info.metadata:
            yield path, value
        elif isinstance(value, BaseModel):
            yield from happened_fields(value, path)
        elif isinstance(value, (list, tuple)):
            for i, item in enumerate(value):
                if isinstance(item, BaseModel):
                    yield from happened_fields(item, f"{path}.{i}")


def check_not_future(body: BaseModel, now: datetime, skew_seconds: int) -> None:
    """Refuse a body that says something happened later than `now` plus the allowed skew.

    A date (no time of day) is in the future while it has begun nowhere on Earth: it begins
    first at UTC+14, so a day is compared with the date there."""
    latest = now + timedelta(seconds=skew_seconds)
    for path, value in happened_fields(body):
        if "T" in value:
            future = parse_moment(value) > latest
        else:
            future = parse_day(value) > (latest + MAX_OFFSET).date()
        if future:
            raise RuleViolation(
                "in-the-future",
                f"{path}: {value} is later than the log's clock ({now.isoformat()} UTC, "
                f"allowing {skew_seconds} s of clock skew); record events once they happened",
                field=path,
            )
