"""Event bodies: what each supply-chain event records in the log, exactly.

A body is logged as the client sent it (after strict validation), so that a signature the
actor made over it still verifies in the log. Hence: strict types (no coercion), unknown
fields refused, masses as integers in the smallest unit (grams of ore, milligrams of gold)
so no binary float ever enters a hashed entry, times as RFC 3339 strings with their offset
(a field device records local time, UTC+8 in most aimags, UTC+7 in the west).

Personal data and prices never enter the log: bodies carry a salted SHA-256 commitment
(`personal_commitment`, `price_commitment`), and the data itself is kept off the log.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from schemas.roles import RoleName
from schemas.types import Day, EventDay, Identifier, Moment, ShortText, Text

# Identifiers chosen by the client ("centre:bornuur", "ORE-2026-000123"): the client knows
# them before it is online, so offline records can refer to each other.
ActorId = Annotated[str, Field(pattern=r"^[a-z_]+:[a-z0-9][a-z0-9._-]{0,62}$", max_length=80)]
ObjectId = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$", max_length=64)]
# Times, dates and texts: one strict definition for every body (schemas.types).
Commitment = Annotated[
    str,
    Field(
        pattern=r"^[0-9a-f]{64}$",
        description="hex SHA-256 over salt || RFC 8785 JSON of the private data",
    ),
]
# Bounds that no real lot reaches: 1,000 t of ore; 1 t of gold.
OreGrams = Annotated[int, Field(gt=0, le=1_000_000_000)]
GoldMilligrams = Annotated[int, Field(gt=0, le=1_000_000_000)]

BuyerKind = Literal["central_bank", "bank", "trader", "refiner", "exporter"]


class Body(BaseModel):
    """Base of every event body: strict, closed, immutable."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)

    occurred_at: Moment


class Region(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)

    aimag: ShortText
    soum: ShortText


class Licence(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)

    number: ShortText
    valid_from: Day
    valid_until: Day | None = None


class PublicKey(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)

    key_id: Annotated[str, Field(pattern=r"^[0-9a-f]{8}$")]
    public_key: Annotated[str, Field(pattern=r"^[A-Za-z0-9+/]{43}=$", description="base64")]


# --- actors and sites ------------------------------------------------------------------


class ActorRegistered(Body):
    actor: ActorId
    role: RoleName
    buyer_kind: BuyerKind | None = None
    licence: Licence | None = None
    region: Region | None = None
    members: Annotated[int, Field(ge=1, le=1000)] | None = None
    keys: Annotated[list[PublicKey], Field(max_length=8)] = []
    personal_commitment: Commitment | None = None


class ActorStatusChanged(Body):
    actor: ActorId
    status: Literal["active", "suspended", "revoked"]
    reason: Text


class ActorKeyAdded(Body):
    actor: ActorId
    key: PublicKey


class ActorKeyRevoked(Body):
    actor: ActorId
    key_id: Annotated[str, Field(pattern=r"^[0-9a-f]{8}$")]
    reason: Text


class SiteRegistered(Body):
    site: ObjectId
    owner: ActorId
    region: Region
    lat: Annotated[str, Field(pattern=r"^-?\d{1,2}\.\d{1,6}$")]
    lon: Annotated[str, Field(pattern=r"^-?\d{1,3}\.\d{1,6}$")]
    permit: Licence | None = None
    capacity_g_per_year: Annotated[int, Field(gt=0, le=10_000_000_000)] | None = None


class SiteStatusChanged(Body):
    site: ObjectId
    status: Literal["active", "suspended", "closed"]
    reason: Text


# --- lots --------------------------------------------------------------------------------


class OreDelivered(Body):
    lot: ObjectId
    miner: ActorId
    site: ObjectId
    mass_g: OreGrams
    mined_on: EventDay
    moisture_permille: Annotated[int, Field(ge=0, le=1000)] | None = None
    notes: Text | None = None


class OreInput(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)

    lot: ObjectId
    mass_g: OreGrams


class GoldOutput(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)

    lot: ObjectId
    form: Literal["dore", "concentrate"]
    mass_mg: GoldMilligrams


class ProcessingRecorded(Body):
    run: ObjectId
    inputs: Annotated[list[OreInput], Field(min_length=1, max_length=200)]
    outputs: Annotated[list[GoldOutput], Field(min_length=1, max_length=50)]
    tailings_g: Annotated[int, Field(ge=0, le=1_000_000_000)] | None = None
    method: Literal["gravity", "flotation", "cyanidation", "amalgamation", "other"]
    mercury_free: bool
    started_on: EventDay
    finished_on: EventDay


class AssayRecorded(Body):
    lot: ObjectId
    fineness_ppt: Annotated[int, Field(ge=1, le=1000)]
    sample: ObjectId | None = None
    method: Literal["fire_assay", "xrf", "icp", "other"] = "fire_assay"


class SplitPart(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)

    lot: ObjectId
    mass_mg: GoldMilligrams


class LotSplit(Body):
    """A gold lot divided into parts; what the handling lost (`loss_mg`, with its
    `loss_reason`) is stated, so that lot = parts + loss, exact in milligrams."""

    lot: ObjectId
    into: Annotated[list[SplitPart], Field(min_length=2, max_length=50)]
    loss_mg: (
        Annotated[
            int,
            Field(
                ge=0,
                le=1_000_000_000,
                description="milligrams lost in the split (cutting, remelting, sampling); "
                "absent means none",
            ),
        ]
        | None
    ) = None
    loss_reason: Annotated[
        Text | None, Field(description="why the mass was lost; required when loss_mg > 0")
    ] = None


class LotsMerged(Body):
    lots: Annotated[list[ObjectId], Field(min_length=2, max_length=50)]
    into: ObjectId


class TransferOffered(Body):
    offer: ObjectId
    lot: ObjectId
    to: ActorId
    price_commitment: Commitment | None = None


class TransferAccepted(Body):
    offer: ObjectId


class TransferRejected(Body):
    offer: ObjectId
    reason: Text | None = None


class TransferCancelled(Body):
    offer: ObjectId
    reason: Text | None = None


class Destination(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)

    country: Annotated[str, Field(pattern=r"^[A-Z]{2}$", description="ISO 3166-1 alpha-2")]
    party: ShortText
    permit: ShortText | None = None


class LotExported(Body):
    lot: ObjectId
    destination: Destination


class LotRefined(Body):
    lot: ObjectId
    refinery: ShortText
    destination: Destination | None = None


# --- cases: holds, red flags, disputes --------------------------------------------------


class CaseTarget(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)

    kind: Literal["lot", "actor", "site"]
    id: Annotated[Identifier, Field(max_length=80)]


class CaseOpened(Body):
    case: ObjectId
    kind: Literal["hold", "red_flag", "dispute"]
    target: CaseTarget
    category: Literal[
        "serious_abuses",
        "armed_groups",
        "security_forces",
        "bribery_misrepresentation",
        "money_laundering",
        "taxes_royalties",
        "capacity_inconsistent",
        "yield_out_of_bounds",
        "suspended_supplier",
        "land_use",
        "other",
    ]
    description: Text
    parties: Annotated[list[ShortText], Field(max_length=20)] = []


class CaseResponded(Body):
    case: ObjectId
    response: Text


class CaseResolved(Body):
    case: ObjectId
    resolution: Text


class CaseEscalated(Body):
    case: ObjectId
    to: ShortText
    reason: Text


class CorrectionRecorded(Body):
    corrects: Annotated[int, Field(ge=0, description="ledger index of the mistaken entry")]
    reason: Text
    replaced_by: Annotated[list[int], Field(max_length=20)] = []


# --- certificates -------------------------------------------------------------------------

CertificateId = Annotated[
    str, Field(pattern=r"^[0-9a-f]{32}$", description="hex of SHA-256(token)[:16]")
]


class CertificateRequested(Body):
    """A custodian or regulator asks for a gold lot's certificate; the system answers with
    `certificate.issued`, whose token reflects this very entry."""

    lot: ObjectId


class CertificateIssued(Body):
    """Recorded by the system only: the token (base32, as in the QR) and the entry it
    reflects (the request, the delivery, the transfer or the assay)."""

    certificate: CertificateId
    lot: ObjectId
    kind: Literal["gold_lot", "ore_receipt"]
    entry: Annotated[int, Field(ge=0)]
    token: Annotated[str, Field(pattern=r"^[A-Z2-7]{16,1024}$")]
    supersedes: CertificateId | None = None


class CertificateRevoked(Body):
    certificate: CertificateId
    reason: Text


# --- witnesses ----------------------------------------------------------------------------

WitnessName = Annotated[
    str,
    Field(
        pattern=r"^[!-*,-~]{1,200}$",
        description="the witness's key name (c2sp.org/signed-note): printable ASCII, no "
        "space, no '+'; usually a schema-less URL",
        examples=["witness.example.mn/w1"],
    ),
]
WitnessVkey = Annotated[
    str,
    Field(
        pattern=r"^[!-*,-~]{1,200}\+[0-9a-f]{8}\+[A-Za-z0-9+/]{44}$",
        description="C2SP verifier key <name>+<8 hex key id>+<base64(0x04 || Ed25519 key)> "
        "(c2sp.org/tlog-cosignature, cosignature/v1)",
    ),
]


WitnessUrl = Annotated[
    str,
    Field(
        pattern=r"^https?://[!-~]{1,280}$",
        description="the witness's c2sp.org/tlog-witness submission prefix (http or https); "
        "the log POSTs <url>/add-checkpoint (`altan witness push`)",
        examples=["https://witness.example.mn"],
    ),
]


class WitnessRegistered(Body):
    """A witness whose cosignatures the log accepts and shows with its checkpoints; with a
    `url`, one the log submits its checkpoints to."""

    witness: WitnessName
    key: WitnessVkey
    url: WitnessUrl | None = None


class WitnessRemoved(Body):
    witness: WitnessName
    reason: Text


EVENT_BODIES: dict[str, type[Body]] = {
    "actor.registered": ActorRegistered,
    "actor.status_changed": ActorStatusChanged,
    "actor.key_added": ActorKeyAdded,
    "actor.key_revoked": ActorKeyRevoked,
    "site.registered": SiteRegistered,
    "site.status_changed": SiteStatusChanged,
    "ore.delivered": OreDelivered,
    "processing.recorded": ProcessingRecorded,
    "assay.recorded": AssayRecorded,
    "lot.split": LotSplit,
    "lots.merged": LotsMerged,
    "transfer.offered": TransferOffered,
    "transfer.accepted": TransferAccepted,
    "transfer.rejected": TransferRejected,
    "transfer.cancelled": TransferCancelled,
    "lot.exported": LotExported,
    "lot.refined": LotRefined,
    "case.opened": CaseOpened,
    "case.responded": CaseResponded,
    "case.resolved": CaseResolved,
    "case.escalated": CaseEscalated,
    "correction.recorded": CorrectionRecorded,
    "certificate.requested": CertificateRequested,
    "certificate.issued": CertificateIssued,
    "certificate.revoked": CertificateRevoked,
    "witness.registered": WitnessRegistered,
    "witness.removed": WitnessRemoved,
}
