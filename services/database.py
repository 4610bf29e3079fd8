"""The service's database: engine from settings and schema migrations (Alembic)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, event, text
from sqlalchemy.engine import make_url

from ledger.sql import storage
from services.settings import Settings

MIGRATIONS = Path(__file__).parent / "migrations"
# Any fixed 64-bit number: replicas starting together take turns migrating.
_MIGRATION_LOCK = 0x616C74616E  # "altan"


def alembic_config() -> Config:
    """Alembic configuration pointing at the packaged migrations."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def open_engine(settings: Settings, url: str | None = None) -> Engine:
    """The service's engine for `url` (default: the primary's), with every wait bounded.

    A hung database must not hang the service (issue 11, finding 7): connecting, waiting
    for a lock, running a statement, waiting for a pooled connection and a silent peer
    all end, as the settings say, in an error the app answers with 503 and Retry-After.
    Errors never carry the statements' parameters (`make_engine` hides them).
    """
    url = url or settings.resolved_database_url
    backend = make_url(url).get_backend_name()
    kwargs: dict[str, Any] = {"pool_timeout": settings.database_pool_timeout_s}
    if backend == "postgresql":
        idle = settings.database_keepalive_s
        kwargs["connect_args"] = {
            "connect_timeout": settings.database_connect_timeout_s,
            "keepalives": 1,
            "keepalives_idle": idle,
            "keepalives_interval": max(1, idle // 3),
            "keepalives_count": 3,
            # data the server never acknowledges (a dead peer) fails the connection too
            "tcp_user_timeout": idle * 2 * 1000,
        }
    elif make_url(url).database in (None, "", ":memory:"):
        kwargs.pop("pool_timeout")  # one in-memory connection: no pool to wait for
    engine = storage.make_engine(url, **kwargs)
    if backend == "postgresql":
        _bound_statements(engine, settings)
    elif backend == "sqlite":
        _bound_sqlite(engine, settings.sqlite_busy_timeout_ms)
    return engine


def _bound_statements(engine: Engine, settings: Settings) -> None:
    # SET on each new connection, not libpq `options`: a URL's own `options` (a schema's
    # search_path, say) would be replaced by ours.
    statements = (
        f"SET statement_timeout = {int(settings.database_statement_timeout_ms)}",
        f"SET lock_timeout = {int(settings.database_lock_timeout_ms)}",
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        autocommit = dbapi_conn.autocommit
        dbapi_conn.autocommit = True  # session settings, outside any transaction
        with dbapi_conn.cursor() as cur:
            for statement in statements:
                cur.execute(statement)
        dbapi_conn.autocommit = autocommit


def _bound_sqlite(engine: Engine, busy_timeout_ms: int) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # After make_engine's own listener, which sets a long default.
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cur.close()


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest revision; safe to run from several replicas at once."""
    cfg = alembic_config()
    with storage.write_transaction(engine) as conn:
        if engine.dialect.name == "postgresql":
            # A migration may rightly run long, and a replica waits its turn for the lock.
            conn.execute(text("SET LOCAL statement_timeout = 0"))
            conn.execute(text("SET LOCAL lock_timeout = 0"))
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _MIGRATION_LOCK})
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


def head_revision() -> str:
    """The newest revision the packaged migrations know."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, "the packaged migrations have no revision"
    return head


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at; None on a database never migrated."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()
