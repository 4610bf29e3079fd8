"""The event pipeline: the one path by which anything changes.

For each submitted event, in one database transaction that holds the log's append lock:

1. the principal's role may submit this type, and its actor is active;
2. the body validates strictly (it is logged exactly as sent);
3. the actor's signature verifies, when given (required when the settings say so);
4. the domain rules pass (`Handler.decide`), possibly adding derived events (a red flag);
5. the events are projected into current state with the indices they will get;
6. off-log data (personal data, prices) is checked against its commitment and stored;
7. the events are appended to the log (one checkpoint for the whole batch) and the
   idempotency record is kept, then the transaction commits.

A failure at any step records nothing for that item: steps 1-4 and the checks of step 6
only read, and writing starts only once they have all passed. So in a batch that is not
atomic, valid items are recorded even when others fail, with no savepoint per item
(savepoints tripled the cost of an item). An unexpected error (a bug, the database)
aborts the whole transaction instead; the group committer then runs the batch again
without the item that failed (see `EventCommitter`).
"""

from __future__ import annotations

import base64
import binascii
import builtins
import hashlib
import json
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pydantic import ValidationError
from sqlalchemy import Connection, Engine
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as SATimeoutError
from sqlalchemy.orm import Session

from ledger import storage
from ledger.batcher import Batcher
from ledger.encoding import b64encode, canonical_json
from ledger.entry import Event, event_signing_message, format_time
from ledger.errors import LedgerError
from ledger.keys import LogSigner
from ledger.log import Log
from schemas.events import Body
from services import observability
from services.errors import (
    Conflict,
    DomainError,
    Forbidden,
    InvalidFields,
    NotFound,
    RuleViolation,
)
from services.events.models import IdempotencyRecord
from services.events.times import check_not_future
from services.projection import Applied, apply
from services.settings import Settings

SYSTEM_ACTOR = "system:altan"


@dataclass(frozen=True)
class Principal:
    """Who is asking: a token's actor and that actor's role."""

    actor_id: str
    role: str
    token_id: str = ""


@dataclass(frozen=True)
class BearerToken:
    """A request's credential, resolved to a principal inside the batch's transaction (one
    transaction per batch instead of one more per request; a revoked token fails at once)."""

    token: str = field(repr=False)


Who = Principal | BearerToken


@dataclass(frozen=True)
class ActorSignature:
    key_id: str
    signature: bytes


@dataclass(frozen=True)
class Submission:
    """One event as a client submits it."""

    type: str
    body: dict[str, Any]
    private: dict[str, Any] | None = None
    signature: ActorSignature | None = None
    idempotency_key: str | None = None

    def request_hash(self) -> str:
        sig = None
        if self.signature is not None:
            sig = [self.signature.key_id, b64encode(self.signature.signature)]
        doc = {"type": self.type, "body": self.body, "private": self.private, "signature": sig}
        try:
            return hashlib.sha256(canonical_json(doc)).hexdigest()
        except LedgerError as exc:
            raise RuleViolation("not-canonical-json", str(exc), field="body") from exc


@dataclass
class Context:
    """What a rule sees: the state (session), who asks, the settings, the time."""

    session: Session
    principal: Principal
    settings: Settings
    now: datetime
    time: str
    next_index: int
    derived: list[Event] = field(default_factory=list)
    pending: list[tuple[int, Finish]] = field(default_factory=list)  # (offset in item, step)

    def derive(self, type_: str, body: dict[str, Any]) -> None:
        """Add an event the system records as a consequence (e.g. an automatic red flag)."""
        self.derived.append(Event(type=type_, actor=SYSTEM_ACTOR, body=body))


Decide = Callable[[Context, Any], None]


@dataclass(frozen=True)
class Appended:
    """An entry of this batch as a follower sees it once it is in the log."""

    index: int
    leaf_hash: bytes


# A follower answers an entry with more entries that need the entry's leaf hash (a
# certificate token names the entry it reflects). It runs in two steps: `prepare` right
# after the entry is projected, so it reads the state exactly as of that entry; the step it
# returns runs once the entry is appended, inside the same transaction.
Finish = Callable[[Appended, LogSigner, datetime], list[Event]]
Prepare = Callable[[Session, Applied], Finish | None]
FOLLOWERS: dict[str, list[Prepare]] = {}


def follows(*types: str) -> Callable[[Prepare], Prepare]:
    """Register a follower of the given event types."""

    def register(fn: Prepare) -> Prepare:
        for type_ in types:
            FOLLOWERS.setdefault(type_, []).append(fn)
        return fn

    return register


StorePrivate = Callable[[Context, Any, dict[str, Any] | None], None]


@dataclass(frozen=True)
class Handler:
    """The rules of one event type."""

    type: str
    body: builtins.type[Body]
    roles: frozenset[str]
    decide: Decide
    store_private: StorePrivate | None = None
    allowed_when_suspended: bool = False


HANDLERS: dict[str, Handler] = {}


def handles(
    type_: str,
    body: type[Body],
    roles: Sequence[str],
    *,
    store_private: StorePrivate | None = None,
    allowed_when_suspended: bool = False,
) -> Callable[[Decide], Decide]:
    """Register the rules of one event type."""

    def register(fn: Decide) -> Decide:
        if type_ in HANDLERS:
            raise RuntimeError(f"two handlers for {type_}")
        HANDLERS[type_] = Handler(
            type_, body, frozenset(roles), fn, store_private, allowed_when_suspended
        )
        return fn

    return register


@dataclass(frozen=True)
class Recorded:
    """The outcome of one accepted submission: its entry and any derived entries."""

    index: int
    leaf_hash: str
    key_id: str
    signature: str
    derived: tuple[dict[str, Any], ...] = ()
    replayed: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "leaf_hash": self.leaf_hash,
            "key_id": self.key_id,
            "signature": self.signature,
            "derived": list(self.derived),
        }


@dataclass(frozen=True)
class ItemResult:
    recorded: Recorded | None = None
    error: DomainError | None = None


class EventService:
    """Records submissions through the log, atomically with their projection."""

    def __init__(self, log: Log, settings: Settings, clock: Callable[[], datetime]) -> None:
        self.log = log
        self.settings = settings
        self.clock = clock

    @property
    def engine(self) -> Engine:
        return self.log.engine

    @staticmethod
    def _principal(session: Session, who: Who, known: dict[str, Principal]) -> Principal:
        if isinstance(who, Principal):
            return who
        if who.token not in known:
            from services.auth import principal_for  # auth builds on this module

            known[who.token] = principal_for(session, who.token)
        return known[who.token]

    def submit(self, principal: Who, submission: Submission) -> Recorded:
        """Record one submission or raise the DomainError that stopped it."""
        result = self.submit_many([(principal, submission)], atomic=True)[0]
        if result.error is not None:
            raise result.error
        assert result.recorded is not None
        return result.recorded

    def submit_many(
        self, items: Sequence[tuple[Who, Submission]], *, atomic: bool, blame: bool = False
    ) -> list[ItemResult]:
        """Record many submissions in one transaction with one checkpoint.

        atomic: any failure records nothing of the batch: every item is still checked, so
        that each failing item gets its own error (a clerk fixes them all at once), and the
        others are reported as not recorded; otherwise each item stands alone.
        blame: an unexpected error (not a DomainError, not a lost database) raised while one
        item is checked or followed is raised as `ItemCrashed` naming that item, so that the
        caller can run the others again without it; the transaction is rolled back.
        """
        appended: list[str] = []
        try:
            with storage.write_transaction(self.engine) as conn:
                results = self._run(conn, items, atomic, appended, blame)
        except _AtomicFailure as failure:
            failed = [i for i, r in enumerate(failure.results) if r.error is not None]
            aborted = RuleViolation(
                "batch-aborted",
                f"not recorded: item {failed[0]} failed and the batch is all-or-nothing",
            )
            return [ItemResult(error=r.error or aborted) for r in failure.results]
        observability.count_appended(appended)  # committed: count them
        return results

    def _run(
        self,
        conn: Connection,
        items: Sequence[tuple[Who, Submission]],
        atomic: bool,
        appended_types: list[str],
        blame: bool = False,
    ) -> list[ItemResult]:
        size = self.log.lock(conn)
        now = self.clock()
        time = format_time(now)
        session = Session(bind=conn, autoflush=False, expire_on_commit=False)
        results: list[ItemResult] = []
        planned: list[_Planned] = []
        events: list[Event] = []
        in_flight: set[tuple[str, str]] = set()
        principals: dict[str, Principal] = {}
        for pos, (who, sub) in enumerate(items):
            try:
                principal = self._principal(session, who, principals)
                ctx = Context(session, principal, self.settings, now, time, size + len(events))
                if sub.idempotency_key is not None:
                    once = (principal.actor_id, sub.idempotency_key)
                    if once in in_flight:
                        raise Conflict(
                            "idempotency-key-in-flight",
                            "a request with this Idempotency-Key is being recorded; retry",
                            field="Idempotency-Key",
                        )
                    in_flight.add(once)
                replay = self._replay(session, principal, sub)
                if replay is not None:
                    results.append(ItemResult(recorded=replay))
                    continue
                item_events = self._item(ctx, principal, sub)
            except DomainError as exc:
                # Atomic too: the other items are still checked (reads only), and the
                # batch is rolled back below, before anything is appended.
                results.append(ItemResult(error=exc))
                continue
            except (OperationalError, InterfaceError):
                raise  # the database's failure (lost, timed out), not this item's
            except Exception as exc:
                if blame:
                    raise ItemCrashed(pos, exc) from exc
                raise
            req_hash = sub.request_hash() if sub.idempotency_key is not None else ""
            planned.append(_Planned(pos, len(events), item_events, sub, principal, req_hash, ctx))
            events.extend(item_events)
            results.append(ItemResult())  # filled in below
        if atomic and any(r.error is not None for r in results):
            raise _AtomicFailure(results)
        if events:
            appended = self.log.append_in(conn, events, now)
            follow = self._follow(
                session, planned, appended.receipts, size + len(events), now, blame
            )
            if follow:
                self.log.append_in(conn, [ev for _, ev, _ in follow], now)
            appended_types.extend(ev.type for ev in events)
            appended_types.extend(ev.type for _, ev, _ in follow)
            for item in planned:
                receipt = appended.receipts[item.offset]
                assert receipt.index == size + item.offset
                derived = tuple(
                    {"type": ev.type, "index": appended.receipts[item.offset + k].index}
                    for k, ev in enumerate(item.events[1:], start=1)
                ) + tuple(
                    {"type": ev.type, "index": index}
                    for pos, ev, index in follow
                    if pos == item.pos
                )
                rec = Recorded(
                    index=receipt.index,
                    leaf_hash=b64encode(receipt.leaf_hash),
                    key_id=receipt.key_id,
                    signature=b64encode(receipt.signature),
                    derived=derived,
                )
                results[item.pos] = ItemResult(recorded=rec)
                if item.sub.idempotency_key is not None:
                    session.add(
                        IdempotencyRecord(
                            actor_id=item.principal.actor_id,
                            key=item.sub.idempotency_key,
                            request_hash=item.req_hash,
                            status=201,
                            response=json.dumps(rec.to_json()),
                            created_at=time,
                        )
                    )
        session.flush()
        return results

    def _follow(
        self,
        session: Session,
        planned: Sequence[_Planned],
        receipts: Sequence[Any],
        next_index: int,
        now: datetime,
        blame: bool = False,
    ) -> list[tuple[int, Event, int]]:
        """Run the followers' second steps now that the batch's entries have leaf hashes;
        project what they answer. Returns (item position, event, index) in log order."""
        out: list[tuple[int, Event, int]] = []
        signer: LogSigner | None = None
        for item in planned:
            try:
                for offset, finish in item.ctx.pending:
                    receipt = receipts[item.offset + offset]
                    signer = signer or self.log.signer()
                    for ev in finish(Appended(receipt.index, receipt.leaf_hash), signer, now):
                        index = next_index + len(out)
                        applied = Applied(index, item.ctx.time, ev.type, ev.actor, dict(ev.body))
                        apply(session, applied)
                        out.append((item.pos, ev, index))
            except (OperationalError, InterfaceError, DomainError):
                raise
            except Exception as exc:
                if blame:
                    raise ItemCrashed(item.pos, exc) from exc
                raise
        session.flush()
        return out

    def _replay(self, session: Session, principal: Principal, sub: Submission) -> Recorded | None:
        if sub.idempotency_key is None:
            return None
        if not 1 <= len(sub.idempotency_key) <= 200:
            raise RuleViolation(
                "idempotency-key", "Idempotency-Key: 1 to 200 characters", field="Idempotency-Key"
            )
        prior = session.get(IdempotencyRecord, (principal.actor_id, sub.idempotency_key))
        if prior is None:
            return None
        if prior.request_hash != sub.request_hash():
            raise Conflict(
                "idempotency-key-reused",
                "this Idempotency-Key was used before with a different request",
                field="Idempotency-Key",
            )
        body = json.loads(prior.response)
        return Recorded(
            index=body["index"],
            leaf_hash=body["leaf_hash"],
            key_id=body["key_id"],
            signature=body["signature"],
            derived=tuple(body["derived"]),
            replayed=True,
        )

    def _item(self, ctx: Context, principal: Principal, sub: Submission) -> list[Event]:
        handler = HANDLERS.get(sub.type)
        if handler is None:
            raise NotFound("unknown-event-type", f"no event type {sub.type!r}", field="type")
        if principal.role not in handler.roles:
            raise Forbidden(
                "role-not-allowed",
                f"a {principal.role} may not record {sub.type} "
                f"(allowed: {', '.join(sorted(handler.roles))})",
                field="type",
            )
        _check_active(ctx, principal, handler)
        body = _validate(handler, sub.body)
        check_not_future(body, ctx.now, self.settings.max_clock_skew_seconds)
        event = self._signed_event(ctx, principal, sub)
        handler.decide(ctx, body)
        if handler.store_private is not None:
            handler.store_private(ctx, body, sub.private)
        elif sub.private is not None:
            raise RuleViolation(
                "unexpected-private-data", f"{sub.type} takes no private data", field="private"
            )
        out = [event, *ctx.derived]
        for offset, ev in enumerate(out):
            applied = Applied(ctx.next_index + offset, ctx.time, ev.type, ev.actor, dict(ev.body))
            apply(ctx.session, applied)
            for prepare in FOLLOWERS.get(ev.type, ()):
                ctx.session.flush()
                step = prepare(ctx.session, applied)
                if step is not None:
                    ctx.pending.append((offset, step))
        ctx.session.flush()
        return out

    def _signed_event(self, ctx: Context, principal: Principal, sub: Submission) -> Event:
        if sub.signature is None:
            if self.settings.require_signatures:
                raise RuleViolation(
                    "signature-required",
                    "this deployment records only events signed by the actor's key",
                    field="signature",
                )
            return Event(sub.type, principal.actor_id, sub.body)
        from services.actors.models import ActorKey

        key = keep(
            ctx.session, ctx.session.get(ActorKey, (principal.actor_id, sub.signature.key_id))
        )
        if key is None or key.status != "active":
            raise RuleViolation(
                "unknown-actor-key",
                f"{principal.actor_id} has no active key {sub.signature.key_id}",
                field="signature.key_id",
            )
        message = event_signing_message(sub.type, principal.actor_id, sub.body)
        try:
            Ed25519PublicKey.from_public_bytes(key.public_key).verify(
                sub.signature.signature, message
            )
        except InvalidSignature as exc:
            raise RuleViolation(
                "bad-actor-signature",
                "the signature does not verify over this event with the actor's key",
                field="signature.signature",
            ) from exc
        return Event(
            sub.type, principal.actor_id, sub.body, sub.signature.key_id, sub.signature.signature
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


class ItemCrashed(Exception):
    """An unexpected error while one item of a batch was checked (`submit_many(...,
    blame=True)`): `position` in the items given, `error` what it raised."""

    def __init__(self, position: int, error: Exception) -> None:
        super().__init__(f"item {position} failed: {type(error).__name__}")
        self.position = position
        self.error = error


def _recorded(result: ItemResult) -> Recorded:
    assert result.recorded is not None
    return result.recorded


@dataclass(frozen=True)
class _Planned:
    """An accepted item of a batch, waiting for its place in the log."""

    pos: int
    offset: int
    events: list[Event]
    sub: Submission
    principal: Principal
    req_hash: str
    ctx: Context


class _AtomicFailure(Exception):
    """An atomic batch with a failing item: rolls its transaction back; `results` has
    each failing item's error."""

    def __init__(self, results: list[ItemResult]) -> None:
        self.results = results


def _check_active(ctx: Context, principal: Principal, handler: Handler) -> None:
    from services.actors.models import Actor

    actor = keep(ctx.session, ctx.session.get(Actor, principal.actor_id))
    if actor is None:
        raise Forbidden("unknown-actor", f"{principal.actor_id} is not registered")
    if actor.status != "active" and not handler.allowed_when_suspended:
        raise RuleViolation(
            "actor-not-active",
            f"{principal.actor_id} is {actor.status} ({actor.status_reason}) and cannot record "
            f"{handler.type}",
        )


def _validate(handler: Handler, body: dict[str, Any]) -> Body:
    if not isinstance(body, dict):
        raise RuleViolation("invalid-body", "body: expected a JSON object", field="body")
    try:
        return handler.body.model_validate(body)
    except ValidationError as exc:
        # Every mistake of the body, worded plainly (services.problem_texts): pydantic's
        # own messages quote regular expressions.
        raise InvalidFields.from_pydantic(exc.errors(), prefix="body") from exc


def decode_signature(key_id: str, signature: str) -> ActorSignature:
    """Parse the wire form of an actor signature."""
    try:
        raw = base64.b64decode(signature, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise RuleViolation(
            "bad-actor-signature", "signature: expected base64", field="signature.signature"
        ) from exc
    if len(raw) != 64:
        raise RuleViolation(
            "bad-actor-signature", "signature: expected 64 bytes", field="signature.signature"
        )
    return ActorSignature(key_id, raw)


def lookup(session: Session, model: type[Any], key: Any, what: str, field_name: str) -> Any:
    """Fetch a row by primary key or raise NotFound naming the field."""
    row = keep(session, session.get(model, key))
    if row is None:
        raise NotFound(f"unknown-{what}", f"no {what} {key!r}", field=field_name)
    return row


def keep(session: Session, row: Any) -> Any:
    """Hold a strong reference to `row` for the session's life: the identity map holds
    rows weakly, so a row looked up once per item of a batch (the centre, the site) was
    fetched again by SQL for every item (bench/http_append.py, pyinstrument)."""
    if row is not None:
        session.info.setdefault("keep", []).append(row)
    return row
