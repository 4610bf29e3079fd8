"""The administrators' pages, under `/app/admin`.

Two kinds of administrator use them:

- the system administrator: the staff of an actor of role `administrator`. It registers
  actors (`actor.registered`: role, licence, region, members) and mine sites
  (`site.registered`), and manages every actor's staff and API tokens;
- an actor's own administrator: a staff member with `is_admin` of any other actor. It
  manages its own actor's staff and tokens only (any other actor's page is refused).

Staff accounts and API tokens are off the log (services.staff, services.identity): they
are created through their own queries, which check again who may (`may_manage`,
`issue_actor_token`). A token is shown once, on the page that answers its creation (no
redirect, `Cache-Control: no-store`), never on any later page and never logged; only its
hash is kept. Registrations go through the event pipeline with the form's key as the
Idempotency-Key, like every console form; a refusal comes back with the rule in the page's
language and nothing recorded.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Final

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from ledger.regions import AIMAGS
from ledger.sql import storage
from schemas.staff import StaffOut
from services.actors.models import Actor, ApiToken, Site
from services.actors.rules import issue_actor_token, revoke_actor_token
from services.console import forms, kit
from services.console.glossary import text
from services.console.pages import page
from services.errors import DomainError
from services.field_errors import FieldError
from services.i18n import Lang
from services.pipeline.service import Submission
from services.reads import read_session
from services.roles import ADMINISTRATOR, ROLES, SITE_OWNERS
from services.staff import queries as staff_queries
from services.staff.models import Staff
from services.staff.sessions import CurrentSession, clock, engine_of

router = APIRouter(include_in_schema=False, route_class=kit.ConsoleRoute)

BUYER_KINDS: Final = ("central_bank", "bank", "trader", "refiner", "exporter")
MAX_FIELD_CHARS: Final = 4000
"""A field is cut here before the rules see it only when absurdly long (the rules' own
bounds are smaller and answered with the rule)."""
ACTOR_LIST_LIMIT: Final = 500
"""The site form's choice of owners (the active miners and partnerships)."""
ACTOR_PAGE: Final = 50
"""The overview lists the actors this many at a time, by id, paging on (`?after=<id>`)."""
_INTEGER = re.compile(r"^[0-9]{1,6}$")

# The event's fields and the form's field that states each.
ACTOR_FIELDS: Final[dict[str, str]] = {
    "body.actor": "actor",
    "body.role": "role",
    "body.buyer_kind": "buyer_kind",
    "body.licence": "licence_until",
    "body.licence.number": "licence_number",
    "body.licence.valid_from": "licence_from",
    "body.licence.valid_until": "licence_until",
    "body.region.aimag": "aimag",
    "body.region.soum": "soum",
    "body.members": "members",
}
SITE_FIELDS: Final[dict[str, str]] = {
    "body.site": "site",
    "body.owner": "owner",
    "body.region.aimag": "aimag",
    "body.region.soum": "soum",
    "body.lat": "lat",
    "body.lon": "lon",
}
STAFF_FIELDS: Final[dict[str, str]] = {
    "username": "username",
    "display_name": "display_name",
    "password": "password",
}
# Rules the service words in English only: the console's words for them.
RULE_WORDS: Final[dict[str, str]] = {
    "licence-dates": "admin.rule.licence_dates",
    "buyer-kind": "admin.rule.buyer_kind",
    "outside-mongolia": "admin.rule.outside_mongolia",
    "unknown-aimag": "admin.rule.unknown_aimag",
    "not-a-site-owner": "admin.rule.not_a_site_owner",
}


# -- reads ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ActorRow:
    actor: str
    role: str
    status: str
    aimag: str
    soum: str
    licence: str


@dataclass(frozen=True)
class TokenRow:
    """A token as its list shows it: never the token, which only its hash stands for."""

    token_id: str
    label: str
    created_at: str
    revoked_at: str | None


def _actor_row(a: Actor) -> ActorRow:
    return ActorRow(a.id, a.role, a.status, a.aimag or "", a.soum or "", a.licence_number or "")


def actors(s: Session, after: str | None = None) -> tuple[list[ActorRow], str | None]:
    """A page of `ACTOR_PAGE` actors by id, after the actor `after` (keyset: the next page
    starts at the next id, however many actors are registered meanwhile), and the id the
    next page starts after (None on the last page)."""
    stmt = select(Actor).order_by(Actor.id).limit(ACTOR_PAGE + 1)
    if after is not None:
        stmt = stmt.where(Actor.id > after)
    rows = [_actor_row(a) for a in s.scalars(stmt)]
    more = len(rows) > ACTOR_PAGE
    rows = rows[:ACTOR_PAGE]
    return rows, rows[-1].actor if more else None


def actor(s: Session, actor_id: str) -> ActorRow | None:
    found = s.get(Actor, actor_id)
    return None if found is None else _actor_row(found)


def site_owners(s: Session) -> list[ActorRow]:
    """The active miners and partnerships, who may own a site."""
    stmt = (
        select(Actor)
        .where(Actor.role.in_(sorted(SITE_OWNERS)), Actor.status == "active")
        .order_by(Actor.id)
        .limit(ACTOR_LIST_LIMIT)
    )
    return [_actor_row(a) for a in s.scalars(stmt)]


def sites_of(s: Session, owner: str) -> list[tuple[str, str, str, str]]:
    rows = s.execute(
        select(Site.id, Site.aimag, Site.soum, Site.status)
        .where(Site.owner_id == owner)
        .order_by(Site.id)
    )
    return [(a, b, c, d) for a, b, c, d in rows]


def tokens(s: Session, actor_id: str) -> list[TokenRow]:
    """The actor's tokens, newest first, revoked ones too."""
    stmt = (
        select(ApiToken)
        .where(ApiToken.actor_id == actor_id)
        .order_by(ApiToken.created_at.desc(), ApiToken.id)
    )
    return [TokenRow(t.id, t.label, t.created_at, t.revoked_at) for t in s.scalars(stmt)]


def token_actor(s: Session, token_id: str) -> str | None:
    row = s.get(ApiToken, token_id)
    return None if row is None else row.actor_id


def staff_actor(s: Session, staff_id: str) -> str | None:
    row = s.get(Staff, staff_id)
    return None if row is None else row.actor_id


# -- who may -------------------------------------------------------------------------------


def is_system(session: CurrentSession) -> bool:
    """Staff of the administrator actor: registers actors and sites, manages everyone."""
    return session.principal.role == ADMINISTRATOR


def _refused(request: Request, session: CurrentSession) -> HTMLResponse | None:
    """None for a system administrator's staff or an actor's administrator staff."""
    if is_system(session) or session.is_admin:
        return None
    return kit.error_page(request, session, 403, "error.403")


def _refused_for(request: Request, session: CurrentSession, actor_id: str) -> HTMLResponse | None:
    """None when the session manages `actor_id`'s staff and tokens: a system administrator
    every actor, an actor's administrator its own only."""
    if is_system(session) or (session.is_admin and session.principal.actor_id == actor_id):
        return None
    return kit.error_page(request, session, 403, "error.403")


def _system_only(request: Request, session: CurrentSession) -> HTMLResponse | None:
    if is_system(session):
        return None
    return kit.error_page(request, session, 403, "error.403")


def _words(err: FieldError, lang: Lang) -> str:
    key = RULE_WORDS.get(err.rule)
    if key is not None:
        return text(lang, key)
    return kit.words(err, lang)


def _placed(
    exc: DomainError, lang: Lang, fields: dict[str, str]
) -> tuple[dict[str, str], str, int]:
    return kit.placed(exc, lang, fields, _words)


def _values(fields: dict[str, str], blank: dict[str, str]) -> dict[str, str]:
    values = {k: fields.get(k, blank[k]).strip()[:MAX_FIELD_CHARS] for k in blank}
    values["form_key"] = kit.own_key(values["form_key"])
    return values


def _day_mistake(value: str) -> str | None:
    """The glossary key of what is wrong with a day written `YYYY-MM-DD`, if anything."""
    if not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", value):
        return "error.date"
    try:
        date.fromisoformat(value)
    except ValueError:
        return "error.date"
    return None


# -- the overview --------------------------------------------------------------------------


@router.get("/app/admin", response_class=HTMLResponse)
def overview(request: Request, session: kit.SessionDep, after: str = "") -> Response:
    """A system administrator: the actors, a page at a time, and the ways to register; an
    actor's administrator: its own actor's page."""
    if (refused := _refused(request, session)) is not None:
        return refused
    if not is_system(session):
        return RedirectResponse(f"/app/admin/actors/{session.principal.actor_id}", 303)
    with read_session(request) as s:
        rows, more = actors(s, after[:80] or None)
    chrome, chose = kit.chrome(request, session)
    done = request.query_params.get("registered", "")[:80]
    return page(
        request,
        "admin/overview.html",
        chrome,
        chose_lang=chose,
        rows=rows,
        registered=done,
        more=more,
    )


# -- registering an actor ------------------------------------------------------------------


def _blank_actor(request: Request) -> dict[str, str]:
    return {
        "form_key": forms.form_key(),
        "occurred_at": kit.local_now(request).isoformat(),
        "actor": "",
        "role": "miner",
        "buyer_kind": "",
        "licence_number": "",
        "licence_from": "",
        "licence_until": "",
        "aimag": "",
        "soum": "",
        "members": "",
    }


def _actor_form(
    request: Request,
    session: CurrentSession,
    values: dict[str, str],
    *,
    errors: dict[str, str] | None = None,
    problem_text: str = "",
    status: int = 200,
) -> HTMLResponse:
    return kit.form_page(
        request,
        session,
        "admin/actor_new.html",
        values,
        errors=errors,
        problem_text=problem_text,
        status=status,
        roles=ROLES,
        buyer_kinds=BUYER_KINDS,
        aimags=AIMAGS,
    )


@router.get("/app/admin/actors/new", response_class=HTMLResponse)
def actor_form(request: Request, session: kit.SessionDep) -> Response:
    """The form to register an actor."""
    if (refused := _system_only(request, session)) is not None:
        return refused
    return _actor_form(request, session, _blank_actor(request))


def actor_body(values: dict[str, str]) -> tuple[dict[str, object], dict[str, str]]:
    """The `actor.registered` body the form states, and its mistakes before the rules
    (form field -> glossary key)."""
    mistakes: dict[str, str] = {}
    body: dict[str, object] = {
        "occurred_at": values["occurred_at"],
        "actor": values["actor"],
        "role": values["role"],
    }
    if not values["actor"]:
        mistakes["actor"] = "error.required"
    if values["role"] not in ROLES:
        mistakes["role"] = "officer.error.choose"
    if values["buyer_kind"]:
        body["buyer_kind"] = values["buyer_kind"]
    if values["licence_number"] or values["licence_from"] or values["licence_until"]:
        licence: dict[str, str] = {"number": values["licence_number"]}
        if not values["licence_number"]:
            mistakes["licence_number"] = "error.required"
        if not values["licence_from"]:
            mistakes["licence_from"] = "error.required"
        elif (wrong := _day_mistake(values["licence_from"])) is not None:
            mistakes["licence_from"] = wrong
        licence["valid_from"] = values["licence_from"]
        if values["licence_until"]:
            if (wrong := _day_mistake(values["licence_until"])) is not None:
                mistakes["licence_until"] = wrong
            licence["valid_until"] = values["licence_until"]
        body["licence"] = licence
    if values["aimag"] or values["soum"]:
        if not values["aimag"]:
            mistakes["aimag"] = "error.required"
        if not values["soum"]:
            mistakes["soum"] = "error.required"
        body["region"] = {"aimag": values["aimag"], "soum": values["soum"]}
    if values["members"]:
        if not _INTEGER.match(values["members"]):
            mistakes["members"] = "admin.error.whole_number"
        else:
            body["members"] = int(values["members"])
    return body, mistakes


@router.post("/app/admin/actors/new", response_class=HTMLResponse)
async def register_actor(request: Request) -> Response:
    """Register the actor as the signed-in system administrator, once per form key."""
    post = await kit.form_post(request, _system_only)
    if not isinstance(post, kit.FormPost):
        return post
    values = _values(post.fields, _blank_actor(request))

    def build() -> Submission:
        body, mistakes = actor_body(values)
        if mistakes:
            raise forms.FormMistakes(mistakes)
        return Submission(type="actor.registered", body=body, idempotency_key=values["form_key"])

    def again(errors: dict[str, str], problem_text: str, status: int) -> Response:
        return _actor_form(
            request, post.session, values, errors=errors, problem_text=problem_text, status=status
        )

    done = f"/app/admin/actors/{values['actor']}?done=registered"
    return await kit.record(post, build, again, place=ACTOR_FIELDS, done=done, said=_words)


# -- registering a site --------------------------------------------------------------------


def _blank_site(request: Request) -> dict[str, str]:
    return {
        "form_key": forms.form_key(),
        "occurred_at": kit.local_now(request).isoformat(),
        "site": "",
        "owner": request.query_params.get("owner", "")[:80],
        "aimag": "",
        "soum": "",
        "lat": "",
        "lon": "",
    }


def _site_form(
    request: Request,
    session: CurrentSession,
    values: dict[str, str],
    *,
    errors: dict[str, str] | None = None,
    problem_text: str = "",
    status: int = 200,
) -> HTMLResponse:
    with read_session(request) as s:
        owners = site_owners(s)
    return kit.form_page(
        request,
        session,
        "admin/site_new.html",
        values,
        errors=errors,
        problem_text=problem_text,
        status=status,
        owners=owners,
        aimags=AIMAGS,
    )


@router.get("/app/admin/sites/new", response_class=HTMLResponse)
def site_form(request: Request, session: kit.SessionDep) -> Response:
    """The form to register a miner's or partnership's mine site."""
    if (refused := _system_only(request, session)) is not None:
        return refused
    return _site_form(request, session, _blank_site(request))


def site_body(values: dict[str, str]) -> tuple[dict[str, object], dict[str, str]]:
    """The `site.registered` body the form states, and its mistakes before the rules."""
    mistakes = {
        name: "error.required"
        for name in ("site", "owner", "aimag", "soum", "lat", "lon")
        if not values[name]
    }
    body: dict[str, object] = {
        "occurred_at": values["occurred_at"],
        "site": values["site"],
        "owner": values["owner"],
        "region": {"aimag": values["aimag"], "soum": values["soum"]},
        # a comma for the decimals, as a Mongolian counter writes them
        "lat": values["lat"].replace(",", "."),
        "lon": values["lon"].replace(",", "."),
    }
    return body, mistakes


@router.post("/app/admin/sites/new", response_class=HTMLResponse)
async def register_site(request: Request) -> Response:
    """Register the site as the signed-in system administrator, once per form key."""
    post = await kit.form_post(request, _system_only)
    if not isinstance(post, kit.FormPost):
        return post
    values = _values(post.fields, _blank_site(request))

    def build() -> Submission:
        body, mistakes = site_body(values)
        if mistakes:
            raise forms.FormMistakes(mistakes)
        return Submission(type="site.registered", body=body, idempotency_key=values["form_key"])

    def again(errors: dict[str, str], problem_text: str, status: int) -> Response:
        return _site_form(
            request, post.session, values, errors=errors, problem_text=problem_text, status=status
        )

    done = f"/app/admin/actors/{values['owner']}?done=site"
    return await kit.record(post, build, again, place=SITE_FIELDS, done=done, said=_words)


# -- an actor: its staff and tokens --------------------------------------------------------


def _blank_staff() -> dict[str, str]:
    return {"username": "", "display_name": "", "password": "", "is_admin": "", "label": ""}


def _actor_page(
    request: Request,
    session: CurrentSession,
    actor_id: str,
    *,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    problem_text: str = "",
    new_token: tuple[str, str] | None = None,
    status: int = 200,
) -> HTMLResponse:
    with read_session(request) as s:
        found = actor(s, actor_id)
        if found is None:
            return kit.error_page(request, session, 404, "error.404")
        staff: list[StaffOut] = staff_queries.list_staff(s, session.principal, actor_id)
        its_tokens = tokens(s, actor_id)
        its_sites = sites_of(s, actor_id) if found.role in SITE_OWNERS else []
    chrome, chose = kit.chrome(request, session)
    done = request.query_params.get("done", "")
    return page(
        request,
        "admin/actor.html",
        chrome,
        status=status,
        chose_lang=chose,
        a=found,
        staff=staff,
        tokens=its_tokens,
        sites=its_sites,
        site_owner=found.role in SITE_OWNERS,
        system=is_system(session),
        form=values or _blank_staff(),
        errors=errors or {},
        problem=bool(errors) or bool(problem_text),
        problem_text=problem_text,
        new_token=new_token,
        done=done if done in ("registered", "site", "staff", "disabled", "revoked") else "",
    )


@router.get("/app/admin/actors/{actor_id}", response_class=HTMLResponse)
def actor_page(request: Request, session: kit.SessionDep, actor_id: str) -> Response:
    """An actor: what the registry says, its sites, its staff and its API tokens."""
    if (refused := _refused_for(request, session, actor_id[:80])) is not None:
        return refused
    return _actor_page(request, session, actor_id[:80])


def _create_staff(
    request: Request, session: CurrentSession, actor_id: str, values: dict[str, str]
) -> StaffOut:
    with storage.write_transaction(engine_of(request)) as conn:
        return staff_queries.create_staff(
            Session(bind=conn),
            session.principal,
            actor_id=actor_id,
            username=values["username"],
            display_name=values["display_name"],
            password=values["password"],
            is_admin=values["is_admin"] == "on",
            now=clock(request),
        )


def _manages(actor_id: str) -> kit.Refused:
    """The guard of a change to `actor_id`'s staff or tokens."""
    return lambda request, session: _refused_for(request, session, actor_id)


def _owned(owner_of: Callable[[Session], str | None], owner: list[str]) -> kit.Refused:
    """The guard of a change to a staff account or token: 403 for a session that manages
    no actor at all; else the same 404 for an id that does not exist and for one of an
    actor it does not manage (so ids cannot be probed); the owner is kept in `owner`."""

    def refused(request: Request, session: CurrentSession) -> HTMLResponse | None:
        if not (is_system(session) or session.is_admin):
            return kit.error_page(request, session, 403, "error.403")
        with read_session(request) as s:
            found = owner_of(s)
        if found is None or _refused_for(request, session, found) is not None:
            return kit.error_page(request, session, 404, "error.404")
        owner.append(found)
        return None

    return refused


async def _change(
    post: kit.FormPost,
    actor_id: str,
    change: Callable[[], object],
    *,
    done: str,
    place: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
) -> Response:
    """An account or token change off the log (`change`, in the thread pool): a refusal
    shows the actor's page again with the rule, else the redirect (303) to `done`."""
    try:
        await run_in_threadpool(change)
    except DomainError as exc:
        errors, unplaced, status = _placed(exc, post.lang, place or {})
        return await run_in_threadpool(
            lambda: _actor_page(
                post.request,
                post.session,
                actor_id,
                values=values,
                errors=errors,
                problem_text=unplaced,
                status=status,
            )
        )
    return RedirectResponse(done, 303)


@router.post("/app/admin/actors/{actor_id}/staff", response_class=HTMLResponse)
async def create_staff(request: Request, actor_id: str) -> Response:
    """A new staff account of the actor (off the log: an account, not an event)."""
    actor_id = actor_id[:80]
    post = await kit.form_post(request, _manages(actor_id))
    if not isinstance(post, kit.FormPost):
        return post
    values = {k: post.fields.get(k, "")[:MAX_FIELD_CHARS] for k in _blank_staff()}
    values["username"] = values["username"].strip()
    values["display_name"] = values["display_name"].strip()
    shown = {**values, "password": ""}  # never sent back
    return await _change(
        post,
        actor_id,
        lambda: _create_staff(request, post.session, actor_id, values),
        done=f"/app/admin/actors/{actor_id}?done=staff",
        place=STAFF_FIELDS,
        values=shown,
    )


def _disable_staff(request: Request, session: CurrentSession, staff_id: str) -> None:
    with storage.write_transaction(engine_of(request)) as conn:
        staff_queries.disable_staff(Session(bind=conn), session.principal, staff_id, clock(request))


@router.post("/app/admin/staff/{staff_id}/disable", response_class=HTMLResponse)
async def disable_staff(request: Request, staff_id: str) -> Response:
    """Disable a staff account: no more sign-ins; its sessions end at once."""
    staff_id = staff_id[:40]
    owner: list[str] = []
    post = await kit.form_post(request, _owned(lambda s: staff_actor(s, staff_id), owner))
    if not isinstance(post, kit.FormPost):
        return post
    return await _change(
        post,
        owner[0],
        lambda: _disable_staff(request, post.session, staff_id),
        done=f"/app/admin/actors/{owner[0]}?done=disabled",
    )


@router.post("/app/admin/actors/{actor_id}/tokens", response_class=HTMLResponse)
async def issue(request: Request, actor_id: str) -> Response:
    """Issue an API token for a user of the actor: the answer is the actor's page with
    the token on it, once (never stored in the clear, never shown again)."""
    actor_id = actor_id[:80]
    post = await kit.form_post(request, _manages(actor_id))
    if not isinstance(post, kit.FormPost):
        return post
    session = post.session
    label = post.fields.get("label", "").strip()
    if not label or len(label) > 200:
        key = "error.required" if not label else "admin.error.label_long"
        return await run_in_threadpool(
            _actor_page,
            request,
            session,
            actor_id,
            values={**_blank_staff(), "label": label[:200]},
            errors={"label": text(post.lang, key)},
            status=422,
        )
    limit = request.app.state.settings.max_tokens_per_actor
    try:
        out = await run_in_threadpool(
            issue_actor_token, engine_of(request), session.principal, actor_id, label, limit
        )
    except DomainError as exc:
        errors, unplaced, status = _placed(exc, post.lang, {"label": "label"})
        return await run_in_threadpool(
            _actor_page,
            request,
            session,
            actor_id,
            errors=errors,
            problem_text=unplaced,
            status=status,
        )
    return await run_in_threadpool(
        _actor_page, request, session, actor_id, new_token=(out.token_id, out.token), status=201
    )


@router.post("/app/admin/tokens/{token_id}/revoke", response_class=HTMLResponse)
async def revoke(request: Request, token_id: str) -> Response:
    """Revoke a token: it stops working at once."""
    token_id = token_id[:40]
    owner: list[str] = []
    post = await kit.form_post(request, _owned(lambda s: token_actor(s, token_id), owner))
    if not isinstance(post, kit.FormPost):
        return post
    return await _change(
        post,
        owner[0],
        lambda: revoke_actor_token(engine_of(request), post.session.principal, token_id),
        done=f"/app/admin/actors/{owner[0]}?done=revoked",
    )
