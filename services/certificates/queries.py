"""Reads of issued certificates and receipts: a lot's standing certificate, one record by
id, a lot's records, and a record as the API shows it."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.certificate import qr_text
from schemas.certificates import CertificateLinks, CertificateRecordOut
from services.certificates.models import CertificateRecord
from services.errors import NotFound


def current_certificate(session: Session, lot_id: str) -> CertificateRecord | None:
    """The lot's certificate that is neither superseded nor revoked, if any."""
    return session.scalars(
        select(CertificateRecord)
        .where(
            CertificateRecord.lot_id == lot_id,
            CertificateRecord.superseded_by.is_(None),
            CertificateRecord.revoked_index.is_(None),
        )
        .order_by(CertificateRecord.issued_index.desc())
        .limit(1)
    ).first()


def certificate(session: Session, certificate_id: str) -> CertificateRecord:
    """The record of an issued certificate or receipt; NotFound `unknown-certificate`."""
    record = session.get(CertificateRecord, certificate_id)
    if record is None:
        raise NotFound(
            "unknown-certificate", f"no certificate {certificate_id!r}", field="certificate_id"
        )
    return record


def lot_certificates(session: Session, lot_id: str) -> Sequence[CertificateRecord]:
    """Every certificate of the lot, newest first."""
    return session.scalars(
        select(CertificateRecord)
        .where(CertificateRecord.lot_id == lot_id)
        .order_by(CertificateRecord.issued_index.desc())
    ).all()


def record_out(record: CertificateRecord, public_url: str) -> CertificateRecordOut:
    """The record as the API shows it, with its QR text and links."""
    base = f"/certificates/{record.id}"
    return CertificateRecordOut(
        id=record.id,
        lot=record.lot_id,
        kind=record.kind,
        token=record.token,
        qr_text=qr_text(public_url, record.token),
        entry=record.entry_index,
        issued_index=record.issued_index,
        issued_time=record.issued_time,
        superseded_by=record.superseded_by,
        revoked=record.revoked_index is not None,
        links=CertificateLinks(
            png=f"{base}/qr.png",
            svg=f"{base}/qr.svg",
            print=f"{base}/print",
            verify=qr_text("", record.token),  # the same path, on this server
        ),
    )


def latest_receipts(session: Session, lot_ids: Sequence[str]) -> dict[str, str]:
    """For each of these ore lots that has one, the id of its latest ore receipt."""
    stmt = (
        select(CertificateRecord.lot_id, CertificateRecord.id)
        .where(CertificateRecord.lot_id.in_(lot_ids), CertificateRecord.kind == "ore_receipt")
        .order_by(CertificateRecord.issued_index)
    )
    return {str(lot): str(cert) for lot, cert in session.execute(stmt).all()}
