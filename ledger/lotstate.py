"""Every lot's current state as the log defines it: the pure projection the state map commits to.

:class:`LotStates` reads log entries in index order (``Entry.event.type``, ``.actor``,
``.body``; nothing else: no time, no table) and keeps, for every lot id, a
:class:`ledger.statemap.LotState`. The service projects the same entries into its tables
(``services/lots/projectors.py``, ``services/certificates/projectors.py``,
``services/cases/projectors.py``); this module mirrors them field for field, so that
``altan audit`` can recompute the map from the entries alone and name an edited table.
tests/ledger/test_lotstate.py compares both, every field of every lot, over worlds built
through the real service.

The fields of a lot's state (the JSON object :meth:`LotState.to_json` hashes)::

    status        the service's ``lots.status``: "active" (tradable or processable),
                  "closed" (nothing left: consumed by processing, split or merged),
                  "exported" or "refined" (left the system as it was; terminal)
    custodian     actor id holding the lot (``lots.custodian_id``): the receiving centre
                  for ore; the producing centre, then whoever accepted a transfer, for gold
    owner         actor id owning it (``lots.owner_id``): the delivering miner or
                  partnership for ore; like the custodian for gold
    certificate   id of the lot's current certificate (``certificates.id``: hex of the
                  first 16 bytes of SHA-256 of the token): the latest issued for the lot
                  that is neither superseded nor revoked; null when there is none
    mass_left     ``lots.remaining``, in the lot's unit: GRAMS for an ore lot (created by
                  ``ore.delivered``), MILLIGRAMS for a gold lot (created by
                  ``processing.recorded``, ``lot.split``, ``lots.merged``); 0 once closed;
                  an exported or refined lot keeps what it had
    latest_index  index of the latest entry about the lot: the last row of its history
                  (``lot_events``), the index of the entry that last changed this state
    holds         ids of the open holds on the lot itself, sorted: cases of kind "hold"
                  targeting this lot whose status is "raised", "responded" or
                  "escalated". Red flags and disputes are not holds; holds on the lot's
                  custodian, owner, miner or site stop it trading too (the service's
                  ``lot_holds``) but are not part of the lot's state: they are facts about
                  those actors and sites, and one would change every lot they ever held
    revoked       ids of the lot's certificates that were revoked, sorted (the service's
                  ``certificates.revoked_index`` not null): a verifier tells "revoked"
                  from "superseded" by the proof alone

What each event type changes (every lot it touches gets ``latest_index`` = its index)::

    ore.delivered          new ore lot body.lot: active, custodian = the entry's actor,
                           owner = body.miner, mass_left = body.mass_g (g)
    processing.recorded    each input lot: mass_left -= its mass_g; "closed" at 0;
                           each output: new gold lot, active, custodian = owner = the
                           actor, mass_left = its mass_mg (mg)
    assay.recorded         body.lot: only latest_index
    lot.split              body.lot: closed, mass_left 0; each part: new lot, active,
                           custodian and owner of the parent, mass_left = its mass_mg
    lots.merged            each of body.lots: closed, mass_left 0; body.into: new lot,
                           active, custodian and owner of the first, mass_left = the sum
                           of what the merged lots had left
    transfer.offered       body.lot: only latest_index (the offer is remembered)
    transfer.accepted      the offer's lot: custodian = owner = the offer's body.to
    transfer.rejected,     the offer's lot: only latest_index
    transfer.cancelled
    lot.exported           body.lot: status "exported" (mass_left unchanged)
    lot.refined            body.lot: status "refined" (mass_left unchanged)
    certificate.requested  body.lot: only latest_index
    certificate.issued     body.lot: certificate = body.certificate; unless body.kind is
                           "ore_receipt", every earlier certificate of the lot still
                           standing is superseded (an ore lot has its one receipt)
    certificate.revoked    the certificate's lot: that certificate joins revoked (the
                           lot's certificate becomes null if it was the current one: the
                           one it superseded stays superseded)
    case.opened            target kind "lot": latest_index; kind "hold": an open hold
    case.responded,        a case on a lot: latest_index; a hold is open again after
    case.escalated         "responded" or "escalated", as the service's status says
    case.resolved          a case on a lot: latest_index; a hold is no longer open
    anything else          nothing (correction.recorded, actors, sites, witnesses, a
                           state.root entry, a type this module does not know)

Order and replays: entries are applied strictly in index order from 0; an entry whose
index is not :attr:`LotStates.size` is refused with :class:`ChainBroken` and changes
nothing (so applying an entry twice is refused, never counted twice). An entry the service
could not have projected (a lot created twice, an unknown lot, offer, case or certificate,
a body without its fields) raises :class:`StateProjectionError` naming its index; the
projection is then broken and refuses every later entry.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from ledger.entry import Entry
from ledger.errors import ChainBroken, StateProjectionError
from ledger.statemap import LotState

__all__ = [
    "ACTIVE",
    "BLOCKING_STATUSES",
    "CLOSED",
    "EVENT_TYPES",
    "EXPORTED",
    "REFINED",
    "LotStates",
    "StateProjectionError",
]

ACTIVE: Final = "active"
CLOSED: Final = "closed"
EXPORTED: Final = "exported"
REFINED: Final = "refined"
BLOCKING_STATUSES: Final = frozenset({"raised", "responded", "escalated"})
"""A hold's case statuses in which it blocks trade (``services.lots.queries``)."""

_CASE_STATUS: Final = {
    "case.responded": "responded",
    "case.escalated": "escalated",
    "case.resolved": "resolved",
}


def _failed(index: int, message: str) -> StateProjectionError:
    return StateProjectionError(f"entry {index}: {message}", index=index)


@dataclass
class _Lot:
    status: str
    custodian: str
    owner: str
    remaining: int
    latest: int
    holds: set[str] = field(default_factory=set)
    revoked: set[str] = field(default_factory=set)
    standing: list[str] = field(default_factory=list)  # not superseded, in issue order


@dataclass(frozen=True)
class _Case:
    lot: str | None  # the target lot, None when the case is about an actor or a site
    hold: bool


class _Bad(Exception):
    """Raised inside a projector; `apply` turns it into a StateProjectionError."""


def _text(body: Mapping[str, Any], name: str) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value:
        raise _Bad(f"body.{name}: expected a non-empty string, got {value!r}"[:200])
    return value


def _mass(item: Mapping[str, Any], name: str) -> int:
    value = item.get(name)
    if type(value) is not int or value < 0:
        raise _Bad(f"{name}: expected a non-negative integer, got {value!r}"[:200])
    return value


def _items(body: Mapping[str, Any], name: str) -> list[Any]:
    value = body.get(name)
    if not isinstance(value, list) or not value:
        raise _Bad(f"body.{name}: expected a non-empty list")
    return value


def _object(value: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise _Bad(f"{what}: expected an object")
    return value


class LotStates:
    """Every lot's state, projected from log entries applied in index order.

    ``apply(entry)`` returns the ids of the lots whose state it changed; ``state(lot_id)``
    gives a lot's :class:`LotState` (None for a lot the log never created);
    ``lot_of(certificate_id)`` the lot a certificate was issued for.
    """

    def __init__(self) -> None:
        self._size = 0
        self._broken: int | None = None
        self._lots: dict[str, _Lot] = {}
        self._certificates: dict[str, str] = {}  # certificate id -> lot id
        self._revoked: set[str] = set()
        self._offers: dict[str, tuple[str, str]] = {}  # offer id -> (lot id, to)
        self._cases: dict[str, _Case] = {}

    # --- reading -----------------------------------------------------------------------

    @property
    def size(self) -> int:
        """How many entries were applied: the index the next one must have."""
        return self._size

    def __len__(self) -> int:
        return len(self._lots)

    def __contains__(self, lot_id: object) -> bool:
        return lot_id in self._lots

    def lot_ids(self) -> Iterator[str]:
        """Every lot id the log created, in creation order."""
        return iter(self._lots)

    def state(self, lot_id: str) -> LotState | None:
        """The lot's current state, or None if the log never created it."""
        lot = self._lots.get(lot_id)
        if lot is None:
            return None
        return LotState(
            status=lot.status,
            custodian=lot.custodian,
            owner=lot.owner,
            certificate=self._current(lot),
            mass_left=lot.remaining,
            latest_index=lot.latest,
            holds=tuple(sorted(lot.holds)),
            revoked=tuple(sorted(lot.revoked)),
        )

    def states(self) -> dict[str, LotState]:
        """Every lot's state, by lot id."""
        out: dict[str, LotState] = {}
        for lot_id in self._lots:
            state = self.state(lot_id)
            assert state is not None
            out[lot_id] = state
        return out

    def lot_of(self, certificate_id: str) -> str | None:
        """The lot a certificate (or receipt) was issued for, or None if none was."""
        return self._certificates.get(certificate_id)

    def certificates(self) -> Mapping[str, str]:
        """Every issued certificate's id -> its lot id (read only)."""
        return self._certificates

    def _current(self, lot: _Lot) -> str | None:
        for cert in reversed(lot.standing):
            if cert not in self._revoked:
                return cert
        return None

    # --- applying ----------------------------------------------------------------------

    def apply(self, entry: Entry) -> set[str]:
        """Apply the next entry; return the ids of the lots whose state it changed.

        Raises :class:`ChainBroken` (nothing changed) when ``entry.index`` is not
        :attr:`size`, and :class:`StateProjectionError` when the entry cannot be projected
        (the projection is broken from then on).
        """
        if self._broken is not None:
            raise _failed(entry.index, f"the projection broke at entry {self._broken}")
        if entry.index != self._size:
            raise ChainBroken(
                f"lot states: expected entry {self._size} next, got entry {entry.index}"
            )
        project = _PROJECTORS.get(entry.event.type)
        touched: list[str] = []
        if project is not None:
            try:
                touched = project(self, entry.index, entry.event.actor, entry.event.body)
            except _Bad as exc:
                self._broken = entry.index
                raise _failed(entry.index, f"{entry.event.type}: {exc}") from None
            except (KeyError, TypeError, ValueError, AttributeError) as exc:
                self._broken = entry.index
                raise _failed(
                    entry.index, f"{entry.event.type}: malformed body ({exc!r})"[:300]
                ) from None
            for lot_id in touched:
                self._lots[lot_id].latest = entry.index
        self._size += 1
        return set(touched)

    def apply_all(self, entries: Iterable[Entry]) -> set[str]:
        """Apply entries in order; return the ids of every lot whose state changed."""
        changed: set[str] = set()
        for entry in entries:
            changed |= self.apply(entry)
        return changed

    # --- the projectors (each returns the lots it touched) ------------------------------

    def _lot(self, lot_id: Any) -> _Lot:
        lot = self._lots.get(lot_id) if isinstance(lot_id, str) else None
        if lot is None:
            raise _Bad(f"no lot {lot_id!r}"[:200])
        return lot

    def _create(self, lot_id: Any, lot: _Lot) -> str:
        if not isinstance(lot_id, str) or not lot_id:
            raise _Bad(f"a lot id must be a non-empty string, got {lot_id!r}"[:200])
        if lot_id in self._lots:
            raise _Bad(f"lot {lot_id} already exists")
        self._lots[lot_id] = lot
        return lot_id

    def _delivered(self, index: int, actor: str, body: Mapping[str, Any]) -> list[str]:
        lot = _Lot(ACTIVE, actor, _text(body, "miner"), _mass(body, "mass_g"), index)
        return [self._create(body.get("lot"), lot)]

    def _processed(self, index: int, actor: str, body: Mapping[str, Any]) -> list[str]:
        inputs = [_object(item, "body.inputs[]") for item in _items(body, "inputs")]
        outputs = [_object(out, "body.outputs[]") for out in _items(body, "outputs")]
        touched = []
        for item in inputs:
            lot = self._lot(item.get("lot"))
            used = _mass(item, "mass_g")
            if used > lot.remaining:
                raise _Bad(f"input {item['lot']}: {used} g used, {lot.remaining} g left")
            lot.remaining -= used
            if lot.remaining == 0:
                lot.status = CLOSED
            touched.append(item["lot"])
        for out in outputs:
            made = _Lot(ACTIVE, actor, actor, _mass(out, "mass_mg"), index)
            touched.append(self._create(out.get("lot"), made))
        return touched

    def _assayed(self, index: int, actor: str, body: Mapping[str, Any]) -> list[str]:
        self._lot(body.get("lot"))
        return [body["lot"]]

    def _split(self, index: int, actor: str, body: Mapping[str, Any]) -> list[str]:
        parent = self._lot(body.get("lot"))
        touched = [body["lot"]]
        for part in (_object(p, "body.into[]") for p in _items(body, "into")):
            made = _Lot(ACTIVE, parent.custodian, parent.owner, _mass(part, "mass_mg"), index)
            touched.append(self._create(part.get("lot"), made))
        parent.remaining = 0
        parent.status = CLOSED
        return touched

    def _merged(self, index: int, actor: str, body: Mapping[str, Any]) -> list[str]:
        ids = _items(body, "lots")
        parents = [self._lot(lot_id) for lot_id in ids]
        first = parents[0]
        made = _Lot(ACTIVE, first.custodian, first.owner, sum(p.remaining for p in parents), index)
        into = self._create(body.get("into"), made)
        for p in parents:
            p.remaining = 0
            p.status = CLOSED
        return [*ids, into]

    def _offered(self, index: int, actor: str, body: Mapping[str, Any]) -> list[str]:
        self._lot(body.get("lot"))
        offer = _text(body, "offer")
        if offer in self._offers:
            raise _Bad(f"offer {offer} already exists")
        self._offers[offer] = (body["lot"], _text(body, "to"))
        return [body["lot"]]

    def _offer(self, body: Mapping[str, Any]) -> tuple[str, str]:
        offer = self._offers.get(_text(body, "offer"))
        if offer is None:
            raise _Bad(f"no offer {body['offer']!r}"[:200])
        return offer

    def _accepted(self, index: int, actor: str, body: Mapping[str, Any]) -> list[str]:
        lot_id, to = self._offer(body)
        lot = self._lot(lot_id)
        lot.custodian = to
        lot.owner = to
        return [lot_id]

    def _offer_closed(self, index: int, actor: str, body: Mapping[str, Any]) -> list[str]:
        return [self._offer(body)[0]]

    def _exported(self, index: int, actor: str, body: Mapping[str, Any]) -> list[str]:
        self._lot(body.get("lot")).status = EXPORTED
        return [body["lot"]]

    def _refined(self, index: int, actor: str, body: Mapping[str, Any]) -> list[str]:
        self._lot(body.get("lot")).status = REFINED
        return [body["lot"]]

    def _requested(self, index: int, actor: str, body: Mapping[str, Any]) -> list[str]:
        self._lot(body.get("lot"))
        return [body["lot"]]

    def _issued(self, index: int, actor: str, body: Mapping[str, Any]) -> list[str]:
        lot = self._lot(body.get("lot"))
        cert = _text(body, "certificate")
        if cert in self._certificates:
            raise _Bad(f"certificate {cert} was already issued")
        if _text(body, "kind") != "ore_receipt":
            lot.standing.clear()  # superseded, revoked or not
        lot.standing.append(cert)
        self._certificates[cert] = body["lot"]
        return [body["lot"]]

    def _revoked_cert(self, index: int, actor: str, body: Mapping[str, Any]) -> list[str]:
        cert = _text(body, "certificate")
        lot_id = self._certificates.get(cert)
        if lot_id is None:
            raise _Bad(f"no certificate {cert!r}"[:200])
        self._revoked.add(cert)
        self._lots[lot_id].revoked.add(cert)
        return [lot_id]

    def _case_opened(self, index: int, actor: str, body: Mapping[str, Any]) -> list[str]:
        case_id = _text(body, "case")
        if case_id in self._cases:
            raise _Bad(f"case {case_id} already exists")
        target = _object(body.get("target"), "body.target")
        hold = _text(body, "kind") == "hold"
        if _text(target, "kind") != "lot":
            self._cases[case_id] = _Case(None, hold)
            return []
        lot = self._lot(target.get("id"))
        self._cases[case_id] = _Case(target["id"], hold)
        if hold:  # a new case is "raised": blocking
            lot.holds.add(case_id)
        return [target["id"]]

    def _case_moved(self, index: int, actor: str, body: Mapping[str, Any], type_: str) -> list[str]:
        case_id = _text(body, "case")
        case = self._cases.get(case_id)
        if case is None:
            raise _Bad(f"no case {case_id!r}"[:200])
        if case.lot is None:
            return []
        lot = self._lot(case.lot)
        if case.hold:
            if _CASE_STATUS[type_] in BLOCKING_STATUSES:
                lot.holds.add(case_id)
            else:
                lot.holds.discard(case_id)
        return [case.lot]

    def _responded(self, index: int, actor: str, body: Mapping[str, Any]) -> list[str]:
        return self._case_moved(index, actor, body, "case.responded")

    def _escalated(self, index: int, actor: str, body: Mapping[str, Any]) -> list[str]:
        return self._case_moved(index, actor, body, "case.escalated")

    def _resolved(self, index: int, actor: str, body: Mapping[str, Any]) -> list[str]:
        return self._case_moved(index, actor, body, "case.resolved")


_PROJECTORS: Final = {
    "ore.delivered": LotStates._delivered,
    "processing.recorded": LotStates._processed,
    "assay.recorded": LotStates._assayed,
    "lot.split": LotStates._split,
    "lots.merged": LotStates._merged,
    "transfer.offered": LotStates._offered,
    "transfer.accepted": LotStates._accepted,
    "transfer.rejected": LotStates._offer_closed,
    "transfer.cancelled": LotStates._offer_closed,
    "lot.exported": LotStates._exported,
    "lot.refined": LotStates._refined,
    "certificate.requested": LotStates._requested,
    "certificate.issued": LotStates._issued,
    "certificate.revoked": LotStates._revoked_cert,
    "case.opened": LotStates._case_opened,
    "case.responded": LotStates._responded,
    "case.escalated": LotStates._escalated,
    "case.resolved": LotStates._resolved,
}
"""Every event type that changes a lot's state and its projector; others change nothing."""

EVENT_TYPES: Final = frozenset(_PROJECTORS)
