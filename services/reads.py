"""Read transactions for routes: one snapshot per request, as an ORM session, on the read
replica when ALTAN_READ_DATABASE_URL is set (else on the primary)."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

from fastapi import Query, Request
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from ledger.sql import storage
from services.errors import RuleViolation


def read_engine(request: Request) -> Engine:
    """The engine reads go to: the read replica's, or the primary's."""
    engine: Engine = request.app.state.read_log.engine
    return engine


@contextmanager
def read_session(request: Request) -> Iterator[Session]:
    """A read-only session over one snapshot of the database."""
    with storage.read_transaction(read_engine(request)) as conn:
        yield Session(bind=conn, autoflush=False)


# --- lists: keyset pages ------------------------------------------------------------------
#
# Every list is ordered by a key that never repeats (a ledger index and an id, or an id)
# and read "after" the last key of the previous page: a page costs the same at the first
# row and at the millionth (never OFFSET), and a row recorded meanwhile never shifts the
# pages. The cursor is that key, opaque to the caller (base64url of its JSON).

DEFAULT_LIMIT = 50
MAX_LIMIT = 200

Limit = Annotated[
    int,
    Query(ge=1, le=MAX_LIMIT, description=f"items per page (at most {MAX_LIMIT})"),
]
Cursor = Annotated[
    str | None,
    Query(
        max_length=400,
        description="`next_cursor` of the previous page, unchanged (absent: the first page)",
    ),
]


def encode_cursor(*key: int | str) -> str:
    """The opaque cursor that resumes a list after the row whose key is `key`."""
    raw = json.dumps(list(key), separators=(",", ":"), ensure_ascii=False).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, shape: tuple[type, ...]) -> tuple[Any, ...]:
    """The key a cursor names, checked against `shape` (the type of each part); a cursor
    that is not one this service gave out is a 422 problem naming `cursor`."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        key = json.loads(raw.decode())
    except (ValueError, UnicodeDecodeError):
        key = None
    if (
        not isinstance(key, list)
        or len(key) != len(shape)
        or not all(type(part) is kind for part, kind in zip(key, shape, strict=True))
        or any(isinstance(part, int) and part < 0 for part in key)
    ):
        raise RuleViolation(
            "bad-cursor",
            "the cursor is not one this list gave out: send the previous page's "
            "next_cursor unchanged, or none for the first page",
            field="cursor",
        )
    return tuple(key)
