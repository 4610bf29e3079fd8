"""A miner's or partnership's pages under `/app/miner`: the ore it delivered, each with its
receipt, printable again at any time.

The list is the read API's `GET /actors/{id}/deliveries` (`services.lots.queries.
delivery_page`), asked for the signed-in actor only: a miner never sees another miner's
ore. The receipt is the centre's own A6 print view (`centre/receipt.html`, read by
`services.console.queries.receipt` for the centre that received the ore), so the miner
reprints the very sheet the clerk printed.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from markupsafe import Markup

from ledger.certificate import qr_text
from services.certificates import images
from services.console import kit, queries
from services.console.pages import page
from services.lots import queries as lots
from services.lots.models import Lot
from services.reads import read_session
from services.roles import SITE_OWNERS
from services.staff.sessions import CurrentSession

router = APIRouter(include_in_schema=False, route_class=kit.ConsoleRoute)


def _refused(request: Request, session: CurrentSession) -> HTMLResponse | None:
    if session.principal.role in SITE_OWNERS:
        return None
    return kit.error_page(request, session, 403, "error.403")


@router.get("/app/miner", response_class=HTMLResponse)
def my_deliveries(
    request: Request, session: kit.SessionDep, before: int | None = None, lot: str = ""
) -> Response:
    """The ore the miner delivered, newest first, a page at a time, each with its
    receipt (`before`: the ledger index and lot the previous page ended with)."""
    if (refused := _refused(request, session)) is not None:
        return refused
    after = (before, lot[:64]) if before is not None else None
    with read_session(request) as s:
        rows, last = lots.delivery_page(s, session.principal.actor_id, after=after)
    chrome, chose = kit.chrome(request, session)
    return page(
        request,
        "miner/deliveries.html",
        chrome,
        chose_lang=chose,
        rows=rows,
        older=last,
    )


@router.get("/app/miner/deliveries/{lot_id}/receipt", response_class=HTMLResponse)
def receipt(request: Request, session: kit.SessionDep, lot_id: str) -> Response:
    """The receipt of one of the miner's deliveries, the centre's A6 print view."""
    if (refused := _refused(request, session)) is not None:
        return refused
    with read_session(request) as s:
        lot = s.get(Lot, lot_id[:64])
        found = None
        if lot is not None and lot.kind == "ore" and lot.miner_id == session.principal.actor_id:
            found = queries.receipt(s, lot.custodian_id, lot.id)  # the centre's own view
    if found is None:
        return kit.error_page(request, session, 404, "error.404")
    qr = None
    if found.token is not None:
        public_url = request.app.state.settings.public_url
        qr = Markup(images.qr_svg(qr_text(public_url, found.token)))  # noqa: S704 - our SVG
    chrome, chose = kit.chrome(request, session)
    return page(
        request,
        "centre/receipt.html",
        chrome,
        chose_lang=chose,
        r=found,
        qr=qr,
        back="/app/miner",
    )
