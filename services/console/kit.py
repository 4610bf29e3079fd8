"""What every role's pages share: the page's chrome (language, who is signed in), the
signed-in session as a dependency, reading a form, the CSRF check, the error page, the
refusal's words, and recording an event through the pipeline as the signed-in staff member.

A role's module (centre.py, buyer.py, ...) imports these and keeps its own routes thin:
read the form, ask the reads, record with :func:`submit`, render with `pages.page`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Annotated, Any, Final, cast
from urllib.parse import parse_qsl, quote

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from services.console.forms import FormMistakes, form_key
from services.console.glossary import text
from services.console.pages import Chrome, choose_lang, page
from services.errors import Conflict, DomainError
from services.field_errors import FieldError
from services.i18n import Lang
from services.pipeline.committer import EventCommitter
from services.pipeline.service import Submission
from services.problem_texts import RULES, rule_sentence
from services.staff import sessions
from services.staff.sessions import CSRF_FIELD, CurrentSession

__all__ = [
    "LOCAL_TIME",
    "MAX_FORM_BYTES",
    "ConsoleRoute",
    "FormPost",
    "FormTooLarge",
    "SessionDep",
    "chrome",
    "csrf_ok",
    "error_page",
    "form_page",
    "form_post",
    "local_now",
    "mistaken",
    "own_key",
    "placed",
    "read_form",
    "read_form_multi",
    "record",
    "refusal_status",
    "role_refused",
    "signed_in",
    "submit",
    "words",
]

LOCAL_TIME: Final = timezone(timedelta(hours=8))
"""The counter's clock: Ulaanbaatar time (a setting per centre once western aimags
(UTC+7) use the console)."""
# Room for the largest form a clerk fills in: a processing run lists one mass field per ore
# lot in stock (a run takes at most 200 inputs, and a centre may hold several hundred lots).
MAX_FORM_BYTES: Final = 65_536


def chrome(request: Request, session: CurrentSession | None) -> tuple[Chrome, bool]:
    """What the layout shows around the page, and whether the reader just chose the
    language (then `pages.page` keeps it in its cookie)."""
    lang, chose = choose_lang(request)
    found = Chrome(
        lang=lang,
        path=request.url.path,
        query=dict(request.query_params),
        principal=session.principal if session is not None else None,
        username=session.username if session is not None else "",
        csrf=session.csrf_token if session is not None else "",
        is_admin=session.is_admin if session is not None else False,
        rendered_at=local_now(request).strftime("%Y-%m-%d %H:%M"),
    )
    return found, chose


def signed_in(request: Request) -> CurrentSession:
    """The signed-in session, else a redirect (303) to the sign-in page and back here."""
    found = sessions.current_session(request)
    if found is None:
        here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise HTTPException(303, headers={"Location": "/app/sign-in?next=" + quote(here)})
    return found


SessionDep = Annotated[CurrentSession, Depends(signed_in)]


class FormTooLarge(Exception):
    """A form's body over `MAX_FORM_BYTES`: `ConsoleRoute` answers it with the 413 page
    (before the CSRF check, so it is not mistaken for a stale form; nothing is recorded)."""


class ConsoleRoute(APIRoute):
    """The console's routes: a form too large for `read_form` gets the page saying so
    (413, in the reader's language, naming the limit)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except FormTooLarge:
                session = await run_in_threadpool(sessions.current_session, request)
                return error_page(
                    request, session, 413, "error.form_too_large", limit=MAX_FORM_BYTES // 1024
                )

        return route


async def read_form_multi(request: Request) -> list[tuple[str, str]]:
    """An urlencoded form's fields in order, repeated names kept (checkboxes); bounded:
    a body over `MAX_FORM_BYTES` raises `FormTooLarge` (unread when its length says so)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_FORM_BYTES:
        raise FormTooLarge
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        raise FormTooLarge
    try:
        return parse_qsl(body.decode("utf-8"), keep_blank_values=True)
    except (UnicodeDecodeError, ValueError):
        return []


async def read_form(request: Request) -> dict[str, str]:
    """An urlencoded form's fields (the last value of a repeated name); bounded."""
    return dict(await read_form_multi(request))


def error_page(
    request: Request, session: CurrentSession | None, status: int, key: str, **values: object
) -> HTMLResponse:
    """The error page (403, 404, 413, CSRF) with the glossary's sentence `key` (filled
    with `values`)."""
    found, chose = chrome(request, session)
    return page(
        request, "error.html", found, status=status, chose_lang=chose, message=key, values=values
    )


def form_page(
    request: Request,
    session: CurrentSession,
    template: str,
    form: Mapping[str, str],
    *,
    errors: dict[str, str] | None = None,
    problem_text: str = "",
    status: int = 200,
    **context: object,
) -> HTMLResponse:
    """A form's page: its values (`form`), the mistakes by field (`errors`), the refusal's
    sentences of no field (`problem_text`; `problem` when there is either), and the
    template's own `context`."""
    found, chose = chrome(request, session)
    return page(
        request,
        template,
        found,
        status=status,
        chose_lang=chose,
        form=form,
        errors=errors or {},
        problem=bool(errors) or bool(problem_text),
        problem_text=problem_text,
        **context,
    )


def role_refused(request: Request, session: CurrentSession, role: str) -> HTMLResponse | None:
    """None for staff of an actor in `role`, else the page saying the role may not see
    this (403)."""
    if session.principal.role == role:
        return None
    return error_page(request, session, 403, "error.403")


def csrf_ok(request: Request, fields: dict[str, str]) -> bool:
    """Whether the form carries the session's CSRF token."""
    try:
        sessions.check_csrf(request, fields.get(CSRF_FIELD))
    except DomainError:
        return False
    return True


def local_now(request: Request) -> datetime:
    """The pipeline's clock at the counter (`LOCAL_TIME`), to the second."""
    return sessions.clock(request).astimezone(LOCAL_TIME).replace(microsecond=0)


# Refusals said in the form's own terms (a bound in grams, said in tonnes).
FORM_WORDS: Final[dict[tuple[str, str], str]] = {
    ("body.mass_g", "less-than-equal"): "error.mass_max",
}


def words(err: FieldError, lang: Lang) -> str:
    """A refusal's sentence for the form: the rule in the page's language (Mongolian
    without the service's English specifics)."""
    key = FORM_WORDS.get((err.field or "", err.rule))
    if key is not None:
        return text(lang, key)
    said = RULES.get(err.rule)
    if said is not None and lang == "mn":
        return said(lang)
    return rule_sentence(err, lang)


async def submit(request: Request, session: CurrentSession, submission: Submission) -> None:
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


# -- a form's POST, one shape for every handler ----------------------------------------------

Refused = Callable[[Request, CurrentSession], HTMLResponse | None]
"""A page's guard: None when the session may, else the page saying why not."""
Again = Callable[[dict[str, str], str, int], Response]
"""The form rendered again: (field -> sentence, the sentences of no field, status)."""
Words = Callable[[FieldError, Lang], str]


@dataclass(frozen=True)
class FormPost:
    """A form sent by a signed-in staff member who may send it, its CSRF token checked:
    its fields (the last value of a repeated name), every pair in order, the page's
    language."""

    request: Request
    session: CurrentSession
    fields: dict[str, str]
    pairs: list[tuple[str, str]]
    lang: Lang


async def form_post(request: Request, refused: Refused | None = None) -> FormPost | Response:
    """The POST's first steps, the same in every handler: the signed-in session (else the
    redirect to sign in), the page's guard (`refused`), the form read (bounded), the CSRF
    check (403 page). A `Response` is the answer to send as it is."""
    session = await run_in_threadpool(signed_in, request)
    if refused is not None and (answer := refused(request, session)) is not None:
        return answer
    pairs = await read_form_multi(request)
    fields = dict(pairs)
    if not csrf_ok(request, fields):
        return error_page(request, session, 403, "error.csrf")
    return FormPost(request, session, fields, pairs, choose_lang(request)[0])


def own_key(value: str) -> str:
    """The form's key if it is one the console made, else a fresh one."""
    if value.startswith("console-") and len(value) <= 80:
        return value
    return form_key()


def mistaken(mistakes: Mapping[str, str], lang: Lang) -> dict[str, str]:
    """A form's mistakes before the rules (field -> glossary key) in the page's words."""
    return {name: text(lang, key) for name, key in mistakes.items()}


def refusal_status(exc: DomainError) -> int:
    """The status of a form shown again after a refusal (422 unless more telling)."""
    return exc.status if exc.status in (403, 404, 409, 422) else 422


def placed(
    exc: DomainError, lang: Lang, place: Mapping[str, str], said: Words = words
) -> tuple[dict[str, str], str, int]:
    """A refusal as the form shows it: the form fields at fault (event field -> form field
    by `place`, the first sentence of each), the sentences of the rest, and the status."""
    errors: dict[str, str] = {}
    unplaced: list[str] = []
    for err in exc.errors:
        name = place.get(err.field or "")
        if name is not None and name not in errors:
            errors[name] = said(err, lang)
        else:
            unplaced.append(said(err, lang))
    return errors, " ".join(unplaced), refusal_status(exc)


async def record(
    post: FormPost,
    build: Callable[[], Submission],
    again: Again,
    *,
    place: Mapping[str, str] | Callable[[], Mapping[str, str]],
    done: str | Callable[[Submission], str],
    said: Words = words,
    more: Callable[[DomainError], dict[str, str]] | None = None,
) -> Response:
    """The rest of every recording form: `build` the submission (its `FormMistakes`: the
    form again, 422), record it through the pipeline with the form's key (a refusal: the
    form again with the rule by its field, `place`), and on success the redirect (303) to
    `done` (or where `done` sends the recorded submission). `again` and `more` (the
    fields a refusal names in the page's own words, over `place`'s) run in the thread pool
    (they read)."""
    try:
        submission = build()
    except FormMistakes as exc:
        return await run_in_threadpool(again, mistaken(exc.mistakes, post.lang), "", 422)
    try:
        await submit(post.request, post.session, submission)
    except DomainError as exc:
        where = place() if callable(place) else place
        errors, unplaced, status = placed(exc, post.lang, where, said)
        if more is not None:
            errors |= await run_in_threadpool(more, exc)
        return await run_in_threadpool(again, errors, unplaced, status)
    return RedirectResponse(done(submission) if callable(done) else done, status_code=303)
