"""Sample certificate views (genuine, forged, revoked, ...) signed by a sample log.

Shared by several test modules (moved from tests/services/certificates/test_certificate_pages.py).
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger.certificate import (
    Certificate,
    CertificateKind,
    MassUnit,
    Origin,
    qr_text,
    sign_certificate,
)
from ledger.checkpoint import Checkpoint, sign_checkpoint
from ledger.hashing import hash_leaf
from ledger.keys import LogKey, LogSigner
from ledger.merkle import CompactRange, NodeId, inclusion_proof, root_hash, verify_inclusion
from ledger.note import NoteSigner
from schemas.certificates import (
    CertificateOut,
    Check,
    HistoryItem,
    InclusionProof,
    LotNow,
    OriginOut,
    Reason,
    Revocation,
    SiteShare,
    Successor,
    VerdictOut,
)
from services.certificates.verdict import _checks as verdict_checks

PUBLIC_URL = "https://altan.mn"


LOG_ORIGIN = "altan.mn/log"


SIGNER = NoteSigner(Ed25519PrivateKey.from_private_bytes(bytes(range(32))), LOG_ORIGIN)


OTHER_SIGNER = NoteSigner(Ed25519PrivateKey.from_private_bytes(bytes(range(1, 33))), LOG_ORIGIN)


# An attacker's key under the log's own name: what a fabricated page would list and use.
ATTACKER = NoteSigner(Ed25519PrivateKey.from_private_bytes(bytes(range(7, 39))), LOG_ORIGIN)


STEPS = ("token", "key", "signature", "key_time", "in_log", "revoked", "current")


ENTRIES = [f"entry {i}: ore.delivered".encode() for i in range(7)]


INDEX = 5


def log_signer(seed: bytes) -> LogSigner:
    """The log signer of a 32-byte seed under the log's name (certificates and notes)."""
    private = Ed25519PrivateKey.from_private_bytes(seed)
    public = NoteSigner(private, LOG_ORIGIN).verifier
    key = LogKey(
        LOG_ORIGIN,
        public.key_id.hex(),
        public.public_key,
        "active",
        datetime(2026, 1, 1, tzinfo=UTC),
    )
    return LogSigner(key, private)


def sample_certificate() -> Certificate:
    """The facts of ``certificate_out()``, as a token signs them."""
    return Certificate(
        kind=CertificateKind.GOLD_LOT,
        lot_id="LOT-2026-0042",
        mass=1234567,
        unit=MassUnit.MG,
        fineness_ppt=917,
        origin=Origin(47, 12, 2, mercury_free=True),
        custodian="Bornuur Gold Partnership",
        issued_at=int(datetime(2026, 9, 1, 8, tzinfo=UTC).timestamp()),
        ledger_index=INDEX,
        leaf_hash_prefix=hash_leaf(ENTRIES[INDEX])[:16],
    )


TOKEN = sign_certificate(sample_certificate(), log_signer(bytes(range(32))))


ATTACKER_TOKEN = sign_certificate(sample_certificate(), log_signer(bytes(range(7, 39))))


class DictReader:
    """A NodeReader over a dict, filled from CompactRange.append."""

    def __init__(self, leaves: Sequence[bytes]) -> None:
        self.nodes: dict[NodeId, bytes] = {}
        frontier = CompactRange()
        for leaf in leaves:
            self.nodes.update(frontier.append(hash_leaf(leaf)))

    def get_nodes(self, ids: Sequence[NodeId]) -> Mapping[NodeId, bytes]:
        return {i: self.nodes[i] for i in ids if i in self.nodes}


def proof_for(
    entries: Sequence[bytes], index: int, signer: NoteSigner = SIGNER
) -> tuple[InclusionProof, str]:
    """A real RFC 9162 inclusion proof of ``entries[index]`` and the signed checkpoint."""
    reader = DictReader(entries)
    size = len(entries)
    path = inclusion_proof(reader, index, size)
    root = root_hash(reader, size)
    leaf = hash_leaf(entries[index])
    verify_inclusion(leaf, index, size, path, root)
    proof = InclusionProof(
        index=index,
        tree_size=size,
        entry=base64.b64encode(entries[index]).decode("ascii"),
        leaf_hash=leaf.hex(),
        path=[p.hex() for p in path],
        root_hash=root.hex(),
    )
    return proof, sign_checkpoint(Checkpoint(LOG_ORIGIN, size, root), signer)


def checks(failed: str | None = None, detail: str = "") -> list[Check]:
    """The checklist of a verdict that failed at `failed` (None: passed), as the service
    builds it: the pages are tested on what it shows. STEPS above stays an independent
    copy, the order the pages must show (test_certificate_pages.py compares them)."""
    return verdict_checks(failed, detail)


def certificate_out(
    lot: str = "LOT-2026-0042",
    custodian: str = "Bornuur Gold Partnership",
    entries: Sequence[bytes] = ENTRIES,
    index: int = INDEX,
) -> CertificateOut:
    return CertificateOut(
        id="3f2a9c0e11d84b7a9e5c2f0b6d1a4e77",
        kind="gold_lot",
        lot=lot,
        mass=1234567,
        unit="mg",
        mass_text="1,234.567 g",
        fineness_ppt=917,
        origin=OriginOut(
            aimag=47,
            region_en="Töv",
            region_mn="Төв",
            miners=12,
            sites=2,
            mercury_free=True,
        ),
        custodian=custodian,
        issued_at="2026-09-01T08:00:00Z",
        ledger_index=index,
        leaf_hash_prefix=hash_leaf(entries[index])[:16].hex(),
        key_id=SIGNER.key_id.hex(),
    )


def lot_now(lot: str = "LOT-2026-0042", custodian: str = "Bornuur Gold Partnership") -> LotNow:
    return LotNow(
        id=lot,
        status="active",
        closed_by=None,
        custodian=custodian,
        mass=1234567,
        unit="mg",
        mass_text="1,234.567 g",
        fineness_ppt=917,
        holds=[],
        history=[
            HistoryItem(index=2, type="ore.delivered", time="2026-08-30T09:15:00+08:00"),
            HistoryItem(index=4, type="processing.recorded", time="2026-08-31T14:00:00+08:00"),
            HistoryItem(index=5, type="assay.recorded", time="2026-09-01T15:30:00+08:00"),
            HistoryItem(index=6, type="certificate.issued", time="2026-09-01T16:00:00+08:00"),
        ],
        sites=[
            SiteShare(site="SITE-BORNUUR-3", aimag="Töv", soum="Bornuur", share="2/3"),
            SiteShare(site="SITE-ZAAMAR-1", aimag="Töv", soum="Zaamar", share="1/3"),
        ],
    )


def genuine_view(
    entries: Sequence[bytes] = ENTRIES,
    index: int = INDEX,
    lot: str = "LOT-2026-0042",
    custodian: str = "Bornuur Gold Partnership",
    signer: NoteSigner = SIGNER,
    listed: NoteSigner = SIGNER,
) -> VerdictOut:
    """A genuine verdict; ``signer`` signs its checkpoint, ``listed`` is the key it lists."""
    proof, note = proof_for(entries, index, signer)
    return VerdictOut(
        verdict="genuine",
        reason=None,
        detail="Genuine: issued by this ledger and current.",
        checks=checks(),
        certificate=certificate_out(lot, custodian, entries, index),
        lot=lot_now(lot, custodian),
        proof=proof,
        checkpoint=note,
        verifier_keys=[listed.verifier.vkey],
    )


def fabricated_view() -> VerdictOut:
    """What a fake site serves: a whole answer made with the attacker's own key, consistent
    with itself (its page holds ATTACKER_TOKEN)."""
    return genuine_view(signer=ATTACKER, listed=ATTACKER)


def _refused(reason: Reason, step: str, certificate: CertificateOut | None) -> VerdictOut:
    _, note = proof_for(ENTRIES, INDEX)
    return VerdictOut(
        verdict="not_genuine",
        reason=reason,
        detail=f"refused: {reason}",
        checks=checks(step, f"certificate {reason}"),
        certificate=certificate,
        checkpoint=note,
        verifier_keys=[SIGNER.verifier.vkey],
    )


def forged_view() -> VerdictOut:
    """not_genuine / bad_signature: the facts were changed after signing."""
    return _refused("bad_signature", "signature", certificate_out())


def malformed_view() -> VerdictOut:
    return _refused("malformed", "token", None)


def superseded_view() -> VerdictOut:
    base = genuine_view()
    return base.model_copy(
        update={
            "verdict": "not_current",
            "reason": "superseded",
            "detail": "Genuine, but no longer current. A newer certificate replaces this one.",
            "checks": checks("current", "A newer certificate replaces this one."),
            "successors": [
                Successor(
                    id="9d0c4b2e7f1a3c5e8b6d2a4f0e1c3b5a",
                    lot="LOT-2026-0042-A",
                    url=qr_text(PUBLIC_URL, bytes(range(1, 101))),
                )
            ],
        }
    )


def revoked_view() -> VerdictOut:
    base = genuine_view()
    revocation = Revocation(
        reason="Assay report found to be forged",
        by="regulator-mrpam",
        index=7,
        time="2026-09-03T02:00:00Z",
    )
    return base.model_copy(
        update={
            "verdict": "not_genuine",
            "reason": "revoked",
            "detail": f"A regulator revoked this certificate. {revocation.reason}",
            "checks": checks("revoked", revocation.reason),
            "revocation": revocation,
        }
    )


def flipped_path_view() -> VerdictOut:
    """A genuine view whose proof has one flipped byte in its first path hash."""
    base = genuine_view()
    assert base.proof is not None
    first = bytearray(bytes.fromhex(base.proof.path[0]))
    first[0] ^= 0x01
    proof = base.proof.model_copy(update={"path": [first.hex(), *base.proof.path[1:]]})
    return base.model_copy(update={"proof": proof})
