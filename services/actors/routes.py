"""`/actors`, `/tokens`, `/sites`: registry reads, bearer tokens, erasure of personal data.

Who reads what (least privilege; README "Reads"):

- `/actors/{id}`: officers (administrators, regulators, auditors) and the actor itself read
  the whole record; an actor it trades with (a party to one of the same lots or offers)
  reads the public minimum: id, role, buyer kind and status (whether it may trade now);
  anyone else gets the 404 an absent actor gets. Who trades with whom is the lots domain's
  to say (it sits above this one): `trades_with`, given where the domain is built.
- `/sites/{id}`, `/sites/{id}/history`: officers and the site's owner; anyone else the 404
  of an absent site (coordinates, permits and status reasons are the owner's business).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Query, Request
from sqlalchemy.orm import Session

from ledger.sql import storage
from schemas.actors import (
    ActorOut,
    ErasureOut,
    PersonalOut,
    PublicActorOut,
    SiteHistoryOut,
    SiteOut,
    SitePage,
)
from schemas.api import ErasureIn, TokenIn, TokenOut
from services.actors import queries, rules
from services.actors.models import Actor, Site
from services.bodies import StrictJSONRoute
from services.identity import Principal
from services.identity.auth import PrincipalDep, hidden, may_read
from services.pipeline.service import EventService
from services.reads import DEFAULT_LIMIT, Cursor, Limit, decode_cursor, encode_cursor, read_session
from services.roles import OFFICERS

TradesWith = Callable[[Session, str, str], bool]
"""Whether two actors trade with each other (both parties to one lot or one offer)."""


def _events(request: Request) -> EventService:
    events: EventService = request.app.state.events
    return events


def readable_site(s: Session, principal: Principal, site_id: str) -> Site:
    """The site, if `principal` may read it (officers, its owner); else the 404 of an
    absent site, so a stranger cannot tell the two apart."""
    site = s.get(Site, site_id)
    if site is None or not may_read(principal, {site.owner_id}):
        raise hidden("site", "site_id")
    return site


def router(trades_with: TradesWith) -> APIRouter:
    """The routes of actors, tokens and sites; `trades_with` tells who reads an actor's
    public record (services/domains.py gives it, from the lots domain)."""
    router = APIRouter(tags=["actors"], route_class=StrictJSONRoute)  # strict bodies (issue 11)

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
                    return queries.actor_view(s, actor)
                if trades_with(s, principal.actor_id, actor.id):
                    return queries.public_actor_view(actor)
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
        return rules.issue_actor_token(
            _events(request).engine, principal, actor_id, body.label, limit
        )

    @router.delete("/tokens/{token_id}", status_code=204, summary="Revoke a bearer token")
    def delete_token(token_id: str, principal: PrincipalDep, request: Request) -> None:
        rules.revoke_actor_token(_events(request).engine, principal, token_id)

    @router.get(
        "/actors/{actor_id}/personal",
        summary="Off-log personal data (administrators, regulators, the actor itself)",
    )
    def get_personal(actor_id: str, principal: PrincipalDep, request: Request) -> PersonalOut:
        return queries.read_personal(_events(request).engine, principal, actor_id)

    @router.post(
        "/actors/{actor_id}/personal/erasure",
        summary="Erase a person's data on a lawful request (the log's proofs stay intact)",
    )
    def erase_personal(
        actor_id: str, body: ErasureIn, principal: PrincipalDep, request: Request
    ) -> ErasureOut:
        """Deletes the data and its salt; the salted commitment in the log then opens to
        nothing anyone holds, and every entry, proof and signature still verifies."""
        return rules.erase_personal(_events(request).engine, principal, actor_id, body.reason)

    @router.get("/sites/{site_id}/history", summary="Every ledger entry about a site, by index")
    def get_site_history(site_id: str, principal: PrincipalDep, request: Request) -> SiteHistoryOut:
        """Registration, status changes, deliveries of its ore and cases about it; each index
        can be proven with `/log/proof/inclusion`. For officers and the site's owner."""
        with storage.read_transaction(_events(request).engine) as conn:
            s = Session(bind=conn)
            readable_site(s, principal, site_id)
            return queries.site_history(s, site_id)

    @router.get("/sites/{site_id}", summary="A mine site")
    def get_site(site_id: str, principal: PrincipalDep, request: Request) -> SiteOut:
        """Region, coordinates, permit, capacity and status, for officers and the owner."""
        with storage.read_transaction(_events(request).engine) as conn:
            site = readable_site(Session(bind=conn), principal, site_id)
            return queries.site_view(site)

    @router.get("/sites", summary="Mine sites' public fields, by id, for pickers")
    def list_sites(
        principal: PrincipalDep,
        request: Request,
        owner: Annotated[str | None, Query(max_length=80)] = None,
        status: Annotated[str | None, Query(max_length=16)] = None,
        cursor: Cursor = None,
        limit: Limit = DEFAULT_LIMIT,
    ) -> SitePage:
        """Id, owner, region and status (no coordinates, permit or status reason).
        Officers list every site; anyone else its own sites, as `GET /sites/{id}` lets it
        read them (a filter naming another owner lists nothing)."""
        after = None if cursor is None else str(decode_cursor(cursor, (str,))[0])
        reader = None if principal.role in OFFICERS else principal.actor_id
        with read_session(request) as s:
            page, last = queries.site_page(
                s, reader, owner=owner, status=status, after=after, limit=limit
            )
        page.next_cursor = None if last is None else encode_cursor(last)
        return page

    return router
