"""Console sessions: sign-in, the session cookie, CSRF tokens and the signed-in principal.

A session is a random 256-bit cookie value; the database keeps only its SHA-256 (like
API tokens), with a random CSRF token of its own. The cookie is `altan_session`,
HttpOnly, SameSite=Strict, Path=/, Secure when the request came over https (as the
trusted proxy says, ALTAN_FORWARDED_ALLOW_IPS). A session ends after
ALTAN_CONSOLE_IDLE_MINUTES without a request, 12 hours after sign-in, or at sign-out.

Sign-in is rate-limited before the password is looked at, so a refusal says nothing of
it: after `MAX_NAME_FAILURES` failures for one username, or `MAX_ADDRESS_FAILURES` from
one client address, within `WINDOW`, every attempt gets 429 with Retry-After. An unknown
username and a wrong password get the same answer, in about the same time (a dummy hash
is verified). Every attempt is counted (`altan_staff_sign_ins`).
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, cast

from fastapi import Depends, Request, Response
from prometheus_client import Counter
from sqlalchemy import Engine, delete, func, select
from sqlalchemy.orm import Session

from ledger.entry import format_time
from ledger.sql import storage
from services.errors import Forbidden, TooManyAttempts, Unauthenticated
from services.identity import Principal
from services.identity.tables import Actor
from services.staff import passwords
from services.staff.models import USERNAME_MAX, SignInAttempt, Staff, StaffSession

SESSION_COOKIE = "altan_session"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"  # the hidden field of every console form
ABSOLUTE_LIFETIME = timedelta(hours=12)
TOUCH_EVERY = timedelta(seconds=60)  # last_seen_at is written at most this often
WINDOW = timedelta(minutes=15)
MAX_NAME_FAILURES = 5
MAX_ADDRESS_FAILURES = 20
ATTEMPTS_KEPT = timedelta(days=1)

SIGN_INS = Counter(
    "altan_staff_sign_ins",
    "Console sign-in attempts by method (password, passkey) and outcome (ok, failed, "
    "limited: refused by the rate limit before any check)",
    ["method", "outcome"],
)


@dataclass(frozen=True)
class SignedIn:
    """A new session: the staff member, the cookie value (to set, shown once) and the
    session's CSRF token."""

    staff_id: str
    actor_id: str
    username: str
    is_admin: bool
    cookie_value: str
    csrf_token: str


@dataclass(frozen=True)
class CurrentSession:
    """The request's session, once checked."""

    principal: Principal
    username: str
    is_admin: bool
    csrf_token: str


def hash_cookie(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def clock(request: Request) -> datetime:
    """The service's clock (the event pipeline's, so tests set one for both)."""
    return cast(datetime, request.app.state.events.clock())


def engine_of(request: Request) -> Engine:
    return cast(Engine, request.app.state.events.engine)


def client_address(request: Request) -> str:
    """The client's address, as a trusted proxy says (ProxyHeadersMiddleware), else the peer."""
    return (request.client.host if request.client else "unknown")[:64]


# -- the rate limit --------------------------------------------------------------------------


def retry_after_seconds(s: Session, username: str, address: str, now: datetime) -> int | None:
    """Seconds until another attempt is allowed, or None if one is allowed now."""
    since = format_time(now - WINDOW)
    last_ok = s.scalar(
        select(func.max(SignInAttempt.at)).where(
            SignInAttempt.username == username, SignInAttempt.ok.is_(True)
        )
    )
    name_since = max(since, last_ok) if last_ok else since  # a success starts afresh
    waits: list[int] = []
    for column, value, limit, start in (
        (SignInAttempt.username, username, MAX_NAME_FAILURES, name_since),
        (SignInAttempt.address, address, MAX_ADDRESS_FAILURES, since),
    ):
        times = s.scalars(
            select(SignInAttempt.at)
            .where(column == value, SignInAttempt.ok.is_(False), SignInAttempt.at > start)
            .order_by(SignInAttempt.at.desc())
            .limit(limit)
        ).all()
        if len(times) >= limit:  # the oldest of the last `limit` failures must age out
            oldest = datetime.fromisoformat(times[-1].replace("Z", "+00:00"))
            waits.append(math.ceil((oldest + WINDOW - now).total_seconds()))
    return max(waits) if waits else None


def limited(retry_after: int, method: str) -> TooManyAttempts:
    SIGN_INS.labels(method, "limited").inc()
    return TooManyAttempts(
        "too-many-sign-ins",
        f"too many failed sign-ins for this name or from this address; try again in "
        f"{retry_after} s",
        retry_after=retry_after,
    )


def failed(method: str) -> Unauthenticated:
    SIGN_INS.labels(method, "failed").inc()
    return Unauthenticated("sign-in-failed", "the username or the password is wrong")


def usable(s: Session, staff: Staff | None) -> bool:
    """A staff member who may sign in: not disabled, its actor registered and not revoked."""
    if staff is None or staff.disabled_at is not None:
        return False
    actor = s.get(Actor, staff.actor_id)
    return actor is not None and actor.status != "revoked"


# -- sign-in and sign-out --------------------------------------------------------------------


def start_session(s: Session, staff: Staff, now: datetime) -> tuple[str, str]:
    """Open a session for `staff`; returns (cookie value, CSRF token)."""
    value = secrets.token_urlsafe(32)  # 256 bits
    csrf = secrets.token_urlsafe(32)
    at = format_time(now)
    s.add(
        StaffSession(
            cookie_hash=hash_cookie(value),
            staff_id=staff.id,
            csrf_token=csrf,
            created_at=at,
            last_seen_at=at,
        )
    )
    # sessions past their lifetime and attempts past their use go as others arrive
    s.execute(
        delete(StaffSession).where(StaffSession.created_at < format_time(now - ABSOLUTE_LIFETIME))
    )
    return value, csrf


def record_attempt(s: Session, username: str, address: str, now: datetime, ok: bool) -> None:
    s.add(
        SignInAttempt(username=username[:USERNAME_MAX], address=address, at=format_time(now), ok=ok)
    )
    s.execute(delete(SignInAttempt).where(SignInAttempt.at < format_time(now - ATTEMPTS_KEPT)))


def sign_in(engine: Engine, username: str, password: str, *, ip: str, now: datetime) -> SignedIn:
    """Check a username and password and open a session; raises TooManyAttempts (429,
    before anything is checked), Unauthenticated (`sign-in-failed`, the same for an
    unknown name, a wrong password or a disabled account)."""
    name = passwords.normalise_username(username)[:USERNAME_MAX]
    address = ip[:64]
    # 1. the rate limit, before anything about the name or the password is looked at
    with storage.read_transaction(engine) as conn:
        s = Session(bind=conn)
        wait = retry_after_seconds(s, name, address, now)
        if wait is not None:
            raise limited(wait, "password")
        staff = s.scalars(select(Staff).where(Staff.username == name)).first()
        stored = staff.password_hash if usable(s, staff) and staff is not None else None
    # 2. the password, outside any transaction (argon2 takes a while by design)
    if stored is None:
        passwords.verify_dummy(password)
        verified = passwords.Verified(False)
    else:
        verified = passwords.verify(stored, password)
    # 3. recorded; the limit checked again under the write lock (parallel attempts)
    signed: SignedIn | None = None
    with storage.write_transaction(engine) as conn:
        s = Session(bind=conn)
        wait = retry_after_seconds(s, name, address, now)
        if wait is None:
            staff = s.scalars(select(Staff).where(Staff.username == name)).first()
            ok = verified.ok and staff is not None and usable(s, staff)
            record_attempt(s, name, address, now, ok)
            if ok and staff is not None:
                if verified.new_hash is not None:
                    staff.password_hash = verified.new_hash
                value, csrf = start_session(s, staff, now)
                signed = SignedIn(
                    staff.id, staff.actor_id, staff.username, staff.is_admin, value, csrf
                )
            s.flush()
    if wait is not None:
        raise limited(wait, "password")
    if signed is None:
        raise failed("password")
    SIGN_INS.labels("password", "ok").inc()
    return signed


def sign_out(request: Request) -> None:
    """End the request's session (its row is deleted: the cookie opens nothing again)."""
    value = request.cookies.get(SESSION_COOKIE)
    if not value:
        return
    with storage.write_transaction(engine_of(request)) as conn:
        conn.execute(delete(StaffSession).where(StaffSession.cookie_hash == hash_cookie(value)))


def set_session_cookie(response: Response, request: Request, value: str) -> None:
    """Set the session cookie: HttpOnly, SameSite=Strict, Path=/, Secure over https."""
    response.set_cookie(
        SESSION_COOKIE,
        value,
        max_age=int(ABSOLUTE_LIFETIME.total_seconds()),
        path="/",
        secure=request.url.scheme == "https",
        httponly=True,
        samesite="strict",
    )


def clear_session_cookie(response: Response, request: Request) -> None:
    response.delete_cookie(
        SESSION_COOKIE,
        path="/",
        secure=request.url.scheme == "https",
        httponly=True,
        samesite="strict",
    )


# -- the signed-in principal -----------------------------------------------------------------


def current_session(request: Request) -> CurrentSession | None:
    """The request's live session, or None (no cookie, unknown, idle too long, past its
    lifetime, the staff member disabled, the actor revoked). Looked up once per request."""
    if hasattr(request.state, "staff_session"):
        return cast(CurrentSession | None, request.state.staff_session)
    found = _lookup(request)
    request.state.staff_session = found
    return found


def _lookup(request: Request) -> CurrentSession | None:
    value = request.cookies.get(SESSION_COOKIE)
    if not value or len(value) > 100:
        return None
    now = clock(request)
    idle = timedelta(minutes=request.app.state.settings.console_idle_minutes)
    digest = hash_cookie(value)
    with storage.read_transaction(engine_of(request)) as conn:
        s = Session(bind=conn)
        row = s.get(StaffSession, digest)
        if row is None:
            return None
        staff = s.get(Staff, row.staff_id)
        actor = None if staff is None else s.get(Actor, staff.actor_id)
        created, seen = _parse(row.created_at), _parse(row.last_seen_at)
        live = now - seen <= idle and now - created <= ABSOLUTE_LIFETIME
        if (
            not live
            or staff is None
            or staff.disabled_at is not None
            or actor is None
            or actor.status == "revoked"
        ):
            return None
        found = CurrentSession(
            Principal(actor_id=actor.id, role=actor.role, staff_id=staff.id),
            staff.username,
            staff.is_admin,
            row.csrf_token,
        )
        touch = now - seen >= TOUCH_EVERY
    if touch:
        with storage.write_transaction(engine_of(request)) as conn:
            s = Session(bind=conn)
            row = s.get(StaffSession, digest)
            if row is not None:
                row.last_seen_at = max(row.last_seen_at, format_time(now))
                s.flush()
    return found


def _parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def session_principal(request: Request) -> Principal | None:
    """The principal of the signed-in staff member (`staff_id` set), or None."""
    found = current_session(request)
    return None if found is None else found.principal


def require_staff(request: Request) -> Principal:
    """FastAPI dependency: the signed-in staff member's principal, else 401 `not-signed-in`
    (the console's pages turn it into a redirect to their sign-in page)."""
    principal = session_principal(request)
    if principal is None:
        raise Unauthenticated("not-signed-in", "sign in to the console first")
    return principal


def csrf_token(request: Request) -> str:
    """The session's CSRF token, for the hidden field of every form."""
    found = current_session(request)
    if found is None:
        raise Unauthenticated("not-signed-in", "sign in to the console first")
    return found.csrf_token


def check_csrf(request: Request, value: str | None) -> None:
    """Refuse a write whose CSRF token (a form's field or the X-CSRF-Token header) is not
    the session's (constant-time comparison)."""
    expected = csrf_token(request)
    if not value or not hmac.compare_digest(value.encode(), expected.encode()):
        raise Forbidden(
            "csrf-failed",
            "the form's CSRF token is missing or wrong; reload the page",
            field=CSRF_FIELD,
        )


StaffDep = Annotated[Principal, Depends(require_staff)]
