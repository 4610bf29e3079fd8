"""Projectors of actors, their keys and mine sites, and `PROJECTORS`, the list the domain's
`Rules` takes (`services.actors.rules.rules`)."""

from __future__ import annotations

import base64
from typing import Final

from sqlalchemy.orm import Session

from services.actors.models import Actor, ActorKey, Site, SiteEvent
from services.pipeline import Applied, Projector

# --- actors ------------------------------------------------------------------------------


def _project_actor(s: Session, e: Applied) -> None:
    b = e.body
    licence = b.get("licence") or {}
    region = b.get("region") or {}
    s.add(
        Actor(
            id=b["actor"],
            role=b["role"],
            buyer_kind=b.get("buyer_kind"),
            licence_number=licence.get("number"),
            licence_valid_from=licence.get("valid_from"),
            licence_valid_until=licence.get("valid_until"),
            aimag=region.get("aimag"),
            soum=region.get("soum"),
            members=b.get("members"),
            status="active",
            personal_commitment=b.get("personal_commitment"),
            registered_index=e.index,
            registered_by=e.actor,
        )
    )
    for key in b.get("keys", []):
        s.add(
            ActorKey(
                actor_id=b["actor"],
                key_id=key["key_id"],
                public_key=base64.b64decode(key["public_key"]),
                status="active",
            )
        )


def _project_actor_status(s: Session, e: Applied) -> None:
    actor = s.get(Actor, e.body["actor"])
    assert actor is not None
    actor.status = e.body["status"]
    actor.status_reason = e.body["reason"]
    actor.status_by = e.actor


def _project_key(s: Session, e: Applied) -> None:
    key = e.body["key"]
    s.add(
        ActorKey(
            actor_id=e.body["actor"],
            key_id=key["key_id"],
            public_key=base64.b64decode(key["public_key"]),
            status="active",
        )
    )


def _project_key_revoked(s: Session, e: Applied) -> None:
    key = s.get(ActorKey, (e.body["actor"], e.body["key_id"]))
    assert key is not None
    key.status = "revoked"


# --- sites --------------------------------------------------------------------------------


def _project_site(s: Session, e: Applied) -> None:
    b = e.body
    permit = b.get("permit") or {}
    s.add(
        Site(
            id=b["site"],
            owner_id=b["owner"],
            aimag=b["region"]["aimag"],
            soum=b["region"]["soum"],
            lat=b["lat"],
            lon=b["lon"],
            permit_number=permit.get("number"),
            permit_valid_until=permit.get("valid_until"),
            capacity_g_per_year=b.get("capacity_g_per_year"),
            status="active",
            registered_index=e.index,
        )
    )
    s.add(SiteEvent(site_id=b["site"], index=e.index, type=e.type))


def _project_site_status(s: Session, e: Applied) -> None:
    site = s.get(Site, e.body["site"])
    assert site is not None
    site.status = e.body["status"]
    site.status_reason = e.body["reason"]
    s.add(SiteEvent(site_id=site.id, index=e.index, type=e.type))


# Every event type of this domain and its projector, in the order of the rules.
PROJECTORS: Final[dict[str, Projector]] = {
    "actor.registered": _project_actor,
    "actor.status_changed": _project_actor_status,
    "actor.key_added": _project_key,
    "actor.key_revoked": _project_key_revoked,
    "site.registered": _project_site,
    "site.status_changed": _project_site_status,
}
