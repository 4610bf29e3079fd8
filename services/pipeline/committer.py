"""Group commit: concurrent requests share one transaction and one checkpoint."""

from __future__ import annotations

import threading
import time
from collections import deque
from concurrent.futures import Future

from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as SATimeoutError

from ledger.batcher import Batcher
from services import observability
from services.identity import Who
from services.pipeline.service import (
    EventService,
    ItemCrashed,
    ItemResult,
    Recorded,
    Submission,
)


class EventCommitter:
    """Group commit for concurrent requests: each waits for its own result while one
    writer records whatever has queued in one transaction (items independent, as in a
    non-atomic batch), so a busy server pays one commit and one checkpoint per batch.

    An item that fails unexpectedly (a bug, a value the database refuses) fails alone and
    costs its neighbours one more transaction: the batch runs again without it (the item
    it was checking is known). Only an error no item can be blamed for (at the append
    or the commit) splits the batch in halves, so k bad items cost about 2k·log2(n)
    transactions, never one per item: a client sending poison must not drop everyone
    else to one-by-one commits (issue 11, finding 5)."""

    def __init__(
        self,
        events: EventService,
        max_batch: int,
        linger: float = 0.005,
        timeout: float | None = None,
    ) -> None:
        self.events = events
        self._batcher: Batcher[tuple[Who, Submission], Recorded] = Batcher(
            self._commit, max_batch, name="altan-events", linger=linger
        )
        self._timeout = timeout
        self._waiting: deque[tuple[float, Future[Recorded]]] = deque()
        self._answer = threading.Lock()  # one of the batch and the watchdog answers
        self._stop = threading.Event()
        self._watchdog: threading.Thread | None = None
        if timeout is not None:
            self._watchdog = threading.Thread(
                target=self._watch, name="altan-events-watchdog", daemon=True
            )
            self._watchdog.start()

    def submit(self, principal: Who, submission: Submission) -> Recorded:
        """Record one submission (waiting for its batch) or raise its DomainError."""
        return self.submit_nowait(principal, submission).result()

    def submit_nowait(self, principal: Who, submission: Submission) -> Future[Recorded]:
        """Queue one submission; the future resolves to its receipt or its DomainError,
        or, with a `timeout`, to `CommitTimedOut` when its batch is not done by then."""
        inner = self._batcher.submit((principal, submission))
        if self._timeout is None:
            return inner
        outer: Future[Recorded] = Future()

        def relay(done: Future[Recorded]) -> None:
            with self._answer:
                if outer.done():
                    return  # the watchdog answered first
                error = done.exception()
                if error is not None:
                    outer.set_exception(error)
                else:
                    outer.set_result(done.result())

        with self._answer:
            self._waiting.append((time.monotonic() + self._timeout, outer))
        inner.add_done_callback(relay)
        return outer

    def close(self) -> None:
        self._batcher.close()
        self._stop.set()
        if self._watchdog is not None:
            self._watchdog.join()

    def _watch(self) -> None:
        """Answer the requests whose batch is stuck (a hung database) with a timeout: the
        writer thread may stay blocked, the clients do not."""
        assert self._timeout is not None
        tick = min(0.25, self._timeout / 4)
        while not self._stop.wait(tick):
            now = time.monotonic()
            with self._answer:
                while self._waiting and (self._waiting[0][1].done() or self._waiting[0][0] <= now):
                    _, fut = self._waiting.popleft()
                    if not fut.done():
                        fut.set_exception(
                            CommitTimedOut(
                                f"the database did not record the event within {self._timeout} s"
                            )
                        )

    def _commit(self, items: list[tuple[Who, Submission]]) -> list[Recorded | BaseException]:
        observability.GROUP_COMMIT_BATCH.observe(len(items))
        return self._settle(items)

    def _settle(self, items: list[tuple[Who, Submission]]) -> list[Recorded | BaseException]:
        """Each item's receipt or error; see the class's docstring."""
        settled: dict[int, Recorded | BaseException] = {}
        while True:
            live = [i for i in range(len(items)) if i not in settled]
            if not live:
                break
            try:
                results = self.events.submit_many(
                    [items[i] for i in live], atomic=False, blame=True
                )
            except ItemCrashed as crash:
                observability.GROUP_COMMIT_RETRIES.labels("item").inc()
                settled[live[crash.position]] = crash.error
                continue
            except (OperationalError, InterfaceError) as exc:
                # A lost or hung database is no item's fault, and the batch may even have
                # committed before the connection broke: running it again could record it
                # twice. Every waiter hears of it (503) and retries with its key.
                settled.update(dict.fromkeys(live, exc))
                break
            except Exception as exc:
                if len(live) == 1:
                    settled[live[0]] = exc
                    break
                observability.GROUP_COMMIT_RETRIES.labels("split").inc()
                half = len(live) // 2
                for part in (live[:half], live[half:]):
                    settled.update(zip(part, self._settle([items[i] for i in part]), strict=True))
                break
            for i, r in zip(live, results, strict=True):
                settled[i] = r.error if r.error is not None else _recorded(r)
            break
        return [settled[i] for i in range(len(items))]


class CommitTimedOut(SATimeoutError):
    """A group commit did not finish in time (the database hangs): answered 503 with
    Retry-After like any database wait that ran out; the event may still be recorded,
    so a retry with the same Idempotency-Key records it at most once."""


def _recorded(result: ItemResult) -> Recorded:
    assert result.recorded is not None
    return result.recorded
