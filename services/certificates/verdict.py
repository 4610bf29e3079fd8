"""The online check of a certificate: the offline checklist, then the ledger's word on it.

Numbered steps, each with a named reason when it fails (schemas.certificates):

    1. token      the QR text holds a well-formed token                    malformed
    2. key        signed by one of this log's keys                         unknown_key
    3. signature  the Ed25519 signature verifies                           bad_signature
    4. key_time   the key was the log's signing key at the issue time      key_not_valid_at_issue
    5. in_log     the entry it reflects is in the log with that leaf hash,
                  and the log records this token's issuance                 not_in_log
    6. revoked    no regulator has revoked it                               revoked
    7. current    no newer certificate, the lot is not consumed, has not
                  changed custodian and is not held                         superseded | consumed |
                                                                            transferred | held

Everything is read in one snapshot, and the inclusion proof of the reflected entry is
against the latest checkpoint, which is returned with it so that the client can check both.
The entry is also proven against the newest checkpoints that witnesses cosigned
(`witnessed`, services.witnesses.queries.witnessed_sizes): right after an append the latest
has no cosignature yet, and a verifier that demands cosignatures picks the newest one its
witnesses cosigned, and refuses it unless they cosigned it recently (`--max-age`): an older
checkpoint alone could hide later entries, such as a revocation (commit 3ea4aba).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from fractions import Fraction
from typing import Any

import cbor2
from sqlalchemy import Connection, select
from sqlalchemy.orm import Session

from ledger.certificate import (
    COSE_HEADER_KID,
    LEAF_HASH_PREFIX_SIZE,
    Certificate,
    CertificateFailure,
    CertificateInvalid,
    MassUnit,
    certificate_id,
    format_mass,
    parse_qr_text,
    qr_text,
    token_text,
    verify_certificate,
)
from ledger.encoding import b64encode
from ledger.entry import Entry
from ledger.errors import MalformedInput
from ledger.merkle import consistency_proof, inclusion_proof
from ledger.records import log_key
from ledger.regions import aimag_by_code
from ledger.sql import storage
from ledger.statemap import LotState
from ledger.status import NOT_CURRENT_REASONS, judge
from schemas.certificates import (
    NOT_GENUINE,
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
    WitnessedProof,
)
from services.actors.models import Site
from services.certificates import status
from services.certificates.models import KIND_NAMES, CertificateRecord
from services.certificates.queries import current_certificate
from services.lots import queries
from services.lots.models import Lot, LotEvent, LotLink
from services.witnesses.queries import checkpoint_note, witnessed_sizes

STEPS = ("token", "key", "signature", "key_time", "in_log", "revoked", "current")
HISTORY_SHOWN = 12
_FAILED_AT = {
    CertificateFailure.MALFORMED: "token",
    CertificateFailure.UNKNOWN_KEY: "key",
    CertificateFailure.BAD_SIGNATURE: "signature",
    CertificateFailure.KEY_NOT_VALID_AT_ISSUE: "key_time",
}
_DETAIL = {
    "malformed": "This is not a certificate of this ledger: the code does not hold a token.",
    "unknown_key": "Not signed by this ledger's key: do not accept it.",
    "bad_signature": "The signature does not match the facts: it has been altered or forged.",
    "key_not_valid_at_issue": "Signed with a key that was not in use on the issue date.",
    "not_in_log": "The ledger has no record of this certificate: do not accept it.",
    "revoked": "A regulator revoked this certificate.",
    "superseded": "A newer certificate replaces this one.",
    "consumed": "The lot no longer exists as such: it was processed, split, merged or sold on.",
    "transferred": "The lot has a new custodian since this certificate was issued.",
    "held": "The lot is held by an open case and may not be traded now.",
}


def _checks(failed: str | None, detail: str = "") -> list[Check]:
    out = []
    reached = True
    for step, name in enumerate(STEPS, start=1):
        if not reached:
            out.append(Check(step=step, name=name, ok=None))
        elif name == failed:
            out.append(Check(step=step, name=name, ok=False, detail=detail))
            reached = False
        else:
            out.append(Check(step=step, name=name, ok=True))
    return out


def _certificate_out(cert: Certificate, token: bytes, key_id: str) -> CertificateOut:
    aimag = aimag_by_code(cert.origin.aimag)
    return CertificateOut(
        id=certificate_id(token),
        kind=KIND_NAMES[cert.kind],
        lot=cert.lot_id,
        mass=cert.mass,
        unit="g" if cert.unit.name == "G" else "mg",
        mass_text=cert.mass_text,
        fineness_ppt=cert.fineness_ppt,
        origin=OriginOut(
            aimag=cert.origin.aimag,
            region_en=aimag.en if aimag else "not stated",
            region_mn=aimag.mn if aimag else "тодорхойгүй",
            miners=cert.origin.miners,
            sites=cert.origin.sites,
            mercury_free=cert.origin.mercury_free,
        ),
        custodian=cert.custodian,
        issued_at=datetime.fromtimestamp(cert.issued_at, UTC).isoformat().replace("+00:00", "Z"),
        ledger_index=cert.ledger_index,
        leaf_hash_prefix=cert.leaf_hash_prefix.hex(),
        key_id=key_id,
    )


def check(conn: Connection, text: str, public_url: str) -> VerdictOut:
    """The verdict on the token in `text` (a QR text, its URL or the bare base32)."""
    session = Session(bind=conn, autoflush=False)
    keys = [log_key(k) for k in storage.read_keys(conn)]
    vkeys = [k.verifier_key for k in keys]
    checkpoint = storage.latest_checkpoint(conn)
    note = checkpoint_note(conn, checkpoint.size) if checkpoint is not None else None
    try:
        token = parse_qr_text(text)
        cert = verify_certificate(token, keys)
    except MalformedInput as exc:
        return _refused("malformed", str(exc), "token", None, note, vkeys)
    except CertificateInvalid as exc:
        reason: Reason = exc.reason.value
        return _refused(reason, str(exc), _FAILED_AT[exc.reason], None, note, vkeys)
    kid = _signing_kid(token)
    out = _certificate_out(cert, token, kid)

    # 5. in the log
    size = checkpoint.size if checkpoint is not None else 0
    record = session.get(CertificateRecord, out.id)
    entry = (
        storage.read_entries(conn, cert.ledger_index, cert.ledger_index + 1)
        if cert.ledger_index < size
        else []
    )
    if not entry or entry[0].leaf_hash[:LEAF_HASH_PREFIX_SIZE] != cert.leaf_hash_prefix:
        return _refused(
            "not_in_log",
            f"entry {cert.ledger_index} of the log does not have the leaf hash this "
            "certificate names",
            "in_log",
            out,
            note,
            vkeys,
        )
    if record is None or record.token != token_text(token):
        return _refused(
            "not_in_log",
            "the log records no issuance of this token",
            "in_log",
            out,
            note,
            vkeys,
        )
    assert checkpoint is not None
    proof = _proof(conn, entry[0], size, checkpoint.root_hash)
    witnessed = _witnessed(conn, entry[0], size)
    proven = status.status_proof(conn, cert.lot_id)
    lot = session.get(Lot, cert.lot_id)
    lot_now = _lot_now(session, conn, lot) if lot is not None else None

    # 6-7. revoked? current? Decided from the lot's state as the log commits to it (the
    # status proof, read from the map's tables), never from `certificates` or `lots`, which
    # an insider can edit; the tables only add details (who revoked, newer certificates).
    # A log from before the map (no state.root yet) keeps the tables' word.
    why: Reason | None
    successors: list[Successor] = []
    if proven is not None:
        state = None if proven.state is None else LotState.from_json(proven.state)
        why = judge(out.id, cert.custodian, state)[1]
        if why in NOT_CURRENT_REASONS:  # the newer certificates to link to (the tables')
            successors = _currency(session, record, cert, lot, public_url)[1]
    elif record.revoked_index is not None:
        why = "revoked"
    else:
        why, successors = _currency(session, record, cert, lot, public_url)
    common: dict[str, Any] = {
        "certificate": out,
        "lot": lot_now,
        "proof": proof,
        "checkpoint": note,
        "verifier_keys": vkeys,
        "witnessed": witnessed,
        "status_proof": proven,
    }
    if why in ("revoked", "not_in_log"):
        revocation = None
        if why == "revoked" and record.revoked_index is not None:
            revocation = Revocation(
                reason=record.revoked_reason or "",
                by=record.revoked_by or "",
                index=record.revoked_index,
                time=record.revoked_time or "",
            )
        said = "" if revocation is None else revocation.reason
        step = "revoked" if why == "revoked" else "in_log"
        return VerdictOut(
            verdict="not_genuine",
            reason=why,
            detail=f"{_DETAIL[why]} {said}".strip(),
            checks=_checks(step, said or _DETAIL[why]),
            revocation=revocation,
            **common,
        )
    return VerdictOut(
        verdict="genuine" if why is None else "not_current",
        reason=why,
        detail="Genuine: issued by this ledger and current."
        if why is None
        else f"Genuine, but no longer current. {_DETAIL[why]}",
        checks=_checks(None if why is None else "current", "" if why is None else _DETAIL[why]),
        successors=successors,
        **common,
    )


def _signing_kid(token: bytes) -> str:
    """The kid of a token that verified (so its structure is known good)."""
    outer = cbor2.loads(token)
    return bytes(cbor2.loads(outer.value[0])[COSE_HEADER_KID]).hex()


def _refused(
    reason: Reason,
    detail: str,
    step: str,
    out: CertificateOut | None,
    note: str | None,
    vkeys: list[str],
) -> VerdictOut:
    assert reason in NOT_GENUINE
    return VerdictOut(
        verdict="not_genuine",
        reason=reason,
        detail=_DETAIL[reason],
        checks=_checks(step, detail),
        certificate=out,
        checkpoint=note,
        verifier_keys=vkeys,
    )


def _witnessed(conn: Connection, entry: storage.StoredEntry, latest: int) -> list[WitnessedProof]:
    """The entry proven against the newest cosigned checkpoints older than the latest."""
    out = []
    for size in witnessed_sizes(conn, latest, entry.index):
        cosigned = storage.checkpoint_at(conn, size)
        if cosigned is not None:
            out.append(
                WitnessedProof(
                    checkpoint=checkpoint_note(conn, size),
                    proof=_proof(conn, entry, size, cosigned.root_hash),
                    consistency=[
                        b64encode(h)
                        for h in consistency_proof(storage.NodeTable(conn), size, latest)
                    ],
                )
            )
    return out


def _proof(conn: Connection, entry: storage.StoredEntry, size: int, root: bytes) -> InclusionProof:
    path = inclusion_proof(storage.NodeTable(conn), entry.index, size)
    return InclusionProof(
        index=entry.index,
        tree_size=size,
        entry=b64encode(entry.entry),
        leaf_hash=entry.leaf_hash.hex(),
        path=[p.hex() for p in path],
        root_hash=root.hex(),
    )


def _currency(
    session: Session,
    record: CertificateRecord,
    cert: Certificate,
    lot: Lot | None,
    public_url: str,
) -> tuple[Reason | None, list[Successor]]:
    def link(r: CertificateRecord) -> Successor:
        return Successor(id=r.id, lot=r.lot_id, url=qr_text(public_url, r.token))

    newer: CertificateRecord | None = None
    if record.superseded_by is not None:
        newer = session.get(CertificateRecord, record.superseded_by)
        while newer is not None and newer.superseded_by is not None:  # the latest one
            newer = session.get(CertificateRecord, newer.superseded_by)
    if lot is None or lot.status != "active":
        if record.kind == "ore_receipt":
            # The receipt is the record of a delivery that happened: the ore was milled
            # since, and its holder (the miner) is shown nothing downstream of it (not the
            # gold lot, not its buyer's certificate).
            return "consumed", []
        children = session.scalars(
            select(LotLink.child_id).where(LotLink.parent_id == cert.lot_id)
        ).all()
        found = [current_certificate(session, c) for c in sorted(set(children))]
        return "consumed", [link(r) for r in found if r is not None]
    successors = [link(newer)] if newer is not None else []
    if lot.custodian_id != cert.custodian:
        return "transferred", successors
    if record.superseded_by is not None:
        return "superseded", successors
    if queries.lot_holds(session, lot):
        return "held", []
    return None, []


@dataclass(frozen=True)
class ReceiptFacts:
    """What an ore receipt's page says of the delivery: who delivered what from where, when
    (the day the delivery states, Ulaanbaatar time at the counter), and whether the ore was
    processed since."""

    miner: str
    site: str
    aimag: str
    soum: str
    delivered_on: str
    mass_text: str
    processed: bool
    processed_on: str = ""
    """The day the ore was processed (the run's last day), when it was."""


def receipt_facts(conn: Connection, view: VerdictOut) -> ReceiptFacts | None:
    """The delivery an ore receipt records (None for any other certificate, or one the
    ledger does not stand behind)."""
    cert = view.certificate
    if cert is None or cert.kind != "ore_receipt" or view.reason in NOT_GENUINE:
        return None
    session = Session(bind=conn, autoflush=False)
    lot = session.get(Lot, cert.lot)
    if lot is None or lot.kind != "ore":
        return None
    site = session.get(Site, lot.site_id) if lot.site_id is not None else None
    return ReceiptFacts(
        miner=lot.miner_id or "",
        site=lot.site_id or "",
        aimag=site.aimag if site is not None else "",
        soum=site.soum if site is not None else "",
        delivered_on=lot.created_at[:10],
        mass_text=format_mass(lot.mass, MassUnit.G),
        processed=lot.status != "active",
        processed_on=_processed_on(session, conn, lot) if lot.status != "active" else "",
    )


def _processed_on(session: Session, conn: Connection, lot: Lot) -> str:
    """The day the ore lot was last milled: its last run's `finished_on` (else the day the
    run was recorded); a date and nothing else of what came of the ore."""
    index = session.scalar(
        select(LotEvent.index)
        .where(LotEvent.lot_id == lot.id, LotEvent.type == "processing.recorded")
        .order_by(LotEvent.index.desc())
        .limit(1)
    )
    if index is None:
        return ""
    rows = storage.read_entries(conn, index, index + 1)
    if not rows:
        return ""
    entry = Entry.from_bytes(rows[0].entry)
    day = entry.event.body.get("finished_on") or entry.event.body.get("occurred_at") or entry.time
    return str(day)[:10]


def _lot_now(session: Session, conn: Connection, lot: Lot) -> LotNow:
    events = session.scalars(
        select(LotEvent)
        .where(LotEvent.lot_id == lot.id)
        .order_by(LotEvent.index.desc())
        .limit(HISTORY_SHOWN)
    ).all()
    history = []
    for ev in reversed(events):
        rows = storage.read_entries(conn, ev.index, ev.index + 1)
        time = Entry.from_bytes(rows[0].entry).time if rows else ""
        history.append(HistoryItem(index=ev.index, type=ev.type, time=time))
    sites = []
    for s in queries.upstream(session, lot.id)["origins"]["sites"][:HISTORY_SHOWN]:
        site = session.get(Site, s["site"])
        sites.append(
            SiteShare(
                site=s["site"],
                aimag=site.aimag if site is not None else "",
                soum=site.soum if site is not None else "",
                share=str(Fraction(s["share"]["fraction"])),
            )
        )
    return LotNow(
        id=lot.id,
        status=lot.status,
        closed_by=lot.closed_by,
        custodian=lot.custodian_id,
        mass=lot.remaining,
        unit="g" if lot.unit == "g" else "mg",
        mass_text=format_mass(lot.remaining, MassUnit.G if lot.unit == "g" else MassUnit.MG),
        fineness_ppt=lot.fineness_ppt,
        holds=[case.id for case in queries.lot_holds(session, lot)],
        history=history,
        sites=sites,
    )
