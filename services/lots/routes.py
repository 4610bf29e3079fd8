"""`/lots`, `/offers`, provenance: what a lot is, where it came from, where it went.

Each record is read by the officers and its parties (README "Reads"); to anyone else a
lot, offer, site or miner that exists gets the very 404 one that does not exist gets."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from sqlalchemy import select
from sqlalchemy.orm import Session

from schemas.actors import ActorPage, PublicActorOut
from schemas.lots import (
    LotDownstreamOut,
    LotHistoryOut,
    LotOut,
    LotPage,
    MinerDownstreamOut,
    OfferOut,
    OfferPage,
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
from services.reads import DEFAULT_LIMIT, Cursor, Limit, decode_cursor, encode_cursor, read_session
from services.roles import OFFICERS, PRICE_READERS

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
            {"lot": lot_id, "events": queries.lot_history_told(s, lot_id)}
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


@router.get(
    "/actors/{actor_id}/downstream",
    summary="Everything that came from a miner's ore, or from the ore a centre received",
)
def get_miner_downstream(
    actor_id: str, principal: PrincipalDep, request: Request
) -> MinerDownstreamOut:
    """For a miner or partnership: its ore lots and every lot made of them; for a
    processing centre: the ore it received and every lot made of it; for anyone else:
    nothing. Readable by officers and the actor itself."""
    with read_session(request) as s:
        actor = s.get(Actor, actor_id)
        if actor is None or not may_read(principal, {actor_id}):
            raise hidden("actor", "actor_id")
        found = queries.actor_downstream(s, actor)
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


# --- lists (README "Lists"): keyset pages, a non-officer's own records only ------------------


def _reader(principal: Principal) -> str | None:
    """Whose records a list is limited to: None for an officer (every record)."""
    return None if principal.role in OFFICERS else principal.actor_id


def _next(key: tuple[int, str] | str | None) -> str | None:
    if key is None:
        return None
    return encode_cursor(key) if isinstance(key, str) else encode_cursor(*key)


@router.get("/lots", summary="Lots, filtered, newest first (by creation index), a page at a time")
def list_lots(
    principal: PrincipalDep,
    request: Request,
    custodian: Annotated[str | None, Query(max_length=80)] = None,
    owner: Annotated[str | None, Query(max_length=80)] = None,
    status: Annotated[str | None, Query(max_length=16)] = None,
    kind: Annotated[str | None, Query(max_length=8)] = None,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
) -> LotPage:
    """Officers list every lot; anyone else the lots it is a party to (custodian, owner,
    miner, a side of an offer of it), whatever the filters say: a filter naming another
    actor lists only what the caller may read. Send `next_cursor` back as `cursor` for
    the next page (null: the last page)."""
    after = None if cursor is None else decode_cursor(cursor, (int, str))
    with read_session(request) as s:
        items, last = queries.lot_page(
            s,
            _reader(principal),
            custodian=custodian,
            owner=owner,
            status=status,
            kind=kind,
            after=None if after is None else (after[0], after[1]),
            limit=limit,
        )
        return LotPage.model_validate({"items": items, "next_cursor": _next(last)})


@router.get(
    "/offers",
    summary="Transfer offers, newest first, a page at a time (a buyer's inbox: ?to=<itself>)",
    response_model_exclude_unset=True,
)
def list_offers(
    principal: PrincipalDep,
    request: Request,
    to: Annotated[str | None, Query(max_length=80)] = None,
    from_: Annotated[str | None, Query(alias="from", max_length=80)] = None,
    status: Annotated[str | None, Query(max_length=16)] = None,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
) -> OfferPage:
    """Officers list every offer; anyone else the offers it is a side of. Prices as
    `GET /offers/{id}` shows them: to the two sides, auditors and regulators."""
    after = None if cursor is None else decode_cursor(cursor, (int, str))
    with read_session(request) as s:
        offers, last = queries.offer_page(
            s,
            _reader(principal),
            to=to,
            from_=from_,
            status=status,
            after=None if after is None else (after[0], after[1]),
            limit=limit,
        )
        prices = {
            p.offer_id: p
            for p in s.scalars(
                select(OfferPrice).where(OfferPrice.offer_id.in_([o.id for o in offers]))
            )
        }
        items = []
        for offer in offers:
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
            price = prices.get(offer.id)
            sides = {offer.from_id, offer.to_id}
            if price is not None and (
                principal.actor_id in sides or principal.role in PRICE_READERS
            ):
                out.price = OfferPriceOut(amount=price.amount, currency=price.currency)
                out.price_salt = price.salt
            items.append(out)
        return OfferPage(items=items, next_cursor=_next(last))


@router.get("/actors", summary="Actors' public records (id, role, status), by id, for pickers")
def list_actors(
    principal: PrincipalDep,
    request: Request,
    role: Annotated[str | None, Query(max_length=32)] = None,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
) -> ActorPage:
    """Officers list every actor; anyone else itself and the actors it trades with (a
    party to one of the same lots or offers), as `GET /actors/{id}` lets it read them."""
    after = None if cursor is None else decode_cursor(cursor, (str,))[0]
    with read_session(request) as s:
        found, last = queries.actor_page(s, _reader(principal), role=role, after=after, limit=limit)
        items = [
            PublicActorOut(actor=a.id, role=a.role, buyer_kind=a.buyer_kind, status=a.status)
            for a in found
        ]
        return ActorPage(items=items, next_cursor=_next(last))
