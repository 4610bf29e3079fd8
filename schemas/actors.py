"""What the `/actors`, `/sites` and personal-data reads answer (field order is the JSON's)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, JsonValue


class _Out(BaseModel):
    # a read that grows a key the model lacks fails loudly instead of dropping it
    model_config = ConfigDict(extra="forbid")


class LicenceOut(_Out):
    number: str
    valid_from: str | None
    valid_until: str | None


class RegionOut(_Out):
    aimag: str | None
    soum: str | None


class KeyStatus(_Out):
    key_id: str
    status: str


class ActorOut(_Out):
    """An actor as the log says it is now, for officers and the actor itself."""

    actor: str
    role: str
    buyer_kind: str | None
    licence: LicenceOut | None
    region: RegionOut | None
    members: int | None
    status: str
    status_reason: str | None
    status_by: str | None
    personal_commitment: str | None
    registered_index: int
    keys: list[KeyStatus]


class PublicActorOut(_Out):
    """What an actor's trading partners see of it: who it is and whether it may trade."""

    actor: str
    role: str
    buyer_kind: str | None
    status: str


class PersonalOut(_Out):
    """Off-log personal data and its salt (both gone once erased)."""

    actor: str
    personal: dict[str, JsonValue] | None
    salt: str | None
    erased_at: str | None
    erased_reason: str | None


class ErasureOut(_Out):
    actor: str
    erased_at: str | None


class Permit(_Out):
    number: str | None
    valid_until: str | None


class SiteOut(_Out):
    """A mine site, for officers and its owner."""

    site: str
    owner: str
    region: RegionOut
    lat: str
    lon: str
    permit: Permit
    capacity_g_per_year: int | None
    status: str
    status_reason: str | None
    registered_index: int


class IndexedEvent(_Out):
    """One ledger entry about a record: its index (provable) and its type."""

    index: int
    type: str


class SiteHistoryOut(_Out):
    site: str
    events: list[IndexedEvent]


# --- lists (`GET /actors`, `GET /sites`): public fields only, for pickers -----------------


class ActorPage(_Out):
    """Actors by id; `next_cursor` resumes after the last one (null on the last page)."""

    items: list[PublicActorOut]
    next_cursor: str | None


class SiteItem(_Out):
    """A site's public fields: no coordinates, permit or status reason."""

    site: str
    owner: str
    region: RegionOut
    status: str


class SitePage(_Out):
    items: list[SiteItem]
    next_cursor: str | None
