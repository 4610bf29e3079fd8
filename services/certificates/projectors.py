"""Projectors of certificates: `certificate.*` entries into the `certificates` table and
the lots' histories (`LotEvent`). A newer certificate of a lot supersedes the standing one;
a revoked one is marked, never deleted."""

from __future__ import annotations

from typing import Final

from sqlalchemy import bindparam, update
from sqlalchemy.orm import Session

from services.certificates.models import CertificateRecord
from services.lots.models import LotEvent
from services.pipeline import Applied, Projector, insert_row


def _project_request(s: Session, e: Applied) -> None:
    insert_row(s, LotEvent, lot_id=e.body["lot"], index=e.index, type=e.type)


_SUPERSEDE = (
    update(CertificateRecord)
    .where(CertificateRecord.lot_id == bindparam("lot"), CertificateRecord.superseded_by.is_(None))
    .values(superseded_by=bindparam("newer"))
)


def _project_issued(s: Session, e: Applied) -> None:
    b = e.body
    # A newer certificate of a lot supersedes every earlier one still standing. (A Core
    # statement: the ORM's update cost a third of a delivery's time, bench/http_append.py.)
    if b["kind"] != "ore_receipt":  # an ore lot has its one receipt and nothing else
        s.connection().execute(_SUPERSEDE, {"lot": b["lot"], "newer": b["certificate"]})
    insert_row(s, LotEvent, lot_id=b["lot"], index=e.index, type=e.type)
    insert_row(
        s,
        CertificateRecord,
        id=b["certificate"],
        lot_id=b["lot"],
        kind=b["kind"],
        token=b["token"],
        entry_index=b["entry"],
        issued_index=e.index,
        issued_time=e.time,
        superseded_by=None,
        revoked_index=None,
        revoked_by=None,
        revoked_time=None,
        revoked_reason=None,
    )


def _project_revoked(s: Session, e: Applied) -> None:
    record = s.get(CertificateRecord, e.body["certificate"])
    assert record is not None, "projection out of step: no such certificate"
    insert_row(s, LotEvent, lot_id=record.lot_id, index=e.index, type=e.type)
    s.execute(
        update(CertificateRecord)
        .where(CertificateRecord.id == e.body["certificate"])
        .values(
            revoked_index=e.index,
            revoked_by=e.actor,
            revoked_time=e.time,
            revoked_reason=e.body["reason"],
        )
    )


PROJECTORS: Final[dict[str, Projector]] = {
    "certificate.requested": _project_request,
    "certificate.issued": _project_issued,
    "certificate.revoked": _project_revoked,
}
"""The projector of each event type of this domain (rules.py puts them in its `Rules`)."""
