"""Cosignatures a witness sends of the log's checkpoints, kept off the log.

A cosignature submission (`accept_cosignatures`) is a C2SP signed note: a checkpoint body
the log published, a blank line, signature lines. It is accepted in four numbered steps,
and nothing is stored unless all pass:

1. it parses: a signed note of at most MAX_SUBMISSION_BYTES whose text is a checkpoint
   (400 malformed-input);
2. at least one signature line is by a registered witness key that is not removed; lines by
   other keys (the log's own, anyone's) are ignored, as the signed-note spec says
   (403 unknown-witness, or witness-removed when the only witness lines are by removed keys);
3. every line by a registered active witness is a cosignature/v1 that verifies over the body
   and is not timestamped more than MAX_CLOCK_SKEW_SECONDS ahead of the service's clock
   (422 bad-cosignature, cosignature-from-the-future);
4. the body is exactly the checkpoint the log published for that tree size: same origin,
   size, root and extension lines (409 unknown-checkpoint when no checkpoint of that size was
   published, checkpoint-mismatch when another one was). A witness can therefore never put
   a cosignature of a fork into this store; a valid cosignature of a checkpoint this log never
   published is evidence of a split view and is logged as such.

Storing keeps the newest cosignature per (size, witness key): a witness cosigns an unchanged
checkpoint again with a fresh timestamp (so verifiers can demand recent cosignatures), and an
older or equal one is acknowledged and dropped.
"""

from __future__ import annotations

import base64
import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ledger.checkpoint import Checkpoint
from ledger.cosignature import Cosignature, WitnessKey, verify_cosignature
from ledger.entry import format_time
from ledger.errors import InvalidSignature, MalformedInput
from ledger.note import Note
from ledger.sql import storage
from services.errors import Conflict, Forbidden, RuleViolation
from services.witnesses import queries
from services.witnesses.models import LogCosignature

MAX_SUBMISSION_BYTES = 16 * 1024
"""The largest cosignature submission read (a checkpoint note is a few hundred bytes)."""
MAX_CLOCK_SKEW_SECONDS = 600
"""How far ahead of the service's clock a cosignature's timestamp may be."""
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Accepted:
    """One cosignature of an accepted submission; `stored` is False when the store already
    had one by this witness key for this checkpoint, as new or newer."""

    witness: str
    key_id: str
    timestamp: int
    stored: bool


def _parse(text: str | bytes) -> tuple[Note, Checkpoint]:
    size = len(text.encode("utf-8")) if isinstance(text, str) else len(text)
    if size > MAX_SUBMISSION_BYTES:
        raise MalformedInput(
            f"cosignatures: expected at most {MAX_SUBMISSION_BYTES} bytes, found {size}",
            field="body",
        )
    note = Note.from_text(text)
    return note, Checkpoint.from_text(note.text)


def _by_witnesses(session: Session, note: Note) -> list[tuple[WitnessKey, Cosignature]]:
    """Steps 2 and 3: the lines by active witness keys, each verified."""
    rows = {
        (w.name, w.key_id): w
        for w in queries.witnesses_named(session, {s.name for s in note.signatures})
    }
    found: list[tuple[WitnessKey, Cosignature]] = []
    removed: list[str] = []
    for sig in note.signatures:
        row = rows.get((sig.name, sig.key_id.hex()))
        if row is None:
            continue  # the log's own line, or a key nobody registered: ignored
        if row.status != "active":
            removed.append(f"{row.name}+{row.key_id}")
            continue
        key = WitnessKey(row.name, bytes.fromhex(row.key_id), bytes(row.public_key))
        try:
            cosignature = Cosignature.from_note_signature(sig)
        except MalformedInput as exc:
            raise RuleViolation("bad-cosignature", str(exc), field="body") from exc
        found.append((key, cosignature))
    if not found:
        if removed:
            raise Forbidden(
                "witness-removed",
                f"cosignatures only by removed witness keys ({', '.join(removed)})",
                field="body",
            )
        names = ", ".join(f"{s.name}+{s.key_id.hex()}" for s in note.signatures)
        raise Forbidden(
            "unknown-witness",
            f"expected a cosignature by a registered witness, found lines by {names}",
            field="body",
        )
    for key, cosignature in found:
        try:
            verify_cosignature(note.text, cosignature, key)
        except InvalidSignature as exc:
            raise RuleViolation("bad-cosignature", str(exc), field="body") from exc
    return found


def _check_time(found: list[tuple[WitnessKey, Cosignature]], now: datetime) -> None:
    latest = int(now.timestamp()) + MAX_CLOCK_SKEW_SECONDS
    for key, cosignature in found:
        if cosignature.timestamp > latest:
            raise RuleViolation(
                "cosignature-from-the-future",
                f"cosignature by {key.name} at time {cosignature.timestamp}: expected at most "
                f"{latest} (the service's clock plus {MAX_CLOCK_SKEW_SECONDS} s)",
                field="body",
            )


def _check_published(
    conn: Connection,
    note: Note,
    checkpoint: Checkpoint,
    found: list[tuple[WitnessKey, Cosignature]],
) -> None:
    """Step 4: the body is byte for byte the checkpoint this log published at that size."""
    published = storage.checkpoint_at(conn, checkpoint.size)
    witnesses = ", ".join(key.name for key, _ in found)
    if published is None:
        raise Conflict(
            "unknown-checkpoint",
            f"this log published no checkpoint of tree size {checkpoint.size}",
            field="body",
        )
    if Note.from_text(published.note).text != note.text:
        log.warning(
            "split view? witnesses %s cosigned a checkpoint of size %d with root %s; this log "
            "published root %s at that size",
            witnesses,
            checkpoint.size,
            checkpoint.root_hash.hex(),
            published.root_hash.hex(),
        )
        raise Conflict(
            "checkpoint-mismatch",
            f"this log published another checkpoint of tree size {checkpoint.size} (root "
            f"{base64.b64encode(published.root_hash).decode()}): it did not publish this one",
            field="body",
        )


def accept_cosignatures(
    engine: Engine, text: str | bytes, now: datetime
) -> tuple[int, list[Accepted]]:
    """Check a cosigned checkpoint (module docstring) and store its witnesses' cosignatures.
    Returns the checkpoint's tree size and what was accepted.

    Raises MalformedInput (400), Forbidden (403), RuleViolation (422) or Conflict (409).
    """
    note, checkpoint = _parse(text)
    received = format_time(now)
    for attempt in (1, 2):
        try:
            with storage.write_transaction(engine) as conn:
                session = Session(bind=conn, autoflush=False)
                found = _by_witnesses(session, note)
                _check_time(found, now)
                _check_published(conn, note, checkpoint, found)
                out = [_store(session, checkpoint.size, k, c, received) for k, c in found]
                session.flush()
                return checkpoint.size, out
        except IntegrityError:  # a concurrent submission stored the same one first
            if attempt == 2:
                raise
    raise AssertionError("unreachable")  # pragma: no cover


def _store(
    session: Session, size: int, key: WitnessKey, cosignature: Cosignature, received: str
) -> Accepted:
    key_id = key.key_id.hex()
    kept = queries.stored_cosignature(session, size, key.name, key_id)
    if kept is not None:
        if kept.timestamp >= cosignature.timestamp:
            return Accepted(key.name, key_id, cosignature.timestamp, stored=False)
        # A fresher cosignature of the same checkpoint: it says more (the log was still at
        # this size then), and one row per witness key keeps the shown note bounded.
        kept.timestamp = cosignature.timestamp
        kept.signature = cosignature.signature
        kept.received_at = received
        session.flush()
        return Accepted(key.name, key_id, cosignature.timestamp, stored=True)
    session.add(
        LogCosignature(
            size=size,
            witness=key.name,
            key_id=key_id,
            timestamp=cosignature.timestamp,
            signature=cosignature.signature,
            received_at=received,
        )
    )
    session.flush()  # a second line by the same key in one note finds this one
    return Accepted(key.name, key_id, cosignature.timestamp, stored=True)
