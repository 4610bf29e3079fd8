"""Certificates: the page a phone camera opens (`/c/{token}`), its JSON twin, and the
certificate's QR as PNG, SVG and a printable page for its lot's parties."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from sqlalchemy import select

from ledger.certificate import qr_text
from ledger.sql import storage
from schemas.certificates import (
    CertificateLinks,
    CertificateRecordOut,
    LotCertificatesOut,
    VerdictOut,
)
from services.certificates import images, pages, verdict
from services.certificates.models import CertificateRecord
from services.deps import SettingsDep
from services.errors import NotFound
from services.html import page_headers
from services.identity import Principal
from services.identity.auth import PrincipalDep
from services.lots.routes import readable_lot
from services.reads import read_engine, read_session

router = APIRouter(tags=["certificates"])
Lang = Literal["mn", "en"]
MAX_TOKEN_CHARS = 1024
# Only the page's own inline script and styles (by hash) run; nothing is loaded elsewhere.
PAGE_HEADERS = page_headers(pages.PAGE_CSP)


def _check(request: Request, token: str, public_url: str) -> VerdictOut:
    with storage.read_transaction(read_engine(request)) as conn:
        return verdict.check(conn, token[: MAX_TOKEN_CHARS + 1], public_url)


def _wants_json(request: Request) -> bool:
    accept = request.headers.get("accept", "")
    return "application/json" in accept and "text/html" not in accept


@router.get(
    "/c/{token}",
    summary="Verify a certificate: the page a phone camera opens (HTML, or JSON on request)",
    response_model=VerdictOut,
    responses={200: {"content": {"text/html": {}}}},
)
def verify_page(
    token: str,
    request: Request,
    settings: SettingsDep,
    lang: Annotated[Lang, Query(description="page language: mn (default) or en")] = "mn",
) -> Response:
    """Public, no login. The verdict (genuine / not genuine / genuine but no longer
    current, with the reason), the lot's facts, origin and history, and an inclusion proof
    of the entry it reflects against the latest checkpoint. With `Accept: application/json`
    the same verdict as JSON (also at `/api/c/{token}`)."""
    view = _check(request, token, settings.public_url)
    if _wants_json(request):
        return JSONResponse(view.model_dump(mode="json"))
    url = qr_text(settings.public_url, token)
    return HTMLResponse(pages.verify_page(view, lang, url), headers=PAGE_HEADERS)


@router.get("/api/c/{token}", summary="The verdict on a certificate, as JSON")
def verify_json(token: str, request: Request, settings: SettingsDep) -> VerdictOut:
    """The JSON twin of `/c/{token}`."""
    return _check(request, token, settings.public_url)


def _record(request: Request, principal: Principal, certificate_id: str) -> CertificateRecord:
    with read_session(request) as s:
        record = s.get(CertificateRecord, certificate_id)
        if record is None:
            raise NotFound(
                "unknown-certificate", f"no certificate {certificate_id!r}", field="certificate_id"
            )
        readable_lot(s, principal, record.lot_id)
        s.expunge(record)
        return record


def _record_json(record: CertificateRecord, public_url: str) -> CertificateRecordOut:
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


@router.get("/certificates/{certificate_id}", summary="An issued certificate or receipt")
def get_certificate(
    certificate_id: str, principal: PrincipalDep, request: Request, settings: SettingsDep
) -> CertificateRecordOut:
    """Readable by the lot's parties (the miner, for a receipt), auditors, regulators."""
    return _record_json(_record(request, principal, certificate_id), settings.public_url)


@router.get("/lots/{lot_id}/certificates", summary="A lot's certificates, newest first")
def lot_certificates(
    lot_id: str, principal: PrincipalDep, request: Request, settings: SettingsDep
) -> LotCertificatesOut:
    with read_session(request) as s:
        readable_lot(s, principal, lot_id)
        rows = s.scalars(
            select(CertificateRecord)
            .where(CertificateRecord.lot_id == lot_id)
            .order_by(CertificateRecord.issued_index.desc())
        ).all()
        found = [_record_json(r, settings.public_url) for r in rows]
        return LotCertificatesOut(lot=lot_id, certificates=found)


@router.get(
    "/certificates/{certificate_id}/qr.png",
    summary="The certificate's QR code as PNG",
    response_class=Response,
    responses={200: {"content": {"image/png": {}}}},
)
def certificate_png(
    certificate_id: str, principal: PrincipalDep, request: Request, settings: SettingsDep
) -> Response:
    record = _record(request, principal, certificate_id)
    text = qr_text(settings.public_url, record.token)
    return Response(images.qr_png(text), media_type="image/png")


@router.get(
    "/certificates/{certificate_id}/qr.svg",
    summary="The certificate's QR code as SVG",
    response_class=Response,
    responses={200: {"content": {"image/svg+xml": {}}}},
)
def certificate_svg(
    certificate_id: str, principal: PrincipalDep, request: Request, settings: SettingsDep
) -> Response:
    record = _record(request, principal, certificate_id)
    text = qr_text(settings.public_url, record.token)
    return Response(images.qr_svg(text), media_type="image/svg+xml")


@router.get(
    "/certificates/{certificate_id}/print",
    summary="A printable A5 or A6 page: the QR, the lot's facts, how to verify",
    response_class=HTMLResponse,
)
def certificate_print(
    certificate_id: str,
    principal: PrincipalDep,
    request: Request,
    settings: SettingsDep,
    size: Annotated[Literal["A5", "A6"], Query()] = "A6",
    lang: Annotated[Lang, Query()] = "mn",
) -> HTMLResponse:
    record = _record(request, principal, certificate_id)
    text = qr_text(settings.public_url, record.token)
    view = _check(request, record.token, settings.public_url)
    return HTMLResponse(images.print_page(view, text, size, lang), headers=PAGE_HEADERS)
