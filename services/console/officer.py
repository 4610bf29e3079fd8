"""The officers' pages (regulator, auditor; an administrator too, who is an officer): cases
and holds, and the reports, under `/app/officer`.

- `/app/officer`: the cases, newest first, filtered open (raised, answered, escalated) or
  resolved or all, and by kind (hold, red flag, dispute).
- `/app/officer/cases/new`: open a case (`case.opened`) on a lot, an actor or a site;
  `?target_kind=lot&target_id=...` fills the target in (a link from elsewhere).
- `/app/officer/cases/{id}`: a case with its history (every entry of the case, read from
  the log), and its forms: resolve (`case.resolved`), escalate (`case.escalated`) and add
  an officer's answer (`case.responded`), as `services.cases.rules` lets officers do.
- `/app/officer/reports`: the figures of the report (`services.reports`: mass balance per
  centre, red flags) for a period the page offers, worded in the page's language, from the
  newest snapshot computed in the background (`services.reports.snapshots`: the report
  reads the whole season, far too slow for a page view). The report's own page
  (`/reports`) takes a bearer token and is English only, so the console shows its figures
  itself rather than linking there.

Every form records through the pipeline as the signed-in staff member with the form's key
as its Idempotency-Key (`kit.submit`); a refusal renders the page again with the rule in
the page's language and nothing recorded.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import date
from typing import Final

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.entry import Entry
from ledger.sql import storage
from services.actors.models import SiteEvent
from services.cases.models import Case
from services.console import forms, kit
from services.console.glossary import TERMS, text
from services.console.pages import page
from services.field_errors import FieldError
from services.i18n import Lang
from services.lots.models import LotEvent
from services.pipeline.service import Submission
from services.reads import read_session
from services.reports import snapshots
from services.roles import OFFICERS
from services.staff.sessions import CurrentSession

router = APIRouter(include_in_schema=False, route_class=kit.ConsoleRoute)

OPEN_STATUSES: Final = ("raised", "responded", "escalated")
STATUS_FILTERS: Final[dict[str, tuple[str, ...]]] = {
    "open": OPEN_STATUSES,
    "resolved": ("resolved",),
    "all": (*OPEN_STATUSES, "resolved"),
}
KINDS: Final = ("hold", "red_flag", "dispute")
TARGET_KINDS: Final = ("lot", "actor", "site")
CATEGORIES: Final = (
    "serious_abuses",
    "armed_groups",
    "security_forces",
    "bribery_misrepresentation",
    "money_laundering",
    "taxes_royalties",
    "capacity_inconsistent",
    "yield_out_of_bounds",
    "suspended_supplier",
    "land_use",
    "other",
)
"""`case.opened`'s categories (schemas.events.CaseOpened), in its order."""
LIST_LIMIT: Final = 100
HISTORY_SCAN: Final = 5_000
"""A case on an actor has no history table: its entries are found by reading the log from
its opening to its last entry, when that span is at most this many entries (else the
opening and the last entry alone are shown)."""
MAX_TARGET_CHARS: Final = 80
MAX_TEXT_CHARS: Final = 4000
"""A form's text is cut here before the pipeline sees it only when absurdly long (the
pipeline's own bounds are smaller and answered with the rule)."""

# The event's fields and the form's field that states each.
OPEN_FIELDS: Final[dict[str, str]] = {
    "body.case": "target_id",
    "body.kind": "kind",
    "body.target.kind": "target_kind",
    "body.target.id": "target_id",
    "body.category": "category",
    "body.description": "description",
}
ACTION_FIELDS: Final[dict[str, str]] = {
    "body.resolution": "resolution",
    "body.to": "to",
    "body.reason": "reason",
    "body.response": "response",
}
# Rules the service words in English only: the console's words for them.
RULE_WORDS: Final[dict[str, str]] = {
    "case-exists": "officer.rule.case_exists",
    "dispute-target": "officer.rule.dispute_target",
    "case-closed": "officer.rule.case_closed",
    "unknown-lot": "officer.rule.unknown_target",
    "unknown-actor": "officer.rule.unknown_target",
    "unknown-site": "officer.rule.unknown_target",
}


# -- reads ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class CaseRow:
    """A case as the list and its page show it."""

    case: str
    kind: str
    target_kind: str
    target_id: str
    category: str
    description: str
    status: str
    raised_by: str
    opened_index: int
    last_index: int
    last_note: str | None


@dataclass(frozen=True)
class Step:
    """One entry of a case's history."""

    index: int
    type: str
    actor: str
    staff: str | None
    occurred_at: str
    note: str


def _row(c: Case) -> CaseRow:
    return CaseRow(
        c.id,
        c.kind,
        c.target_kind,
        c.target_id,
        c.category,
        c.description,
        c.status,
        c.raised_by,
        c.opened_index,
        c.last_index,
        c.last_note,
    )


def list_cases(s: Session, statuses: tuple[str, ...], kind: str | None) -> list[CaseRow]:
    """Up to `LIST_LIMIT` cases in `statuses` (of `kind`), newest first."""
    stmt = select(Case).where(Case.status.in_(statuses))
    if kind is not None:
        stmt = stmt.where(Case.kind == kind)
    stmt = stmt.order_by(Case.opened_index.desc()).limit(LIST_LIMIT)
    return [_row(c) for c in s.scalars(stmt)]


def case_of(s: Session, case_id: str) -> CaseRow | None:
    found = s.get(Case, case_id)
    return None if found is None else _row(found)


def _entries(s: Session, indices: list[int]) -> list[Entry]:
    conn = s.connection()
    out = []
    for index in sorted(set(indices)):
        rows = storage.read_entries(conn, index, index + 1)
        if rows:
            out.append(Entry.from_bytes(rows[0].entry))
    return out


def history(s: Session, case: CaseRow) -> list[Step]:
    """Every entry of the case, oldest first: found through the target's history (a lot's
    or a site's), else by reading the log between its first and last entries."""
    if case.target_kind == "lot":
        indices = list(
            s.scalars(
                select(LotEvent.index).where(
                    LotEvent.lot_id == case.target_id, LotEvent.type.like("case.%")
                )
            )
        )
    elif case.target_kind == "site":
        indices = list(
            s.scalars(
                select(SiteEvent.index).where(
                    SiteEvent.site_id == case.target_id, SiteEvent.type.like("case.%")
                )
            )
        )
    elif case.last_index - case.opened_index <= HISTORY_SCAN:
        indices = list(range(case.opened_index, case.last_index + 1))
    else:
        indices = [case.opened_index, case.last_index]
    indices = [i for i in indices if case.opened_index <= i <= case.last_index]
    steps = []
    for entry in _entries(s, indices):
        body = entry.event.body
        if not entry.event.type.startswith("case.") or body.get("case") != case.case:
            continue
        note = ""
        for key in ("description", "response", "resolution", "reason"):
            if isinstance(body.get(key), str):
                note = str(body[key])
                break
        if entry.event.type == "case.escalated":
            note = f"{body.get('to', '')}: {note}"
        steps.append(
            Step(
                entry.index,
                entry.event.type,
                entry.event.actor,
                entry.event.staff,
                str(body.get("occurred_at", "")),
                note,
            )
        )
    return steps


# -- the officer's guard and words ---------------------------------------------------------


def _refused(request: Request, session: CurrentSession) -> HTMLResponse | None:
    """None for an officer's staff, else the page saying the role may not see this."""
    if session.principal.role in OFFICERS:
        return None
    return kit.error_page(request, session, 403, "error.403")


def _words(err: FieldError, lang: Lang) -> str:
    key = RULE_WORDS.get(err.rule)
    if key is not None:
        return text(lang, key)
    return kit.words(err, lang)


def new_case_id(day: date) -> str:
    """A new case id, unique without asking the database: ``CASE-<yyyymmdd>-<8 hex>``."""
    return f"CASE-{day:%Y%m%d}-{secrets.token_hex(4).upper()}"


def _clip(value: str, limit: int = MAX_TEXT_CHARS) -> str:
    return value.strip()[:limit]


# -- the cases -----------------------------------------------------------------------------


@router.get("/app/officer", response_class=HTMLResponse)
def cases_page(
    request: Request, session: kit.SessionDep, status: str = "open", kind: str = ""
) -> Response:
    """The cases, newest first: open, resolved or all; of one kind or every kind."""
    if (refused := _refused(request, session)) is not None:
        return refused
    status = status if status in STATUS_FILTERS else "open"
    chosen = kind if kind in KINDS else None
    with read_session(request) as s:
        rows = list_cases(s, STATUS_FILTERS[status], chosen)
    chrome, chose = kit.chrome(request, session)
    return page(
        request,
        "officer/cases.html",
        chrome,
        chose_lang=chose,
        rows=rows,
        shown=status,
        kind=chosen or "",
        statuses=tuple(STATUS_FILTERS),
        kinds=KINDS,
        limit=LIST_LIMIT,
        opened=request.query_params.get("opened", "")[:64],
    )


def _blank_case(request: Request) -> dict[str, str]:
    now = kit.local_now(request)
    target_kind = request.query_params.get("target_kind", "lot")
    return {
        "form_key": forms.form_key(),
        "occurred_at": now.isoformat(),
        "case": new_case_id(now.date()),
        "kind": "hold",
        "target_kind": target_kind if target_kind in TARGET_KINDS else "lot",
        "target_id": request.query_params.get("target_id", "")[:MAX_TARGET_CHARS],
        "category": "other",
        "description": "",
    }


def _case_form(
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
        "officer/open.html",
        values,
        errors=errors,
        problem_text=problem_text,
        status=status,
        kinds=KINDS,
        target_kinds=TARGET_KINDS,
        categories=CATEGORIES,
    )


@router.get("/app/officer/cases/new", response_class=HTMLResponse)
def open_form(request: Request, session: kit.SessionDep) -> Response:
    """The form to open a case (a hold by default) on a lot, an actor or a site."""
    if (refused := _refused(request, session)) is not None:
        return refused
    return _case_form(request, session, _blank_case(request))


def _parse_case(values: dict[str, str]) -> dict[str, str]:
    """The form's mistakes before the rules (field -> glossary key)."""
    mistakes: dict[str, str] = {}
    if values["kind"] not in KINDS:
        mistakes["kind"] = "officer.error.choose"
    if values["target_kind"] not in TARGET_KINDS:
        mistakes["target_kind"] = "officer.error.choose"
    if values["category"] not in CATEGORIES:
        mistakes["category"] = "officer.error.choose"
    if not values["target_id"]:
        mistakes["target_id"] = "error.required"
    if not values["description"]:
        mistakes["description"] = "error.required"
    return mistakes


@router.post("/app/officer/cases/new", response_class=HTMLResponse)
async def open_case(request: Request) -> Response:
    """Open the case as the signed-in officer, once per form key."""
    post = await kit.form_post(request, _refused)
    if not isinstance(post, kit.FormPost):
        return post
    blank = _blank_case(request)
    values = {k: post.fields.get(k, blank[k]) for k in blank}
    for key in ("target_id", "description"):
        values[key] = _clip(values[key])
    values["form_key"] = kit.own_key(values["form_key"])
    if not values["case"].startswith("CASE-") or len(values["case"]) > 64:
        values["case"] = blank["case"]

    def build() -> Submission:
        if mistakes := _parse_case(values):
            raise forms.FormMistakes(mistakes)
        body = {
            "occurred_at": values["occurred_at"],
            "case": values["case"],
            "kind": values["kind"],
            "target": {"kind": values["target_kind"], "id": values["target_id"]},
            "category": values["category"],
            "description": values["description"],
        }
        return Submission(type="case.opened", body=body, idempotency_key=values["form_key"])

    def again(errors: dict[str, str], problem_text: str, status: int) -> Response:
        return _case_form(
            request, post.session, values, errors=errors, problem_text=problem_text, status=status
        )

    done = f"/app/officer/cases/{values['case']}?done=opened"
    return await kit.record(post, build, again, place=OPEN_FIELDS, done=done, said=_words)


def _blank_action(request: Request) -> dict[str, str]:
    return {
        "form_key": forms.form_key(),
        "occurred_at": kit.local_now(request).isoformat(),
        "resolution": "",
        "to": "",
        "reason": "",
        "response": "",
    }


def _case_page(
    request: Request,
    session: CurrentSession,
    case_id: str,
    *,
    values: dict[str, str] | None = None,
    action: str = "",
    errors: dict[str, str] | None = None,
    problem_text: str = "",
    status: int = 200,
) -> HTMLResponse:
    with read_session(request) as s:
        found = case_of(s, case_id[:64])
        steps = history(s, found) if found is not None else []
    if found is None:
        return kit.error_page(request, session, 404, "error.404")
    chrome, chose = kit.chrome(request, session)
    done = request.query_params.get("done", "")
    return page(
        request,
        "officer/case.html",
        chrome,
        status=status,
        chose_lang=chose,
        c=found,
        steps=steps,
        form=values or _blank_action(request),
        action=action,
        errors=errors or {},
        problem=bool(errors) or bool(problem_text),
        problem_text=problem_text,
        done=done if done in ("opened", "resolved", "escalated", "responded") else "",
    )


@router.get("/app/officer/cases/{case_id}", response_class=HTMLResponse)
def case_page(request: Request, session: kit.SessionDep, case_id: str) -> Response:
    """A case: what it is about, its history, and what an officer may do next."""
    if (refused := _refused(request, session)) is not None:
        return refused
    return _case_page(request, session, case_id)


ACTIONS: Final[dict[str, tuple[str, tuple[str, ...]]]] = {
    "resolve": ("case.resolved", ("resolution",)),
    "escalate": ("case.escalated", ("to", "reason")),
    "respond": ("case.responded", ("response",)),
}
DONE: Final = {"resolve": "resolved", "escalate": "escalated", "respond": "responded"}
SHORT_FIELDS: Final = frozenset({"to"})


@router.post("/app/officer/cases/{case_id}/{action}", response_class=HTMLResponse)
async def act_on_case(request: Request, case_id: str, action: str) -> Response:
    """Resolve, escalate or answer the case as the signed-in officer, once per form key."""

    def refused(request: Request, session: CurrentSession) -> HTMLResponse | None:
        if (answer := _refused(request, session)) is not None or action in ACTIONS:
            return answer
        return kit.error_page(request, session, 404, "error.404")

    post = await kit.form_post(request, refused)
    if not isinstance(post, kit.FormPost):
        return post
    event_type, names = ACTIONS[action]
    blank = _blank_action(request)
    values = {k: _clip(post.fields.get(k, blank[k])) for k in blank}
    values["form_key"] = kit.own_key(values["form_key"])

    def build() -> Submission:
        if mistakes := {name: "error.required" for name in names if not values[name]}:
            raise forms.FormMistakes(mistakes)
        body: dict[str, object] = {"occurred_at": values["occurred_at"], "case": case_id[:64]}
        body.update({name: values[name] for name in names})
        return Submission(type=event_type, body=body, idempotency_key=values["form_key"])

    def again(errors: dict[str, str], problem_text: str, status: int) -> Response:
        return _case_page(
            request,
            post.session,
            case_id,
            values=values,
            action=action,
            errors=errors,
            problem_text=problem_text,
            status=status,
        )

    done = f"/app/officer/cases/{case_id[:64]}?done={DONE[action]}"
    return await kit.record(post, build, again, place=ACTION_FIELDS, done=done, said=_words)


# -- the reports ---------------------------------------------------------------------------


@router.get("/app/officer/reports", response_class=HTMLResponse)
def reports_page(request: Request, session: kit.SessionDep, period: str = "all") -> Response:
    """The report's figures for a period the page offers (every day, this month, last
    month): the mass balance per centre and the red flags, in the page's language, as the
    newest snapshot computed in the background holds them (`services.reports.snapshots`);
    never computed here. Without a snapshot yet the page says it is being prepared."""
    if (refused := _refused(request, session)) is not None:
        return refused
    choice = period if period in snapshots.CHOICES else "all"
    chosen = snapshots.period_of(choice, kit.local_now(request))
    with read_session(request) as s:
        shown = snapshots.shown(s, snapshots.key(chosen))
    chrome, chose = kit.chrome(request, session)
    computed_at = ""
    if shown is not None:
        computed_at = shown.computed_at.astimezone(kit.LOCAL_TIME).strftime("%Y-%m-%d %H:%M")
    return page(
        request,
        "officer/reports.html",
        chrome,
        chose_lang=chose,
        choice=choice,
        choices=snapshots.CHOICES,
        days=chosen,
        snapshot=shown,
        computed_at=computed_at,
        known={k for k in TERMS if k.startswith("officer.flag.")},
    )
