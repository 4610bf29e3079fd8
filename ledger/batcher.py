"""Group commit: concurrent single appends share one transaction and one checkpoint.

Callers submit one event each and wait on a future; one writer thread drains whatever
has queued (up to `max_batch`) and appends it as one batch. Under load the batches grow
on their own, so a busy log pays one fsync and one checkpoint signature per batch rather
than per event; when idle an event is written at once. Appends stay serialised by the
database, so several processes each with their own batcher remain safe.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from datetime import datetime

from ledger.entry import Event, Receipt
from ledger.errors import BatcherClosed, MalformedInput
from ledger.log import Log

_STOP = object()


class GroupCommitter:
    """Batches concurrent `submit` calls into `Log.append` calls from one thread."""

    def __init__(self, log: Log, clock: Callable[[], datetime], max_batch: int = 1000) -> None:
        self._log = log
        self._clock = clock
        self._max_batch = max_batch
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._closed = False
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="altan-group-commit", daemon=True)
        self._thread.start()

    def submit(self, event: Event) -> Future[Receipt]:
        """Queue one event; the future resolves to its receipt once it is committed."""
        fut: Future[Receipt] = Future()
        with self._lock:
            if self._closed:
                raise BatcherClosed("the group committer is closed")
            self._queue.put((event, fut))
        return fut

    def append(self, event: Event, timeout: float | None = None) -> Receipt:
        """Submit and wait."""
        return self.submit(event).result(timeout)

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
        while not stopping:
            batch: list[tuple[Event, Future[Receipt]]] = []
            item = self._queue.get()
            while True:
                if item is _STOP:
                    stopping = True
                    break
                batch.append(item)  # type: ignore[arg-type]
                if len(batch) >= self._max_batch:
                    break
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
            if batch:
                self._commit(batch)

    def _commit(self, batch: list[tuple[Event, Future[Receipt]]]) -> None:
        live = [(ev, fut) for ev, fut in batch if fut.set_running_or_notify_cancel()]
        if len(live) == 1:
            self._commit_one(*live[0])
            return
        if not live:
            return
        try:
            result = self._log.append([ev for ev, _ in live], self._clock())
        except MalformedInput:
            # One bad event (too large, say) must not fail its neighbours: retry alone.
            for one in live:
                self._commit_one(*one)
            return
        except Exception as exc:  # every waiter must hear of the failure
            for _, fut in live:
                fut.set_exception(exc)
            return
        for (_, fut), receipt in zip(live, result.receipts, strict=True):
            fut.set_result(receipt)

    def _commit_one(self, event: Event, fut: Future[Receipt]) -> None:
        try:
            fut.set_result(self._log.append([event], self._clock()).receipts[0])
        except Exception as exc:
            fut.set_exception(exc)
