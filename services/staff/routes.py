"""`/staff` (accounts, for bearer tokens and signed-in staff), `/app/session` (sign-in
and sign-out as JSON) and `/app/passkeys/...` (WebAuthn).

Writes under `/app/` are authorised by the session cookie and its CSRF token (the
`X-CSRF-Token` header here, a form's `csrf_token` on the console's pages); `/staff`
writes by a bearer token. Reads take either.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Request, Response
from sqlalchemy.orm import Session

from ledger.sql import storage
from schemas.log import Problem
from schemas.staff import PasskeyOut, SessionOut, SignInIn, StaffIn, StaffList, StaffOut
from services.bodies import StrictJSONRoute
from services.errors import Unauthenticated
from services.identity import Principal
from services.identity.auth import PrincipalDep, authenticate
from services.staff import passkeys, queries, sessions
from services.staff.sessions import CSRF_HEADER, clock, engine_of

router = APIRouter(tags=["staff"], route_class=StrictJSONRoute)


def token_or_session(request: Request) -> Principal:
    """A bearer token's principal when the request carries one, else the session's."""
    if request.headers.get("authorization"):
        return authenticate(request)
    return sessions.require_staff(request)


def staff_writer(request: Request) -> Principal:
    """The signed-in staff member, for a write: the session and its CSRF token."""
    principal = sessions.require_staff(request)
    sessions.check_csrf(request, request.headers.get(CSRF_HEADER))
    return principal


ReaderDep = Annotated[Principal, Depends(token_or_session)]
WriterDep = Annotated[Principal, Depends(staff_writer)]


def _problems(texts: dict[int, str]) -> dict[int | str, dict[str, object]]:
    return {code: {"model": Problem, "description": text} for code, text in texts.items()}


_ACTOR_404 = "No such actor, or none that the caller may read"
_CREATE_PROBLEMS = _problems({404: _ACTOR_404, 409: "The username is taken (by any actor's staff)"})
# A bearer token or the session: `token_or_session` is not the shared `authenticate`.
_LIST_PROBLEMS = _problems(
    {
        401: "No bearer token (or an unknown or revoked one) and no session",
        404: _ACTOR_404,
    }
)


def _create(request: Request, principal: Principal, body: StaffIn) -> StaffOut:
    with storage.write_transaction(engine_of(request)) as conn:
        return queries.create_staff(
            Session(bind=conn),
            principal,
            actor_id=body.actor,
            username=body.username,
            display_name=body.display_name,
            password=body.password,
            is_admin=body.is_admin,
            now=clock(request),
        )


def _disable(request: Request, principal: Principal, staff_id: str) -> StaffOut:
    with storage.write_transaction(engine_of(request)) as conn:
        return queries.disable_staff(Session(bind=conn), principal, staff_id, clock(request))


@router.post(
    "/staff",
    status_code=201,
    responses=_CREATE_PROBLEMS,
    summary="Create a staff account of an actor",
)
def create_staff(body: StaffIn, principal: PrincipalDep, request: Request) -> StaffOut:
    """By a system administrator for any actor, by the actor itself for its own. The
    password is 10 to 256 characters and not the username; it is never shown again."""
    return _create(request, principal, body)


@router.post("/app/staff", status_code=201, include_in_schema=False)
def create_staff_signed_in(body: StaffIn, principal: WriterDep, request: Request) -> StaffOut:
    return _create(request, principal, body)


@router.get("/staff", responses=_LIST_PROBLEMS, summary="The staff accounts of an actor")
def list_staff(actor: str, principal: ReaderDep, request: Request) -> StaffList:
    with storage.read_transaction(engine_of(request)) as conn:
        return StaffList(staff=queries.list_staff(Session(bind=conn), principal, actor))


@router.post("/staff/{staff_id}/disable", summary="Disable a staff account (its sessions end)")
def disable_staff(staff_id: str, principal: PrincipalDep, request: Request) -> StaffOut:
    return _disable(request, principal, staff_id)


@router.post("/app/staff/{staff_id}/disable", include_in_schema=False)
def disable_staff_signed_in(staff_id: str, principal: WriterDep, request: Request) -> StaffOut:
    return _disable(request, principal, staff_id)


# -- the session -----------------------------------------------------------------------------


def _session_out(signed: sessions.SignedIn, role: str) -> SessionOut:
    return SessionOut(
        staff=signed.staff_id,
        actor=signed.actor_id,
        role=role,
        username=signed.username,
        is_admin=signed.is_admin,
        csrf_token=signed.csrf_token,
    )


def _role_of(request: Request, actor_id: str) -> str:
    from services.identity.tables import Actor

    with storage.read_transaction(engine_of(request)) as conn:
        actor = Session(bind=conn).get(Actor, actor_id)
        return actor.role if actor is not None else ""


@router.post("/app/session", include_in_schema=False)
def sign_in(body: SignInIn, request: Request, response: Response) -> SessionOut:
    signed = sessions.sign_in(
        engine_of(request),
        body.username,
        body.password,
        ip=sessions.client_address(request),
        now=clock(request),
    )
    sessions.set_session_cookie(response, request, signed.cookie_value)
    return _session_out(signed, _role_of(request, signed.actor_id))


@router.get("/app/session", include_in_schema=False)
def who(request: Request) -> SessionOut:
    found = sessions.current_session(request)
    if found is None:
        raise Unauthenticated("not-signed-in", "sign in to the console first")
    p = found.principal
    return SessionOut(
        staff=p.staff_id,
        actor=p.actor_id,
        role=p.role,
        username=found.username,
        is_admin=found.is_admin,
        csrf_token=found.csrf_token,
    )


@router.delete("/app/session", status_code=204, include_in_schema=False)
def sign_out(principal: WriterDep, request: Request, response: Response) -> None:
    sessions.sign_out(request)
    sessions.clear_session_cookie(response, request)


# -- passkeys --------------------------------------------------------------------------------

Credential = Annotated[dict[str, Any], Body()]


def _json(text: str) -> Response:
    return Response(text, media_type="application/json")


@router.post("/app/passkeys/registration/options", include_in_schema=False)
def passkey_registration_options(principal: WriterDep, request: Request) -> Response:
    rp = passkeys.RelyingParty.of(request)
    return _json(passkeys.registration_options(engine_of(request), principal, rp, clock(request)))


@router.post("/app/passkeys/registration/verify", status_code=201, include_in_schema=False)
def passkey_register(credential: Credential, principal: WriterDep, request: Request) -> PasskeyOut:
    rp = passkeys.RelyingParty.of(request)
    made = passkeys.register(engine_of(request), principal, credential, rp, clock(request))
    return PasskeyOut(credential_id=made)


@router.post("/app/passkeys/authentication/options", include_in_schema=False)
def passkey_authentication_options(
    request: Request, body: Annotated[dict[str, str] | None, Body()] = None
) -> Response:
    username = (body or {}).get("username") or None
    rp = passkeys.RelyingParty.of(request)
    return _json(passkeys.authentication_options(engine_of(request), username, rp, clock(request)))


@router.post("/app/passkeys/authentication/verify", include_in_schema=False)
def passkey_sign_in(credential: Credential, request: Request, response: Response) -> SessionOut:
    rp = passkeys.RelyingParty.of(request)
    signed = passkeys.sign_in(
        engine_of(request),
        credential,
        rp,
        ip=sessions.client_address(request),
        now=clock(request),
    )
    sessions.set_session_cookie(response, request, signed.cookie_value)
    return _session_out(signed, _role_of(request, signed.actor_id))
