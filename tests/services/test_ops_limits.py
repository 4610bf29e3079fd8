"""Operational limits (issue 11, findings 4 and 7): no personal datum, price or salt reaches
the server's log, whatever fails; a hung database answers 503 with Retry-After within a few
seconds, and liveness (the process) is told apart from readiness (the database).

The log tests run the app under a real uvicorn server in this process (so that a monkeypatched
failure is possible) and read what the server logs: our JSON lines on stderr and every record
any logger emitted (caplog), uvicorn's own error log included.
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from sqlalchemy import insert, text
from sqlalchemy.exc import StatementError

from ledger.commitment import commit, new_salt
from services import domains as pipeline
from services.actors.bootstrap import bootstrap_administrator
from services.actors.models import PersonalRecord
from services.app import create_app
from services.settings import Settings
from support.db import Database, database_url
from support.ops import serving
from support.paths import REPO

WHEN = "2026-09-14T10:12:00+08:00"
DEPLOY = REPO / "deploy"
PERSONAL = {
    "name": "Батбаяр Дорж",
    "national_id": "УБ77031412",
    "phone": "+976 8811 4477",
    "price_note": "MNT 231977000 per kg",
}


def _registration(actor: str, salt: bytes) -> dict[str, Any]:
    return {
        "type": "actor.registered",
        "body": {
            "occurred_at": WHEN,
            "actor": actor,
            "role": "miner",
            "personal_commitment": commit(salt, PERSONAL),
        },
        "private": {"personal": PERSONAL, "salt": salt.hex()},
    }


def _everything_logged(err: str, caplog: pytest.LogCaptureFixture) -> str:
    """Every server-side line: the JSON lines on stderr and each record, as formatted by a
    plain handler (message and traceback), whatever logger wrote it."""
    formatter = logging.Formatter("%(name)s %(message)s")
    records = [formatter.format(r) for r in caplog.records if r.name != "httpx"]
    return err + "\n" + "\n".join(records)


@pytest.mark.parametrize("failure", ["constraint", "bug"])
def test_a_failing_write_logs_no_personal_data_price_or_salt(
    failure: str,
    database: Database,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """constraint: a real constraint violation whose statement carries the personal data
    as parameters (SQLAlchemy prints them in its message unless hidden); bug: an exception
    whose own message holds the data, raised from such a database error."""
    original = pipeline.HANDLERS["actor.registered"]
    assert original.store_private is not None
    store = original.store_private

    def storing_twice(ctx: Any, body: Any, private: Any) -> None:
        store(ctx, body, private)
        ctx.session.flush()
        again = insert(PersonalRecord).values(
            actor_id=body.actor, salt=private["salt"], data=json.dumps(private["personal"])
        )
        try:
            ctx.session.execute(again)  # the row exists: a duplicate key, for real
        except StatementError as exc:
            if failure == "bug":
                raise ValueError(f"could not store {private['personal']}") from exc
            raise

    monkeypatch.setitem(
        pipeline.HANDLERS,
        "actor.registered",
        pipeline.Handler(
            original.type, original.body, original.roles, original.decide, storing_twice
        ),
    )
    url, _ = database_url(database)
    caplog.set_level(logging.DEBUG)
    app = create_app(Settings(data_dir=tmp_path / "data", database_url=url, log_format="json"))
    salt = new_salt()
    with serving(app) as base:
        admin = bootstrap_administrator(app.state.events)
        resp = httpx.post(
            base + "/events",
            json=_registration("miner:bat", salt),
            headers={"Authorization": f"Bearer {admin}"},
            timeout=30,
        )
        assert resp.status_code >= 400 and resp.status_code != 503, resp.text
        assert resp.headers["content-type"] == "application/problem+json"
        request_id = resp.headers["x-request-id"]
    logged = _everything_logged(capsys.readouterr().err, caplog)
    assert request_id in logged
    for secret in (*PERSONAL.values(), salt.hex(), "231977000", "77031412", "8811 4477"):
        assert secret not in logged, secret
    if failure == "bug":  # the catch-all: a 500 naming the request, a line with the type
        assert resp.json()["request_id"] == request_id
        (line,) = [
            json.loads(ln)
            for ln in logged.splitlines()
            if ln.startswith("{") and '"altan.error"' in ln
        ]
        assert line["request_id"] == request_id
        assert line["error_type"] in ("ValueError", "sqlalchemy.exc.IntegrityError")
        assert "[message withheld]" in line["traceback"]
    assert "Exception in ASGI application" not in logged  # uvicorn never saw it


def test_engine_errors_never_carry_parameters(database: Database, tmp_path: Path) -> None:
    from services.database import open_engine

    url, _ = database_url(database)
    cfg = Settings(data_dir=tmp_path / "data", database_url=url)
    engine = open_engine(cfg)
    try:
        with engine.connect() as conn, pytest.raises(StatementError) as caught:
            conn.execute(
                text("SELECT * FROM no_such_table WHERE x = :secret"), {"secret": "УБ77031412"}
            )
        assert "УБ77031412" not in str(caught.value)
        assert engine.hide_parameters
    finally:
        engine.dispose()


# -- a hung database -------------------------------------------------------------------------


def _held_lock(database: Database) -> Any:
    """Another session holding the log's head locked: every append and every read of the
    head waits on it (a stuck migration, a forgotten psql session, a hung disk)."""
    conn = database.engine.connect()
    trans = conn.begin()
    if database.engine.dialect.name == "postgresql":
        conn.execute(text("LOCK TABLE log_head IN ACCESS EXCLUSIVE MODE"))
    else:
        conn.execute(text("UPDATE log_head SET size = size"))  # SQLite: the write lock
    return conn, trans


def test_a_hung_database_answers_503_with_retry_after_and_livez_stays_up(
    database: Database, tmp_path: Path
) -> None:
    from support.domain import running_api

    url, _ = database_url(database)
    # the defaults bound PostgreSQL; SQLite's busy wait is shortened to keep the test short
    with running_api(tmp_path, database_url=url, sqlite_busy_timeout_ms=1500) as api:
        headers = api.headers("admin:root")
        assert api.client.get("/readyz").status_code == 200
        conn, trans = _held_lock(database)
        try:
            started = time.monotonic()
            live = api.client.get("/livez")
            assert live.status_code == 200 and live.json() == {"status": "ok"}
            assert time.monotonic() - started < 1
            if database.engine.dialect.name == "postgresql":  # SQLite readers never wait
                for path in ("/readyz", "/healthz"):
                    started = time.monotonic()
                    ready = api.client.get(path)
                    assert time.monotonic() - started < 4, path
                    assert ready.status_code == 503, path
                    assert ready.headers["content-type"] == "application/problem+json"
                    assert int(ready.headers["retry-after"]) >= 1
            started = time.monotonic()
            resp = api.post(
                "admin:root", "actor.registered", {"actor": "miner:late", "role": "miner"}
            )
            assert time.monotonic() - started < 6
            assert resp.status_code == 503, resp.text
            assert resp.headers["content-type"] == "application/problem+json"
            assert int(resp.headers["retry-after"]) >= 1
        finally:
            trans.rollback()
            conn.close()
        assert api.client.get("/readyz").status_code == 200
        assert api.client.get("/actors/miner:late", headers=headers).status_code == 404
        api.ok("admin:root", "actor.registered", {"actor": "miner:late", "role": "miner"})


class Blackhole:
    """A TCP proxy on 127.0.0.1 to the database that, once `hang()` is called, accepts and
    forwards nothing more: a database (or network) that stops answering."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.hung = threading.Event()
        self.sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def hang(self) -> None:
        self.hung.set()

    def close(self) -> None:
        # shutdown() before close(): on Linux, closing a socket that another thread is
        # blocked on neither wakes that thread nor sends FIN, so the service's stuck database
        # threads would wait forever and hold the process at exit.
        for s in [self.server, *self.sockets]:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            self.sockets.append(client)
            if self.hung.is_set():
                continue  # accepted, never answered
            upstream = socket.create_connection(self.target)
            self.sockets.append(upstream)
            threading.Thread(target=self._pipe, args=(client, upstream), daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, client), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket) -> None:
        while True:
            try:
                data = src.recv(65536)
            except OSError:
                return
            if not data:
                return
            while self.hung.is_set():  # swallow: nothing goes through any more
                time.sleep(0.05)
                try:
                    if not src.recv(65536):
                        return
                except OSError:
                    return
            try:
                dst.sendall(data)
            except OSError:
                return


@pytest.mark.postgres
def test_a_database_that_stops_answering_gives_503_within_seconds(
    database: Database, tmp_path: Path
) -> None:
    from sqlalchemy.engine import make_url

    from support.domain import running_api

    if database.engine.dialect.name != "postgresql":
        pytest.skip("a TCP database")
    url, _ = database_url(database)
    parsed = make_url(url)
    hole = Blackhole(parsed.host or "127.0.0.1", parsed.port or 5432)
    proxied = parsed.set(host="127.0.0.1", port=hole.port).render_as_string(hide_password=False)
    with running_api(
        tmp_path, database_url=proxied, write_timeout_s=3, readiness_timeout_s=1.5
    ) as api:
        try:
            api.register("miner:before", "miner")
            hole.hang()
            started = time.monotonic()
            assert api.client.get("/livez").status_code == 200
            ready = api.client.get("/readyz")
            assert ready.status_code == 503 and ready.headers["retry-after"]
            assert time.monotonic() - started < 4
            started = time.monotonic()
            resp = api.post(
                "admin:root", "actor.registered", {"actor": "miner:after", "role": "miner"}
            )
            assert resp.status_code == 503, resp.text
            assert resp.headers["retry-after"]
            assert time.monotonic() - started < 5
        finally:
            hole.close()  # the stuck threads get their connection error and end


def test_the_probes_in_deploy_tell_liveness_from_readiness() -> None:
    docs = list(yaml.safe_load_all((DEPLOY / "k8s" / "deployment.yaml").read_text()))
    (deployment,) = [d for d in docs if d and d.get("kind") == "Deployment"]
    (ledger,) = deployment["spec"]["template"]["spec"]["containers"]
    assert ledger["livenessProbe"]["httpGet"]["path"] == "/livez"
    assert ledger["readinessProbe"]["httpGet"]["path"] == "/readyz"
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    assert "/readyz" in " ".join(compose["services"]["ledger"]["healthcheck"]["test"])


def _threads(pid: int) -> int:
    return len(list(Path(f"/proc/{pid}/task").iterdir()))


@pytest.mark.postgres
@pytest.mark.parametrize("stop", ["SIGTERM", "SIGINT"])
def test_a_hung_database_leaks_no_probe_threads_and_the_server_still_stops(
    stop: str, database: Database, tmp_path: Path
) -> None:
    """A real `altan serve` on a database that accepts TCP and never answers (the black
    hole): each /readyz answers 503 within its bound, probes do not pile up stuck threads
    (each used to add one, up to the pool's size), and SIGTERM or SIGINT (Ctrl-C) ends the
    process within seconds although threads stay stuck in the driver (SIGINT used to hang
    for ever after "Application shutdown complete": the pools' threads were joined at exit;
    uvicorn re-raises SIGTERM, whose default action ended the process regardless)."""
    import os
    import signal
    import subprocess

    from sqlalchemy.engine import make_url

    from support.reliability import Server, bootstrap, schema_url, server_env

    if database.engine.dialect.name != "postgresql":
        pytest.skip("a TCP database")
    if not Path("/proc/self/task").is_dir():
        pytest.skip("counts threads in /proc")
    parsed = make_url(schema_url(database))
    hole = Blackhole(parsed.host or "127.0.0.1", parsed.port or 5432)
    proxied = parsed.set(host="127.0.0.1", port=hole.port).render_as_string(hide_password=False)
    data_dir = tmp_path / "data"
    admin = bootstrap(data_dir, proxied)
    timeout = 1.0
    server = Server(
        server_env(data_dir, proxied, ALTAN_READINESS_TIMEOUT_S=str(timeout)),
        tmp_path / "serve.log",
    )
    server.start()
    try:
        assert server.proc is not None
        pid = server.proc.pid
        hole.hang()
        counts = []
        for _ in range(5):
            started = time.monotonic()
            ready = httpx.get(server.base + "/readyz", timeout=30)
            assert ready.status_code == 503, ready.text
            assert ready.headers["retry-after"]
            assert time.monotonic() - started < timeout + 1.5
            counts.append(_threads(pid))
        # the first probe may leave one thread stuck in the driver; later ones add none
        assert counts[-1] <= counts[0], counts
        # a write's token check (on threads of its own) is stuck too: 503 all the same
        write = httpx.post(
            server.base + "/events",
            json={"type": "actor.registered", "body": {}},
            headers={"Authorization": f"Bearer {admin}"},
            timeout=30,
        )
        assert write.status_code == 503, write.text
        assert _threads(pid) <= counts[0] + 1
        started = time.monotonic()
        os.killpg(pid, getattr(signal, stop))
        try:
            server.proc.wait(timeout=8)
        except subprocess.TimeoutExpired:
            pytest.fail(f"{stop} did not end the server within 8 s:\n{server.log()}")
        assert time.monotonic() - started < 8
    finally:
        server.kill()
        hole.close()
