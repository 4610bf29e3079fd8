"""Helpers for the reliability tests: real `altan serve` processes that can be SIGKILLed and
restarted, a private PostgreSQL instance that can be stopped and started, HTTP clients that
keep every receipt they are given, and the checks that a log survived.

Everything here talks to 127.0.0.1 only, every wait has a deadline, and every process it
starts it ends itself (by its own process group, never by name).
"""

from __future__ import annotations

import base64
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import Engine, Table, select
from sqlalchemy.engine import make_url

from ledger.audit import audit
from ledger.entry import Entry
from ledger.sql import storage
from ledger.sql.source import DatabaseSource
from support.db import Database

ALTAN = str(Path(sys.executable).parent / "altan")
WHEN = "2026-09-14T10:12:00+08:00"
RECEIPT_CONTEXT = b"altan/entry/v1\n"  # README: the receipt is Ed25519 over this + leaf hash
# Transport failures that leave a request's outcome unknown (the server died or is down).
TRANSPORT_ERRORS = (httpx.TransportError,)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def schema_url(database: Database) -> str:
    """An ALTAN_DATABASE_URL for the fixture's database: the per-test PostgreSQL schema goes
    into the URL as a libpq option, as in test_api.database_url."""
    options = database.connect_args.get("options")
    if options is None:
        return database.url
    url = make_url(database.url).update_query_dict({"options": options})
    return url.render_as_string(hide_password=False)


def server_env(data_dir: Path, database_url: str | None = None, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALTAN_")}
    env["ALTAN_DATA_DIR"] = str(data_dir)
    env["ALTAN_ACCESS_LOG"] = "false"
    env["ALTAN_RATE_LIMIT_PER_MINUTE"] = "0"  # a few clients send hundreds of requests
    env["XDG_STATE_HOME"] = str(data_dir.parent / "state")
    env["NO_COLOR"] = "1"
    if database_url is not None:
        env["ALTAN_DATABASE_URL"] = database_url
    env.update(extra)
    return env


def bootstrap(data_dir: Path, database_url: str | None = None) -> str:
    """Migrate the database, create the log key in `data_dir` and the first administrator,
    in this process (as `altan init` does); returns the administrator's token."""
    from services.actors.bootstrap import bootstrap_administrator
    from services.runtime import open_runtime
    from services.settings import Settings

    runtime = open_runtime(Settings(data_dir=data_dir, database_url=database_url))
    try:
        token = bootstrap_administrator(runtime.events)
    finally:
        runtime.close()
    assert token is not None
    return token


class Server:
    """One `altan serve` process on a fixed free port; `kill()` is a SIGKILL to its process
    group, `start()` again restarts it on the same port, data directory and database."""

    def __init__(self, env: dict[str, str], log_path: Path, port: int | None = None) -> None:
        self.env = env
        self.log_path = log_path
        self.port = port or free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self, timeout: float = 45.0) -> None:
        assert self.proc is None or self.proc.poll() is not None, "already running"
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [ALTAN, "serve", "--port", str(self.port)],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # its own process group, so kill() reaches all of it
            )
        self.starts += 1
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                pytest.fail(f"altan serve exited with {self.proc.returncode}:\n{self.log()}")
            try:
                if httpx.get(self.base + "/healthz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                self.kill()
                pytest.fail(f"altan serve did not answer /healthz in {timeout}s:\n{self.log()}")
            time.sleep(0.05)

    def kill(self) -> None:
        """SIGKILL: no shutdown handler runs, whatever the server was doing."""
        if self.proc is None or self.proc.poll() is not None:
            return
        with suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=15)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            self.kill()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-6000:]


# -- the private PostgreSQL instance -------------------------------------------------------


def _pg_bin() -> Path | None:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    if found:
        return found[-1].parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


class PrivatePostgres:
    """A throw-away PostgreSQL cluster of this test's own (initdb in a temporary directory,
    trust auth, a free port on 127.0.0.1), so that stopping it harms nobody else. As root,
    the server binaries refuse to run, so they run as the `postgres` system user."""

    def __init__(self) -> None:
        bindir = _pg_bin()
        if bindir is None:
            self._unavailable("no PostgreSQL server binaries (initdb, pg_ctl) on this machine")
        assert bindir is not None
        self.bindir = bindir
        self.prefix: list[str] = []
        if os.geteuid() == 0:
            runuser = shutil.which("runuser")
            try:
                import pwd

                pwd.getpwnam("postgres")
            except KeyError:
                runuser = None
            if runuser is None:
                self._unavailable("running as root without runuser and a postgres user")
            self.prefix = [str(runuser), "-u", "postgres", "--"]
        # Not under pytest's tmp_path: its parents are mode 0700 and owned by root.
        self.root = Path(tempfile.mkdtemp(prefix="altan-pg-"))
        self.root.chmod(0o755)
        if self.prefix:
            shutil.chown(self.root, user="postgres")
        self.data = self.root / "data"
        self.port = free_port()
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync")

    @staticmethod
    def _unavailable(why: str) -> None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must run the database outage test, but {why}")
        pytest.skip(f"cannot start a private PostgreSQL: {why}")

    def _run(self, tool: str, *args: str) -> None:
        result = subprocess.run(
            [*self.prefix, str(self.bindir / tool), *args],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            cwd=self.root,
        )
        if result.returncode != 0:
            self._unavailable(f"{tool} failed: {result.stdout}{result.stderr}")

    def start(self) -> None:
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c full_page_writes=off"
        )
        self._run(
            "pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.root / "log"), "-w",
            "-t", "60", "start",
        )  # fmt: skip

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop")

    def destroy(self) -> None:
        if (self.data / "postmaster.pid").exists():
            subprocess.run(
                [*self.prefix, str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m",
                 "immediate", "-w", "stop"],
                capture_output=True, timeout=60, check=False,
            )  # fmt: skip
        shutil.rmtree(self.root, ignore_errors=True)


# -- clients that keep their receipts --------------------------------------------------------


@dataclass(frozen=True)
class Receipt:
    """What a client was told: the index, leaf hash, key id and signature of its entry, and
    which request (its idempotency key) it answered."""

    key: str
    index: int
    leaf_hash: str
    key_id: str
    signature: str
    replayed: bool


@dataclass
class Tally:
    """Everything a client saw, for the checks at the end."""

    receipts: list[Receipt] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    transport_errors: int = 0
    unexpected: list[str] = field(default_factory=list)

    def count(self, status: int) -> None:
        self.statuses[status] = self.statuses.get(status, 0) + 1


def is_problem(resp: httpx.Response) -> bool:
    """An RFC 9457 problem: its media type and the members every problem has."""
    if not resp.headers.get("content-type", "").startswith("application/problem+json"):
        return False
    body = resp.json()
    return isinstance(body, dict) and {"type", "title", "status", "detail"} <= set(body)


def post_until_answered(
    client: httpx.Client,
    path: str,
    payload: dict[str, Any],
    headers: dict[str, str],
    tally: Tally,
    deadline: float,
) -> httpx.Response:
    """POST, and retry the very same request (same Idempotency-Key) while its outcome is
    unknown: the connection broke (server killed) or the service said 503 (database down)."""
    while True:
        try:
            resp = client.post(path, json=payload, headers=headers)
        except TRANSPORT_ERRORS:
            tally.transport_errors += 1
        else:
            tally.count(resp.status_code)
            if resp.status_code != 503:
                return resp
        if time.monotonic() > deadline:
            raise TimeoutError(f"no answer to {path} {headers.get('Idempotency-Key')} in time")
        time.sleep(0.05)


def receipt_of(key: str, resp: httpx.Response) -> Receipt:
    body = resp.json()
    return Receipt(
        key=key,
        index=body["index"],
        leaf_hash=body["leaf_hash"],
        key_id=body["key_id"],
        signature=body["signature"],
        replayed=resp.headers.get("idempotent-replayed") == "true",
    )


def event(type_: str, body: dict[str, Any]) -> dict[str, Any]:
    return {"type": type_, "body": {"occurred_at": WHEN, **body}}


class Writer(threading.Thread):
    """A client thread: POSTs the events `make(n)` gives, n = 0, 1, ..., each with its own
    Idempotency-Key, until told to stop; keeps every receipt; never gives up on a request
    whose outcome it does not know."""

    def __init__(
        self,
        name: str,
        base: str,
        token: str,
        make: Callable[[int], dict[str, Any]],
        stop: threading.Event,
        deadline: float,
        limit: int | None = None,
    ) -> None:
        super().__init__(name=name, daemon=True)
        self.base = base
        self.token = token
        self.make = make
        self.stop_event = stop
        self.deadline = deadline
        self.limit = limit
        self.tally = Tally()
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            with httpx.Client(base_url=self.base, timeout=30) as client:
                n = 0
                while not self.stop_event.is_set() and (self.limit is None or n < self.limit):
                    key = f"{self.name}-{n}"
                    headers = {"Authorization": f"Bearer {self.token}", "Idempotency-Key": key}
                    resp = post_until_answered(
                        client, "/events", self.make(n), headers, self.tally, self.deadline
                    )
                    if resp.status_code in (200, 201):
                        self.tally.receipts.append(receipt_of(key, resp))
                    else:
                        self.tally.unexpected.append(f"{key}: {resp.status_code} {resp.text}")
                    n += 1
        except BaseException as exc:  # reported by the test, not lost in a thread
            self.error = exc


# -- what a log that survived looks like --------------------------------------------------


def log_public_keys(base: str) -> dict[str, Ed25519PublicKey]:
    keys = httpx.get(base + "/log/keys", timeout=10).json()["keys"]
    return {
        k["key_id"]: Ed25519PublicKey.from_public_bytes(base64.b64decode(k["public_key"]))
        for k in keys
    }


def all_entries(base: str) -> list[dict[str, Any]]:
    """Every entry of the log over /log/entries, page by page."""
    size = int(httpx.get(base + "/healthz", timeout=10).json()["tree_size"])
    out: list[dict[str, Any]] = []
    with httpx.Client(base_url=base, timeout=30) as client:
        while len(out) < size:
            page = client.get("/log/entries", params={"start": len(out), "end": size})
            assert page.status_code == 200, page.text
            rows = page.json()["entries"]
            assert rows, "the server returned no entries below the tree size"
            out.extend(rows)
    return out


def check_receipts(base: str, receipts: list[Receipt]) -> list[Entry]:
    """Every receipt is in the log at its index with its leaf hash, and its signature
    verifies with the log's key; the entries are contiguous from 0. Returns the entries."""
    keys = log_public_keys(base)
    rows = all_entries(base)
    assert [r["index"] for r in rows] == list(range(len(rows))), "an index skipped or repeated"
    entries = [Entry.from_bytes(base64.b64decode(r["entry"])) for r in rows]
    assert [e.index for e in entries] == list(range(len(rows)))
    for rec in receipts:
        assert rec.index < len(rows), f"receipt {rec} beyond the log's size {len(rows)}"
        row = rows[rec.index]
        assert row["leaf_hash"] == rec.leaf_hash, f"receipt {rec} but the log holds {row}"
        assert row["signature"] == rec.signature and row["key_id"] == rec.key_id
        leaf = base64.b64decode(rec.leaf_hash)
        keys[rec.key_id].verify(base64.b64decode(rec.signature), RECEIPT_CONTEXT + leaf)
    return entries


def audit_database(engine: Engine) -> int:
    """ledger.audit over the database itself: chain, receipts, checkpoints, root."""
    report = audit(DatabaseSource(engine), workers=1)
    assert report.ok, report.failure
    return report.entries_verified


def audit_cli(base: str, env: dict[str, str]) -> None:
    """`altan audit URL --no-state`, as an outsider runs it: exit 0 means it all verified."""
    result = subprocess.run(
        [ALTAN, "audit", base, "--no-state", "--quiet", "--workers", "1"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("OK"), result.stdout


Snapshot = dict[str, list[tuple[Any, ...]]]


def snapshot(engine: Engine, tables: list[Table]) -> Snapshot:
    """Every row of the tables, sorted by primary key."""
    with storage.read_transaction(engine) as conn:
        return {
            t.name: [tuple(r) for r in conn.execute(select(t).order_by(*t.primary_key.columns))]
            for t in tables
        }


def check_projection_equals_rebuild(engine: Engine) -> None:
    """The live projection tables equal what replaying the log alone gives (`altan rebuild`
    does the same replay). The server must be stopped: the rebuild rewrites the tables."""
    import services.domains  # noqa: F401 - every projector
    from services.domains import rebuild
    from services.pipeline.projection import projection_tables

    tables = projection_tables()
    live = snapshot(engine, tables)
    with storage.write_transaction(engine) as conn:
        rebuild(conn)
    rebuilt = snapshot(engine, tables)
    for name in live:
        assert live[name] == rebuilt[name], f"projection table {name} differs from a rebuild"
