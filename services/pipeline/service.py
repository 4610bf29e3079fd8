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
import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pydantic import ValidationError
from sqlalchemy import Connection, Engine
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.orm import Session

from ledger.encoding import b64encode, canonical_json
from ledger.entry import Event, event_signing_message, format_time
from ledger.errors import LedgerError
from ledger.keys import LogSigner
from ledger.sql import storage
from ledger.sql.log import Log
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
from services.identity import Principal, Who
from services.identity.auth import principal_for
from services.identity.tables import Actor, ActorKey
from services.pipeline.context import Appended, Context, keep
from services.pipeline.models import IdempotencyRecord
from services.pipeline.projection import Applied
from services.pipeline.registration import Handler, Registry
from services.pipeline.times import check_not_future
from services.settings import Settings

Closer = Callable[[Session, int, int], Event]


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

    def __init__(
        self,
        log: Log,
        settings: Settings,
        clock: Callable[[], datetime],
        registry: Registry,
        closer: Closer | None = None,
    ) -> None:
        self.log = log
        self.settings = settings
        self.clock = clock
        self.registry = registry  # every domain's handlers, projectors, followers
        # Gives the entry that ends every append (services.certificates.status.close: the
        # state map's root), from the session, the append's first index and its own index.
        self.closer = closer

    @property
    def engine(self) -> Engine:
        return self.log.engine

    @staticmethod
    def _principal(session: Session, who: Who, known: dict[str, Principal]) -> Principal:
        if isinstance(who, Principal):
            return who
        if who.token not in known:
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
            appended = self.log.append_in(conn, events, now, publish=False)
            follow = self._follow(
                session, planned, appended.receipts, size + len(events), now, blame
            )
            if follow:
                self.log.append_in(conn, [ev for _, ev, _ in follow], now, publish=False)
            self.close(session, size, now)
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

    def append_closed(self, session: Session, events: Sequence[Event], now: datetime) -> int:
        """Append already projected events in the caller's write transaction (the session's
        connection), then close the append (`close`); returns the first one's index."""
        conn = session.connection()
        start = self.log.append_in(conn, events, now, publish=False).receipts[0].index
        self.close(session, start, now)
        return start

    def close(self, session: Session, start: int, now: datetime) -> None:
        """End an append whose first entry is at `start`: with a closer (the state map),
        append the entry it gives (a `state.root`), and publish one checkpoint for all."""
        conn = session.connection()
        if self.closer is None:
            self.log.publish_in(conn, now)
            return
        session.flush()
        end = storage.lock_head(conn)
        self.log.append_in(conn, [self.closer(session, start, end)], now)

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
                        self.registry.apply(session, applied)
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
        handler = self.registry.handlers.get(sub.type)
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
            self.registry.apply(ctx.session, applied)
            for prepare in self.registry.followers.get(ev.type, ()):
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
            return Event(sub.type, principal.actor_id, sub.body, staff=principal.staff_id or None)
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
            sub.type,
            principal.actor_id,
            sub.body,
            sub.signature.key_id,
            sub.signature.signature,
            staff=principal.staff_id or None,
        )


class ItemCrashed(Exception):
    """An unexpected error while one item of a batch was checked (`submit_many(...,
    blame=True)`): `position` in the items given, `error` what it raised."""

    def __init__(self, position: int, error: Exception) -> None:
        super().__init__(f"item {position} failed: {type(error).__name__}")
        self.position = position
        self.error = error


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
