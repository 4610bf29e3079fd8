"""What the `/lots`, provenance and `/offers` reads answer (field order is the JSON's)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class _Out(BaseModel):
    # a read that grows a key the model lacks fails loudly instead of dropping it
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class OpenOffer(_Out):
    offer: str
    from_: str = Field(alias="from")
    to: str


class LotOut(_Out):
    """A lot's current facts, its open offer and the holds that stop it."""

    lot: str
    kind: str
    form: str
    unit: str
    mass: int
    remaining: int
    fineness_ppt: int | None
    custodian: str
    owner: str
    status: str
    closed_by: str | None
    site: str | None
    miner: str | None
    mercury_free: bool | None
    created_index: int
    occurred_at: str
    open_offer: OpenOffer | None
    holds: list[str]


class LotEventOut(_Out):
    """One ledger entry about a lot: its index (provable), type, when it happened (the
    event's own `occurred_at`) and a one-line plain English summary."""

    index: int
    type: str
    occurred_at: str | None = None
    summary: str | None = None


class LotHistoryOut(_Out):
    lot: str
    events: list[LotEventOut]


class ShareOut(_Out):
    """An exact share: ``num/den`` and a 6-digit decimal (half up)."""

    fraction: str
    decimal: str


class ProvenanceNode(_Out):
    lot: str
    kind: str
    form: str
    unit: str
    mass: int
    status: str
    site: str | None
    miner: str | None
    created_index: int
    depth: int
    share: ShareOut


class ProvenanceLink(_Out):
    child: str
    parent: str
    mass: int
    unit: str
    event_index: int
    share: ShareOut


class OreOrigin(_Out):
    lot: str
    site: str | None
    miner: str | None
    share: ShareOut


class SiteOrigin(_Out):
    site: str
    share: ShareOut


class MinerOrigin(_Out):
    miner: str
    share: ShareOut


class Origins(_Out):
    ore_lots: list[OreOrigin]
    sites: list[SiteOrigin]
    miners: list[MinerOrigin]


class ProvenanceOut(_Out):
    """A lot's upstream graph and the share of each ore lot, site and miner in it."""

    lot: str
    depth: int
    nodes: list[ProvenanceNode]
    links: list[ProvenanceLink]
    origins: Origins


class DownstreamLot(_Out):
    lot: str
    kind: str
    form: str
    status: str
    custodian: str
    owner: str
    remaining: int
    unit: str
    depth: int


class LotDownstreamOut(_Out):
    lot: str
    downstream: list[DownstreamLot]


class SiteDownstreamOut(_Out):
    site: str
    downstream: list[DownstreamLot]


class MinerDownstreamOut(_Out):
    actor: str
    downstream: list[DownstreamLot]


class OfferPriceOut(_Out):
    amount: str
    currency: str


class OfferOut(_Out):
    """A transfer offer; `price` and `price_salt` only for its parties and the auditors
    and regulators (absent, not null, for anyone else)."""

    offer: str
    lot: str
    from_: str = Field(alias="from")
    to: str
    status: str
    price_commitment: str | None
    offered_index: int
    closed_index: int | None
    price: OfferPriceOut | None = None
    price_salt: str | None = None


# --- lists (`GET /lots`, `GET /offers`, `GET /actors/{id}/deliveries`) ----------------------


class LotItem(_Out):
    """A lot in a list: what it is, where it stands, who holds and owns it, what is left."""

    lot: str
    kind: str
    form: str
    status: str
    custodian: str
    owner: str
    unit: str
    mass: int
    remaining: int = Field(description="mass left, in `unit`")
    created_index: int
    updated_index: int = Field(description="index of the latest entry about the lot")
    occurred_at: str = Field(description="when the lot was created (its event's occurred_at)")


class LotPage(_Out):
    """Lots, newest first by creation index; `next_cursor` resumes after the last one
    (null on the last page)."""

    items: list[LotItem]
    next_cursor: str | None


class OfferPage(_Out):
    """Offers, newest first by the index of the offer; prices as `GET /offers/{id}` shows
    them (absent for those who may not read them)."""

    items: list[OfferOut]
    next_cursor: str | None


class DeliveryItem(_Out):
    """One ore delivery of a miner or partnership, as the delivery stated it."""

    lot: str
    site: str
    centre: str
    mass_g: int
    remaining_g: int
    status: str
    mined_on: str | None
    occurred_at: str
    index: int = Field(description="the ore.delivered entry (provable)")
    receipt: str | None = Field(description="id of the latest ore receipt issued, if any")


class DeliveryPage(_Out):
    actor: str
    items: list[DeliveryItem]
    next_cursor: str | None
