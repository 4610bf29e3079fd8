"""Reads of witnesses and their cosignatures, and the checkpoint as shown with them.

`checkpoint_note` is the signed checkpoint followed by its active witnesses' cosignature
lines; `witnessed_sizes` names, for verifiers with a witness policy, the newest checkpoints
with one, two, ... cosignatures (GET /api/c/{token} proves the entry against them too).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Connection, func, select
from sqlalchemy.orm import Session

from ledger.cosignature import Cosignature
from ledger.errors import OutOfRange, StorageError
from ledger.sql import storage
from services.witnesses.models import LogCosignature, Witness

MAX_COSIGNATURES_SHOWN = 50
"""Cosignature lines appended to one checkpoint note (a note holds at most 100 lines)."""


def witness(session: Session, name: str, key_id: str) -> Witness | None:
    """The witness key (name, hex key id), whatever its status."""
    return session.get(Witness, (name, key_id))


def active_witness(session: Session, name: str) -> Witness | None:
    """The active key of the witness called `name` (at most one)."""
    return session.scalars(
        select(Witness).where(Witness.name == name, Witness.status == "active")
    ).first()


def witness_with_public_key(session: Session, public_key: bytes) -> Witness | None:
    """Any witness (of any name or status) registered with this Ed25519 public key."""
    return session.scalars(select(Witness).where(Witness.public_key == public_key)).first()


def witnesses_named(session: Session, names: Iterable[str]) -> list[Witness]:
    """Every key, active or removed, of the witnesses with these names."""
    wanted = sorted(set(names))
    if not wanted:
        return []
    return list(session.scalars(select(Witness).where(Witness.name.in_(wanted))))


def all_witnesses(session: Session) -> list[Witness]:
    """Every witness key ever registered, in order of registration."""
    return list(session.scalars(select(Witness).order_by(Witness.registered_index)))


def stored_cosignature(
    session: Session, size: int, name: str, key_id: str
) -> LogCosignature | None:
    return session.get(LogCosignature, (size, name, key_id))


def shown_cosignatures(conn: Connection, size: int, limit: int) -> Sequence[Any]:
    """The cosignatures of the checkpoint of `size` by witnesses that are still active,
    oldest first: rows of (witness, key_id, timestamp, signature)."""
    query = (
        select(
            LogCosignature.witness,
            LogCosignature.key_id,
            LogCosignature.timestamp,
            LogCosignature.signature,
        )
        .join(
            Witness,
            (Witness.name == LogCosignature.witness) & (Witness.key_id == LogCosignature.key_id),
        )
        .where(LogCosignature.size == size, Witness.status == "active")
        .order_by(LogCosignature.timestamp, LogCosignature.witness, LogCosignature.key_id)
        .limit(limit)
    )
    return conn.execute(query).all()


def cosigned_sizes(conn: Connection, limit: int) -> list[tuple[int, int]]:
    """The newest `limit` checkpoint sizes that still-active witnesses cosigned, largest
    first, each with how many active witness keys cosigned it."""
    query = (
        select(LogCosignature.size, func.count())
        .join(
            Witness,
            (Witness.name == LogCosignature.witness) & (Witness.key_id == LogCosignature.key_id),
        )
        .where(Witness.status == "active")
        .group_by(LogCosignature.size)
        .order_by(LogCosignature.size.desc())
        .limit(limit)
    )
    return [(int(size), int(count)) for size, count in conn.execute(query)]


def witnesses_with_url(session: Session) -> list[Witness]:
    """The active witness keys registered with a submission URL, in order of registration."""
    return list(
        session.scalars(
            select(Witness)
            .where(Witness.status == "active", Witness.url.is_not(None))
            .order_by(Witness.registered_index)
        )
    )


def last_cosigned_size(session: Session, name: str, key_id: str) -> int:
    """The largest checkpoint size this witness key cosigned here (0 if none): the size the
    log believes the witness last saw."""
    found = session.scalar(
        select(func.max(LogCosignature.size)).where(
            LogCosignature.witness == name, LogCosignature.key_id == key_id
        )
    )
    return 0 if found is None else int(found)


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
        for row in shown_cosignatures(conn, published.size, MAX_COSIGNATURES_SHOWN)
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
    for size, count in cosigned_sizes(conn, _COSIGNED_SIZES_READ):
        if size <= covering:
            break
        while count >= need and len(found) < MAX_WITNESSED_SHOWN:
            if size < latest and size not in found:
                found.append(size)
            need += 1
    return found
