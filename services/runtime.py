"""Everything a running Altan Ledger needs, built from settings: database, keys, log."""

from __future__ import annotations

import os
from dataclasses import dataclass

from sqlalchemy import Engine

from ledger.keystore import KeyStore
from ledger.sql.log import Log
from services.certificates import status
from services.clock import utc_now
from services.database import migrate, open_engine
from services.domains import EventService
from services.settings import Settings


@dataclass
class Runtime:
    """The pieces of one service process."""

    settings: Settings
    engine: Engine
    keystore: KeyStore
    log: Log
    events: EventService
    read_log: Log  # reads and proofs: over ALTAN_READ_DATABASE_URL when set, else `log`

    def close(self) -> None:
        if self.read_log.engine is not self.engine:
            self.read_log.engine.dispose()
        self.engine.dispose()


def open_runtime(settings: Settings) -> Runtime:
    """Create the data directory, migrate the database, load or create the log key, and
    publish the first checkpoint of an empty log."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(settings.data_dir, 0o700)
    engine = open_engine(settings)
    migrate(engine)
    keystore = KeyStore(settings.data_dir, settings.log_origin, settings.passphrase_bytes)
    keystore.load_or_create(utc_now())
    log = Log(engine, settings.log_origin, keystore.active)
    log.initialise(keystore.keys(), utc_now())
    status.ensure_map(engine)
    events = EventService(log, settings, utc_now)
    read_log = log
    if settings.read_database_url:  # a replica: never migrated or written from here
        read_log = Log(
            open_engine(settings, settings.read_database_url), log.origin, keystore.active
        )
    return Runtime(
        settings=settings,
        engine=engine,
        keystore=keystore,
        log=log,
        events=events,
        read_log=read_log,
    )
