"""Read transactions for routes: one snapshot per request, as an ORM session, on the read
replica when ALTAN_READ_DATABASE_URL is set (else on the primary)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from fastapi import Request
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from ledger.sql import storage


def read_engine(request: Request) -> Engine:
    """The engine reads go to: the read replica's, or the primary's."""
    engine: Engine = request.app.state.read_log.engine
    return engine


@contextmanager
def read_session(request: Request) -> Iterator[Session]:
    """A read-only session over one snapshot of the database."""
    with storage.read_transaction(read_engine(request)) as conn:
        yield Session(bind=conn, autoflush=False)
