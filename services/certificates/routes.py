"""Certificates: the page a phone camera opens (`/c/{token}`), its JSON twin, and the
certificate's QR as PNG, SVG and a printable page for its lot's parties."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from ledger.certificate import qr_text
from ledger.sql import storage
from schemas.certificates import (
    CertificateRecordOut,
    LotCertificatesOut,
    StatusProof,
    VerdictOut,
)
from schemas.lots import DeliveryPage
from services.actors.models import Actor
from services.certificates import images, pages, queries, status, verdict
from services.certificates.models import CertificateRecord
from services.deps import SettingsDep
from services.errors import NotFound
from services.html import page_headers
from services.i18n import Lang
from services.identity import Principal
from services.identity.auth import PrincipalDep, hidden, may_read
from services.lots import queries as lot_queries
from services.lots.routes import readable_lot
from services.reads import (
    DEFAULT_LIMIT,
    Cursor,
    Limit,
    decode_cursor,
    encode_cursor,
    read_engine,
    read_session,
)

router = APIRouter(tags=["certificates"])
MAX_TOKEN_CHARS = 1024
MAX_LOT_ID_CHARS = 64  # lots.id
# Only the page's own inline script and styles (by hash) run; nothing is loaded elsewhere.
PAGE_HEADERS = page_headers(pages.PAGE_CSP)


# Verdicts and status proofs read in one snapshot (REPEATABLE READ on PostgreSQL): the map's
# tables change with every append, and a proof mixing two appends would not verify.


def _check(request: Request, token: str, public_url: str) -> VerdictOut:
    with storage.snapshot_transaction(read_engine(request)) as conn:
        return verdict.check(conn, token[: MAX_TOKEN_CHARS + 1], public_url)


def _check_page(
    request: Request, token: str, public_url: str
) -> tuple[VerdictOut, verdict.ReceiptFacts | None]:
    """The verdict and, for an ore receipt, the delivery it records (one snapshot)."""
    with storage.snapshot_transaction(read_engine(request)) as conn:
        view = verdict.check(conn, token[: MAX_TOKEN_CHARS + 1], public_url)
        return view, verdict.receipt_facts(conn, view)


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
    view, receipt = _check_page(request, token, settings.public_url)
    if _wants_json(request):
        return JSONResponse(view.model_dump(mode="json"))
    url = qr_text(settings.public_url, token)
    return HTMLResponse(pages.verify_page(view, lang, url, receipt), headers=PAGE_HEADERS)


@router.get("/api/c/{token}", summary="The verdict on a certificate, as JSON")
def verify_json(token: str, request: Request, settings: SettingsDep) -> VerdictOut:
    """The JSON twin of `/c/{token}`."""
    return _check(request, token, settings.public_url)


@router.get(
    "/lots/{lot_id}/status-proof",
    summary="A lot's state as the log commits to it, with its proofs",
    responses={404: {"description": "the log has committed no state yet (an empty log)"}},
)
def lot_status_proof(
    lot_id: Annotated[str, Path(min_length=1, max_length=MAX_LOT_ID_CHARS)], request: Request
) -> StatusProof:
    """Public, no login (like `/c/{token}`): the lot's state (`null` for a lot the log never
    created: the map proof then proves its absence), the sparse Merkle proof of it against
    the map root in the `state.root` entry that ends the latest checkpoint, and that entry's
    inclusion proof against the checkpoint (README "Status proofs")."""
    with storage.snapshot_transaction(read_engine(request)) as conn:
        proof = status.status_proof(conn, lot_id)
    if proof is None:
        raise NotFound("no-state-root", "the log has committed no lot states yet", field="lot_id")
    return proof


def _record(request: Request, principal: Principal, certificate_id: str) -> CertificateRecord:
    with read_session(request) as s:
        record = queries.certificate(s, certificate_id)
        readable_lot(s, principal, record.lot_id)
        s.expunge(record)
        return record


@router.get("/certificates/{certificate_id}", summary="An issued certificate or receipt")
def get_certificate(
    certificate_id: str, principal: PrincipalDep, request: Request, settings: SettingsDep
) -> CertificateRecordOut:
    """Readable by the lot's parties (the miner, for a receipt), auditors, regulators."""
    return queries.record_out(_record(request, principal, certificate_id), settings.public_url)


@router.get("/lots/{lot_id}/certificates", summary="A lot's certificates, newest first")
def lot_certificates(
    lot_id: str, principal: PrincipalDep, request: Request, settings: SettingsDep
) -> LotCertificatesOut:
    with read_session(request) as s:
        readable_lot(s, principal, lot_id)
        rows = queries.lot_certificates(s, lot_id)
        found = [queries.record_out(r, settings.public_url) for r in rows]
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


@router.get(
    "/actors/{actor_id}/deliveries",
    summary="A miner's or partnership's ore deliveries, newest first, with their receipts",
)
def actor_deliveries(
    actor_id: str,
    principal: PrincipalDep,
    request: Request,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
) -> DeliveryPage:
    """Each delivery as stated (lot, site, centre, grams, mined-on day, when), the index
    of its entry and its latest ore receipt's id, if one was issued. Readable by officers
    and the miner itself; a processing centre reads the deliveries it received (only
    those); anyone else gets the 404 of an absent actor. (Here, beside the receipts,
    because lots know nothing of certificates.)"""
    after = None if cursor is None else decode_cursor(cursor, (int, str))
    with read_session(request) as s:
        centre = None if may_read(principal, {actor_id}) else principal.actor_id
        if s.get(Actor, actor_id) is None or (
            centre is not None and not lot_queries.delivered_to(s, actor_id, centre)
        ):
            raise hidden("actor", "actor_id")
        items, last = lot_queries.delivery_page(
            s,
            actor_id,
            centre=centre,
            after=None if after is None else (after[0], after[1]),
            limit=limit,
        )
        receipts = queries.latest_receipts(s, [item["lot"] for item in items])
        for item in items:
            item["receipt"] = receipts.get(item["lot"])
        next_cursor = None if last is None else encode_cursor(*last)
        return DeliveryPage.model_validate(
            {"actor": actor_id, "items": items, "next_cursor": next_cursor}
        )
