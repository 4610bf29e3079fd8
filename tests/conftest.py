"""Shared fixtures: a fresh log on SQLite and on PostgreSQL for every test that asks.

PostgreSQL comes from ALTAN_TEST_POSTGRES_URL, else the local default below. Where none is
reachable the PostgreSQL cases skip with a message, except under CI=true, where they fail:
CI must run them for real. Each test gets its own PostgreSQL schema, dropped afterwards.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import settings as hypothesis_settings
from sqlalchemy import Engine, create_engine, text

from ledger.keystore import KeyStore
from ledger.sql.log import Log
from ledger.sql.storage import create_schema, make_engine

# No per-example deadline: on a loaded 2-core CI machine a slow example is not a failure.
hypothesis_settings.register_profile("altan", deadline=None)
hypothesis_settings.load_profile("altan")

DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
ORIGIN = "test.altan.example/log"
T0 = datetime(2026, 9, 1, 8, 0, tzinfo=UTC)
# No rate limit in tests unless a test asks for one (test_security_headers.py does): a test
# client sends hundreds of requests from one address with one token.
os.environ.setdefault("ALTAN_RATE_LIMIT_PER_MINUTE", "0")


def postgres_url() -> str | None:
    """A reachable PostgreSQL URL, or None (skip) — never None under CI."""
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
    return url


_PG: list[str | None] = []


def _pg() -> str | None:
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


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'log.db'}"
        db = Database(url, make_engine(url), {})
        yield db
        db.engine.dispose()
        return
    base = _pg()
    if base is None:
        pytest.skip(
            "PostgreSQL not reachable: set ALTAN_TEST_POSTGRES_URL (CI runs these for real)"
        )
    schema = "t_" + secrets.token_hex(6)
    admin = create_engine(base)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    args = {"options": f"-csearch_path={schema}"}
    db = Database(base, make_engine(base, connect_args=args), args)
    try:
        yield db
    finally:
        db.engine.dispose()
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


@pytest.fixture
def engine(database: Database) -> Engine:
    create_schema(database.engine)
    return database.engine


@pytest.fixture
def keystore(tmp_path: Path) -> KeyStore:
    store = KeyStore(tmp_path / "data", ORIGIN)
    store.load_or_create(T0)
    return store


class Clock:
    """A test clock that moves one second per call. It starts a month after T0: the
    domain tests record events of mid-September, and the log refuses events dated after
    its clock (schemas.types.HAPPENED)."""

    def __init__(self) -> None:
        self.now = T0 + timedelta(days=30)

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def log(engine: Engine, keystore: KeyStore) -> Log:
    lg = Log(engine, ORIGIN, keystore.active)
    lg.initialise(keystore.keys(), T0)
    return lg
