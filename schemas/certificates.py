"""The online verdict on a certificate: what `GET /c/{token}` returns as JSON, and what its
HTML page and `altan verify --online` show.

The verdict is one of three words, with the reason that decided it:

    genuine      the token verifies, its issuance is in the log and the lot is as it says
    not_genuine  malformed | unknown_key | bad_signature | key_not_valid_at_issue |
                 not_in_log | revoked
    not_current  superseded | consumed | transferred | held (genuine, but the lot has moved on)
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

Verdict = Literal["genuine", "not_genuine", "not_current"]
Reason = Literal[
    "malformed",
    "unknown_key",
    "bad_signature",
    "key_not_valid_at_issue",
    "not_in_log",
    "revoked",
    "superseded",
    "consumed",
    "transferred",
    "held",
]
NOT_GENUINE: frozenset[str] = frozenset(
    {"malformed", "unknown_key", "bad_signature", "key_not_valid_at_issue", "not_in_log", "revoked"}
)
NOT_CURRENT: frozenset[str] = frozenset({"superseded", "consumed", "transferred", "held"})


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Check(_Model):
    """One step of the numbered checklist; `ok` None means not reached."""

    step: int
    name: str  # stable slug, e.g. "signature", "in_log"
    ok: bool | None
    detail: str = ""


class OriginOut(_Model):
    aimag: int  # ISO 3166-2:MN numeric code, 0 = not stated
    region_en: str
    region_mn: str
    miners: int
    sites: int
    mercury_free: bool | None


class CertificateOut(_Model):
    """The signed facts of the token (what an offline verifier sees too)."""

    id: str  # hex of the first 16 bytes of SHA-256(token)
    kind: Literal["gold_lot", "ore_receipt"]
    lot: str
    mass: int
    unit: Literal["g", "mg"]
    mass_text: str  # for people: "1,234.567 g"
    fineness_ppt: int | None
    origin: OriginOut
    custodian: str
    issued_at: str  # RFC 3339, UTC
    ledger_index: int
    leaf_hash_prefix: str  # hex
    key_id: str  # hex, the C2SP key id of the signing log key


class Revocation(_Model):
    reason: str
    by: str
    index: int
    time: str


class Successor(_Model):
    """A newer certificate that replaces this one (same lot, or a lot made from it)."""

    id: str
    lot: str
    url: str


class HistoryItem(_Model):
    index: int
    type: str
    time: str


class SiteShare(_Model):
    site: str
    aimag: str
    soum: str
    share: str  # exact fraction "n/d"


class LotNow(_Model):
    """The lot as the ledger has it now."""

    id: str
    status: str  # active | closed | exported | refined
    closed_by: str | None
    custodian: str
    mass: int  # remaining, in `unit`
    unit: Literal["g", "mg"]
    mass_text: str  # for people, as CertificateOut.mass_text
    fineness_ppt: int | None
    holds: list[str]  # ids of the cases holding it
    history: list[HistoryItem]
    sites: list[SiteShare]


class InclusionProof(_Model):
    """RFC 9162 inclusion of the reflected entry in the tree of `checkpoint`."""

    index: int
    tree_size: int
    entry: str  # base64 of the entry's bytes (leaf hash = SHA-256(0x00 || entry))
    leaf_hash: str  # hex
    path: list[str]  # hex, leaf to root
    root_hash: str  # hex, as in the checkpoint


class WitnessedProof(_Model):
    """The same entry proven against an older checkpoint that witnesses cosigned (with
    their cosignatures), for verifiers that demand cosignatures the latest lacks so far;
    `consistency`: the RFC 9162 consistency proof (base64 hashes) from this checkpoint's
    size to the latest, so that a status proven against the latest extends it."""

    checkpoint: str  # the signed note with its cosignature lines
    proof: InclusionProof
    consistency: list[str] = []


class StatusRoot(_Model):
    """The `state.root` entry a status proof is against (the checkpoint's last entry)."""

    index: int  # == tree_size - 1
    entry: str  # base64 of the entry's bytes
    inclusion: list[str]  # base64 hashes: RFC 9162 inclusion of that entry in tree_size


class StatusProof(_Model):
    """A lot's state as the log commits to it: the state (None: no such lot), its sparse
    Merkle map proof against the root in the `state.root` entry `root`, that entry's
    inclusion in the checkpoint of `tree_size` (ledger/statemap.py, ledger/status.py)."""

    lot: str
    state: dict[str, Any] | None
    map_proof: dict[str, Any]
    root: StatusRoot
    tree_size: int
    checkpoint: str  # the signed note of tree_size, with its cosignature lines


class VerdictOut(_Model):
    """`GET /c/{token}` as JSON."""

    verdict: Verdict
    reason: Reason | None
    detail: str
    checks: list[Check]
    certificate: CertificateOut | None  # None when malformed
    revocation: Revocation | None = None
    successors: list[Successor] = []
    lot: LotNow | None = None
    proof: InclusionProof | None = None
    checkpoint: str | None = None  # the signed note (C2SP tlog-checkpoint)
    verifier_keys: list[str] = []  # C2SP vkeys of the log, to check the checkpoint
    # Newest checkpoints with 1, 2, ... witnesses' cosignatures, older than `checkpoint`,
    # holding the entry (at most 3): a verifier picks the newest its witness policy accepts.
    witnessed: list[WitnessedProof] = []
    # The certificate's lot as the log commits to it (None: the log has no state.root yet):
    # the verdict's status comes from this, and a verifier checks it itself.
    status_proof: StatusProof | None = None


class CertificateLinks(_Model):
    """Where the certificate's QR images, printable page and verdict are on this server."""

    png: str
    svg: str
    print: str
    verify: str


class CertificateRecordOut(_Model):
    """An issued certificate or receipt as `GET /certificates/{id}` returns it."""

    id: str
    lot: str
    kind: str
    token: str
    qr_text: str
    entry: int
    issued_index: int
    issued_time: str
    superseded_by: str | None
    revoked: bool
    links: CertificateLinks


class LotCertificatesOut(_Model):
    """A lot's certificates, newest first."""

    lot: str
    certificates: list[CertificateRecordOut]
