"""Reliability (issue 6): a real `altan serve` killed with SIGKILL under concurrent writes,
two servers on one database racing to sell the same lots, and the database stopped and
started under a running server.

What must hold whatever happens: every receipt a client was given is in the log at its
index with that leaf hash and a valid log signature; the log is one gapless chain whose
tree and checkpoints verify; each request is recorded at most once (clients retry
unanswered requests with the same Idempotency-Key); the projection tables equal a replay
of the log; refusals are 4xx problems and an unreachable database is a 503, never a 500.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.exc import OperationalError

from ledger.entry import Entry
from ledger.sql.storage import make_engine
from services.actors.bootstrap import bootstrap_administrator
from services.clock import utc_now
from services.domains import EventService
from services.identity import Principal
from services.pipeline.committer import EventCommitter
from services.pipeline.service import ItemResult, Submission
from services.runtime import open_runtime
from services.settings import Settings
from support.db import Database
from support.reliability import (
    PrivatePostgres,
    Receipt,
    Server,
    Writer,
    audit_cli,
    audit_database,
    bootstrap,
    check_projection_equals_rebuild,
    check_receipts,
    event,
    is_problem,
    schema_url,
    server_env,
)

REGION = {"aimag": "Töv", "soum": "Bornuur"}
KILLS = 3


class Admin:
    """The first administrator's HTTP client: registers the cast and issues tokens."""

    def __init__(self, base: str, token: str) -> None:
        self.client = httpx.Client(base_url=base, timeout=30)
        self.token = token

    def post(self, type_: str, body: dict[str, Any], token: str | None = None) -> Any:
        resp = self.client.post(
            "/events",
            json=event(type_, body),
            headers={"Authorization": f"Bearer {token or self.token}"},
        )
        assert resp.status_code == 201, resp.text
        return resp.json()

    def register(self, actor: str, role: str, **fields: Any) -> str:
        """Register an actor and return a fresh token for it."""
        if role == "buyer":
            fields.setdefault("buyer_kind", "trader")
        self.post("actor.registered", {"actor": actor, "role": role, **fields})
        resp = self.client.post(
            f"/actors/{actor}/tokens",
            json={"label": "reliability"},
            headers={"Authorization": f"Bearer {self.token}"},
        )
        assert resp.status_code == 201, resp.text
        return str(resp.json()["token"])

    def site(self, site: str, owner: str) -> None:
        body = {"site": site, "owner": owner, "region": REGION, "lat": "48.5", "lon": "106.2"}
        self.post("site.registered", body)

    def __enter__(self) -> Admin:
        return self

    def __exit__(self, *_: object) -> None:
        self.client.close()


def _delivery(prefix: str) -> Any:
    def make(n: int) -> dict[str, Any]:
        return event(
            "ore.delivered",
            {
                "lot": f"ORE-{prefix}-{n}",
                "miner": "partnership:tuul",
                "site": "SITE-TUUL-1",
                "mass_g": 1000 + n,
                "mined_on": "2026-09-10",
            },
        )

    return make


def _registration(prefix: str) -> Any:
    def make(n: int) -> dict[str, Any]:
        return event("actor.registered", {"actor": f"miner:{prefix}-{n}", "role": "miner"})

    return make


def _subject(entry: Entry) -> str | None:
    """The id a writer's request created: the ore lot delivered or the actor registered."""
    body = entry.event.body
    if entry.event.type == "ore.delivered":
        return str(body["lot"])
    if entry.event.type == "actor.registered" and body.get("role") == "miner":
        return str(body["actor"])
    return None


def _check_writers(
    writers: list[Writer], entries: list[Entry], *, outage: bool = False
) -> list[Receipt]:
    """No writer failed; each saw only 201s and idempotent 200s (and 503s while the
    database was down); each request it made is in the log exactly once, at the index its
    receipt names; its indices only grow."""
    receipts: list[Receipt] = []
    for w in writers:
        assert w.error is None, f"{w.name}: {w.error!r}"
        assert not w.tally.unexpected, w.tally.unexpected
        answers = {200, 201, 503} if outage else {200, 201}
        assert set(w.tally.statuses) <= answers, w.tally.statuses
        assert w.tally.receipts, f"{w.name} recorded nothing"
        indices = [r.index for r in w.tally.receipts]
        assert indices == sorted(set(indices)), f"{w.name}: indices not increasing"
        receipts.extend(w.tally.receipts)
    prefixes = tuple(p for w in writers for p in (f"ORE-{w.name}-", f"miner:{w.name}-"))
    made = Counter(s for e in entries if (s := _subject(e)) and s.startswith(prefixes))
    duplicated = {s: n for s, n in made.items() if n > 1}
    assert not duplicated, f"recorded more than once: {duplicated}"
    by_index = {e.index: _subject(e) for e in entries}
    for w in writers:
        for n, rec in enumerate(w.tally.receipts):
            created = w.make(n)["body"].get("lot") or w.make(n)["body"].get("actor")
            assert by_index[rec.index] == created, (rec, by_index[rec.index], created)
    # every request the writers made is in the log, none that they did not make
    asked = {
        w.make(n)["body"].get("lot") or w.make(n)["body"].get("actor")
        for w in writers
        for n in range(len(w.tally.receipts))
    }
    assert set(made) == asked
    return receipts


# -- 1. SIGKILL under load ------------------------------------------------------------------


@pytest.mark.slow
def test_sigkill_under_concurrent_writes_loses_no_receipt(
    database: Database, tmp_path: Path
) -> None:
    url = schema_url(database)
    data = tmp_path / "data"
    token = bootstrap(data, url)
    env = server_env(data, url)
    server = Server(env, tmp_path / "server.log")
    seed = random.randrange(2**32)
    rng = random.Random(seed)
    print(f"kill schedule seed {seed}")
    server.start()
    try:
        with Admin(server.base, token) as admin:
            admin.register("partnership:tuul", "partnership", members=6, region=REGION)
            admin.site("SITE-TUUL-1", "partnership:tuul")
            centres = [admin.register(f"centre:c{i}", "processing_centre") for i in range(2)]

        stop = threading.Event()
        deadline = time.monotonic() + 120
        writers = [
            Writer(f"c{i}", server.base, tok, _delivery(f"c{i}"), stop, deadline)
            for i, tok in enumerate(centres)
        ]
        writers.append(Writer("adm", server.base, token, _registration("adm"), stop, deadline))
        for w in writers:
            w.start()
        for _ in range(KILLS):
            time.sleep(rng.uniform(0.4, 1.2))  # mid-write: the clients never pause
            server.kill()
            time.sleep(rng.uniform(0.0, 0.3))
            server.start()
        time.sleep(0.5)
        stop.set()
        for w in writers:
            w.join(timeout=90)
            assert not w.is_alive(), f"{w.name} did not finish"
        assert server.starts == KILLS + 1
        assert sum(w.tally.transport_errors for w in writers) > 0, "no request was cut off"
        replayed = sum(r.replayed for w in writers for r in w.tally.receipts)
        print(f"receipts {sum(len(w.tally.receipts) for w in writers)}, replayed {replayed}")

        receipts = [r for w in writers for r in w.tally.receipts]
        entries = check_receipts(server.base, receipts)
        _check_writers(writers, entries)
        audit_cli(server.base, env)
    finally:
        server.stop()
    engine = make_engine(database.url, connect_args=database.connect_args)
    try:
        assert audit_database(engine) == len(entries)
        check_projection_equals_rebuild(engine)
    finally:
        engine.dispose()


# -- 2. two servers, one database, the same lots ----------------------------------------------

LOTS = 8


def _answer(resp: httpx.Response) -> int:
    """The status, once checked: no 5xx, and every refusal a problem document."""
    assert resp.status_code < 500, resp.text
    if resp.status_code >= 400:
        assert is_problem(resp), (resp.status_code, resp.headers, resp.text)
    return resp.status_code


@pytest.mark.slow
def test_two_servers_on_one_database_never_sell_a_lot_twice(
    database: Database, tmp_path: Path
) -> None:
    url = schema_url(database)
    data = tmp_path / "data"
    token = bootstrap(data, url)
    env = server_env(data, url)
    a = Server(env, tmp_path / "a.log")
    b = Server(env, tmp_path / "b.log")
    stack = ExitStack()
    a.start()
    b.start()
    try:
        admin = stack.enter_context(Admin(a.base, token))
        admin.register("partnership:tuul", "partnership", members=6, region=REGION)
        admin.site("SITE-TUUL-1", "partnership:tuul")
        centre = admin.register("centre:c1", "processing_centre")
        buyers = {
            "buyer:b1": admin.register("buyer:b1", "buyer"),
            "buyer:b2": admin.register("buyer:b2", "buyer"),
        }
        ore = {"lot": "ORE-1", "miner": "partnership:tuul", "site": "SITE-TUUL-1"}
        admin.post("ore.delivered", {**ore, "mass_g": 10_000_000, "mined_on": "2026-09-10"}, centre)
        outputs = [{"lot": f"AU-{i}", "form": "dore", "mass_mg": 10_000} for i in range(LOTS)]
        run = {
            "run": "RUN-1",
            "inputs": [{"lot": "ORE-1", "mass_g": 10_000_000}],
            "outputs": outputs,
            "method": "gravity",
            "mercury_free": True,
            "started_on": "2026-09-11",
            "finished_on": "2026-09-11",
        }
        admin.post("processing.recorded", run, centre)

        clients = {
            s: stack.enter_context(httpx.Client(base_url=s.base, timeout=60)) for s in (a, b)
        }
        statuses: list[int] = []

        def send(server: Server, tok: str, type_: str, body: dict[str, Any]) -> int:
            resp = clients[server].post(
                "/events", json=event(type_, body), headers={"Authorization": f"Bearer {tok}"}
            )
            status = _answer(resp)
            statuses.append(status)
            return status

        # background load through both servers while the lots are fought over
        stop = threading.Event()
        deadline = time.monotonic() + 120
        background = [
            Writer(f"bg{i}", s.base, centre, _delivery(f"bg{i}"), stop, deadline, limit=15)
            for i, s in enumerate((a, b))
        ]
        for w in background:
            w.start()

        with ThreadPoolExecutor(max_workers=12) as pool:
            # Round 1: the centre offers each lot to two buyers at once, one through each
            # server: exactly one offer per lot may stand.
            offers = {
                (i, who): pool.submit(
                    send,
                    server,
                    centre,
                    "transfer.offered",
                    {"offer": f"OF-{i}-{who[-2:]}", "lot": f"AU-{i}", "to": who},
                )
                for i in range(LOTS)
                for who, server in (("buyer:b1", a), ("buyer:b2", b))
            }
            standing: dict[int, str] = {}
            for i in range(LOTS):
                won = [who for who in buyers if offers[(i, who)].result() == 201]
                lost = [offers[(i, who)].result() for who in buyers if who not in won]
                assert len(won) == 1, (i, won, lost)
                assert all(400 <= s < 500 for s in lost)
                standing[i] = won[0]

            # Round 2: the offeree accepts twice (once through each server), the other
            # buyer tries to accept it too, and the centre cancels it, all at once.
            races: dict[int, dict[str, Any]] = {}
            for i, who in standing.items():
                other = next(x for x in buyers if x != who)
                offer = {"offer": f"OF-{i}-{who[-2:]}"}
                races[i] = {
                    "accept_a": pool.submit(send, a, buyers[who], "transfer.accepted", offer),
                    "accept_b": pool.submit(send, b, buyers[who], "transfer.accepted", offer),
                    "intruder": pool.submit(send, b, buyers[other], "transfer.accepted", offer),
                    "cancel": pool.submit(send, a, centre, "transfer.cancelled", offer),
                }
            outcome: dict[int, str] = {}
            for i, race in races.items():
                got = {k: f.result() for k, f in race.items()}
                # not the offeree: refused (403), or, once the offer is closed, 422
                assert got["intruder"] in (403, 422), got
                winners = [k for k in ("accept_a", "accept_b", "cancel") if got[k] == 201]
                assert len(winners) == 1, (i, got)
                outcome[i] = winners[0]

        stop.set()
        for w in background:
            w.join(timeout=90)

        with httpx.Client(base_url=b.base, timeout=30) as reader:
            auth = {"Authorization": f"Bearer {token}"}
            for i, who in standing.items():
                lot = reader.get(f"/lots/AU-{i}", headers=auth).json()
                offer = reader.get(f"/offers/OF-{i}-{who[-2:]}", headers=auth).json()
                if outcome[i] == "cancel":
                    assert lot["custodian"] == "centre:c1", lot
                    assert offer["status"] == "cancelled"
                else:
                    assert lot["custodian"] == who, lot
                    assert offer["status"] == "accepted"

        entries = check_receipts(b.base, [r for w in background for r in w.tally.receipts])
        _check_writers(background, entries)
        # one accepted offer per lot at most, read from the log itself
        offered_lot = {
            e.event.body["offer"]: e.event.body["lot"]
            for e in entries
            if e.event.type == "transfer.offered"
        }
        closing = Counter(
            offered_lot[e.event.body["offer"]]
            for e in entries
            if e.event.type in ("transfer.accepted", "transfer.cancelled")
        )
        assert closing == Counter({f"AU-{i}": 1 for i in range(LOTS)}), closing
        assert Counter(offered_lot.values()) == Counter({f"AU-{i}": 1 for i in range(LOTS)})
        print(f"statuses {sorted(Counter(statuses).items())}, outcomes {Counter(outcome.values())}")
    finally:
        stack.close()
        a.stop()
        b.stop()
    engine = make_engine(database.url, connect_args=database.connect_args)
    try:
        audit_database(engine)
        check_projection_equals_rebuild(engine)
    finally:
        engine.dispose()


# -- 3. the database stops and comes back ---------------------------------------------------


@pytest.mark.slow
def test_database_outage_is_a_503_and_the_service_recovers_without_a_restart(
    tmp_path: Path,
) -> None:
    pg = PrivatePostgres()
    try:
        pg.start()
        data = tmp_path / "data"
        token = bootstrap(data, pg.url)
        server = Server(server_env(data, pg.url), tmp_path / "server.log")
        server.start()
        pid = server.proc.pid if server.proc else None
        try:
            stop = threading.Event()
            deadline = time.monotonic() + 120
            writer = Writer("w", server.base, token, _registration("w"), stop, deadline)
            writer.start()
            auth = {"Authorization": f"Bearer {token}"}
            with httpx.Client(base_url=server.base, timeout=30) as client:
                _wait_for(lambda: len(writer.tally.receipts) >= 5, "writes before the outage")
                pg.stop()
                # while it is down: reads, writes, the health check, all 503 problems
                down = [
                    client.get("/healthz"),
                    client.get("/actors/admin:root", headers=auth),
                    client.post(
                        "/events",
                        json=event("actor.registered", {"actor": "miner:x", "role": "miner"}),
                        headers={**auth, "Idempotency-Key": "during-outage"},
                    ),
                ]
                for resp, kind in zip(
                    down,
                    ("/not-ready", "/database-unavailable", "/database-unavailable"),
                    strict=True,
                ):
                    assert resp.status_code == 503, resp.text
                    assert is_problem(resp), resp.headers
                    assert int(resp.headers["retry-after"]) > 0
                    assert resp.json()["type"].endswith(kind)  # readiness says "not ready"
                before = len(writer.tally.receipts)
                time.sleep(0.5)
                pg.start()
                _wait_for(lambda: len(writer.tally.receipts) >= before + 5, "writes after")
                stop.set()
                writer.join(timeout=60)
                # the same request again, now that it is back: recorded once
                again = client.post(
                    "/events",
                    json=event("actor.registered", {"actor": "miner:x", "role": "miner"}),
                    headers={**auth, "Idempotency-Key": "during-outage"},
                )
                assert again.status_code == 201, again.text
            assert writer.tally.statuses.get(503, 0) > 0, writer.tally.statuses
            assert server.proc is not None and server.proc.poll() is None
            assert server.proc.pid == pid and server.starts == 1  # no restart
            entries = check_receipts(server.base, writer.tally.receipts)
            _check_writers([writer], entries, outage=True)
            assert sum(1 for e in entries if _subject(e) == "miner:x") == 1
        finally:
            server.stop()
        engine = make_engine(pg.url)
        try:
            audit_database(engine)
            check_projection_equals_rebuild(engine)
        finally:
            engine.dispose()
    finally:
        pg.destroy()


def _wait_for(condition: Any, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.05)


# -- regression: a batch cut off at COMMIT ------------------------------------------------


class _CommitThenLoseConnection(EventService):
    """The database commits the batch, then the connection breaks before it says so."""

    cut = True

    def submit_many(self, items: Any, *, atomic: bool, **kw: Any) -> list[ItemResult]:
        results = super().submit_many(items, atomic=atomic, **kw)
        if self.cut:
            self.cut = False
            raise OperationalError("COMMIT", {}, Exception("server closed the connection"))
        return results


def test_a_batch_whose_commit_was_cut_off_is_not_run_again_item_by_item(
    tmp_path: Path,
) -> None:
    """Regression: the group committer re-ran a failed batch one item at a time. When the
    failure was a connection lost during COMMIT (the batch recorded, the answer lost), each
    event was recorded a second time. Now every waiter gets the error (a 503) instead and a
    retry with its Idempotency-Key answers with the first receipt."""
    runtime = open_runtime(Settings(data_dir=tmp_path / "data"))
    try:
        bootstrap_administrator(runtime.events)
        service = _CommitThenLoseConnection(runtime.log, runtime.settings, utc_now)
        committer = EventCommitter(service, max_batch=10)
        try:
            admin = Principal("admin:root", "administrator")
            body = {"occurred_at": "2026-09-14T10:12:00+08:00", "corrects": 0, "reason": "typo"}
            items = [(admin, Submission("correction.recorded", body)) for _ in range(2)]
            before = runtime.log.size()
            # the batcher hands this error to every waiter of the batch
            answers = committer._commit(items)
            assert [type(a) for a in answers] == [OperationalError, OperationalError]
            # recorded once each, not twice (then the append's state.root)
            assert runtime.log.size() == before + 3
        finally:
            committer.close()
    finally:
        runtime.close()
