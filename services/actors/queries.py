"""Reads of actors and mine sites: an actor's record (whole, or what its trading partners
see), the active administrators, a site and its history, off-log personal data."""

from __future__ import annotations

import json

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from ledger.sql import storage
from schemas.actors import (
    ActorOut,
    IndexedEvent,
    KeyStatus,
    LicenceOut,
    Permit,
    PersonalOut,
    PublicActorOut,
    RegionOut,
    SiteHistoryOut,
    SiteItem,
    SiteOut,
    SitePage,
)
from services.actors.models import Actor, ActorKey, PersonalRecord, Site, SiteEvent
from services.errors import Forbidden, NotFound
from services.identity import Principal
from services.roles import ADMINISTRATOR, REGULATOR


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


def active_administrators(s: Session) -> list[str]:
    """The ids of the administrators whose status is active, in id order."""
    stmt = (
        select(Actor.id)
        .where(Actor.role == ADMINISTRATOR, Actor.status == "active")
        .order_by(Actor.id)
    )
    return list(s.scalars(stmt))


def actor_case_parties(s: Session, actor_id: str) -> set[str] | None:
    """Who answers a case about an actor: the actor itself; None if there is no such actor
    (the cases domain's `Parties` of an actor, given it in services/domains.py)."""
    return {actor_id} if s.get(Actor, actor_id) is not None else None


def site_case_parties(s: Session, site_id: str) -> set[str] | None:
    """Who answers a case about a site: its owner; None if there is no such site (the
    cases domain's `Parties` of a site, given it in services/domains.py)."""
    site = s.get(Site, site_id)
    return {site.owner_id} if site is not None else None


def site_history(s: Session, site_id: str) -> SiteHistoryOut:
    """Every ledger entry about a site, by index."""
    rows = s.query(SiteEvent).filter(SiteEvent.site_id == site_id).order_by(SiteEvent.index)
    return SiteHistoryOut(
        site=site_id, events=[IndexedEvent(index=r.index, type=r.type) for r in rows]
    )


def site_view(site: Site) -> SiteOut:
    """A mine site as its owner and the officers read it."""
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


def read_personal(engine: Engine, principal: Principal, actor_id: str) -> PersonalOut:
    """An actor's off-log personal data, for administrators, regulators and itself."""
    if principal.role not in (ADMINISTRATOR, REGULATOR) and principal.actor_id != actor_id:
        raise Forbidden("not-allowed", "personal data is for administrators, regulators and self")
    with storage.read_transaction(engine) as conn:
        row = Session(bind=conn).get(PersonalRecord, actor_id)
    if row is None:
        raise NotFound("no-personal-data", f"no personal data for {actor_id!r}")
    return PersonalOut(
        actor=actor_id,
        personal=None if row.data is None else json.loads(row.data),
        salt=row.salt,
        erased_at=row.erased_at,
        erased_reason=row.erased_reason,
    )


def site_page(
    s: Session,
    reader: str | None,
    *,
    owner: str | None = None,
    status: str | None = None,
    after: str | None = None,
    limit: int = 50,
) -> tuple[SitePage, str | None]:
    """A page of sites by id (public fields), and the id of the last if more follow.
    `reader`: the non-officer who lists only its own sites (None: an officer), as
    `GET /sites/{id}` lets it read them; an `owner` filter naming another lists nothing."""
    stmt = select(Site).order_by(Site.id).limit(limit + 1)
    if owner is not None:
        stmt = stmt.where(Site.owner_id == owner)
    if reader is not None:
        stmt = stmt.where(Site.owner_id == reader)
    if status is not None:
        stmt = stmt.where(Site.status == status)
    if after is not None:
        stmt = stmt.where(Site.id > after)
    found = list(s.scalars(stmt))
    more = len(found) > limit
    found = found[:limit]
    items = [
        SiteItem(
            site=site.id,
            owner=site.owner_id,
            region=RegionOut(aimag=site.aimag, soum=site.soum),
            status=site.status,
        )
        for site in found
    ]
    return SitePage(items=items, next_cursor=None), (found[-1].id if more else None)
