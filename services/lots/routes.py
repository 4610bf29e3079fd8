"""`/lots`, `/offers`, provenance: what a lot is, where it came from, where it went.

Each record is read by the officers and its parties (README "Reads"); to anyone else a
lot, offer, site or miner that exists gets the very 404 one that does not exist gets."""

from __future__ import annotations

from fastapi import APIRouter, Request
from sqlalchemy.orm import Session

from schemas.lots import (
    LotDownstreamOut,
    LotHistoryOut,
    LotOut,
    MinerDownstreamOut,
    OfferOut,
    OfferPriceOut,
    ProvenanceOut,
    SiteDownstreamOut,
)
from services.actors.models import Actor, Site
from services.identity import Principal
from services.identity.auth import PrincipalDep, hidden, may_read
from services.lots import queries
from services.lots.models import Lot, Offer, OfferPrice
from services.lots.queries import lot_parties
from services.reads import read_session
from services.roles import PRICE_READERS

router = APIRouter(tags=["lots"])


def readable_lot(s: Session, principal: Principal, lot_id: str) -> Lot:
    """The lot, if `principal` may read it; else the 404 of an absent lot (the same status
    and body), so a stranger cannot learn which lot ids exist."""
    lot = s.get(Lot, lot_id)
    if lot is None or not may_read(principal, lot_parties(s, lot)):
        raise hidden("lot", "lot_id")
    return lot


@router.get("/lots/{lot_id}", summary="A lot: mass left, custodian, owner, status, holds")
def get_lot(lot_id: str, principal: PrincipalDep, request: Request) -> LotOut:
    """Readable by its parties (custodian, owner, miner, offer parties), auditors,
    regulators and administrators."""
    with read_session(request) as s:
        readable_lot(s, principal, lot_id)
        return LotOut.model_validate(queries.lot_view(s, lot_id))


@router.get("/lots/{lot_id}/history", summary="Every ledger entry about a lot, by index")
def get_history(lot_id: str, principal: PrincipalDep, request: Request) -> LotHistoryOut:
    """Each index can be proven with `/log/proof/inclusion`."""
    with read_session(request) as s:
        readable_lot(s, principal, lot_id)
        return LotHistoryOut.model_validate(
            {"lot": lot_id, "events": queries.lot_history(s, lot_id)}
        )


@router.get(
    "/lots/{lot_id}/provenance",
    summary="Upstream tree back to ore lots, sites and miners, with mass shares",
)
def get_provenance(lot_id: str, principal: PrincipalDep, request: Request) -> ProvenanceOut:
    with read_session(request) as s:
        readable_lot(s, principal, lot_id)
        return ProvenanceOut.model_validate(queries.upstream(s, lot_id))


@router.get("/lots/{lot_id}/downstream", summary="Every lot that came from this one")
def get_lot_downstream(lot_id: str, principal: PrincipalDep, request: Request) -> LotDownstreamOut:
    with read_session(request) as s:
        readable_lot(s, principal, lot_id)
        found = queries.downstream(s, lot_id=lot_id)
        return LotDownstreamOut.model_validate({"lot": lot_id, "downstream": found})


@router.get("/sites/{site_id}/downstream", summary="Everything that came from a site")
def get_site_downstream(
    site_id: str, principal: PrincipalDep, request: Request
) -> SiteDownstreamOut:
    with read_session(request) as s:
        site = s.get(Site, site_id)
        if site is None or not may_read(principal, {site.owner_id}):
            raise hidden("site", "site_id")
        found = queries.downstream(s, site_id=site_id)
        return SiteDownstreamOut.model_validate({"site": site_id, "downstream": found})


@router.get("/actors/{actor_id}/downstream", summary="Everything that came from a miner")
def get_miner_downstream(
    actor_id: str, principal: PrincipalDep, request: Request
) -> MinerDownstreamOut:
    with read_session(request) as s:
        if s.get(Actor, actor_id) is None or not may_read(principal, {actor_id}):
            raise hidden("actor", "actor_id")
        found = queries.downstream(s, miner_id=actor_id)
        return MinerDownstreamOut.model_validate({"actor": actor_id, "downstream": found})


@router.get(
    "/offers/{offer_id}",
    summary="A transfer offer; its price only for its parties",
    # the price keys are absent, not null, for those who may not read them
    response_model_exclude_unset=True,
)
def get_offer(offer_id: str, principal: PrincipalDep, request: Request) -> OfferOut:
    """The price and currency are shown to the two parties, auditors and regulators only;
    others (administrators included) see the commitment in the log and nothing more."""
    with read_session(request) as s:
        offer = s.get(Offer, offer_id)
        parties = set() if offer is None else {offer.from_id, offer.to_id}
        if offer is None or not may_read(principal, parties):
            raise hidden("offer", "offer_id")
        out = OfferOut(
            offer=offer.id,
            lot=offer.lot_id,
            from_=offer.from_id,
            to=offer.to_id,
            status=offer.status,
            price_commitment=offer.price_commitment,
            offered_index=offer.offered_index,
            closed_index=offer.closed_index,
        )
        if principal.actor_id in parties or principal.role in PRICE_READERS:
            price = s.get(OfferPrice, offer.id)
            if price is not None:
                out.price = OfferPriceOut(amount=price.amount, currency=price.currency)
                out.price_salt = price.salt
        return out
