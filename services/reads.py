"""Read transactions for routes: one snapshot per request, as an ORM session."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from fastapi import Request
from sqlalchemy.orm import Session

from ledger import storage


@contextmanager
def read_session(request: Request) -> Iterator[Session]:
    """A read-only session over one snapshot of the database."""
    with storage.read_transaction(request.app.state.log.engine) as conn:
        yield Session(bind=conn, autoflush=False)
