"""Appends from many processes at once: the database serialises them into one chain."""

from __future__ import annotations

import multiprocessing as mp
from pathlib import Path

import pytest

from ledger.audit import audit
from ledger.entry import Entry, Event
from ledger.keystore import KeyStore
from ledger.sql.log import Log
from ledger.sql.source import DatabaseSource
from ledger.sql.storage import make_engine
from support.db import ORIGIN, Database

PROCESSES = 8
EACH = 500


def _appender(url: str, connect_args: dict[str, str], key_dir: str, worker: int) -> None:
    from datetime import UTC, datetime

    store = KeyStore(Path(key_dir), ORIGIN)
    store.load_or_create(datetime.now(UTC))
    engine = make_engine(url, connect_args=connect_args)
    log = Log(engine, ORIGIN, store.active)
    for i in range(EACH):
        log.append(
            [Event("ore.delivered", f"centre:{worker}", {"lot": f"W{worker}-{i}"})],
            datetime.now(UTC),
        )
    engine.dispose()


@pytest.mark.slow
def test_eight_processes_make_one_gapless_chain(
    database: Database, log: Log, keystore: KeyStore, tmp_path: Path
) -> None:
    ctx = mp.get_context("spawn")
    procs = [
        ctx.Process(
            target=_appender,
            args=(database.url, database.connect_args, str(tmp_path / "data"), w),
        )
        for w in range(PROCESSES)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=600)
    assert [p.exitcode for p in procs] == [0] * PROCESSES

    total = PROCESSES * EACH
    assert log.size() == total
    rows = log.entries(0, total, limit=total)
    assert [r.index for r in rows] == list(range(total))
    lots = {Entry.from_bytes(r.entry).event.body["lot"] for r in rows}
    assert len(lots) == total  # every acknowledged append is there, once
    report = audit(DatabaseSource(log.engine), workers=1)
    assert report.ok, report.failure
    assert report.entries_verified == total
