"""Rules of witnesses: registration and removal through the log, acceptance of their
cosignatures, and the checkpoint as shown with them.

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

`witnessed_sizes` names, for verifiers with a witness policy, the newest checkpoints with one,
two, ... cosignatures (GET /api/c/{token} proves the entry against them too).
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
from ledger.errors import InvalidSignature, MalformedInput, OutOfRange, StorageError
from ledger.note import Note
from ledger.sql import storage
from schemas.events import WitnessRegistered, WitnessRemoved
from services.errors import Conflict, Forbidden, NotFound, RuleViolation
from services.pipeline import Applied, Context, Rules
from services.roles import GOVERNMENT
from services.witnesses import repository
from services.witnesses.models import LogCosignature, Witness

rules = Rules()  # this domain's handlers, projectors, followers (see domain.py)

MAX_SUBMISSION_BYTES = 16 * 1024
"""The largest cosignature submission read (a checkpoint note is a few hundred bytes)."""
MAX_CLOCK_SKEW_SECONDS = 600
"""How far ahead of the service's clock a cosignature's timestamp may be."""
MAX_COSIGNATURES_SHOWN = 50
"""Cosignature lines appended to one checkpoint note (a note holds at most 100 lines)."""

log = logging.getLogger(__name__)


# --- registration through the log -------------------------------------------------------------


def _witness_key(body: WitnessRegistered) -> WitnessKey:
    try:
        key = WitnessKey.from_vkey(body.key)
    except MalformedInput as exc:
        raise RuleViolation("bad-witness-key", f"key: {exc}", field="body.key") from exc
    if key.name != body.witness:
        raise RuleViolation(
            "witness-name-mismatch",
            f"key: expected a key named {body.witness!r}, found one named {key.name!r}",
            field="body.key",
        )
    return key


@rules.handles("witness.registered", WitnessRegistered, GOVERNMENT)
def _register_witness(ctx: Context, body: WitnessRegistered) -> None:
    key = _witness_key(body)
    if repository.active_witness(ctx.session, body.witness) is not None:
        raise Conflict(
            "witness-exists",
            f"witness {body.witness} is registered: remove its key first to register another",
            field="body.witness",
        )
    if repository.witness(ctx.session, key.name, key.key_id.hex()) is not None:
        raise Conflict(
            "witness-key-removed",
            f"this key of {body.witness} was removed and cannot be registered again",
            field="body.key",
        )
    other = repository.witness_with_public_key(ctx.session, key.public_key)
    if other is not None:
        # cosignature/v1 does not commit to the witness's name (c2sp.org/tlog-cosignature)
        raise Conflict(
            "witness-key-reused",
            f"this public key is already registered for witness {other.name}: "
            "each witness needs a key of its own",
            field="body.key",
        )


@rules.projects("witness.registered")
def _project_witness(s: Session, e: Applied) -> None:
    key = WitnessKey.from_vkey(e.body["key"])
    s.add(
        Witness(
            name=key.name,
            key_id=key.key_id.hex(),
            public_key=key.public_key,
            vkey=key.vkey,
            status="active",
            registered_index=e.index,
            registered_by=e.actor,
            url=e.body.get("url"),
        )
    )


@rules.handles("witness.removed", WitnessRemoved, GOVERNMENT)
def _remove_witness(ctx: Context, body: WitnessRemoved) -> None:
    if repository.active_witness(ctx.session, body.witness) is None:
        raise NotFound(
            "unknown-witness",
            f"no registered witness {body.witness!r} (or it was removed already)",
            field="body.witness",
        )


@rules.projects("witness.removed")
def _project_witness_removed(s: Session, e: Applied) -> None:
    row = repository.active_witness(s, e.body["witness"])
    assert row is not None
    row.status = "removed"
    row.removed_index = e.index
    row.removed_by = e.actor
    row.removed_reason = e.body["reason"]


# --- cosignatures ----------------------------------------------------------------------------


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
        for w in repository.witnesses_named(session, {s.name for s in note.signatures})
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
    kept = repository.stored_cosignature(session, size, key.name, key_id)
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


# --- the checkpoint as shown -----------------------------------------------------------------


def checkpoint_note(conn: Connection, size: int | None = None) -> str:
    """The signed checkpoint note (the latest, or the one published at `size`) followed by
    the cosignature lines of its active witnesses (C2SP: extra signature lines after the
    log's own), oldest first, at most MAX_COSIGNATURES_SHOWN.

    Raises StorageError when the log has published nothing, OutOfRange when no checkpoint
    of `size` was published.
    """
    if size is None:
        published = storage.latest_checkpoint(conn)
        if published is None:
            raise StorageError("no checkpoint published yet: the log is not initialised")
    else:
        published = storage.checkpoint_at(conn, size)
        if published is None:
            raise OutOfRange(f"no checkpoint of tree size {size} was published", field="size")
    lines = [
        Cosignature(
            name=str(row.witness),
            key_id=bytes.fromhex(str(row.key_id)),
            timestamp=int(row.timestamp),
            signature=bytes(row.signature),
        ).to_line()
        for row in repository.shown_cosignatures(conn, published.size, MAX_COSIGNATURES_SHOWN)
    ]
    return published.note + "".join(lines)


MAX_WITNESSED_SHOWN = 3
"""At most this many witnessed checkpoints besides the latest go with a certificate verdict."""
_COSIGNED_SIZES_READ = 32


def witnessed_sizes(conn: Connection, latest: int, covering: int) -> list[int]:
    """Sizes of the newest checkpoints with k = 1, 2, ... active witnesses' cosignatures
    (largest first, distinct, at most MAX_WITNESSED_SHOWN), smaller than `latest` (whose
    note carries its own cosignatures) and larger than `covering` (they hold that entry).

    A verifier with a witness policy picks the newest of these (or the latest) that its
    pinned witnesses cosigned recently enough; the log cannot know which witnesses it pins.
    """
    found: list[int] = []
    need = 1
    for size, count in repository.cosigned_sizes(conn, _COSIGNED_SIZES_READ):
        if size <= covering:
            break
        while count >= need and len(found) < MAX_WITNESSED_SHOWN:
            if size < latest and size not in found:
                found.append(size)
            need += 1
    return found
