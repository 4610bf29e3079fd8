"""Every lot's status as a map the log commits to, and the proofs a verifier checks.

The last entry of every append the service makes is a ``state.root`` entry
(``ledger.statemap.StateRoot``): the root of the sparse Merkle map of every lot's
``LotState`` after the entries before it. :func:`close` computes it in the append's
transaction, after the entries were projected: the lots the append touched are those with
a history row (``lot_events``) at or after its first index; their states are read from the
projection tables (:func:`table_states`, the same facts as the pure
``ledger.lotstate.LotStates``: tests/ledger/test_lotstate.py compares them field by field),
set in the map (``ledger.sql.statemap``), and the new root goes into the entry. So every
checkpoint the service publishes ends with the state as of that checkpoint, and a status
proof (:func:`status_proof`) is read from the map's tables, never from ``certificates`` or
``lots``: an insider's edit of a projection table does not change what a proof says, and
``altan audit`` recomputes the map from the entries and names the first root that differs.

This lives in the certificates domain because the state reads certificates (the current
one, the revoked ones), lots and cases: the lowest domain that may read all three.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from sqlalchemy import Connection, Engine, func, select
from sqlalchemy.orm import Session

from ledger.encoding import b64encode
from ledger.entry import Entry, Event
from ledger.merkle import inclusion_proof
from ledger.sql import statemap as store
from ledger.sql import storage
from ledger.statemap import STATE_ROOT_TYPE, LotState, StateRoot
from schemas.certificates import StatusProof, StatusRoot
from services.cases.models import Case
from services.certificates.models import CertificateRecord
from services.errors import Conflict
from services.identity import SYSTEM_ACTOR
from services.lots.models import Lot, LotEvent
from services.lots.queries import BLOCKING_STATUSES
from services.witnesses.queries import checkpoint_note

_CHUNK = 2000


def _chunks(ids: Sequence[str]) -> Iterable[Sequence[str]]:
    for i in range(0, len(ids), _CHUNK):
        yield ids[i : i + _CHUNK]


def table_states(session: Session, lot_ids: Iterable[str] | None = None) -> dict[str, LotState]:
    """The state of each lot (every lot when ``lot_ids`` is None) as the projection tables
    say: ``lots`` (status, custodian, owner, remaining), ``certificates`` (the current one:
    neither superseded nor revoked, the latest issued; the revoked ones), ``lot_events`` (the
    latest index) and ``cases`` (holds on the lot that still block). Lots that do not
    exist are left out."""
    conn = session.connection()
    ids = list(conn.scalars(select(Lot.id))) if lot_ids is None else sorted(set(lot_ids))
    out: dict[str, LotState] = {}
    for chunk in _chunks(ids):
        latest = conn.execute(
            select(LotEvent.lot_id, func.max(LotEvent.index))
            .where(LotEvent.lot_id.in_(chunk))
            .group_by(LotEvent.lot_id)
        )
        out.update(_states(conn, {lot_id: int(index) for lot_id, index in latest}))
    return out


# Core selects on the connection (not the ORM session): the closer runs them on every append.


def _states(conn: Connection, latest: Mapping[str, int]) -> dict[str, LotState]:
    """The states of the lots of ``latest`` (lot id -> the index of its latest entry)."""
    ids = list(latest)
    current: dict[str, tuple[int, str]] = {}
    revoked: dict[str, list[str]] = {}
    certs = select(
        CertificateRecord.lot_id,
        CertificateRecord.id,
        CertificateRecord.issued_index,
        CertificateRecord.superseded_by,
        CertificateRecord.revoked_index,
    ).where(CertificateRecord.lot_id.in_(ids))
    for lot_id, cert_id, issued, superseded, revoked_at in conn.execute(certs):
        if revoked_at is not None:
            revoked.setdefault(lot_id, []).append(cert_id)
        elif superseded is None and (lot_id not in current or issued > current[lot_id][0]):
            current[lot_id] = (issued, cert_id)
    holds: dict[str, list[str]] = {}
    for case_id, target in conn.execute(
        select(Case.id, Case.target_id).where(
            Case.kind == "hold",
            Case.target_kind == "lot",
            Case.target_id.in_(ids),
            Case.status.in_(BLOCKING_STATUSES),
        )
    ):
        holds.setdefault(target, []).append(case_id)
    out: dict[str, LotState] = {}
    lots = select(Lot.id, Lot.status, Lot.custodian_id, Lot.owner_id, Lot.remaining)
    for lot_id, status, custodian, owner, remaining in conn.execute(lots.where(Lot.id.in_(ids))):
        cert = current.get(lot_id)
        out[lot_id] = LotState(
            status=status,
            custodian=custodian,
            owner=owner,
            certificate=None if cert is None else cert[1],
            mass_left=int(remaining),
            latest_index=latest[lot_id],
            holds=tuple(sorted(holds.get(lot_id, ()))),
            revoked=tuple(sorted(revoked.get(lot_id, ()))),
        )
    return out


def close(session: Session, start: int, size: int) -> Event:
    """The ``state.root`` entry that ends an append whose first entry is at ``start`` and
    which will itself be entry ``size``: the lots touched since ``start`` are updated in
    the map, in the caller's transaction, and the new root is returned in the entry."""
    session.flush()
    conn = session.connection()
    # A touched lot has a history row at or after `start`, so its latest is among them.
    latest = {
        lot_id: int(index)
        for lot_id, index in conn.execute(
            select(LotEvent.lot_id, func.max(LotEvent.index))
            .where(LotEvent.index >= start)
            .group_by(LotEvent.lot_id)
        )
    }
    head = store.read_head(conn)
    mstore = store.MapStore(conn)
    if latest:
        states: dict[str, LotState] = {}
        touched = sorted(latest)
        for chunk in _chunks(touched):
            states.update(_states(conn, {lot_id: latest[lot_id] for lot_id in chunk}))
        head = mstore.update(states, head, size)
    else:
        head = store.Head(head.root, head.lots, size)
        mstore.set_head(head)
    return Event(STATE_ROOT_TYPE, SYSTEM_ACTOR, StateRoot(head.root, size, head.lots).body())


def rebuild_map(session: Session) -> store.Head:
    """Write the map anew from the projection tables (after a replay of the log), committed
    by the last ``state.root`` entry; the root must be the one that entry holds."""
    conn = session.connection()
    size = storage.read_size(conn)
    last = _last_state_root(conn, size)
    head = store.replace(conn, table_states(session), -1 if last is None else last.size)
    if last is not None and last.root != head.root:
        raise Conflict(
            "state-root-mismatch",
            f"the lot states replayed from the log do not give the map root of the state.root "
            f"entry at index {last.size}: audit the log (altan audit)",
        )
    return head


def ensure_map(engine: Engine) -> None:
    """Write the map from the projection tables if it was never written (a database from
    before the map, with lots already); the next append commits it."""
    with storage.write_transaction(engine) as conn:
        storage.lock_head(conn)
        if not store.has_head(conn):
            rebuild_map(Session(bind=conn, autoflush=False))


def _last_state_root(conn: Connection, size: int) -> StateRoot | None:
    for start in range(size, 0, -1000):
        rows = storage.read_entries(conn, max(0, start - 1000), start)
        for row in reversed(rows):
            entry = Entry.from_bytes(row.entry)
            if entry.event.type == STATE_ROOT_TYPE:
                return StateRoot.from_entry(entry)
    return None


def status_proof(conn: Connection, lot_id: str) -> StatusProof | None:
    """The proof of the lot's committed state (or of its absence) against the latest
    checkpoint, whose last entry is the ``state.root`` holding the map's root; None when
    the log has no such checkpoint yet (an empty log, or one written before the map)."""
    checkpoint = storage.latest_checkpoint(conn)
    head = store.read_head(conn)
    if checkpoint is None or checkpoint.size == 0 or head.root_index != checkpoint.size - 1:
        return None
    mstore = store.MapStore(conn)
    state = mstore.state(lot_id)
    proof = mstore.prove(lot_id, head.lots)
    (row,) = storage.read_entries(conn, head.root_index, head.root_index + 1)
    path = inclusion_proof(storage.NodeTable(conn), head.root_index, checkpoint.size)
    return StatusProof(
        lot=lot_id,
        state=None if state is None else state.to_json(),
        map_proof=proof.to_json(),
        root=StatusRoot(
            index=head.root_index,
            entry=b64encode(row.entry),
            inclusion=[b64encode(h) for h in path],
        ),
        tree_size=checkpoint.size,
        checkpoint=checkpoint_note(conn, checkpoint.size),
    )
