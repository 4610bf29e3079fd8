"""The console's pages: the landing page (`/`), sign-in and sign-out, and the processing
centre's pages under `/app/centre`.

Routes stay thin: read the form (`forms`), ask the reads (`queries`), record through the
event pipeline as the signed-in staff member (its principal carries `staff_id`, which the
log keeps), render (`pages`). Every form carries the session's CSRF token (checked before
anything else) and, where it records an event, a key made when the form was rendered,
used as the event's Idempotency-Key: a double submit records once. A refusal renders the
form again with the rule in the page's language and the field marked; nothing is recorded.

Pages are HTML only and stay out of the OpenAPI document (`include_in_schema=False`).
"""

from __future__ import annotations

import asyncio
import hmac
import secrets
from datetime import datetime, timedelta, timezone
from typing import Annotated, Final, cast
from urllib.parse import parse_qsl, quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from markupsafe import Markup
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from ledger.certificate import qr_text
from services.certificates import images
from services.console import forms, queries
from services.console.glossary import text
from services.console.pages import Chrome, choose_lang, page
from services.errors import Conflict, DomainError, TooManyAttempts
from services.field_errors import FieldError
from services.i18n import Lang
from services.pipeline.committer import EventCommitter
from services.pipeline.service import Submission
from services.problem_texts import RULES, rule_sentence
from services.reads import read_session
from services.roles import PROCESSING_CENTRE
from services.staff import sessions
from services.staff.sessions import CSRF_FIELD, CurrentSession

router = APIRouter(include_in_schema=False)

LOCAL_TIME: Final = timezone(timedelta(hours=8))
"""The counter's clock: Ulaanbaatar time (a setting per centre once western aimags
(UTC+7) use the console)."""
MAX_FORM_BYTES: Final = 16_384
SIGN_IN_COOKIE: Final = "altan_sign_in"
"""A pre-session CSRF token for the sign-in form (double submit: cookie and field)."""

# The event's fields (as the pipeline names them) and the form's field that states each.
DELIVERY_FIELDS: Final[dict[str, str]] = {
    "body.lot": "lot",
    "body.miner": "miner_site",
    "body.site": "miner_site",
    "body.mass_g": "mass",
    "body.mined_on": "mined_on",
    "body.notes": "notes",
}


# -- the request's reader, language and session --------------------------------------------


def _chrome(request: Request, session: CurrentSession | None) -> tuple[Chrome, bool]:
    lang, chose = choose_lang(request)
    chrome = Chrome(
        lang=lang,
        path=request.url.path,
        query=dict(request.query_params),
        principal=session.principal if session is not None else None,
        username=session.username if session is not None else "",
        csrf=session.csrf_token if session is not None else "",
    )
    return chrome, chose


def _signed_in(request: Request) -> CurrentSession:
    """The signed-in session, else a redirect (303) to the sign-in page and back here."""
    found = sessions.current_session(request)
    if found is None:
        here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise HTTPException(303, headers={"Location": "/app/sign-in?next=" + quote(here)})
    return found


SessionDep = Annotated[CurrentSession, Depends(_signed_in)]


def _safe_next(value: str | None) -> str:
    """Where to go after signing in: a console path only (never another host)."""
    if value and value.startswith("/app") and not value.startswith("//") and "\\" not in value:
        return value
    return "/app"


async def _form(request: Request) -> dict[str, str]:
    """An urlencoded form's fields (the last value of a repeated name); bounded."""
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        return {}
    try:
        return dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
    except (UnicodeDecodeError, ValueError):
        return {}


def _error_page(
    request: Request, session: CurrentSession | None, status: int, key: str
) -> HTMLResponse:
    chrome, chose = _chrome(request, session)
    return page(request, "error.html", chrome, status=status, chose_lang=chose, message=key)


def _csrf_ok(request: Request, fields: dict[str, str]) -> bool:
    try:
        sessions.check_csrf(request, fields.get(CSRF_FIELD))
    except DomainError:
        return False
    return True


# -- public pages --------------------------------------------------------------------------


@router.get("/", response_class=HTMLResponse)
def landing(request: Request) -> HTMLResponse:
    """What Altan Ledger is; links to sign in, to check a certificate, to the API docs."""
    chrome, chose = _chrome(request, None)
    return page(request, "landing.html", chrome, chose_lang=chose)


@router.get("/app/sign-in", response_class=HTMLResponse)
def sign_in_page(request: Request, next: str = "/app") -> Response:
    if sessions.current_session(request) is not None:
        return RedirectResponse(_safe_next(next), status_code=303)
    return _sign_in_form(request, _safe_next(next))


def _sign_in_form(
    request: Request, next_path: str, *, problem: str = "", username: str = "", status: int = 200
) -> HTMLResponse:
    chrome, chose = _chrome(request, None)
    token = secrets.token_urlsafe(24)
    response = page(
        request,
        "sign_in.html",
        chrome,
        status=status,
        chose_lang=chose,
        next=next_path,
        problem=problem,
        username=username,
        sign_in_token=token,
    )
    response.set_cookie(
        SIGN_IN_COOKIE,
        token,
        max_age=3600,
        path="/app/sign-in",
        secure=request.url.scheme == "https",
        httponly=True,
        samesite="strict",
    )
    return response


@router.post("/app/sign-in", response_class=HTMLResponse)
async def sign_in(request: Request) -> Response:
    fields = await _form(request)
    lang, _ = choose_lang(request)
    next_path = _safe_next(fields.get("next"))
    username = fields.get("username", "")[:64]
    cookie = request.cookies.get(SIGN_IN_COOKIE, "")
    sent = fields.get("sign_in_token", "")
    if not cookie or not sent or not hmac.compare_digest(cookie.encode(), sent.encode()):
        problem = text(lang, "signin.expired")
        return _sign_in_form(request, next_path, problem=problem, username=username, status=403)
    try:
        signed = await run_in_threadpool(
            sessions.sign_in,
            sessions.engine_of(request),
            username,
            fields.get("password", ""),
            ip=sessions.client_address(request),
            now=sessions.clock(request),
        )
    except TooManyAttempts as exc:
        problem = text(lang, "signin.limited")
        response = _sign_in_form(request, next_path, problem=problem, username=username, status=429)
        response.headers["Retry-After"] = str(exc.retry_after)
        return response
    except DomainError:
        problem = text(lang, "signin.failed")
        return _sign_in_form(request, next_path, problem=problem, username=username, status=401)
    done = RedirectResponse(next_path, status_code=303)
    sessions.set_session_cookie(done, request, signed.cookie_value)
    done.delete_cookie(SIGN_IN_COOKIE, path="/app/sign-in")
    return done


@router.post("/app/sign-out")
async def sign_out(request: Request) -> Response:
    fields = await _form(request)
    if sessions.current_session(request) is not None:
        if not _csrf_ok(request, fields):
            return _error_page(request, sessions.current_session(request), 403, "error.csrf")
        await run_in_threadpool(sessions.sign_out, request)
    response = RedirectResponse("/app/sign-in", status_code=303)
    sessions.clear_session_cookie(response, request)
    return response


# -- the signed-in home --------------------------------------------------------------------


@router.get("/app", response_class=HTMLResponse)
def home(request: Request, session: SessionDep) -> Response:
    """The role's first page: a centre's today page; other roles' pages come later."""
    if session.principal.role == PROCESSING_CENTRE:
        return RedirectResponse("/app/centre", status_code=303)
    chrome, chose = _chrome(request, session)
    return page(request, "home.html", chrome, chose_lang=chose)


# -- the processing centre -----------------------------------------------------------------


def _centre(request: Request, session: CurrentSession) -> HTMLResponse | None:
    """None for a centre's staff, else the page saying the role may not see this (403)."""
    if session.principal.role == PROCESSING_CENTRE:
        return None
    return _error_page(request, session, 403, "error.403")


def _local_now(request: Request) -> datetime:
    return sessions.clock(request).astimezone(LOCAL_TIME).replace(microsecond=0)


@router.get("/app/centre", response_class=HTMLResponse)
def centre_today(request: Request, session: SessionDep) -> Response:
    """Today's deliveries, the stock, the open offers, the open cases on the centre's lots."""
    if (refused := _centre(request, session)) is not None:
        return refused
    centre = session.principal.actor_id
    day = _local_now(request).date().isoformat()
    with read_session(request) as s:
        today = queries.deliveries(s, centre, day=day)
        stock = queries.stock(s, centre)
        offers = queries.open_offers(s, centre)
        cases = queries.open_cases(s, centre)
    chrome, chose = _chrome(request, session)
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
    request: Request, session: SessionDep, before: int | None = None, recorded: str = ""
) -> Response:
    """The ore the centre received, newest first, a page at a time."""
    if (refused := _centre(request, session)) is not None:
        return refused
    centre = session.principal.actor_id
    with read_session(request) as s:
        rows = queries.deliveries(s, centre, before=before)
        just = queries.receipt(s, centre, recorded) if recorded else None
    older = rows[-1].index if len(rows) == queries.PAGE_SIZE else None
    chrome, chose = _chrome(request, session)
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
    now = _local_now(request)
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
    chrome, chose = _chrome(request, session)
    return page(
        request,
        "centre/deliver.html",
        chrome,
        status=status,
        chose_lang=chose,
        form=values,
        miners=miners,
        q=q,
        errors=errors or {},
        problem=bool(errors) or bool(problem_text),
        problem_text=problem_text,
    )


@router.get("/app/centre/deliveries/new", response_class=HTMLResponse)
def delivery_form(request: Request, session: SessionDep) -> Response:
    """The form to record an ore delivery."""
    if (refused := _centre(request, session)) is not None:
        return refused
    return _delivery_page(request, session, _blank_delivery(request))


# Refusals said in the form's own terms (a bound in grams, said in tonnes).
FORM_WORDS: Final[dict[tuple[str, str], str]] = {
    ("body.mass_g", "less-than-equal"): "error.mass_max",
}


def _words(err: FieldError, lang: Lang) -> str:
    """A refusal's sentence for the form: the rule in the page's language (Mongolian
    without the service's English specifics)."""
    key = FORM_WORDS.get((err.field or "", err.rule))
    if key is not None:
        return text(lang, key)
    words = RULES.get(err.rule)
    if words is not None and lang == "mn":
        return words(lang)
    return rule_sentence(err, lang)


@router.post("/app/centre/deliveries/new", response_class=HTMLResponse)
async def record_delivery(request: Request) -> Response:
    """Record the delivery as the signed-in clerk, once per form key."""
    session = await run_in_threadpool(_signed_in, request)
    if (refused := _centre(request, session)) is not None:
        return refused
    fields = await _form(request)
    if not _csrf_ok(request, fields):
        return _error_page(request, session, 403, "error.csrf")
    lang, _ = choose_lang(request)
    blank = _blank_delivery(request)
    values = {k: fields.get(k, blank[k]) for k in blank if k != "today"}
    values["today"] = blank["today"]
    if not values["form_key"].startswith("console-") or len(values["form_key"]) > 80:
        values["form_key"] = blank["form_key"]
    try:
        delivery = forms.parse_delivery(fields)
    except forms.FormMistakes as exc:
        errors = {name: text(lang, key) for name, key in exc.mistakes.items()}
        return await run_in_threadpool(
            _delivery_page, request, session, values, errors=errors, status=422
        )
    submission = Submission(
        type="ore.delivered",
        body=delivery.body(values["occurred_at"]),
        idempotency_key=values["form_key"],
    )
    try:
        await _submit(request, session, submission)
    except DomainError as exc:
        errors = {}
        unplaced = []
        for err in exc.errors:
            name = DELIVERY_FIELDS.get(err.field or "")
            if name is not None and name not in errors:
                errors[name] = _words(err, lang)
            else:
                unplaced.append(_words(err, lang))
        status = exc.status if exc.status in (403, 404, 409, 422) else 422
        return await run_in_threadpool(
            _delivery_page,
            request,
            session,
            values,
            errors=errors,
            problem_text=" ".join(unplaced),
            status=status,
        )
    return RedirectResponse(
        f"/app/centre/deliveries?recorded={quote(delivery.lot)}", status_code=303
    )


async def _submit(request: Request, session: CurrentSession, submission: Submission) -> None:
    """Record one event through the pipeline's group committer as the session's principal;
    a second submit of the same form while the first is in flight waits for it."""
    committer = cast(EventCommitter, request.app.state.committer)
    for attempt in range(3):
        future = committer.submit_nowait(session.principal, submission)
        try:
            await asyncio.wrap_future(future)
            return
        except Conflict as exc:
            if exc.rule != "idempotency-key-in-flight" or attempt == 2:
                raise
            await asyncio.sleep(0.2)


@router.get("/app/centre/deliveries/{lot_id}/receipt", response_class=HTMLResponse)
def delivery_receipt(request: Request, session: SessionDep, lot_id: str) -> Response:
    """The miner's receipt, to print on A6: miner, site, dates, mass, lot, the QR code of
    the receipt certificate when one was issued."""
    if (refused := _centre(request, session)) is not None:
        return refused
    with read_session(request) as s:
        found = queries.receipt(s, session.principal.actor_id, lot_id[:64])
    if found is None:
        return _error_page(request, session, 404, "error.404")
    qr = None
    if found.token is not None:
        public_url = request.app.state.settings.public_url
        qr = Markup(images.qr_svg(qr_text(public_url, found.token)))  # noqa: S704 - our SVG
    chrome, chose = _chrome(request, session)
    return page(request, "centre/receipt.html", chrome, chose_lang=chose, r=found, qr=qr)


@router.get("/app/centre/stock", response_class=HTMLResponse)
def centre_stock(request: Request, session: SessionDep) -> Response:
    """The lots the centre holds with mass left, and the totals per kind."""
    if (refused := _centre(request, session)) is not None:
        return refused
    with read_session(request) as s:
        rows = queries.stock(s, session.principal.actor_id)
    totals: dict[str, int] = {}
    for lot in rows:
        totals[lot.kind] = totals.get(lot.kind, 0) + lot.remaining
    chrome, chose = _chrome(request, session)
    return page(
        request,
        "centre/stock.html",
        chrome,
        chose_lang=chose,
        rows=rows,
        totals=sorted(totals.items(), key=lambda kv: kv[0] != "ore"),
    )
