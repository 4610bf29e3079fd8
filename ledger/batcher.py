"""Group commit: concurrent single requests share one transaction and one checkpoint.

Callers submit one item each and wait on a future; one writer thread drains whatever
has queued (up to `max_batch`) and commits it as one batch. Under load the batches grow
on their own, so a busy log pays one commit and one checkpoint signature per batch rather
than per item; when idle an item is written at once. Appends stay serialised by the
database, so several processes each with their own batcher remain safe.

`Batcher` is the mechanism (any batch function that answers each item on its own);
`GroupCommitter` applies it to `Log.append`.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from datetime import datetime
from typing import Generic, Protocol, TypeVar

from ledger.entry import Event, Receipt
from ledger.errors import BatcherClosed, MalformedInput

T = TypeVar("T")
R = TypeVar("R")

_STOP = object()


class Batcher(Generic[T, R]):
    """Runs `commit_batch` on batches of submitted items from one writer thread.

    `commit_batch` gets the items in submission order and returns, for each, its result
    or the exception that item failed with. If it raises, every item of the batch fails
    with that exception.
    """

    def __init__(
        self,
        commit_batch: Callable[[list[T]], Sequence[R | BaseException]],
        max_batch: int = 1000,
        name: str = "altan-group-commit",
        linger: float = 0.0,
    ) -> None:
        self._commit_batch = commit_batch
        self._max_batch = max_batch
        self._linger = linger
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._closed = False
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def submit(self, item: T) -> Future[R]:
        """Queue one item; the future resolves once its batch is committed."""
        fut: Future[R] = Future()
        with self._lock:
            if self._closed:
                raise BatcherClosed("the group committer is closed")
            self._queue.put((item, fut))
        return fut

    def close(self) -> None:
        """Finish what is queued, then stop the writer thread."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._queue.put(_STOP)
        self._thread.join()

    def _run(self) -> None:
        stopping = False
        target = 0
        while not stopping:
            batch: list[tuple[T, Future[R]]] = []
            item = self._queue.get()
            # After busy batches, wait a moment (at most `linger`) for the callers just
            # answered to come back, until the batch is as large as recent ones; when
            # idle, an item goes at once.
            deadline = time.monotonic() + (self._linger if target > 1 else 0.0)
            while True:
                if item is _STOP:
                    stopping = True
                    break
                batch.append(item)  # type: ignore[arg-type]
                if len(batch) >= self._max_batch:
                    break
                if len(batch) >= target:
                    deadline = 0.0  # as many as lately: no reason to wait longer
                try:
                    wait = deadline - time.monotonic()
                    item = self._queue.get(timeout=wait) if wait > 0 else self._queue.get_nowait()
                except queue.Empty:
                    break
            # Aim at the largest recent batch, decaying: two half-size batches that
            # alternate would otherwise each wait only for the other's size.
            target = max(len(batch), target * 9 // 10)
            live = [(it, fut) for it, fut in batch if fut.set_running_or_notify_cancel()]
            if live:
                self._commit(live)

    def _commit(self, live: list[tuple[T, Future[R]]]) -> None:
        try:
            results = self._commit_batch([it for it, _ in live])
        except Exception as exc:  # every waiter must hear of the failure
            for _, fut in live:
                fut.set_exception(exc)
            return
        for (_, fut), result in zip(live, results, strict=True):
            if isinstance(result, BaseException):
                fut.set_exception(result)
            else:
                fut.set_result(result)


class _Appended(Protocol):
    @property
    def receipts(self) -> Sequence[Receipt]: ...


class Appender(Protocol):
    """What `GroupCommitter` appends to: `ledger.sql.log.Log` (a protocol, so that this
    mechanism stays in the pure core)."""

    def append(self, events: Sequence[Event], now: datetime) -> _Appended:
        """Append `events` at time `now` in one transaction; all or nothing."""
        ...


class GroupCommitter:
    """Batches concurrent single `Log.append` calls; a bad event fails alone."""

    def __init__(self, log: Appender, clock: Callable[[], datetime], max_batch: int = 1000) -> None:
        self._log = log
        self._clock = clock
        self._batcher: Batcher[Event, Receipt] = Batcher(self._append, max_batch)

    def submit(self, event: Event) -> Future[Receipt]:
        """Queue one event; the future resolves to its receipt once it is committed."""
        return self._batcher.submit(event)

    def append(self, event: Event, timeout: float | None = None) -> Receipt:
        """Submit and wait."""
        return self.submit(event).result(timeout)

    def close(self) -> None:
        """Finish what is queued, then stop the writer thread."""
        self._batcher.close()

    def _append(self, events: list[Event]) -> list[Receipt | BaseException]:
        try:
            return list(self._log.append(events, self._clock()).receipts)
        except MalformedInput:
            if len(events) == 1:
                raise
            # One bad event (too large, say) must not fail its neighbours: retry alone.
            out: list[Receipt | BaseException] = []
            for event in events:
                try:
                    out.append(self._log.append([event], self._clock()).receipts[0])
                except MalformedInput as exc:
                    out.append(exc)
            return out
