"""Group commit of HTTP writes: concurrent requests share a transaction, yet each gets its
own answer, and one request's failure never takes its neighbours down."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from domain_helpers import WHEN, running_api

from services.errors import DomainError
from services.events import service as pipeline
from services.events.service import EventCommitter, Principal, Submission

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


def test_concurrent_requests_share_batches_and_each_gets_its_receipt(tmp_path: Path) -> None:
    with running_api(tmp_path) as api:
        events = api.client.app.state.events  # type: ignore[attr-defined]
        committer = EventCommitter(events, max_batch=100, linger=0.01)
        try:
            results = submit_together(committer, [miner(n) for n in range(20)])
        finally:
            committer.close()
        indices = sorted(r.index for r in results)
        assert indices == list(range(indices[0], indices[0] + 20))
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
    then records the items one by one so only the faulty one fails."""
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
