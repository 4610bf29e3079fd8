"""An offline queue of events in a local SQLite file, synced later without duplicates.

A processing centre in a soum without a connection records deliveries as they happen:

    box = Outbox("var/outbox.db", actor="processing_centre:bornuur", signing_key=key)
    box.deliver_ore(lot="ORE-2026-000123", miner="partnership:bornuur-007", ...)
    ...                                  # days later, online:
    report = box.sync(AltanClient(url, token, actor=..., signing_key=key))

What is queued is final: `add` fixes the body (with its `occurred_at`), computes the
actor's signature and assigns the idempotency key there and then, and stores all three.
`sync` sends exactly those bytes, so what the log records is what was signed when it
happened, and an item sent twice (a crash after the server recorded it but before the
outbox marked it) is recorded once: the server answers the second time with the first
receipt. Each item ends in one of three states:

    pending   not yet recorded: sent at the next sync (also after a network error or a 5xx)
    recorded  the server's receipt is kept
    rejected  the server refused it (4xx); its problem is kept and it is not sent again
              unless `requeue`d (say, once the site it names has been registered)

Items are sent in the order they were added, through `POST /events/batch` (not atomic), so
a processing run queued after the delivery it consumes is checked after it. The file holds
personal data and prices of queued events until `forget_private` is called: it is created
with mode 0600.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from clients.sdk import (
    ActorSigner,
    AltanClient,
    AltanError,
    EventMethods,
    check_body,
    local_time,
    prepare_event,
    wire_event,
)
from schemas.api import EventIn, ItemProblem, RecordedOut
from schemas.events import EVENT_BODIES

__all__ = ["Outbox", "OutboxItem", "SyncReport"]

Status = Literal["pending", "recorded", "rejected"]
SCHEMA_VERSION = 1
FILE_MODE = 0o600

_SCHEMA = """
CREATE TABLE IF NOT EXISTS items (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    key         TEXT NOT NULL UNIQUE,
    type        TEXT NOT NULL,
    actor       TEXT,
    event       TEXT NOT NULL,
    status      TEXT NOT NULL CHECK (status IN ('pending', 'recorded', 'rejected')),
    created_at  TEXT NOT NULL,
    attempts    INTEGER NOT NULL DEFAULT 0,
    last_try_at TEXT,
    receipt     TEXT,
    problem     TEXT
);
CREATE INDEX IF NOT EXISTS items_status ON items (status, seq);
"""


@dataclass(frozen=True)
class OutboxItem:
    """One queued event: the request exactly as it will be (or was) sent, and its outcome."""

    seq: int
    key: str
    type: str
    actor: str | None
    event: EventIn
    status: Status
    created_at: str
    attempts: int
    last_try_at: str | None
    receipt: RecordedOut | None
    problem: ItemProblem | None

    @property
    def error(self) -> AltanError | None:
        """The server's refusal of a rejected item, as an exception."""
        return None if self.problem is None else AltanError.from_item(self.problem)


@dataclass
class SyncReport:
    """What one `sync` did, by idempotency key.

    recorded: now recorded (including items the server had already recorded before);
    rejected: refused with a 4xx, kept with their problem; deferred: sent but kept pending
    (the server could not decide them); pending: items left pending after the sync;
    error: what stopped the sync early (no connection, 5xx, a refused token), if anything.
    """

    recorded: list[str] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)
    deferred: list[str] = field(default_factory=list)
    pending: int = 0
    error: AltanError | None = None

    @property
    def ok(self) -> bool:
        """Everything pending was recorded."""
        return self.error is None and not self.rejected and self.pending == 0


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _open_private_file(path: Path) -> None:
    """Create the file with mode 0600 (or tighten an existing one to it)."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, FILE_MODE)
    os.close(fd)
    os.chmod(path, FILE_MODE)


class Outbox(EventMethods[str]):
    """A queue of events in the SQLite file at `path`, signed as `actor` with `signing_key`.

    The convenience methods of `EventMethods` (`deliver_ore`, `record_processing`...) queue
    their event and return its idempotency key.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        actor: str | None = None,
        signing_key: Ed25519PrivateKey | None = None,
    ) -> None:
        if signing_key is not None and actor is None:
            raise ValueError("signing_key needs actor: the signature covers the actor's id")
        self.path = Path(path)
        self.actor = actor
        self.signer = ActorSigner(actor, signing_key) if actor and signing_key else None
        _open_private_file(self.path)
        self._db = sqlite3.connect(self.path, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        with self._transaction():
            version = self._db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise RuntimeError(
                    f"{self.path}: outbox schema {version}, this SDK knows {SCHEMA_VERSION}"
                )
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    self._db.execute(statement)
            self._db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def close(self) -> None:
        """Close the file."""
        self._db.close()

    def __enter__(self) -> Outbox:
        return self

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _exc: BaseException | None,
        _tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Outbox({str(self.path)!r}, actor={self.actor!r})"

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    # queueing

    def add(
        self,
        type: str,
        body: Mapping[str, Any],
        private: Mapping[str, Any] | None = None,
        *,
        idempotency_key: str | None = None,
    ) -> str:
        """Queue an event; returns its idempotency key.

        `occurred_at` is set to the local time now when the body lacks it. A body that
        cannot validate against `schemas.events` is refused now (`RuleViolation`), not
        discovered at the next sync (types this SDK does not know are queued unchecked).
        The signature (when the outbox has a key) is made now.
        """
        fixed = dict(body)
        fixed.setdefault("occurred_at", local_time())
        if type in EVENT_BODIES:  # a type this SDK does not know is the server's to judge
            check_body(type, fixed)
        event = prepare_event(self.signer, type, fixed, private, idempotency_key)
        assert event.idempotency_key is not None
        stored = json.dumps(wire_event(event, with_key=True), ensure_ascii=False)
        with self._transaction():
            prior = self._db.execute(
                "SELECT event FROM items WHERE key = ?", (event.idempotency_key,)
            ).fetchone()
            if prior is not None:
                if json.loads(prior["event"]) != json.loads(stored):
                    raise ValueError(
                        f"idempotency key {event.idempotency_key!r} is already queued "
                        "with another event"
                    )
                return event.idempotency_key  # queued before: once is enough
            self._db.execute(
                "INSERT INTO items (key, type, actor, event, status, created_at) "
                "VALUES (?, ?, ?, ?, 'pending', ?)",
                (event.idempotency_key, type, self.actor, stored, _now()),
            )
        return event.idempotency_key

    def _emit(
        self,
        type: str,
        body: dict[str, Any],
        private: dict[str, Any] | None,
        idempotency_key: str | None,
    ) -> str:
        return self.add(type, body, private, idempotency_key=idempotency_key)

    # reading

    def items(self, status: Status | None = None) -> list[OutboxItem]:
        """Every item (or those with `status`), in the order they were added."""
        if status is None:
            rows = self._db.execute("SELECT * FROM items ORDER BY seq").fetchall()
        else:
            rows = self._db.execute(
                "SELECT * FROM items WHERE status = ? ORDER BY seq", (status,)
            ).fetchall()
        return [_item(r) for r in rows]

    def pending(self) -> list[OutboxItem]:
        """Items not yet recorded, in the order they will be sent."""
        return self.items("pending")

    def rejected(self) -> list[OutboxItem]:
        """Items the server refused, with their problem."""
        return self.items("rejected")

    def get(self, key: str) -> OutboxItem:
        """The item with this idempotency key (KeyError when there is none)."""
        row = self._db.execute("SELECT * FROM items WHERE key = ?", (key,)).fetchone()
        if row is None:
            raise KeyError(key)
        return _item(row)

    # managing rejected items and private data

    def requeue(self, key: str) -> None:
        """Send a rejected item again at the next sync (its cause has been fixed)."""
        with self._transaction():
            cur = self._db.execute(
                "UPDATE items SET status = 'pending', problem = NULL "
                "WHERE key = ? AND status = 'rejected'",
                (key,),
            )
            if cur.rowcount != 1:
                raise KeyError(f"no rejected item {key!r}")

    def discard(self, key: str) -> None:
        """Drop a rejected item for good (it was never recorded)."""
        with self._transaction():
            cur = self._db.execute(
                "DELETE FROM items WHERE key = ? AND status = 'rejected'", (key,)
            )
            if cur.rowcount != 1:
                raise KeyError(f"no rejected item {key!r}")

    def forget_private(self) -> int:
        """Remove the off-log private data (personal data, prices) of recorded items, which
        the server now holds; returns how many items held some. Receipts stay; such an item
        can no longer be resent as the same request."""
        count = 0
        with self._transaction():
            rows = self._db.execute(
                "SELECT seq, event FROM items WHERE status = 'recorded'"
            ).fetchall()
            for row in rows:
                event = json.loads(row["event"])
                if event.pop("private", None) is not None:
                    count += 1
                    self._db.execute(
                        "UPDATE items SET event = ? WHERE seq = ?",
                        (json.dumps(event, ensure_ascii=False), row["seq"]),
                    )
        return count

    # syncing

    def sync(self, client: AltanClient, batch_size: int = 100) -> SyncReport:
        """Send pending items through `POST /events/batch` (not atomic), oldest first.

        Recorded items keep their receipt; items refused with a 4xx become rejected with
        their problem; when the request itself fails (no connection, a 5xx after retries,
        a refused token) the sync stops and the items stay pending for the next one, whose
        resend is answered with the first receipt for anything the server did record. A
        batch refused as a whole for its content (400, 413, 422) is split until the item at
        fault is alone, and that item is rejected, so one bad item never blocks the queue.
        """
        if batch_size < 1:
            raise ValueError("batch_size: expected at least 1")
        self._check_actor(client)
        report = SyncReport()
        after = 0
        size = batch_size
        while True:
            batch = self._db.execute(
                "SELECT * FROM items WHERE status = 'pending' AND seq > ? ORDER BY seq LIMIT ?",
                (after, size),
            ).fetchall()
            if not batch:
                break
            events = [EventIn.model_validate(json.loads(row["event"])) for row in batch]
            try:
                out = client.record_batch(events, atomic=False)
            except AltanError as exc:
                if not _request_refused(exc):
                    report.error = exc  # no answer, 5xx, token refused: try again later
                    break
                if len(batch) > 1:  # narrow down to the item the whole request fails on
                    size = max(1, len(batch) // 2)
                    continue
                self._finish(batch[0]["seq"], None, _problem(exc))
                report.rejected.append(batch[0]["key"])
                after = batch[0]["seq"]
                size = batch_size
                continue
            tried = _now()
            with self._transaction():
                for row, result in zip(batch, out.results, strict=True):
                    seq, key = row["seq"], row["key"]
                    if result.recorded is not None:
                        self._finish(seq, result.recorded, None, tried)
                        report.recorded.append(key)
                    elif result.problem is not None and 400 <= result.status < 500:
                        self._finish(seq, None, result.problem, tried)
                        report.rejected.append(key)
                    else:
                        self._db.execute(
                            "UPDATE items SET attempts = attempts + 1, last_try_at = ? "
                            "WHERE seq = ?",
                            (tried, seq),
                        )
                        report.deferred.append(key)
            after = batch[-1]["seq"]
        report.pending = self._db.execute(
            "SELECT count(*) FROM items WHERE status = 'pending'"
        ).fetchone()[0]
        return report

    def _check_actor(self, client: AltanClient) -> None:
        if client.actor is None:
            return
        others = self._db.execute(
            "SELECT DISTINCT actor FROM items WHERE status = 'pending' "
            "AND actor IS NOT NULL AND actor != ?",
            (client.actor,),
        ).fetchall()
        if others:
            names = ", ".join(sorted(r[0] for r in others))
            raise ValueError(
                f"pending items were signed as {names}; the client acts as {client.actor}: "
                "their signatures would not verify"
            )

    def _finish(
        self,
        seq: int,
        receipt: RecordedOut | None,
        problem: ItemProblem | None,
        tried: str | None = None,
    ) -> None:
        status = "recorded" if receipt is not None else "rejected"
        self._db.execute(
            "UPDATE items SET status = ?, receipt = ?, problem = ?, "
            "attempts = attempts + 1, last_try_at = ? WHERE seq = ?",
            (
                status,
                None if receipt is None else receipt.model_dump_json(),
                None if problem is None else problem.model_dump_json(),
                tried or _now(),
                seq,
            ),
        )


def _request_refused(exc: AltanError) -> bool:
    """The batch request was refused for what it holds (too large, an item the framework
    cannot parse) rather than for who sent it or when: smaller batches will tell which."""
    return exc.status in (400, 413, 422)


def _problem(exc: AltanError) -> ItemProblem:
    return ItemProblem(
        type=exc.type, title=exc.title, status=exc.status, detail=exc.detail, field=exc.field
    )


def _item(row: sqlite3.Row) -> OutboxItem:
    event = EventIn.model_validate(json.loads(row["event"]))
    return OutboxItem(
        seq=row["seq"],
        key=row["key"],
        type=row["type"],
        actor=row["actor"],
        event=event,
        status=row["status"],
        created_at=row["created_at"],
        attempts=row["attempts"],
        last_try_at=row["last_try_at"],
        receipt=None if row["receipt"] is None else RecordedOut.model_validate_json(row["receipt"]),
        problem=None if row["problem"] is None else ItemProblem.model_validate_json(row["problem"]),
    )
