"""The console's pages: the landing page (`/`), sign-in and sign-out, the signed-in home;
each role's pages are a router of their own module (`centre`, ...), included here.

What the role modules share (the chrome, the session dependency, the CSRF check, recording
through the pipeline) is in `kit`. Pages are HTML only and stay out of the OpenAPI document
(`include_in_schema=False`).
"""

from __future__ import annotations

import hmac
import secrets
from typing import Final

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from services.console import admin, buyer, centre, kit, lab, miner, officer, offline
from services.console.glossary import text
from services.console.pages import NAV, choose_lang, page
from services.errors import DomainError, TooManyAttempts
from services.roles import PROCESSING_CENTRE
from services.staff import sessions

router = APIRouter(include_in_schema=False, route_class=kit.ConsoleRoute)

SIGN_IN_COOKIE: Final = "altan_sign_in"
"""A pre-session CSRF token for the sign-in form (double submit: cookie and field)."""

# -- the request's reader ------------------------------------------------------------------


def _safe_next(value: str | None) -> str:
    """Where to go after signing in: a console path only (never another host)."""
    if value and value.startswith("/app") and not value.startswith("//") and "\\" not in value:
        return value
    return "/app"


# -- public pages --------------------------------------------------------------------------


@router.get("/", response_class=HTMLResponse)
def landing(request: Request) -> HTMLResponse:
    """What Altan Ledger is; links to sign in, to check a certificate, to the API docs."""
    chrome, chose = kit.chrome(request, None)
    return page(request, "landing.html", chrome, chose_lang=chose)


@router.get("/app/sign-in", response_class=HTMLResponse)
def sign_in_page(request: Request, next: str = "/app") -> Response:
    if sessions.current_session(request) is not None:
        return RedirectResponse(_safe_next(next), status_code=303)
    return _sign_in_form(request, _safe_next(next))


def _sign_in_form(
    request: Request, next_path: str, *, problem: str = "", username: str = "", status: int = 200
) -> HTMLResponse:
    chrome, chose = kit.chrome(request, None)
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
    fields = await kit.read_form(request)
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
    fields = await kit.read_form(request)
    if sessions.current_session(request) is not None:
        if not kit.csrf_ok(request, fields):
            return kit.error_page(request, sessions.current_session(request), 403, "error.csrf")
        await run_in_threadpool(sessions.sign_out, request)
    response = RedirectResponse("/app/sign-in", status_code=303)
    sessions.clear_session_cookie(response, request)
    return response


# -- the signed-in home --------------------------------------------------------------------


@router.get("/app", response_class=HTMLResponse)
def home(request: Request, session: kit.SessionDep) -> Response:
    """The role's first page: a centre's today page; other roles' pages come later."""
    if session.principal.role == PROCESSING_CENTRE:
        return RedirectResponse("/app/centre", status_code=303)
    if session.principal.role in NAV:  # every role with pages: its first one
        return RedirectResponse(NAV[session.principal.role][0].href, status_code=303)
    chrome, chose = kit.chrome(request, session)
    return page(request, "home.html", chrome, chose_lang=chose)


router.include_router(centre.router)
router.include_router(buyer.router)
router.include_router(miner.router)
router.include_router(lab.router)
router.include_router(offline.router)
router.include_router(officer.router)
router.include_router(admin.router)
