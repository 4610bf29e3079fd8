"""Group commit of HTTP writes: concurrent requests share a transaction, yet each gets its
own answer, and one request's failure never takes its neighbours down."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import insert

from ledger.entry import Entry
from ledger.sql import storage
from services import domains as pipeline
from services.errors import DomainError
from services.identity import Principal
from services.pipeline.committer import EventCommitter
from services.pipeline.service import Submission
from support.db import Database, database_url
from support.domain import WHEN, running_api

ADMIN = Principal("admin:root", "administrator")


def miner(n: int) -> Submission:
    body = {"occurred_at": WHEN, "actor": f"miner:m{n}", "role": "miner"}
    return Submission("actor.registered", body)


def submit_together(committer: EventCommitter, subs: list[Submission]) -> list[Any]:
    """Submit from one thread each, released at once; return results or exceptions."""
    barrier = threading.Barrier(len(subs))
    out: list[Any] = [None] * len(subs)

    def go(i: int) -> None:
        barrier.wait()
        try:
            out[i] = committer.submit(ADMIN, subs[i])
        except Exception as exc:
            out[i] = exc

    threads = [threading.Thread(target=go, args=(i,)) for i in range(len(subs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return out


def _type_at(engine: Any, index: int) -> str:
    with engine.connect() as conn:
        (row,) = storage.read_entries(conn, index, index + 1)
    return str(Entry.from_bytes(row.entry).event.type)


def test_concurrent_requests_share_batches_and_each_gets_its_receipt(tmp_path: Path) -> None:
    with running_api(tmp_path) as api:
        events = api.client.app.state.events  # type: ignore[attr-defined]
        committer = EventCommitter(events, max_batch=100, linger=0.01)
        try:
            results = submit_together(committer, [miner(n) for n in range(20)])
        finally:
            committer.close()
        indices = sorted(r.index for r in results)
        assert len(set(indices)) == 20
        # one after another, but for the state.root that ends each shared transaction
        between = set(range(indices[0], indices[-1] + 1)) - set(indices)
        assert all(_type_at(events.engine, i) == "state.root" for i in between)
        assert len(between) < 19  # fewer transactions than requests
        checkpoints = (
            events.log.engine.connect()
            .exec_driver_sql("SELECT count(*) FROM log_checkpoints")
            .scalar_one()
        )
        assert checkpoints < 20  # shared transactions: fewer checkpoints than requests


def test_a_bug_in_one_item_fails_that_item_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An unexpected error (not a rule) aborts the batch's transaction; the committer
    then runs the batch again without the faulty item, so only that one fails."""
    original = pipeline.HANDLERS["actor.registered"]

    def exploding(ctx: Any, body: Any) -> None:
        if body.actor == "miner:m3":
            raise RuntimeError("a bug, not a rule")
        original.decide(ctx, body)

    monkeypatch.setitem(
        pipeline.HANDLERS,
        "actor.registered",
        pipeline.Handler(
            original.type, original.body, original.roles, exploding, original.store_private
        ),
    )
    with running_api(tmp_path) as api:
        events = api.client.app.state.events  # type: ignore[attr-defined]
        committer = EventCommitter(events, max_batch=100, linger=0.01)
        try:
            results = submit_together(committer, [miner(n) for n in range(8)])
        finally:
            committer.close()
        failed = [i for i, r in enumerate(results) if isinstance(r, Exception)]
        assert failed == [3]
        assert isinstance(results[3], RuntimeError)
        assert not any(isinstance(r, DomainError) for r in results)
        assert (
            api.client.get("/actors/miner:m3", headers=api.headers("admin:root")).status_code == 404
        )
        assert (
            api.client.get("/actors/miner:m7", headers=api.headers("admin:root")).status_code == 200
        )


def test_a_streamed_body_over_the_limit_is_refused(tmp_path: Path) -> None:
    with running_api(tmp_path, max_request_bytes=2048) as api:
        before = api.size()

        def chunks() -> Any:
            yield b'{"type": "actor.registered", "body": {"x": "'
            for _ in range(10):
                yield b"y" * 1000
            yield b'"}}'

        resp = api.client.post(
            "/events",
            content=chunks(),
            headers={**api.headers("admin:root"), "Content-Type": "application/json"},
        )
        assert resp.status_code == 413
        assert resp.headers["content-type"] == "application/problem+json"
        assert api.size() == before


# -- poison from one client must not degrade the others (issue 11, finding 5) -------------------


@pytest.mark.parametrize("poison", ["bug", "constraint"])
def test_poison_from_one_client_leaves_the_others_in_group_commit(
    poison: str, database: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Six clients append while a seventh sends items that fail unexpectedly: a bug, or a
    real constraint violation (which aborts the whole transaction on PostgreSQL). Every good
    item is recorded, and each poison item costs one more transaction, not one per item of
    its batch (the old fallback recorded the whole batch one by one)."""
    original = pipeline.HANDLERS["actor.registered"]

    def poisoned(ctx: Any, body: Any) -> None:
        if body.actor.startswith("miner:poison"):
            if poison == "bug":
                raise RuntimeError("a bug, not a rule")
            ctx.session.execute(insert(storage.log_head).values(id=storage.HEAD_ID, size=0))
        original.decide(ctx, body)

    monkeypatch.setitem(
        pipeline.HANDLERS,
        "actor.registered",
        pipeline.Handler(
            original.type, original.body, original.roles, poisoned, original.store_private
        ),
    )
    url, _ = database_url(database)
    with running_api(tmp_path, database_url=url, group_commit_linger_ms=20) as api:
        app = api.client.app
        events = app.state.events  # type: ignore[attr-defined]
        calls: list[int] = []
        batches: list[int] = []
        submit_many = events.submit_many
        commit = app.state.committer._commit  # type: ignore[attr-defined]

        def counting_submit_many(items: Any, **kw: Any) -> Any:
            calls.append(len(items))
            return submit_many(items, **kw)

        def counting_commit(items: Any) -> Any:
            batches.append(len(items))
            return commit(items)

        monkeypatch.setattr(events, "submit_many", counting_submit_many)
        monkeypatch.setattr(app.state.committer._batcher, "_commit_batch", counting_commit)  # type: ignore[attr-defined]
        retries = (
            REGISTRY.get_sample_value("altan_group_commit_retries_total", {"reason": "item"}) or 0.0
        )
        clients, per_client = 6, 8
        barrier = threading.Barrier(clients + 1)
        statuses: dict[str, list[int]] = {}

        def client(name: str) -> None:
            barrier.wait()
            got = statuses.setdefault(name, [])
            for i in range(per_client):
                resp = api.post(
                    "admin:root",
                    "actor.registered",
                    {"actor": f"miner:{name}-{i}", "role": "miner"},
                )
                got.append(resp.status_code)

        threads = [
            threading.Thread(target=client, args=(n,))
            for n in [f"good{c}" for c in range(clients)] + ["poison"]
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for name, got in statuses.items():
            if name == "poison":
                assert all(s >= 400 and s != 503 for s in got), got
            else:
                assert got == [201] * per_client, (name, got)
        assert max(batches) > 1  # group commit at work
        # at most one more transaction per poison item, however many neighbours it had (the
        # old fallback ran every item of a poisoned batch alone: 1 + n transactions)
        assert len(calls) - len(batches) <= per_client, (calls, batches)
        after = REGISTRY.get_sample_value("altan_group_commit_retries_total", {"reason": "item"})
        assert after == retries + per_client
        events = api.client.app.state.events  # type: ignore[attr-defined]
        types = [_type_at(events.engine, i) for i in range(api.size())]
        assert len([t for t in types if t != "state.root"]) == 1 + clients * per_client
