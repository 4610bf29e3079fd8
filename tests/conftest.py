"""Shared fixtures: a fresh log on SQLite and on PostgreSQL for every test that asks.

Each test gets its own PostgreSQL schema, dropped afterwards (support.db has the databases,
the clock and the helpers; test modules import those from there, never from here).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings as hypothesis_settings
from sqlalchemy import Engine, create_engine, text

from ledger.keystore import KeyStore
from ledger.sql.log import Log
from ledger.sql.storage import create_schema, make_engine
from support.db import ORIGIN, T0, Clock, Database, postgres_base

# No per-example deadline: on a loaded 2-core CI machine a slow example is not a failure.
hypothesis_settings.register_profile("altan", deadline=None)
hypothesis_settings.load_profile("altan")

# No rate limit in tests unless a test asks for one (test_security_headers.py does): a test
# client sends hundreds of requests from one address with one token.
os.environ.setdefault("ALTAN_RATE_LIMIT_PER_MINUTE", "0")


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'log.db'}"
        db = Database(url, make_engine(url), {})
        yield db
        db.engine.dispose()
        return
    base = postgres_base()
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


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def log(engine: Engine, keystore: KeyStore) -> Log:
    lg = Log(engine, ORIGIN, keystore.active)
    lg.initialise(keystore.keys(), T0)
    return lg
