"""The processing centre's pages under `/app/centre`: today, deliveries (record, list,
receipt), stock, processing runs, certificates, offers to buyers, answers to cases, the
day's delivery register.

Routes stay thin: read the form, ask the reads (`queries`), record through the event
pipeline as the signed-in staff member (`kit.submit`), render (`pages.page`). Every form
carries the session's CSRF token (checked before anything else) and, where it records an
event, a key made when the form was rendered, used as the event's Idempotency-Key: a double
submit records once. A refusal renders the form again with the rule in the page's language
and the field marked; nothing is recorded.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Final, Literal
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from markupsafe import Markup

from ledger.certificate import qr_text
from ledger.sql import storage
from services.certificates import images, verdict
from services.certificates import pages as certificate_pages
from services.console import centre_forms, centre_reads, forms, kit, queries
from services.console.glossary import text
from services.console.pages import choose_lang, format_mass, page
from services.errors import DomainError
from services.html import page_headers
from services.i18n import Lang
from services.pipeline.service import Submission
from services.reads import read_engine, read_session
from services.roles import PROCESSING_CENTRE
from services.staff.sessions import CurrentSession

router = APIRouter(include_in_schema=False, route_class=kit.ConsoleRoute)

# The event's fields (as the pipeline names them) and the form's field that states each.
DELIVERY_FIELDS: Final[dict[str, str]] = {
    "body.lot": "lot",
    "body.miner": "miner_site",
    "body.site": "miner_site",
    "body.mass_g": "mass",
    "body.mined_on": "mined_on",
    "body.notes": "notes",
}


def _centre(request: Request, session: CurrentSession) -> HTMLResponse | None:
    """None for a centre's staff, else the page saying the role may not see this (403)."""
    return kit.role_refused(request, session, PROCESSING_CENTRE)


@router.get("/app/centre", response_class=HTMLResponse)
def centre_today(request: Request, session: kit.SessionDep) -> Response:
    """Today's deliveries, the stock, the open offers, the open cases on the centre's lots."""
    if (refused := _centre(request, session)) is not None:
        return refused
    centre = session.principal.actor_id
    day = kit.local_now(request).date().isoformat()
    with read_session(request) as s:
        today = queries.deliveries(s, centre, day=day)
        stock = queries.stock(s, centre)
        offers = queries.open_offers(s, centre)
        cases = queries.open_cases(s, centre)
    chrome, chose = kit.chrome(request, session)
    return page(
        request,
        "centre/today.html",
        chrome,
        chose_lang=chose,
        day=day,
        today=today,
        stock=stock,
        offers=offers,
        cases=cases,
    )


@router.get("/app/centre/deliveries", response_class=HTMLResponse)
def centre_deliveries(
    request: Request, session: kit.SessionDep, before: int | None = None, recorded: str = ""
) -> Response:
    """The ore the centre received, newest first, a page at a time."""
    if (refused := _centre(request, session)) is not None:
        return refused
    centre = session.principal.actor_id
    with read_session(request) as s:
        rows = queries.deliveries(s, centre, before=before)
        just = queries.receipt(s, centre, recorded) if recorded else None
    older = rows[-1].index if len(rows) == queries.PAGE_SIZE else None
    chrome, chose = kit.chrome(request, session)
    return page(
        request,
        "centre/deliveries.html",
        chrome,
        chose_lang=chose,
        rows=rows,
        older=older,
        recorded=just.delivery if just is not None else None,
    )


def _blank_delivery(request: Request) -> dict[str, str]:
    now = kit.local_now(request)
    return {
        "form_key": forms.form_key(),
        "occurred_at": now.isoformat(),
        "lot": forms.new_lot_id(now.date()),
        "miner_site": "",
        "mass": "",
        "unit": "kg",
        "mined_on": now.date().isoformat(),
        "notes": "",
        "today": now.date().isoformat(),
    }


def _delivery_page(
    request: Request,
    session: CurrentSession,
    values: dict[str, str],
    *,
    errors: dict[str, str] | None = None,
    problem_text: str = "",
    status: int = 200,
) -> HTMLResponse:
    q = request.query_params.get("q", "")[:100]
    with read_session(request) as s:
        miners = queries.miner_choices(s, q)
    return kit.form_page(
        request,
        session,
        "centre/deliver.html",
        values,
        errors=errors,
        problem_text=problem_text,
        status=status,
        miners=miners,
        q=q,
    )


@router.get("/app/centre/deliveries/new", response_class=HTMLResponse)
def delivery_form(request: Request, session: kit.SessionDep) -> Response:
    """The form to record an ore delivery."""
    if (refused := _centre(request, session)) is not None:
        return refused
    return _delivery_page(request, session, _blank_delivery(request))


@router.post("/app/centre/deliveries/new", response_class=HTMLResponse)
async def record_delivery(request: Request) -> Response:
    """Record the delivery as the signed-in clerk, once per form key."""
    post = await kit.form_post(request, _centre)
    if not isinstance(post, kit.FormPost):
        return post
    blank = _blank_delivery(request)
    values = {k: post.fields.get(k, blank[k]) for k in blank if k != "today"}
    values["today"] = blank["today"]
    values["form_key"] = kit.own_key(values["form_key"])

    def build() -> Submission:
        body = forms.parse_delivery(post.fields).body(values["occurred_at"])
        return Submission(type="ore.delivered", body=body, idempotency_key=values["form_key"])

    def again(errors: dict[str, str], problem_text: str, status: int) -> Response:
        return _delivery_page(
            request, post.session, values, errors=errors, problem_text=problem_text, status=status
        )

    def done(recorded: Submission) -> str:
        return f"/app/centre/deliveries?recorded={quote(recorded.body['lot'])}"

    return await kit.record(post, build, again, place=DELIVERY_FIELDS, done=done)


@router.get("/app/centre/deliveries/{lot_id}/receipt", response_class=HTMLResponse)
def delivery_receipt(request: Request, session: kit.SessionDep, lot_id: str) -> Response:
    """The miner's receipt, to print on A6: miner, site, dates, mass, lot, the QR code of
    the receipt certificate when one was issued."""
    if (refused := _centre(request, session)) is not None:
        return refused
    with read_session(request) as s:
        found = queries.receipt(s, session.principal.actor_id, lot_id[:64])
    if found is None:
        return kit.error_page(request, session, 404, "error.404")
    qr = None
    if found.token is not None:
        public_url = request.app.state.settings.public_url
        qr = Markup(images.qr_svg(qr_text(public_url, found.token)))  # noqa: S704 - our SVG
    chrome, chose = kit.chrome(request, session)
    return page(request, "centre/receipt.html", chrome, chose_lang=chose, r=found, qr=qr)


@router.get("/app/centre/stock", response_class=HTMLResponse)
def centre_stock(request: Request, session: kit.SessionDep, run: str = "") -> Response:
    """The lots the centre holds with mass left, and the totals per kind."""
    if (refused := _centre(request, session)) is not None:
        return refused
    with read_session(request) as s:
        rows = queries.stock(s, session.principal.actor_id)
    totals: dict[str, int] = {}
    for lot in rows:
        totals[lot.kind] = totals.get(lot.kind, 0) + lot.remaining
    chrome, chose = kit.chrome(request, session)
    return page(
        request,
        "centre/stock.html",
        chrome,
        chose_lang=chose,
        rows=rows,
        totals=sorted(totals.items(), key=lambda kv: kv[0] != "ore"),
        run=run[:64],
    )


# -- processing runs --------------------------------------------------------------------------


def _blank_run(request: Request) -> dict[str, str]:
    now = kit.local_now(request)
    day = now.date()
    out: dict[str, str] = {
        "form_key": forms.form_key(),
        "occurred_at": now.isoformat(),
        "run": centre_forms.new_id("RUN", day),
        "method": "gravity",
        "mercury_free": "yes",
        "started_on": day.isoformat(),
        "finished_on": day.isoformat(),
        "today": day.isoformat(),
    }
    for n in range(centre_forms.OUTPUT_ROWS):
        out[f"out_lot_{n}"] = centre_forms.new_id("AU", day) if n == 0 else ""
        out[f"out_form_{n}"] = "dore" if n == 0 else "concentrate"
        out[f"out_mass_{n}"] = ""
        out[f"out_unit_{n}"] = "g"
    return out


def _run_page(
    request: Request,
    session: CurrentSession,
    values: dict[str, str],
    used: dict[str, str],
    ticked: set[str],
    *,
    errors: dict[str, str] | None = None,
    problem_text: str = "",
    status: int = 200,
) -> HTMLResponse:
    with read_session(request) as s:
        ore = centre_reads.ore_left(s, session.principal.actor_id)
    return kit.form_page(
        request,
        session,
        "centre/run.html",
        values,
        errors=errors,
        problem_text=problem_text,
        status=status,
        ore=ore,
        used={o.lot: centre_forms.kg_text(o.remaining_g) for o in ore} | used,
        ticked=ticked,
        rows=range(centre_forms.OUTPUT_ROWS),
        methods=centre_forms.METHODS,
    )


@router.get("/app/centre/runs/new", response_class=HTMLResponse)
def run_form(request: Request, session: kit.SessionDep) -> Response:
    """The form to record a processing run: ore lots in, gold lots out."""
    if (refused := _centre(request, session)) is not None:
        return refused
    return _run_page(request, session, _blank_run(request), {}, set())


@router.post("/app/centre/runs/new", response_class=HTMLResponse)
async def record_run(request: Request) -> Response:
    """Record the run as the signed-in staff member (`processing.recorded`), once per key."""
    post = await kit.form_post(request, _centre)
    if not isinstance(post, kit.FormPost):
        return post
    session, lang = post.session, post.lang
    blank = _blank_run(request)
    values = {k: post.fields.get(k, blank[k]) for k in blank if k != "today"}
    values["today"] = blank["today"]
    values["mercury_free"] = post.fields.get("mercury_free", "")
    values["form_key"] = kit.own_key(values["form_key"])
    used = {k[5:]: v for k, v in post.pairs if k.startswith("used.")}
    ticked = {v for k, v in post.pairs if k == "use"}
    runs: list[centre_forms.RunForm] = []

    def build() -> Submission:
        runs.append(centre_forms.parse_run(post.pairs))
        body = runs[0].body(values["occurred_at"])
        return Submission(type="processing.recorded", body=body, idempotency_key=values["form_key"])

    def place() -> dict[str, str]:
        where = {"body.run": "run", "body.method": "method", "body.mercury_free": "mercury_free"}
        where |= {"body.started_on": "started_on", "body.finished_on": "finished_on"}
        where |= {"body.outputs": "outputs", "body.tailings_g": "outputs"}
        for i, (lot, _grams) in enumerate(runs[0].inputs):
            where[f"body.inputs.{i}.lot"] = where[f"body.inputs.{i}.mass_g"] = f"used.{lot}"
        for i, n in enumerate(runs[0].output_rows):
            where[f"body.outputs.{i}.lot"] = f"out_lot_{n}"
            where[f"body.outputs.{i}.mass_mg"] = f"out_mass_{n}"
            where[f"body.outputs.{i}.form"] = f"out_form_{n}"
        return where

    def again(errors: dict[str, str], problem_text: str, status: int) -> Response:
        return _run_page(
            request,
            session,
            values,
            used,
            ticked,
            errors=errors,
            problem_text=problem_text,
            status=status,
        )

    def too_much(exc: DomainError) -> dict[str, str]:
        return _too_much_ore(request, session, exc, runs[0].inputs, lang)

    def done(recorded: Submission) -> str:
        return f"/app/centre/stock?run={quote(recorded.body['run'])}"

    return await kit.record(post, build, again, place=place, done=done, more=too_much)


def _too_much_ore(
    request: Request,
    session: CurrentSession,
    exc: DomainError,
    inputs: tuple[tuple[str, int], ...],
    lang: Lang,
) -> dict[str, str]:
    """An ore lot asked for more than is left, said as the form takes it (kg, t from 10 t):
    what was entered and what is left, by the lot's field."""
    said: dict[str, str] = {}
    left: dict[str, int] | None = None
    for err in exc.errors:
        found = _INPUT_MASS.fullmatch(err.field or "")
        if err.rule != "mass-exceeds-remaining" or found is None:
            continue
        n = int(found.group(1))
        if n >= len(inputs):
            continue
        lot, asked = inputs[n]
        if left is None:
            with read_session(request) as s:
                ore = centre_reads.ore_left(s, session.principal.actor_id)
            left = {o.lot: o.remaining_g for o in ore}
        said[f"used.{lot}"] = text(
            lang,
            "error.mass_exceeds_left",
            asked=format_mass(asked, "g", lang),
            left=format_mass(left.get(lot, 0), "g", lang),
        )
    return said


_INPUT_MASS: Final = re.compile(r"body\.inputs\.([0-9]+)\.mass_g")


# -- certificates -----------------------------------------------------------------------------


@router.get("/app/centre/lots/{lot_id}/certificates", response_class=HTMLResponse)
def lot_certificates(request: Request, session: kit.SessionDep, lot_id: str) -> Response:
    """A lot's certificates, newest first, and the button to request a new one."""
    if (refused := _centre(request, session)) is not None:
        return refused
    return _certificates_page(request, session, lot_id[:64])


def _certificates_page(
    request: Request,
    session: CurrentSession,
    lot_id: str,
    *,
    problem_text: str = "",
    status: int = 200,
) -> HTMLResponse:
    with read_session(request) as s:
        lot = centre_reads.own_lot(s, session.principal.actor_id, lot_id)
        rows = centre_reads.certificates(s, lot_id) if lot is not None else []
        shown = (
            queries.StockLot(
                lot.id, lot.kind, lot.form, lot.unit, lot.mass, lot.remaining, lot.created_at
            )
            if lot is not None
            else None
        )
    if shown is None:
        return kit.error_page(request, session, 404, "error.404")
    chrome, chose = kit.chrome(request, session)
    return page(
        request,
        "centre/certificates.html",
        chrome,
        status=status,
        chose_lang=chose,
        lot=shown,
        rows=rows,
        form_key=forms.form_key(),
        occurred_at=kit.local_now(request).isoformat(),
        requested=request.query_params.get("requested") == "1",
        problem_text=problem_text,
    )


@router.post("/app/centre/lots/{lot_id}/certificates", response_class=HTMLResponse)
async def request_certificate(request: Request, lot_id: str) -> Response:
    """Ask for the gold lot's certificate (`certificate.requested`); the system issues it."""
    post = await kit.form_post(request, _centre)
    if not isinstance(post, kit.FormPost):
        return post
    lot_id = lot_id[:64]
    occurred_at = post.fields.get("occurred_at") or kit.local_now(request).isoformat()
    submission = Submission(
        type="certificate.requested",
        body={"occurred_at": occurred_at, "lot": lot_id},
        idempotency_key=kit.own_key(post.fields.get("form_key", "")),
    )

    def again(_errors: dict[str, str], problem_text: str, status: int) -> Response:
        return _certificates_page(
            request, post.session, lot_id, problem_text=problem_text, status=status
        )

    done = f"/app/centre/lots/{quote(lot_id)}/certificates?requested=1"
    return await kit.record(post, lambda: submission, again, place={}, done=done)


CERTIFICATE_HEADERS: Final = {
    **page_headers(certificate_pages.PAGE_CSP),
    "Cache-Control": "no-store",
}


@router.get("/app/centre/certificates/{certificate_id}/print", response_class=HTMLResponse)
def certificate_print(
    request: Request,
    session: kit.SessionDep,
    certificate_id: str,
    size: Literal["A5", "A6"] = "A6",
) -> Response:
    """The certificate's printable page (the certificate pages' own: QR, facts, how to
    verify), in the console's language."""
    if (refused := _centre(request, session)) is not None:
        return refused
    public_url = request.app.state.settings.public_url
    with read_session(request) as s:
        record = centre_reads.certificate(s, session.principal.actor_id, certificate_id[:32])
        token = record.token if record is not None else None
    if token is None:
        return kit.error_page(request, session, 404, "error.404")
    with storage.read_transaction(read_engine(request)) as conn:
        view = verdict.check(conn, token, public_url)
    lang, _ = choose_lang(request)
    html = images.print_page(view, qr_text(public_url, token), size, lang)
    return HTMLResponse(html, headers=CERTIFICATE_HEADERS)


# -- offers to buyers -------------------------------------------------------------------------


@router.get("/app/centre/offers", response_class=HTMLResponse)
def centre_offers(
    request: Request, session: kit.SessionDep, status: str = "open", done: str = ""
) -> Response:
    """The centre's transfer offers by status (open, accepted, rejected, cancelled, all);
    an open one can be cancelled."""
    if (refused := _centre(request, session)) is not None:
        return refused
    chosen = status if status in centre_reads.OFFER_STATUSES else "all"
    return _offers_page(request, session, chosen, done=done)


def _offers_page(
    request: Request,
    session: CurrentSession,
    status: str,
    *,
    done: str = "",
    problem_text: str = "",
    code: int = 200,
) -> HTMLResponse:
    with read_session(request) as s:
        rows = centre_reads.offers(
            s, session.principal.actor_id, None if status == "all" else status
        )
    chrome, chose = kit.chrome(request, session)
    return page(
        request,
        "centre/offers.html",
        chrome,
        status=code,
        chose_lang=chose,
        rows=rows,
        status_shown=status,
        statuses=(*centre_reads.OFFER_STATUSES, "all"),
        done=done if done in ("offered", "cancelled") else "",
        problem_text=problem_text,
        occurred_at=kit.local_now(request).isoformat(),
        form_key=forms.form_key,
    )


def _blank_offer(request: Request) -> dict[str, str]:
    now = kit.local_now(request)
    return {
        "form_key": forms.form_key(),
        "occurred_at": now.isoformat(),
        "offer": centre_forms.new_id("OFFER", now.date()),
        "lot": request.query_params.get("lot", "")[:64],
        "to": "",
    }


def _offer_page(
    request: Request,
    session: CurrentSession,
    values: dict[str, str],
    *,
    errors: dict[str, str] | None = None,
    problem_text: str = "",
    status: int = 200,
) -> HTMLResponse:
    with read_session(request) as s:
        lots = [g for g in centre_reads.gold_lots(s, session.principal.actor_id)]
        buyers = centre_reads.buyers(s)
    return kit.form_page(
        request,
        session,
        "centre/offer.html",
        values,
        errors=errors,
        problem_text=problem_text,
        status=status,
        lots=lots,
        buyers=buyers,
    )


@router.get("/app/centre/offers/new", response_class=HTMLResponse)
def offer_form(request: Request, session: kit.SessionDep) -> Response:
    """The form to offer a gold lot to a buyer."""
    if (refused := _centre(request, session)) is not None:
        return refused
    return _offer_page(request, session, _blank_offer(request))


@router.post("/app/centre/offers/new", response_class=HTMLResponse)
async def record_offer(request: Request) -> Response:
    """Offer the lot to the buyer (`transfer.offered`), once per form key."""
    post = await kit.form_post(request, _centre)
    if not isinstance(post, kit.FormPost):
        return post
    blank = _blank_offer(request)
    values = {k: post.fields.get(k, blank[k]).strip() for k in blank}
    values["form_key"] = kit.own_key(values["form_key"])

    def build() -> Submission:
        mistakes = {name: "error.required" for name in ("lot", "to", "offer") if not values[name]}
        if mistakes:
            raise forms.FormMistakes(mistakes)
        body = {name: values[name] for name in ("occurred_at", "offer", "lot", "to")}
        return Submission(type="transfer.offered", body=body, idempotency_key=values["form_key"])

    def again(errors: dict[str, str], problem_text: str, status: int) -> Response:
        return _offer_page(
            request, post.session, values, errors=errors, problem_text=problem_text, status=status
        )

    place = {"body.lot": "lot", "body.to": "to", "body.offer": "offer"}
    done = "/app/centre/offers?status=open&done=offered"
    return await kit.record(post, build, again, place=place, done=done)


@router.post("/app/centre/offers/{offer_id}/cancel", response_class=HTMLResponse)
async def cancel_offer(request: Request, offer_id: str) -> Response:
    """Cancel an open offer the centre made (`transfer.cancelled`)."""
    post = await kit.form_post(request, _centre)
    if not isinstance(post, kit.FormPost):
        return post
    body: dict[str, object] = {
        "occurred_at": post.fields.get("occurred_at") or kit.local_now(request).isoformat(),
        "offer": offer_id[:64],
    }
    submission = Submission(
        type="transfer.cancelled",
        body=body,
        idempotency_key=kit.own_key(post.fields.get("form_key", "")),
    )

    def again(_errors: dict[str, str], problem_text: str, status: int) -> Response:
        return _offers_page(request, post.session, "open", problem_text=problem_text, code=status)

    done = "/app/centre/offers?status=cancelled&done=cancelled"
    return await kit.record(post, lambda: submission, again, place={}, done=done)


# -- cases --------------------------------------------------------------------------------------


@router.get("/app/centre/cases", response_class=HTMLResponse)
def centre_cases(request: Request, session: kit.SessionDep) -> Response:
    """The open cases on the centre and its lots."""
    if (refused := _centre(request, session)) is not None:
        return refused
    with read_session(request) as s:
        rows = centre_reads.cases(s, session.principal.actor_id)
    chrome, chose = kit.chrome(request, session)
    return page(request, "centre/cases.html", chrome, chose_lang=chose, rows=rows)


def _case_page(
    request: Request,
    session: CurrentSession,
    case_id: str,
    values: dict[str, str],
    *,
    errors: dict[str, str] | None = None,
    problem_text: str = "",
    status: int = 200,
) -> HTMLResponse:
    with read_session(request) as s:
        found = centre_reads.case(s, session.principal.actor_id, case_id)
    if found is None:
        return kit.error_page(request, session, 404, "error.404")
    return kit.form_page(
        request,
        session,
        "centre/case.html",
        values,
        errors=errors,
        problem_text=problem_text,
        status=status,
        c=found,
        answered=request.query_params.get("answered") == "1",
    )


def _blank_answer(request: Request) -> dict[str, str]:
    return {
        "form_key": forms.form_key(),
        "occurred_at": kit.local_now(request).isoformat(),
        "response": "",
    }


@router.get("/app/centre/cases/{case_id}", response_class=HTMLResponse)
def centre_case(request: Request, session: kit.SessionDep, case_id: str) -> Response:
    """A case on the centre or its lots: what it says, and the form to answer it."""
    if (refused := _centre(request, session)) is not None:
        return refused
    return _case_page(request, session, case_id[:64], _blank_answer(request))


@router.post("/app/centre/cases/{case_id}", response_class=HTMLResponse)
async def answer_case(request: Request, case_id: str) -> Response:
    """Answer the case (`case.responded`) as the signed-in staff member, once per key."""
    post = await kit.form_post(request, _centre)
    if not isinstance(post, kit.FormPost):
        return post
    case_id = case_id[:64]
    blank = _blank_answer(request)
    values = {k: post.fields.get(k, blank[k]) for k in blank}
    values["form_key"] = kit.own_key(values["form_key"])
    with read_session(request) as s:
        if centre_reads.case(s, post.session.principal.actor_id, case_id) is None:
            return kit.error_page(request, post.session, 404, "error.404")

    def build() -> Submission:
        answer = centre_forms.parse_answer(post.fields)
        body = {"occurred_at": values["occurred_at"], "case": case_id, "response": answer}
        return Submission(type="case.responded", body=body, idempotency_key=values["form_key"])

    def again(errors: dict[str, str], problem_text: str, status: int) -> Response:
        return _case_page(
            request,
            post.session,
            case_id,
            values,
            errors=errors,
            problem_text=problem_text,
            status=status,
        )

    done = f"/app/centre/cases/{quote(case_id)}?answered=1"
    return await kit.record(post, build, again, place={"body.response": "response"}, done=done)


# -- the day's delivery register ----------------------------------------------------------------


@router.get("/app/centre/register", response_class=HTMLResponse)
def delivery_register(request: Request, session: kit.SessionDep, day: str = "") -> Response:
    """Every delivery of a day with its totals, and the checkpoint that covers the last one:
    its size, root hash and signed note's fingerprint, with a QR code of the inclusion proof
    an auditor fetches to check it (A4)."""
    if (refused := _centre(request, session)) is not None:
        return refused
    today = kit.local_now(request).date()
    try:
        chosen = date.fromisoformat(day) if day else today
    except ValueError:
        chosen = today
    with read_session(request) as s:
        found = centre_reads.register(s, session.principal.actor_id, chosen)
    public_url = str(request.app.state.settings.public_url).rstrip("/")
    proof_url = checkpoint_url = consistency_url = ""
    qr = None
    if found.checkpoint is not None and found.rows:
        size = found.checkpoint.size
        proof_url = (
            f"{public_url}/log/proof/inclusion?index={found.rows[-1].index}&tree_size={size}"
        )
        checkpoint_url = f"{public_url}/log/checkpoint"
        consistency_url = f"{public_url}/log/proof/consistency?first={size}&second={found.log_size}"
        qr = Markup(images.qr_svg(proof_url))  # noqa: S704 - our own SVG
    chrome, chose = kit.chrome(request, session)
    return page(
        request,
        "centre/register.html",
        chrome,
        chose_lang=chose,
        reg=found,
        day=chosen.isoformat(),
        today=today.isoformat(),
        qr=qr,
        proof_url=proof_url,
        checkpoint_url=checkpoint_url,
        consistency_url=consistency_url,
        fingerprint=_groups(found.checkpoint.note_sha256) if found.checkpoint else "",
        root=_groups(found.checkpoint.root_hex) if found.checkpoint else "",
    )


def _groups(hex_text: str, width: int = 8) -> str:
    """A long hex string in groups (easier to compare by eye and to wrap on paper)."""
    return " ".join(hex_text[i : i + width] for i in range(0, len(hex_text), width))
