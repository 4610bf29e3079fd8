"""The databases of the tests: SQLite in the test's tmp_path, or a PostgreSQL schema of its own.

PostgreSQL comes from ALTAN_TEST_POSTGRES_URL, else the local default below. Where none is
reachable the PostgreSQL cases skip with a message, except under CI=true, where they fail:
CI must run them for real. Under pytest-xdist every worker has a database of its own.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, create_engine, make_url, text

from ledger.sql.storage import make_engine

DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
ORIGIN = "test.altan.example/log"
T0 = datetime(2026, 9, 1, 8, 0, tzinfo=UTC)


def postgres_url() -> str | None:
    """A reachable PostgreSQL URL, or None (skip) — never None under CI.

    Under pytest-xdist each worker gets a database of its own (`<name>_gw0`, ...), created
    on first use and kept for the next run: the workers' schemas, locks and catalogue
    churn never meet, and a worker killed mid-test leaves its debris in its own database."""
    url = os.environ.get("ALTAN_TEST_POSTGRES_URL") or DEFAULT_PG
    try:
        eng = create_engine(url, connect_args={"connect_timeout": 3})
        with eng.connect() as conn:
            conn.execute(text("SELECT 1"))
        eng.dispose()
    except Exception as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must run the PostgreSQL suite but {url} is unreachable: {exc}")
        return None
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    return url if worker is None else _worker_database(url, worker)


def _worker_database(url: str, worker: str) -> str:
    """The URL of `url`'s database suffixed with the xdist worker id, created if missing."""
    base = make_url(url)
    name = f"{base.database or 'postgres'}_{worker}"
    # CREATE DATABASE cannot run in a transaction; the name is ours alone (one worker),
    # so checking then creating does not race.
    eng = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with eng.connect() as conn:
            exists = conn.execute(
                text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}
            ).first()
            if exists is None:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        eng.dispose()
    return base.set(database=name).render_as_string(hide_password=False)


_PG: list[str | None] = []


def postgres_base() -> str | None:
    """The PostgreSQL URL this process's tests share (probed once), or None (skip)."""
    if not _PG:
        _PG.append(postgres_url())
    return _PG[0]


class Database:
    """A fresh, empty database for one test: its URL (for other processes) and engine."""

    def __init__(self, url: str, engine: Engine, connect_args: dict[str, str]) -> None:
        self.url = url
        self.engine = engine
        self.connect_args = connect_args

    def new_engine(self) -> Engine:
        return make_engine(self.url, connect_args=self.connect_args)


def database_url(database: Database) -> tuple[str, str | None]:
    """An ALTAN_DATABASE_URL-style URL for the fixture's database, and its schema if any.

    Settings has no connect_args, so the PostgreSQL schema goes into the URL as a libpq
    option (`?options=-csearch_path%3D<schema>`), which psycopg accepts.
    """
    options = database.connect_args.get("options")
    if options is None:
        return database.url, None
    schema = options.removeprefix("-csearch_path=")
    url = make_url(database.url).update_query_dict({"options": options})
    return url.render_as_string(hide_password=False), schema


class Clock:
    """A test clock that moves one second per call. It starts a month after T0: the
    domain tests record events of mid-September, and the log refuses events dated after
    its clock (schemas.types.HAPPENED)."""

    def __init__(self) -> None:
        self.now = T0 + timedelta(days=30)

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now
