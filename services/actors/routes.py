"""`/actors`, `/tokens`, `/sites`: registry reads, bearer tokens, erasure of personal data.

Who reads what (least privilege; README "Reads"):

- `/actors/{id}`: officers (administrators, regulators, auditors) and the actor itself read
  the whole record; an actor it trades with (a party to one of the same lots or offers)
  reads the public minimum: id, role, buyer kind and status (whether it may trade now);
  anyone else gets the 404 an absent actor gets.
- `/sites/{id}`, `/sites/{id}/history`: officers and the site's owner; anyone else the 404
  of an absent site (coordinates, permits and status reasons are the owner's business).
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from sqlalchemy.orm import Session

from ledger.sql import storage
from schemas.actors import (
    ActorOut,
    ErasureOut,
    IndexedEvent,
    KeyStatus,
    LicenceOut,
    Permit,
    PersonalOut,
    PublicActorOut,
    RegionOut,
    SiteHistoryOut,
    SiteOut,
)
from schemas.api import ErasureIn, TokenIn, TokenOut
from services.actors import service
from services.actors.models import Actor, ActorKey, Site, SiteEvent
from services.bodies import StrictJSONRoute
from services.identity import Principal
from services.identity.auth import PrincipalDep, hidden, may_read
from services.lots.queries import trades_with
from services.pipeline.service import EventService

router = APIRouter(tags=["actors"], route_class=StrictJSONRoute)  # strict bodies (issue 11)


def _events(request: Request) -> EventService:
    events: EventService = request.app.state.events
    return events


def actor_view(s: Session, actor: Actor) -> ActorOut:
    """The whole record of an actor (personal data is never here)."""
    keys = s.query(ActorKey).filter(ActorKey.actor_id == actor.id).all()
    return ActorOut(
        actor=actor.id,
        role=actor.role,
        buyer_kind=actor.buyer_kind,
        licence=LicenceOut(
            number=actor.licence_number,
            valid_from=actor.licence_valid_from,
            valid_until=actor.licence_valid_until,
        )
        if actor.licence_number
        else None,
        region=RegionOut(aimag=actor.aimag, soum=actor.soum) if actor.aimag else None,
        members=actor.members,
        status=actor.status,
        status_reason=actor.status_reason,
        status_by=actor.status_by,
        personal_commitment=actor.personal_commitment,
        registered_index=actor.registered_index,
        keys=[KeyStatus(key_id=k.key_id, status=k.status) for k in keys],
    )


def public_actor_view(actor: Actor) -> PublicActorOut:
    """What an actor's trading partners see of it: who it is and whether it may trade."""
    return PublicActorOut(
        actor=actor.id, role=actor.role, buyer_kind=actor.buyer_kind, status=actor.status
    )


@router.get("/actors/{actor_id}", summary="An actor as the log says it is now")
def get_actor(
    actor_id: str, principal: PrincipalDep, request: Request
) -> ActorOut | PublicActorOut:
    """Registration, licence, region, status and keys (personal data is never here), for
    officers and the actor itself; id, role, buyer kind and status for an actor it trades
    with; for anyone else the same 404 as an actor that does not exist."""
    with storage.read_transaction(_events(request).engine) as conn:
        s = Session(bind=conn)
        actor = s.get(Actor, actor_id)
        if actor is not None:
            if may_read(principal, {actor.id}):
                return actor_view(s, actor)
            if trades_with(s, principal.actor_id, actor.id):
                return public_actor_view(actor)
        raise hidden("actor", "actor_id")


@router.post(
    "/actors/{actor_id}/tokens",
    status_code=201,
    response_model=TokenOut,
    summary="Issue a bearer token to a user of an actor (shown once)",
)
def create_token(
    actor_id: str, body: TokenIn, principal: PrincipalDep, request: Request
) -> TokenOut:
    """Administrators issue tokens for anyone; regulators for miners, partnerships, centres,
    buyers and laboratories; an actor for its own users. Only an active caller mints
    tokens (a suspended administrator mints none), and only for an active actor."""
    limit = request.app.state.settings.max_tokens_per_actor
    return service.issue_actor_token(
        _events(request).engine, principal, actor_id, body.label, limit
    )


@router.delete("/tokens/{token_id}", status_code=204, summary="Revoke a bearer token")
def delete_token(token_id: str, principal: PrincipalDep, request: Request) -> None:
    service.revoke_actor_token(_events(request).engine, principal, token_id)


@router.get(
    "/actors/{actor_id}/personal",
    summary="Off-log personal data (administrators, regulators, the actor itself)",
)
def get_personal(actor_id: str, principal: PrincipalDep, request: Request) -> PersonalOut:
    return service.read_personal(_events(request).engine, principal, actor_id)


@router.post(
    "/actors/{actor_id}/personal/erasure",
    summary="Erase a person's data on a lawful request (the log's proofs stay intact)",
)
def erase_personal(
    actor_id: str, body: ErasureIn, principal: PrincipalDep, request: Request
) -> ErasureOut:
    """Deletes the data and its salt; the salted commitment in the log then opens to
    nothing anyone holds, and every entry, proof and signature still verifies."""
    return service.erase_personal(_events(request).engine, principal, actor_id, body.reason)


def readable_site(s: Session, principal: Principal, site_id: str) -> Site:
    """The site, if `principal` may read it (officers, its owner); else the 404 of an
    absent site, so a stranger cannot tell the two apart."""
    site = s.get(Site, site_id)
    if site is None or not may_read(principal, {site.owner_id}):
        raise hidden("site", "site_id")
    return site


@router.get("/sites/{site_id}/history", summary="Every ledger entry about a site, by index")
def get_site_history(site_id: str, principal: PrincipalDep, request: Request) -> SiteHistoryOut:
    """Registration, status changes, deliveries of its ore and cases about it; each index
    can be proven with `/log/proof/inclusion`. For officers and the site's owner."""
    with storage.read_transaction(_events(request).engine) as conn:
        s = Session(bind=conn)
        readable_site(s, principal, site_id)
        rows = s.query(SiteEvent).filter(SiteEvent.site_id == site_id).order_by(SiteEvent.index)
        return SiteHistoryOut(
            site=site_id, events=[IndexedEvent(index=r.index, type=r.type) for r in rows]
        )


@router.get("/sites/{site_id}", summary="A mine site")
def get_site(site_id: str, principal: PrincipalDep, request: Request) -> SiteOut:
    """Region, coordinates, permit, capacity and status, for officers and the owner."""
    with storage.read_transaction(_events(request).engine) as conn:
        site = readable_site(Session(bind=conn), principal, site_id)
        return SiteOut(
            site=site.id,
            owner=site.owner_id,
            region=RegionOut(aimag=site.aimag, soum=site.soum),
            lat=site.lat,
            lon=site.lon,
            permit=Permit(number=site.permit_number, valid_until=site.permit_valid_until),
            capacity_g_per_year=site.capacity_g_per_year,
            status=site.status,
            status_reason=site.status_reason,
            registered_index=site.registered_index,
        )
