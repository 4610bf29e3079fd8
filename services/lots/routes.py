"""`/lots`, `/offers`, provenance: what a lot is, where it came from, where it went."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from sqlalchemy import select
from sqlalchemy.orm import Session

from services.actors.models import Actor, Site
from services.auth import PrincipalDep, require_reader_of
from services.errors import NotFound
from services.events.service import Principal
from services.lots import queries
from services.lots.models import Lot, Offer, OfferPrice
from services.reads import read_session

router = APIRouter(tags=["lots"])
PRICE_READERS = frozenset({"auditor", "regulator"})


def lot_parties(s: Session, lot: Lot) -> set[str]:
    parties = {lot.custodian_id, lot.owner_id}
    if lot.miner_id:
        parties.add(lot.miner_id)
    offers = s.scalars(select(Offer).where(Offer.lot_id == lot.id))
    for offer in offers:
        parties.update((offer.from_id, offer.to_id))
    return parties


def readable_lot(s: Session, principal: Principal, lot_id: str) -> Lot:
    lot = s.get(Lot, lot_id)
    if lot is None:
        raise NotFound("unknown-lot", f"no lot {lot_id!r}", field="lot_id")
    require_reader_of(principal, lot_parties(s, lot))
    return lot


@router.get("/lots/{lot_id}", summary="A lot: mass left, custodian, owner, status, holds")
def get_lot(lot_id: str, principal: PrincipalDep, request: Request) -> dict[str, Any]:
    """Readable by its parties (custodian, owner, miner, offer parties), auditors,
    regulators and administrators."""
    with read_session(request) as s:
        readable_lot(s, principal, lot_id)
        return queries.lot_view(s, lot_id)


@router.get("/lots/{lot_id}/history", summary="Every ledger entry about a lot, by index")
def get_history(lot_id: str, principal: PrincipalDep, request: Request) -> dict[str, Any]:
    """Each index can be proven with `/log/proof/inclusion`."""
    with read_session(request) as s:
        readable_lot(s, principal, lot_id)
        return {"lot": lot_id, "events": queries.lot_history(s, lot_id)}


@router.get(
    "/lots/{lot_id}/provenance",
    summary="Upstream tree back to ore lots, sites and miners, with mass shares",
)
def get_provenance(lot_id: str, principal: PrincipalDep, request: Request) -> dict[str, Any]:
    with read_session(request) as s:
        readable_lot(s, principal, lot_id)
        return queries.upstream(s, lot_id)


@router.get("/lots/{lot_id}/downstream", summary="Every lot that came from this one")
def get_lot_downstream(lot_id: str, principal: PrincipalDep, request: Request) -> dict[str, Any]:
    with read_session(request) as s:
        readable_lot(s, principal, lot_id)
        return {"lot": lot_id, "downstream": queries.downstream(s, lot_id=lot_id)}


@router.get("/sites/{site_id}/downstream", summary="Everything that came from a site")
def get_site_downstream(site_id: str, principal: PrincipalDep, request: Request) -> dict[str, Any]:
    with read_session(request) as s:
        site = s.get(Site, site_id)
        if site is None:
            raise NotFound("unknown-site", f"no site {site_id!r}", field="site_id")
        require_reader_of(principal, {site.owner_id})
        return {"site": site_id, "downstream": queries.downstream(s, site_id=site_id)}


@router.get("/actors/{actor_id}/downstream", summary="Everything that came from a miner")
def get_miner_downstream(
    actor_id: str, principal: PrincipalDep, request: Request
) -> dict[str, Any]:
    with read_session(request) as s:
        if s.get(Actor, actor_id) is None:
            raise NotFound("unknown-actor", f"no actor {actor_id!r}", field="actor_id")
        require_reader_of(principal, {actor_id})
        return {"actor": actor_id, "downstream": queries.downstream(s, miner_id=actor_id)}


@router.get("/offers/{offer_id}", summary="A transfer offer; its price only for its parties")
def get_offer(offer_id: str, principal: PrincipalDep, request: Request) -> dict[str, Any]:
    """The price and currency are shown to the two parties, auditors and regulators only;
    others (administrators included) see the commitment in the log and nothing more."""
    with read_session(request) as s:
        offer = s.get(Offer, offer_id)
        if offer is None:
            raise NotFound("unknown-offer", f"no offer {offer_id!r}", field="offer_id")
        parties = {offer.from_id, offer.to_id}
        require_reader_of(principal, parties)
        out: dict[str, Any] = {
            "offer": offer.id,
            "lot": offer.lot_id,
            "from": offer.from_id,
            "to": offer.to_id,
            "status": offer.status,
            "price_commitment": offer.price_commitment,
            "offered_index": offer.offered_index,
            "closed_index": offer.closed_index,
        }
        if principal.actor_id in parties or principal.role in PRICE_READERS:
            price = s.get(OfferPrice, offer.id)
            if price is not None:
                out["price"] = {"amount": price.amount, "currency": price.currency}
                out["price_salt"] = price.salt
        return out
