"""A buyer's pages (a central bank, a trader) under `/app/buyer`: the inbox of transfer
offers made to it, with accept and reject; the lots it owns or holds; one lot's facts,
provenance, history and certificate.

The reads are the read API's own (`services.lots.queries`: `offer_page`, `lot_page`,
`lot_view`, `upstream`, `lot_history_told`, `lot_parties`; `services.certificates.queries`:
`current_certificate`), asked as the signed-in actor, so a buyer sees what `GET /offers` and
`GET /lots` would show it and nothing more. Accepting and rejecting record
`transfer.accepted` / `transfer.rejected` through the pipeline as the signed-in staff member,
once per rendered form (its key is the Idempotency-Key); the pipeline's rules decide (only
the offer's recipient may answer it): a refusal re-renders the inbox with the rule in the
page's language, and nothing is recorded.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from ledger.certificate import qr_text
from services.actors.models import Site
from services.certificates.queries import current_certificate
from services.console import forms, kit
from services.console.glossary import text
from services.console.pages import choose_lang, page
from services.errors import DomainError
from services.lots import queries as lots
from services.lots.models import Lot, Offer, OfferPrice
from services.pipeline.service import Submission
from services.reads import read_session
from services.roles import BUYER
from services.staff.sessions import CurrentSession

router = APIRouter(include_in_schema=False, route_class=kit.ConsoleRoute)

MAX_REASON_CHARS = 2000
INBOX_SIZE = 50


@dataclass(frozen=True)
class InboxOffer:
    """An open offer made to the buyer, with what it needs to decide: the lot's facts and,
    when the offerer stated one, the price (seen by the two parties only)."""

    offer: str
    lot: str
    from_: str
    offered_index: int
    kind: str
    form: str
    unit: str
    remaining: int
    fineness_ppt: int | None
    price: str | None


def _refused(request: Request, session: CurrentSession) -> HTMLResponse | None:
    return kit.role_refused(request, session, BUYER)


def _inbox(s: Session, buyer: str) -> list[InboxOffer]:
    offers, _ = lots.offer_page(s, buyer, to=buyer, status="open", limit=INBOX_SIZE)
    # the offers' lots and prices in one query each, not two per offer
    lot_of = {x.id: x for x in s.scalars(select(Lot).where(Lot.id.in_({o.lot_id for o in offers})))}
    price_of = {
        x.offer_id: x
        for x in s.scalars(
            select(OfferPrice).where(OfferPrice.offer_id.in_([o.id for o in offers]))
        )
    }
    found = []
    for offer in offers:
        lot = lot_of.get(offer.lot_id)
        price = price_of.get(offer.id)
        found.append(
            InboxOffer(
                offer=offer.id,
                lot=offer.lot_id,
                from_=offer.from_id,
                offered_index=offer.offered_index,
                kind=lot.kind if lot is not None else "",
                form=lot.form if lot is not None else "",
                unit=lot.unit if lot is not None else "mg",
                remaining=lot.remaining if lot is not None else 0,
                fineness_ppt=lot.fineness_ppt if lot is not None else None,
                price=f"{price.amount} {price.currency}" if price is not None else None,
            )
        )
    return found


def _inbox_page(
    request: Request,
    session: CurrentSession,
    *,
    notice: str = "",
    problem: str = "",
    problem_offer: str = "",
    status: int = 200,
) -> HTMLResponse:
    with read_session(request) as s:
        offers = _inbox(s, session.principal.actor_id)
    chrome, chose = kit.chrome(request, session)
    now = kit.local_now(request).isoformat()
    keys = {o.offer: (forms.form_key(), forms.form_key()) for o in offers}
    return page(
        request,
        "buyer/inbox.html",
        chrome,
        status=status,
        chose_lang=chose,
        offers=offers,
        keys=keys,
        occurred_at=now,
        notice=notice,
        problem=problem,
        problem_offer=problem_offer,
    )


@router.get("/app/buyer", response_class=HTMLResponse)
def inbox(
    request: Request, session: kit.SessionDep, accepted: str = "", rejected: str = ""
) -> Response:
    """The open offers made to the buyer, newest first, each with accept and reject."""
    if (refused := _refused(request, session)) is not None:
        return refused
    lang, _ = choose_lang(request)
    notice = ""
    if accepted:
        notice = text(lang, "inbox.accepted", lot=accepted[:64])
    elif rejected:
        notice = text(lang, "inbox.rejected", offer=rejected[:64])
    return _inbox_page(request, session, notice=notice)


def _form_key(fields: dict[str, str]) -> str:
    key = fields.get("form_key", "")
    if key.startswith("console-") and len(key) <= 80:
        return key
    return forms.form_key()


def _offered_lot(request: Request, offer: str, buyer: str) -> str:
    """The lot of an offer made to `buyer` (empty for anyone else's offer)."""
    with read_session(request) as s:
        found = s.get(Offer, offer)
        return found.lot_id if found is not None and found.to_id == buyer else ""


async def _answer(request: Request, offer: str, answer: str) -> Response:
    """Record the buyer's answer to `offer` (`accepted` or `rejected`), once per form."""
    session = await run_in_threadpool(kit.signed_in, request)
    if (refused := _refused(request, session)) is not None:
        return refused
    fields = await kit.read_form(request)
    if not kit.csrf_ok(request, fields):
        return kit.error_page(request, session, 403, "error.csrf")
    lang, _ = choose_lang(request)
    offer = offer[:64]
    body: dict[str, Any] = {
        "occurred_at": fields.get("occurred_at") or kit.local_now(request).isoformat(),
        "offer": offer,
    }
    reason = fields.get("reason", "").strip()[:MAX_REASON_CHARS]
    if answer == "rejected" and reason:
        body["reason"] = reason
    submission = Submission(type=f"transfer.{answer}", body=body, idempotency_key=_form_key(fields))
    lot = await run_in_threadpool(_offered_lot, request, offer, session.principal.actor_id)
    try:
        await kit.submit(request, session, submission)
    except DomainError as exc:
        said = " ".join(kit.words(err, lang) for err in exc.errors)
        status = exc.status if exc.status in (403, 404, 409, 422) else 422
        return await run_in_threadpool(
            lambda: _inbox_page(request, session, problem=said, problem_offer=offer, status=status)
        )
    if answer == "accepted":
        return RedirectResponse(f"/app/buyer?accepted={quote(lot)}", status_code=303)
    return RedirectResponse(f"/app/buyer?rejected={quote(offer)}", status_code=303)


@router.post("/app/buyer/offers/{offer}/accept", response_class=HTMLResponse)
async def accept(request: Request, offer: str) -> Response:
    """Accept an offer made to the buyer: `transfer.accepted`; the lot becomes its."""
    return await _answer(request, offer, "accepted")


@router.post("/app/buyer/offers/{offer}/reject", response_class=HTMLResponse)
async def reject(request: Request, offer: str) -> Response:
    """Reject an offer made to the buyer, with an optional reason: `transfer.rejected`."""
    return await _answer(request, offer, "rejected")


# -- the buyer's lots ------------------------------------------------------------------------


def _my_lots(s: Session, buyer: str) -> list[dict[str, Any]]:
    """The lots the buyer holds or owns, newest first (one page of each, merged)."""
    held, _ = lots.lot_page(s, buyer, custodian=buyer)
    owned, _ = lots.lot_page(s, buyer, owner=buyer)
    merged = {row["lot"]: row for row in [*held, *owned]}
    return sorted(merged.values(), key=lambda r: (r["created_index"], r["lot"]), reverse=True)


@router.get("/app/buyer/lots", response_class=HTMLResponse)
def my_lots(request: Request, session: kit.SessionDep) -> Response:
    """The lots the buyer owns or holds."""
    if (refused := _refused(request, session)) is not None:
        return refused
    with read_session(request) as s:
        rows = _my_lots(s, session.principal.actor_id)
    chrome, chose = kit.chrome(request, session)
    return page(request, "buyer/lots.html", chrome, chose_lang=chose, rows=rows)


@dataclass(frozen=True)
class Origin:
    """One mine site (or miner) a lot comes from, with its exact share."""

    id: str
    aimag: str
    soum: str
    fraction: str
    decimal: str


@router.get("/app/buyer/lots/{lot_id}", response_class=HTMLResponse)
def lot_detail(request: Request, session: kit.SessionDep, lot_id: str) -> Response:
    """One lot the buyer is a party to: its facts, where it came from (sites and miners
    with their exact shares), its history, and its current certificate's page."""
    if (refused := _refused(request, session)) is not None:
        return refused
    me = session.principal.actor_id
    lot_id = lot_id[:64]
    with read_session(request) as s:
        lot = s.get(Lot, lot_id)
        if lot is None or me not in lots.lot_parties(s, lot):
            return kit.error_page(request, session, 404, "error.404")
        view = lots.lot_view(s, lot_id)
        origins = lots.upstream(s, lot_id)["origins"]
        sites = []
        for item in origins["sites"]:
            site = s.get(Site, item["site"])
            sites.append(
                Origin(
                    item["site"],
                    site.aimag if site is not None else "",
                    site.soum if site is not None else "",
                    item["share"]["fraction"],
                    item["share"]["decimal"],
                )
            )
        miners = [
            Origin(m["miner"], "", "", m["share"]["fraction"], m["share"]["decimal"])
            for m in origins["miners"]
        ]
        history = lots.lot_history_told(s, lot_id)
        cert = current_certificate(s, lot_id)
        certificate = qr_text("", cert.token) if cert is not None else None
    chrome, chose = kit.chrome(request, session)
    return page(
        request,
        "buyer/lot.html",
        chrome,
        chose_lang=chose,
        lot=view,
        sites=sites,
        miners=miners,
        history=history,
        certificate=certificate,
    )
