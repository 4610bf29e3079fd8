"""Backups (issue 6): `altan export FILE` and `altan import FILE` into an empty database.

A believable season goes through the real domain (services/demo.py's stream, in batches
of a few events so there are many checkpoints, with a key rotation half-way), then is
exported and imported with the CLI, on SQLite and on PostgreSQL. After the import the
audit passes with the pinned keys, every log table is identical row by row, the projection
tables equal the source's, the latest checkpoint is the same, and the off-log tables are
empty (they are not in the log). Refusals: a non-empty database (or a foreign one), a
changed byte in an entry, a checkpoint, a key or the trailer, a damaged or truncated file,
the wrong pinned key; each names what is wrong and leaves the target database empty.
Memory: exporting 100,000 entries has a Python-heap peak bounded by a few MiB, and no
larger than exporting 10,000.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import os
import secrets
import sqlite3
import tracemalloc
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, Table, create_engine, select, text
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from clients import cli
from ledger.audit import audit, keys_from_strings
from ledger.checkpoint import Checkpoint, sign_checkpoint
from ledger.encoding import canonical_json
from ledger.entry import Event
from ledger.errors import BackupInvalid
from ledger.hashing import hash_leaf
from ledger.keystore import KeyStore
from ledger.records import stored_key
from ledger.sql import backup, storage
from ledger.sql.log import Log
from ledger.sql.source import DatabaseSource
from ledger.sql.storage import StoredEntry, make_engine
from services.backup import occupied_tables
from services.clock import utc_now
from services.db import Base
from services.demo import season
from services.pipeline.projection import projection_tables
from services.runtime import open_runtime
from services.settings import Settings, get_settings
from support.db import ORIGIN, T0, Clock, Database, database_url

OFF_LOG = ("personal_records", "offer_prices", "api_tokens", "idempotency_records")
LOG_TABLES = (
    storage.log_entries,
    storage.log_nodes,
    storage.log_checkpoints,
    storage.log_head,
    storage.log_keys,
)
EVENTS = 160


@pytest.fixture(scope="module", autouse=True)
def _server_commands() -> None:
    """What `clients.cli.main` does before running the app (once per process)."""
    if not any(c.name == "serve" for c in cli.app.registered_commands):
        cli._attach_server_commands()


@pytest.fixture(autouse=True)
def _env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in list(os.environ):
        if name.startswith("ALTAN_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("ALTAN_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("ALTAN_LOG_ORIGIN", ORIGIN)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def altan(*args: str) -> tuple[int, str, str]:
    """Run `altan ARGS` in-process; (exit code, stdout, stderr with whitespace collapsed)."""
    result = CliRunner().invoke(cli.app, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, " ".join(result.stderr.split())


# -- the source log ---------------------------------------------------------------------------


@dataclass
class Source:
    url: str
    engine: Engine
    vkeys: list[str]  # the log's verifier keys, old and new


def build_season(data_dir: Path, url: str, events: int = EVENTS) -> list[str]:
    """Record about `events` demo events in small batches (one checkpoint each), rotating
    the log key half-way; return every verifier key."""
    runtime = open_runtime(Settings(data_dir=data_dir, database_url=url, log_origin=ORIGIN))
    try:
        from services.actors.bootstrap import bootstrap_administrator

        bootstrap_administrator(runtime.events)
        stream = season(11)
        recorded = batch_no = 0
        rotated = False
        while recorded < events:
            batch_no += 1
            batch = [next(stream) for _ in range(1 + batch_no % 9)]
            results = runtime.events.submit_many(batch, atomic=False)
            recorded += sum(1 for r in results if r.error is None)
            if not rotated and recorded >= events // 2:
                now = utc_now() + timedelta(seconds=1)
                runtime.keystore.rotate(now)
                runtime.log.initialise(runtime.keystore.keys(), now)
                rotated = True
        return [k.verifier_key for k in runtime.keystore.keys()]
    finally:
        runtime.close()


@pytest.fixture
def source(database: Database, tmp_path: Path) -> Source:
    url, _ = database_url(database)
    vkeys = build_season(tmp_path / "data", url)
    return Source(url, database.engine, vkeys)


@pytest.fixture
def target(database: Database, tmp_path: Path) -> Iterator[str]:
    """The URL of a second, empty database of the same kind as `database`."""
    options = database.connect_args.get("options")
    if options is None:
        yield f"sqlite:///{tmp_path / 'restored.db'}"
        return
    schema = "t_" + secrets.token_hex(6)
    admin = create_engine(database.url)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    try:
        url = make_url(database.url).update_query_dict({"options": f"-csearch_path={schema}"})
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


def rows(engine: Engine, tables: list[Table] | tuple[Table, ...]) -> dict[str, list[Any]]:
    """Every row of the tables, sorted by primary key."""
    with storage.read_transaction(engine) as conn:
        return {
            t.name: [tuple(r) for r in conn.execute(select(t).order_by(*t.primary_key.columns))]
            for t in tables
        }


def off_log_tables() -> list[Table]:
    return [Base.metadata.tables[name] for name in OFF_LOG]


# -- the round trip ---------------------------------------------------------------------------


def test_export_then_import_restores_the_log_and_the_state(
    source: Source, target: str, tmp_path: Path
) -> None:
    file = tmp_path / "altan.backup.gz"
    code, out, err = altan("export", str(file), "--database-url", source.url)
    assert code == 0, err
    with storage.read_transaction(source.engine) as conn:
        size = storage.read_size(conn)
    assert f"exported {size} entries" in out and "personal data" in out

    pins = [arg for vkey in source.vkeys for arg in ("--key", vkey)]
    code, out, err = altan("import", str(file), "--database-url", target, *pins)
    assert code == 0, err
    assert f"imported {size} entries" in out
    assert "audit ok" in out and "the pinned key(s)" in out
    assert f"state rebuilt from {size} entries" in out
    assert "not restored" in out and "personal data" in out
    assert err == ""  # the data directory holds this very log's keys: nothing to warn about

    restored = make_engine(target)
    try:
        report = audit(
            DatabaseSource(restored),
            trusted_keys=keys_from_strings(source.vkeys),
            origin=ORIGIN,
            workers=1,
        )
        assert report.ok, report.failure
        assert report.entries_verified == size
        assert report.checkpoints_verified == len(
            rows(source.engine, [storage.log_checkpoints])["log_checkpoints"]
        )
        assert rows(restored, LOG_TABLES) == rows(source.engine, LOG_TABLES)
        projections = projection_tables()
        before = rows(source.engine, projections)
        assert sum(len(v) for v in before.values()) > 100  # a believable state, not nothing
        assert rows(restored, projections) == before
        with storage.read_transaction(restored) as a, storage.read_transaction(source.engine) as b:
            assert storage.latest_checkpoint(a) == storage.latest_checkpoint(b)
        # off-log data is not in the log, so not in the backup
        assert any(rows(source.engine, off_log_tables()).values())
        assert not any(rows(restored, off_log_tables()).values())
    finally:
        restored.dispose()


def test_the_restored_log_goes_on_appending(
    source: Source, target: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With its keys folder (backed up separately) the restored database serves on: the
    next append chains onto the restored tree, and an administrator's token (off the log,
    so not restored) can be issued again from the server side."""
    file = tmp_path / "b.gz"
    assert altan("export", str(file), "--database-url", source.url)[0] == 0
    assert altan("import", str(file), "--database-url", target)[0] == 0
    settings = Settings(data_dir=tmp_path / "data", database_url=target, log_origin=ORIGIN)
    runtime = open_runtime(settings)
    try:
        size = runtime.log.size()
        runtime.log.append([Event("system.note", "admin:root", {"text": "restored"})], utc_now())
        assert runtime.log.size() == size + 1
        proof = runtime.log.consistency_proof(size, size + 1)
        assert proof
    finally:
        runtime.close()
    restored = make_engine(target)
    try:
        report = audit(DatabaseSource(restored), trusted_keys=keys_from_strings(source.vkeys))
        assert report.ok, report.failure
    finally:
        restored.dispose()
    monkeypatch.setenv("ALTAN_DATABASE_URL", target)
    get_settings.cache_clear()
    code, out, err = altan("token", "admin:root", "--label", "after the restore")
    assert code == 0, err
    assert out.startswith("altan_")


def test_export_holds_one_snapshot_while_the_log_grows(
    log: Log, engine: Engine, clock: Clock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The server keeps appending during an export: the file holds the log as of the size
    it read first, whole and verifiable, whatever was appended meanwhile."""
    for n in range(5):
        log.append([Event("note", "admin:root", {"n": n, "k": k}) for k in range(7)], clock())
    size = log.size()
    monkeypatch.setattr(backup, "PAGE", 4)  # many pages, and an append between each two

    def append_meanwhile(phase: str, done: int, total: int) -> None:
        log.append([Event("note", "admin:root", {"during": done})], clock())

    out = io.BytesIO()
    summary = backup.export_log(engine, out, exported_at=T0, progress=append_meanwhile)
    assert summary.size == size and log.size() > size + 5
    restored = make_engine(f"sqlite:///{tmp_path / 'r.db'}")
    storage.create_schema(restored)
    try:
        with storage.write_transaction(restored) as conn:
            got = backup.import_log(conn, io.BytesIO(out.getvalue()), workers=1)
        assert got.size == size and got.checkpoints == 6  # the size-0 one and 5 appends
        report = audit(DatabaseSource(restored), workers=1)
        assert report.ok and report.entries_verified == size
    finally:
        restored.dispose()


# -- refusals -----------------------------------------------------------------------------


def test_import_into_a_non_empty_database_is_refused(source: Source, tmp_path: Path) -> None:
    file = tmp_path / "b.gz"
    assert altan("export", str(file), "--database-url", source.url)[0] == 0
    before = rows(source.engine, LOG_TABLES)
    code, _, err = altan("import", str(file), "--database-url", source.url)
    assert code == 2
    assert "already holds data" in err and "log_entries" in err and "empty database" in err
    assert rows(source.engine, LOG_TABLES) == before


def test_import_into_a_foreign_database_creates_nothing(tmp_path: Path) -> None:
    """A database holding anything at all is refused before the migrations run."""
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY, total INTEGER)")
        db.execute("INSERT INTO invoices VALUES (1, 100)")
    file = tmp_path / "any.gz"
    file.write_bytes(gzip.compress(b"not even a backup\n"))
    code, _, err = altan("import", str(file), "--database-url", f"sqlite:///{path}")
    assert code == 2 and "invoices" in err
    with sqlite3.connect(path) as db:
        names = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
    assert names == ["invoices"]


# The tamper tests share one small SQLite log, exported once.


@dataclass
class Backup:
    data: bytes  # the file as exported (gzip)
    url: str  # the source database
    vkeys: list[str]
    size: int

    def lines(self) -> list[bytes]:
        return gzip.decompress(self.data).split(b"\n")[:-1]


@pytest.fixture(scope="module")
def small_backup(tmp_path_factory: pytest.TempPathFactory) -> Backup:
    tmp = tmp_path_factory.mktemp("backup")
    url = f"sqlite:///{tmp / 'source.db'}"
    vkeys = build_season(tmp / "data", url, events=60)
    engine = make_engine(url)
    out = io.BytesIO()
    summary = backup.export_log(engine, out, exported_at=T0)
    engine.dispose()
    return Backup(out.getvalue(), url, vkeys, summary.size)


def pack(lines: list[bytes], *, fix_trailer: bool) -> bytes:
    if fix_trailer:
        body = b"".join(line + b"\n" for line in lines[:-1])
        trailer = {"type": "trailer", "lines": len(lines) - 1}
        trailer["sha256"] = hashlib.sha256(body).hexdigest()  # type: ignore[assignment]
        lines = [*lines[:-1], canonical_json(trailer)]
    return gzip.compress(b"".join(line + b"\n" for line in lines))


def edit(lines: list[bytes], kind: str, nth: int, change: Callable[[dict[str, Any]], None]) -> None:
    """Apply `change` to the `nth` line of type `kind`, in place."""
    at = [i for i, line in enumerate(lines) if json.loads(line)["type"] == kind][nth]
    obj = json.loads(lines[at])
    change(obj)
    lines[at] = canonical_json(obj)


def flip_entry_byte(obj: dict[str, Any]) -> None:
    raw = bytearray(base64.b64decode(obj["entry"]))
    at = raw.index(b'Z","type"') - 1  # the last digit of the entry's time: still valid
    raw[at] ^= 0x01
    obj["entry"] = base64.b64encode(bytes(raw)).decode()


def also_rehash(obj: dict[str, Any]) -> None:
    flip_entry_byte(obj)
    obj["leaf_hash"] = base64.b64encode(hash_leaf(base64.b64decode(obj["entry"]))).decode()


def flip_note_signature(obj: dict[str, Any]) -> None:
    note: str = obj["note"]
    sig_line_start = note.rindex("\u2014 ")
    at = len(note) - 10  # inside the base64 signature of the last line
    assert at > sig_line_start
    swapped = "A" if note[at] != "A" else "B"
    obj["note"] = note[:at] + swapped + note[at + 1 :]


def republish(obj: dict[str, Any]) -> None:
    obj["published_at"] = obj["published_at"].replace("2", "3", 1)


def retire(obj: dict[str, Any]) -> None:
    obj["status"] = "retired" if obj["status"] == "active" else "active"


def import_bytes(data: bytes, tmp_path: Path, *keys: str) -> tuple[int, str, str]:
    file = tmp_path / "candidate.gz"
    file.write_bytes(data)
    pins = [arg for k in keys for arg in ("--key", k)]
    return altan("import", str(file), "--database-url", f"sqlite:///{tmp_path / 'r.db'}", *pins)


def assert_left_empty(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'r.db'}")
    try:
        with engine.connect() as conn:
            assert occupied_tables(conn) == []
    finally:
        engine.dispose()


TAMPERING = [
    # (what is changed, fix the trailer as a careful forger would, what the refusal names)
    ("entry", 17, flip_entry_byte, False, "entry 17 (content_changed)"),
    ("entry", 17, flip_entry_byte, True, "entry 17 (content_changed)"),
    ("entry", 30, also_rehash, True, "entry 30 (receipt_invalid)"),
    ("checkpoint", 2, flip_note_signature, False, "checkpoint at size 5 (checkpoint_signature"),
    ("checkpoint", 2, flip_note_signature, True, "checkpoint at size 5 (checkpoint_signature"),
    ("key", 0, retire, True, "key "),  # a retired key made active again: its not_after says no
    ("checkpoint", 1, republish, False, "trailer (digest_mismatch)"),  # no signature covers it
]


@pytest.mark.parametrize(
    ("kind", "nth", "change", "fix", "named"),
    TAMPERING,
    ids=[f"{k}-{n}-{c.__name__}-{'forged' if f else 'plain'}" for k, n, c, f, _ in TAMPERING],
)
def test_a_changed_byte_is_refused_and_named(
    small_backup: Backup,
    tmp_path: Path,
    kind: str,
    nth: int,
    change: Callable[[dict[str, Any]], None],
    fix: bool,
    named: str,
) -> None:
    lines = small_backup.lines()
    edit(lines, kind, nth, change)
    code, _, err = import_bytes(pack(lines, fix_trailer=fix), tmp_path)
    assert code == 1, err
    assert f"REFUSED {named}" in err, err
    assert "nothing was imported" in err
    assert_left_empty(tmp_path)


def test_a_changed_trailer_is_refused(small_backup: Backup, tmp_path: Path) -> None:
    lines = small_backup.lines()
    trailer = json.loads(lines[-1])
    digest = trailer["sha256"]
    trailer["sha256"] = ("0" if digest[0] != "0" else "1") + digest[1:]
    lines[-1] = canonical_json(trailer)
    code, _, err = import_bytes(pack(lines, fix_trailer=False), tmp_path)
    assert code == 1 and "REFUSED trailer (digest_mismatch)" in err
    assert_left_empty(tmp_path)


def test_a_flipped_byte_in_the_compressed_file_is_refused(
    small_backup: Backup, tmp_path: Path
) -> None:
    for at in (len(small_backup.data) // 3, len(small_backup.data) // 2, -6):
        data = bytearray(small_backup.data)
        data[at] ^= 0x20
        code, _, err = import_bytes(bytes(data), tmp_path)
        assert code == 1, err
        assert "REFUSED" in err
        assert_left_empty(tmp_path)


@pytest.mark.parametrize("cut", ["compressed-half", "no-trailer", "half-the-entries", "mid-line"])
def test_a_truncated_file_is_refused(small_backup: Backup, tmp_path: Path, cut: str) -> None:
    lines = small_backup.lines()
    if cut == "compressed-half":
        data = small_backup.data[: len(small_backup.data) // 2]
    elif cut == "no-trailer":
        data = pack(lines[:-1], fix_trailer=False)
    elif cut == "half-the-entries":
        data = pack(lines[: len(lines) // 2], fix_trailer=False)
    else:
        data = gzip.compress(b"".join(line + b"\n" for line in lines[:-3]) + lines[-3][:40])
    code, _, err = import_bytes(data, tmp_path)
    assert code == 1, err
    assert "(truncated)" in err
    assert_left_empty(tmp_path)


def test_a_pinned_key_that_did_not_sign_is_refused(small_backup: Backup, tmp_path: Path) -> None:
    """A forger who re-signs a whole log with a key of his own makes a file that verifies
    by itself; pinning the real key is what refuses it."""
    other = KeyStore(tmp_path / "other", ORIGIN)
    other.load_or_create(T0)
    code, _, err = import_bytes(small_backup.data, tmp_path, other.active().key.verifier_key)
    assert code == 1 and "(unknown_key)" in err, err
    assert_left_empty(tmp_path)
    old, new = small_backup.vkeys
    code, _, err = import_bytes(small_backup.data, tmp_path, new)  # the old key is in the file
    assert code == 1 and f"REFUSED key {old.split('+')[1]} (unknown_key)" in err, err
    assert_left_empty(tmp_path)
    code, _, err = import_bytes(small_backup.data, tmp_path, *small_backup.vkeys)
    assert code == 0, err


def test_an_import_refused_midway_leaves_nothing_and_a_retry_succeeds(
    small_backup: Backup, tmp_path: Path
) -> None:
    lines = small_backup.lines()
    edit(lines, "entry", small_backup.size - 1, flip_entry_byte)
    assert import_bytes(pack(lines, fix_trailer=True), tmp_path)[0] == 1
    assert_left_empty(tmp_path)
    code, out, err = import_bytes(small_backup.data, tmp_path)
    assert code == 0, err
    assert f"imported {small_backup.size} entries" in out


def test_the_library_names_the_part_at_fault(small_backup: Backup, tmp_path: Path) -> None:
    lines = small_backup.lines()
    edit(lines, "entry", 5, lambda o: o.update(index=6))
    engine = make_engine(f"sqlite:///{tmp_path / 'lib.db'}")
    storage.create_schema(engine)
    try:
        with pytest.raises(BackupInvalid) as caught, storage.write_transaction(engine) as conn:
            backup.import_log(conn, io.BytesIO(pack(lines, fix_trailer=True)))
        line = 1 + next(i for i, x in enumerate(lines) if x.startswith(b'{"entry":')) + 5
        assert caught.value.what == f"entry 5 at line {line}"
        assert caught.value.kind == "order_broken"
    finally:
        engine.dispose()


def test_export_refuses_to_overwrite_and_reads_plain_json_lines(
    small_backup: Backup, tmp_path: Path
) -> None:
    file = tmp_path / "exists.gz"
    file.write_bytes(b"keep me")
    code, _, err = altan("export", str(file), "--database-url", small_backup.url)
    assert code == 2 and "exists" in err
    assert file.read_bytes() == b"keep me"
    code, _, err = altan("export", str(file), "--database-url", small_backup.url, "--force")
    assert code == 0, err
    assert gzip.decompress(file.read_bytes()).startswith(b'{"checkpoint":')
    assert [p.name for p in tmp_path.iterdir() if "partial" in p.name] == []
    plain = gzip.decompress(small_backup.data)
    code, _, err = import_bytes(plain, tmp_path)
    assert code == 0, err


# -- memory ---------------------------------------------------------------------------------


def fake_log(directory: Path, size: int) -> Engine:
    """A log of `size` entries of 300-odd bytes, written straight into the tables (the
    export reads rows; it checks nothing, so the rows need not verify)."""
    engine = make_engine(f"sqlite:///{directory / f'log-{size}.db'}")
    storage.create_schema(engine)
    store = KeyStore(directory / f"keys-{size}", ORIGIN)
    store.load_or_create(T0)
    signer = store.active()
    body = b'{"actor":"centre:bornuur","body":{"lot":"ORE-2026-%06d","mass_g":1200000,' + (
        b'"note":"' + b"x" * 200 + b'"},"index":%d}'
    )
    with storage.write_transaction(engine) as conn:
        storage.upsert_key(conn, stored_key(signer.key))
        for start in range(0, size, 10_000):
            storage.insert_entries(
                conn,
                [
                    StoredEntry(i, body % (i, i), os.urandom(32), signer.key.key_id, bytes(64))
                    for i in range(start, min(size, start + 10_000))
                ],
            )
        note = sign_checkpoint(Checkpoint(ORIGIN, size, bytes(32)), signer.note_signer)
        storage.insert_checkpoint(conn, size, bytes(32), signer.key.key_id, "x", note)
        storage.set_size(conn, size)
    return engine


def export_heap_peak(engine: Engine, path: Path) -> int:
    tracemalloc.start()
    try:
        with open(path, "wb") as out:
            backup.export_log(engine, out, exported_at=T0)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.slow
def test_export_memory_is_flat_in_the_log_size(tmp_path: Path) -> None:
    peaks = {}
    for size in (10_000, 100_000):
        engine = fake_log(tmp_path, size)
        try:
            peaks[size] = export_heap_peak(engine, tmp_path / f"{size}.gz")
        finally:
            engine.dispose()
        with gzip.open(tmp_path / f"{size}.gz") as f:
            assert sum(1 for _ in f) == size + 4  # header, key, checkpoint, entries, trailer
    mib = 1 << 20
    # The entries alone are ~40 MiB as base64 lines: holding them would show at once.
    assert peaks[100_000] < 12 * mib, peaks
    assert peaks[100_000] < peaks[10_000] + 2 * mib, peaks


def test_an_interrupted_import_leaves_nothing(small_backup: Backup, tmp_path: Path) -> None:
    """Ctrl-C (or a crash) in the middle: the one transaction is rolled back, the
    database stays empty, and the next import goes through."""
    engine = make_engine(f"sqlite:///{tmp_path / 'r.db'}")
    storage.create_schema(engine)

    def interrupt(phase: str, done: int, total: int) -> None:
        if phase == "audit":
            raise KeyboardInterrupt

    try:
        with pytest.raises(KeyboardInterrupt), storage.write_transaction(engine) as conn:
            backup.import_log(conn, io.BytesIO(small_backup.data), progress=interrupt)
        assert_left_empty(tmp_path)
        with storage.write_transaction(engine) as conn:
            got = backup.import_log(conn, io.BytesIO(small_backup.data))
        assert got.size == small_backup.size
    finally:
        engine.dispose()


def test_the_commands_explain_themselves() -> None:
    code, out, _ = altan("export", "--help")
    assert code == 0 and "--database-url" in out and "private" in out
    code, out, _ = altan("import", "--help")
    assert code == 0 and "EMPTY" in out and "--key" in out
