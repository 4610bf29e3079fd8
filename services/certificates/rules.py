"""Rules and followers of certificates and receipts (their projectors: projectors.py).

A certificate is issued by the system in answer to an entry, and reflects that entry: its
token carries the entry's index and the first 16 bytes of its leaf hash, so the token
itself promises that the entry is in the log. The answer is a `certificate.issued` entry
(actor `system:altan`) holding the token, recorded in the same transaction right after the
batch it answers (see `services.pipeline.registration.Rules.follows`):

- `ore.delivered`          a receipt for the miner, reflecting the delivery;
- `certificate.requested`  a gold lot's certificate, asked for by its custodian or a
                           regulator, reflecting the request;
- `transfer.accepted`, `assay.recorded`
                           a new certificate for a gold lot that had a current one; the
                           new one supersedes it;
- `lot.split`, `lots.merged`
                           certificates for the new lots when a lot they were made of had
                           a current one (the old one stays, its lot consumed).

A regulator revokes a certificate with a reason (`certificate.revoked`).

Rule slugs, besides NotFound `unknown-lot|certificate`:

    Forbidden      not-custodian
    Conflict       already-revoked
    RuleViolation  not-a-gold-lot, lot-not-active, held, not-certifiable
"""

from __future__ import annotations

import functools
import math
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.certificate import (
    LEAF_HASH_PREFIX_SIZE,
    Certificate,
    CertificateKind,
    MassUnit,
    Origin,
    certificate_id,
    sign_certificate,
    token_text,
)
from ledger.entry import Event
from ledger.errors import MalformedInput
from ledger.keys import LogSigner
from ledger.regions import aimag_code
from schemas.events import CertificateIssued, CertificateRequested, CertificateRevoked
from services.actors.models import Site
from services.certificates.models import KIND_NAMES, CertificateRecord
from services.certificates.projectors import PROJECTORS
from services.certificates.queries import current_certificate
from services.errors import Conflict, Forbidden, RuleViolation
from services.identity import SYSTEM_ACTOR
from services.lots import queries
from services.lots.models import Lot, LotLink
from services.pipeline import Appended, Applied, Context, Finish, Rules, lookup
from services.roles import BUYER, PROCESSING_CENTRE, REGULATOR

# This domain's handlers and followers (registered below) and projectors (see domain.py).
rules = Rules(projectors=dict(PROJECTORS))

REQUESTERS = (PROCESSING_CENTRE, BUYER, REGULATOR)


# --- the facts a token states, read from the projection -----------------------------------


@functools.lru_cache(maxsize=1024)
def _aimag(name: str) -> int:
    return aimag_code(name) or 0


def _region(session: Session, site_ids: list[str]) -> int:
    """The aimag code of the first site (the one with the largest share), 0 if unknown."""
    if not site_ids:
        return 0
    site = session.get(Site, site_ids[0])
    return _aimag(site.aimag) if site is not None else 0


def ore_facts(session: Session, site_id: str, mass_g: int) -> dict[str, Any]:
    """What a receipt for delivered ore states (all but lot, custodian, time and entry)."""
    origin = Origin(aimag=_region(session, [site_id]), miners=1, sites=1)
    return {
        "kind": CertificateKind.ORE_RECEIPT,
        "mass": mass_g,
        "unit": MassUnit.G,
        "fineness_ppt": None,
        "origin": origin,
    }


def gold_facts(session: Session, lot: Lot) -> dict[str, Any]:
    """What a gold lot's certificate states now (all but lot, custodian, time and entry)."""
    up = queries.upstream(session, lot.id)["origins"]
    site_ids = [s["site"] for s in up["sites"]]
    origin = Origin(
        aimag=_region(session, site_ids),
        miners=len(up["miners"]),
        sites=len(site_ids),
        mercury_free=lot.mercury_free,
    )
    return {
        "kind": CertificateKind.GOLD_LOT,
        "mass": lot.remaining,
        "unit": MassUnit.MG,
        "fineness_ppt": lot.fineness_ppt,
        "origin": origin,
    }


def _issue_step(lot_id: str, custodian: str, facts: dict[str, Any], time: str) -> Finish:
    """The second step: sign once the reflected entry has its leaf hash."""

    def finish(entry: Appended, signer: LogSigner, now: datetime) -> list[Event]:
        # Seconds, never before the key's first second (a key made this second is valid).
        issued_at = max(int(now.timestamp()), math.ceil(signer.key.not_before.timestamp()))
        cert = Certificate(
            lot_id=lot_id,
            custodian=custodian,
            issued_at=issued_at,
            ledger_index=entry.index,
            leaf_hash_prefix=entry.leaf_hash[:LEAF_HASH_PREFIX_SIZE],
            **facts,
        )
        token = sign_certificate(cert, signer)
        body = {
            "occurred_at": time,
            "certificate": certificate_id(token),
            "lot": lot_id,
            "kind": KIND_NAMES[cert.kind],
            "entry": entry.index,
            "token": token_text(token),
        }
        return [Event(type="certificate.issued", actor=SYSTEM_ACTOR, body=body)]

    return finish


def _prepare_gold(session: Session, lot: Lot, time: str) -> Finish | None:
    """Read a gold lot's facts now (as of the entry being projected) and check them with
    placeholders, so that the second step cannot fail; None when they cannot be stated in
    a token (an automatic issue is then skipped; a request is refused by its rule)."""
    try:
        facts = gold_facts(session, lot)
        Certificate(
            lot_id=lot.id,
            custodian=lot.custodian_id,
            issued_at=0,
            ledger_index=0,
            leaf_hash_prefix=bytes(LEAF_HASH_PREFIX_SIZE),
            **facts,
        )
    except (MalformedInput, RuleViolation):
        return None
    return _issue_step(lot.id, lot.custodian_id, facts, time)


def _lot_row(session: Session, lot_id: str) -> Lot:
    lot = session.get(Lot, lot_id)
    assert lot is not None, f"projection out of step: no lot {lot_id}"
    return lot


# --- followers ----------------------------------------------------------------------------


@rules.follows("ore.delivered")
def _receipt(session: Session, e: Applied) -> Finish | None:
    # The delivery states every fact of its receipt: no need to read the new lot back
    # (reading it cost more than the rest of the receipt, bench/http_append.py).
    # Its facts are within a token's bounds by the delivery's schema (an id of at most 64
    # characters, an actor id of at most 80, at most 1e9 g), so no placeholder check.
    b = e.body
    return _issue_step(b["lot"], e.actor, ore_facts(session, b["site"], b["mass_g"]), e.time)


@rules.follows("certificate.requested")
def _requested(session: Session, e: Applied) -> Finish | None:
    return _prepare_gold(session, _lot_row(session, e.body["lot"]), e.time)


@rules.follows("transfer.accepted", "assay.recorded")
def _reissue(session: Session, e: Applied) -> Finish | None:
    lot_id = e.body.get("lot")
    if lot_id is None:  # a transfer names its offer
        from services.lots.models import Offer

        offer = session.get(Offer, e.body["offer"])
        lot_id = offer.lot_id if offer is not None else None
    if lot_id is None or current_certificate(session, lot_id) is None:
        return None
    return _prepare_gold(session, _lot_row(session, lot_id), e.time)


@rules.follows("lot.split", "lots.merged")
def _successors(session: Session, e: Applied) -> Finish | None:
    children = session.scalars(select(LotLink).where(LotLink.event_index == e.index)).all()
    parents = {link.parent_id for link in children}
    if not any(current_certificate(session, p) is not None for p in parents):
        return None
    steps = [
        step
        for child in sorted({link.child_id for link in children})
        if (step := _prepare_gold(session, _lot_row(session, child), e.time)) is not None
    ]

    def finish(entry: Appended, signer: LogSigner, now: datetime) -> list[Event]:
        return [ev for step in steps for ev in step(entry, signer, now)]

    return finish if steps else None


# --- rules --------------------------------------------------------------------------------


@rules.handles("certificate.requested", CertificateRequested, REQUESTERS)
def _request(ctx: Context, body: CertificateRequested) -> None:
    lot: Lot = lookup(ctx.session, Lot, body.lot, "lot", "body.lot")
    if ctx.principal.role != REGULATOR and lot.custodian_id != ctx.principal.actor_id:
        raise Forbidden(
            "not-custodian",
            f"{ctx.principal.actor_id} is not the custodian of {lot.id}",
            field="body.lot",
        )
    if lot.kind != "gold":
        raise RuleViolation(
            "not-a-gold-lot",
            f"lot {lot.id} is an ore lot; its receipt was issued at delivery",
            field="body.lot",
        )
    if lot.status != "active":
        raise RuleViolation("lot-not-active", f"lot {lot.id} is {lot.status}", field="body.lot")
    holds = [case.id for case in queries.lot_holds(ctx.session, lot)]
    if holds:
        raise RuleViolation(
            "held", f"lot {lot.id} is held by case {', '.join(holds)}", field="body.lot"
        )
    if _prepare_gold(ctx.session, lot, ctx.time) is None:
        raise RuleViolation(
            "not-certifiable",
            f"lot {lot.id}'s facts do not fit a certificate (identifiers over 80 bytes?)",
            field="body.lot",
        )


@rules.handles("certificate.issued", CertificateIssued, ())
def _issued_by_system_only(ctx: Context, body: CertificateIssued) -> None:
    raise AssertionError("unreachable: no role may submit certificate.issued")


@rules.handles("certificate.revoked", CertificateRevoked, (REGULATOR,))
def _revoke(ctx: Context, body: CertificateRevoked) -> None:
    cert: CertificateRecord = lookup(
        ctx.session, CertificateRecord, body.certificate, "certificate", "body.certificate"
    )
    if cert.revoked_index is not None:
        raise Conflict(
            "already-revoked",
            f"certificate {cert.id} was revoked at entry {cert.revoked_index}",
            field="body.certificate",
        )
