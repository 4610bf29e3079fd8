"""Projectors of lots: each event type's change to the projection tables, and
`PROJECTORS`, the list the domain's `Rules` takes (`services.lots.rules.rules`).

Projectors are functions of the entry alone (index, time, actor, body) plus the projection
tables, so that a rebuild from the log gives the very state the live path built. Provenance
links are stored exact; see `services.lots.queries` for how shares are computed from them.

A case about a lot belongs to the lot's history: the cases domain projects the case, and
this domain, for the same event types, the lot's history row (the registry runs both), so
the cases domain never writes lots' tables.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Final

from sqlalchemy.orm import Session

from services.actors.models import SiteEvent
from services.cases.models import Case
from services.lots.models import Lot, LotEvent, LotLink, Offer, ProcessingRun
from services.pipeline import Applied, Projector, insert_row

# --- shared projection steps --------------------------------------------------------------


def _history(s: Session, e: Applied, lot_ids: Iterable[str]) -> None:
    for lot_id in lot_ids:
        insert_row(s, LotEvent, lot_id=lot_id, index=e.index, type=e.type)


def _lot_row(s: Session, lot_id: str) -> Lot:
    lot = s.get(Lot, lot_id)
    assert lot is not None, f"projection out of step: no lot {lot_id}"
    return lot


def _offer_row(s: Session, offer_id: str) -> Offer:
    offer = s.get(Offer, offer_id)
    assert offer is not None, f"projection out of step: no offer {offer_id}"
    return offer


# --- ore delivery -------------------------------------------------------------------------


def _project_delivery(s: Session, e: Applied) -> None:
    b = e.body
    insert_row(
        s,
        Lot,
        id=b["lot"],
        kind="ore",
        form="ore",
        unit="g",
        mass=b["mass_g"],
        remaining=b["mass_g"],
        fineness_ppt=None,
        custodian_id=e.actor,
        owner_id=b["miner"],
        status="active",
        closed_by=None,
        site_id=b["site"],
        miner_id=b["miner"],
        mercury_free=None,
        created_index=e.index,
        created_at=b["occurred_at"],
    )
    _history(s, e, [b["lot"]])
    insert_row(s, SiteEvent, site_id=b["site"], index=e.index, type=e.type)


# --- processing ---------------------------------------------------------------------------


def _project_processing(s: Session, e: Applied) -> None:
    b = e.body
    s.add(ProcessingRun(id=b["run"], centre_id=e.actor, index=e.index))
    inputs: list[dict[str, Any]] = b["inputs"]
    outputs: list[dict[str, Any]] = b["outputs"]
    for item in inputs:
        lot = _lot_row(s, item["lot"])
        lot.remaining -= item["mass_g"]
        if lot.remaining == 0:
            lot.status = "closed"
            lot.closed_by = "consumed"
    for out in outputs:
        s.add(
            Lot(
                id=out["lot"],
                kind="gold",
                form=out["form"],
                unit="mg",
                mass=out["mass_mg"],
                remaining=out["mass_mg"],
                fineness_ppt=None,
                custodian_id=e.actor,
                owner_id=e.actor,
                status="active",
                closed_by=None,
                site_id=None,
                miner_id=None,
                mercury_free=b["mercury_free"],
                created_index=e.index,
                created_at=b["occurred_at"],
            )
        )
        for item in inputs:  # exact: the input's grams consumed by the whole run
            s.add(
                LotLink(
                    child_id=out["lot"],
                    parent_id=item["lot"],
                    mass=item["mass_g"],
                    event_index=e.index,
                )
            )
    _history(s, e, [item["lot"] for item in inputs] + [out["lot"] for out in outputs])


# --- assay --------------------------------------------------------------------------------


def _project_assay(s: Session, e: Applied) -> None:
    _lot_row(s, e.body["lot"]).fineness_ppt = e.body["fineness_ppt"]
    _history(s, e, [e.body["lot"]])


# --- split and merge ----------------------------------------------------------------------


def _project_split(s: Session, e: Applied) -> None:
    b = e.body
    parent = _lot_row(s, b["lot"])
    for part in b["into"]:
        s.add(
            Lot(
                id=part["lot"],
                kind="gold",
                form=parent.form,
                unit=parent.unit,
                mass=part["mass_mg"],
                remaining=part["mass_mg"],
                fineness_ppt=parent.fineness_ppt,
                custodian_id=parent.custodian_id,
                owner_id=parent.owner_id,
                status="active",
                closed_by=None,
                site_id=None,
                miner_id=None,
                mercury_free=parent.mercury_free,
                created_index=e.index,
                created_at=b["occurred_at"],
            )
        )
        s.add(
            LotLink(
                child_id=part["lot"],
                parent_id=parent.id,
                mass=part["mass_mg"],
                event_index=e.index,
            )
        )
    parent.remaining = 0
    parent.status = "closed"
    parent.closed_by = "split"
    _history(s, e, [parent.id] + [part["lot"] for part in b["into"]])


def merged_fineness(parts: Sequence[tuple[int, int | None]]) -> int | None:
    """Mass-weighted mean fineness of (mass, fineness) parts, rounded down; None if any
    part has no assay."""
    if any(f is None for _, f in parts):
        return None
    total = sum(m for m, _ in parts)
    return sum(m * f for m, f in parts if f is not None) // total


def _merged_mercury_free(values: Sequence[bool | None]) -> bool | None:
    if any(v is False for v in values):
        return False
    if all(v is True for v in values):
        return True
    return None


def _project_merge(s: Session, e: Applied) -> None:
    b = e.body
    parents = [_lot_row(s, lot_id) for lot_id in b["lots"]]
    first = parents[0]
    s.add(
        Lot(
            id=b["into"],
            kind="gold",
            form=first.form,
            unit=first.unit,
            mass=sum(p.remaining for p in parents),
            remaining=sum(p.remaining for p in parents),
            fineness_ppt=merged_fineness([(p.remaining, p.fineness_ppt) for p in parents]),
            custodian_id=first.custodian_id,
            owner_id=first.owner_id,
            status="active",
            closed_by=None,
            site_id=None,
            miner_id=None,
            mercury_free=_merged_mercury_free([p.mercury_free for p in parents]),
            created_index=e.index,
            created_at=b["occurred_at"],
        )
    )
    for p in parents:
        s.add(LotLink(child_id=b["into"], parent_id=p.id, mass=p.remaining, event_index=e.index))
        p.remaining = 0
        p.status = "closed"
        p.closed_by = "merged"
    _history(s, e, [*b["lots"], b["into"]])


# --- transfers ----------------------------------------------------------------------------


def _project_offer(s: Session, e: Applied) -> None:
    b = e.body
    s.add(
        Offer(
            id=b["offer"],
            lot_id=b["lot"],
            from_id=e.actor,
            to_id=b["to"],
            status="open",
            price_commitment=b.get("price_commitment"),
            offered_index=e.index,
            closed_index=None,
        )
    )
    _history(s, e, [b["lot"]])


def _project_accept(s: Session, e: Applied) -> None:
    offer = _offer_row(s, e.body["offer"])
    offer.status = "accepted"
    offer.closed_index = e.index
    lot = _lot_row(s, offer.lot_id)
    lot.custodian_id = offer.to_id
    lot.owner_id = offer.to_id
    _history(s, e, [offer.lot_id])


def _project_close_offer(status: str) -> Projector:
    def project(s: Session, e: Applied) -> None:
        offer = _offer_row(s, e.body["offer"])
        offer.status = status
        offer.closed_index = e.index
        _history(s, e, [offer.lot_id])

    return project


# --- export and refining (terminal) -------------------------------------------------------


def _project_terminal(status: str) -> Projector:
    def project(s: Session, e: Applied) -> None:
        _lot_row(s, e.body["lot"]).status = status  # remaining stays: it left as it was
        _history(s, e, [e.body["lot"]])

    return project


# --- cases about a lot (event types of the cases domain) -----------------------------------


def _project_case_on_lot(s: Session, e: Applied) -> None:
    """A case about a lot: the entry joins the lot's history. `case.opened` names its
    target; a later step of the case names the case, whose target the cases domain holds."""
    if e.type == "case.opened":
        kind, target_id = e.body["target"]["kind"], e.body["target"]["id"]
    else:
        case = s.get(Case, e.body["case"])
        assert case is not None, f"projection out of step: no case {e.body['case']}"
        kind, target_id = case.target_kind, case.target_id
    if kind == "lot":
        s.add(LotEvent(lot_id=target_id, index=e.index, type=e.type))


# Every event type of this domain and its projector, in the order of the rules; then the
# cases domain's types that a lot's history also records.
PROJECTORS: Final[dict[str, Projector]] = {
    "ore.delivered": _project_delivery,
    "processing.recorded": _project_processing,
    "assay.recorded": _project_assay,
    "lot.split": _project_split,
    "lots.merged": _project_merge,
    "transfer.offered": _project_offer,
    "transfer.accepted": _project_accept,
    "transfer.rejected": _project_close_offer("rejected"),
    "transfer.cancelled": _project_close_offer("cancelled"),
    "lot.exported": _project_terminal("exported"),
    "lot.refined": _project_terminal("refined"),
    "case.opened": _project_case_on_lot,
    "case.responded": _project_case_on_lot,
    "case.resolved": _project_case_on_lot,
    "case.escalated": _project_case_on_lot,
}
