"""A laboratory's pages under `/app/lab`: the gold lots waiting for an assay, and the form
that records one (`assay.recorded`: fineness in parts per thousand, method, sample id).

Who may assay what is the rule of `assay.recorded` (services/lots/rules.py): a laboratory
may assay any active gold lot (labs neither hold nor are offered lots), so the lots waiting
are the active gold lots whose fineness is not yet recorded. The assay is recorded through
the pipeline as the signed-in staff member, once per rendered form (its key is the
Idempotency-Key); a refusal renders the form again with the rule in the page's language and
the field marked, and nothing is recorded.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from services.console import forms, kit
from services.console.glossary import text
from services.console.pages import choose_lang, page
from services.lots.models import AWAITING_ASSAY, Lot
from services.pipeline.service import Submission
from services.reads import read_session
from services.roles import LABORATORY
from services.staff.sessions import CurrentSession

router = APIRouter(include_in_schema=False, route_class=kit.ConsoleRoute)

METHODS: Final = ("fire_assay", "xrf", "icp", "other")
"""The assay methods `assay.recorded` knows (schemas.events.AssayRecorded)."""
WAITING_SIZE: Final = 100
_OBJECT_ID: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")
# The event's fields (as the pipeline names them) and the form's field that states each.
ASSAY_FIELDS: Final[dict[str, str]] = {
    "body.lot": "lot",
    "body.fineness_ppt": "fineness",
    "body.method": "method",
    "body.sample": "sample",
}


@dataclass(frozen=True)
class WaitingLot:
    """An active gold lot with no fineness recorded yet."""

    lot: str
    form: str
    unit: str
    remaining: int
    custodian: str
    occurred_at: str


@dataclass(frozen=True)
class AssayForm:
    """An assay as the form states it, ready to become an `assay.recorded` body."""

    lot: str
    fineness_ppt: int
    method: str
    sample: str | None

    def body(self, occurred_at: str) -> dict[str, object]:
        out: dict[str, object] = {
            "occurred_at": occurred_at,
            "lot": self.lot,
            "fineness_ppt": self.fineness_ppt,
            "method": self.method,
        }
        if self.sample:
            out["sample"] = self.sample
        return out


def parse_assay(fields: dict[str, str]) -> AssayForm:
    """An assay from the form's fields, or FormMistakes naming every field at fault."""
    mistakes: dict[str, str] = {}
    lot = fields.get("lot", "").strip()
    if not _OBJECT_ID.match(lot):
        mistakes["lot"] = "error.lot_pick"
    fineness = fields.get("fineness", "").strip().replace("\u2030", "").strip()
    value = int(fineness) if fineness.isascii() and fineness.isdigit() else 0
    if not 1 <= value <= 1000:
        mistakes["fineness"] = "error.fineness"
    method = fields.get("method", "")
    if method not in METHODS:
        mistakes["method"] = "error.method"
    sample = fields.get("sample", "").strip()
    if sample and not _OBJECT_ID.match(sample):
        mistakes["sample"] = "error.sample"
    if mistakes:
        raise forms.FormMistakes(mistakes)
    return AssayForm(lot, value, method, sample or None)


def waiting(s: Session) -> list[WaitingLot]:
    """Active gold lots with no fineness recorded, newest first."""
    stmt = (
        select(Lot)
        .where(AWAITING_ASSAY)  # the partial index ix_lots_awaiting_assay's own words
        .order_by(Lot.created_index.desc(), Lot.id.desc())
        .limit(WAITING_SIZE)
    )
    return [
        WaitingLot(lot.id, lot.form, lot.unit, lot.remaining, lot.custodian_id, lot.created_at)
        for lot in s.scalars(stmt)
    ]


def _refused(request: Request, session: CurrentSession) -> HTMLResponse | None:
    return kit.role_refused(request, session, LABORATORY)


@router.get("/app/lab", response_class=HTMLResponse)
def waiting_lots(request: Request, session: kit.SessionDep, recorded: str = "") -> Response:
    """The gold lots waiting for an assay, each with a link to record one."""
    if (refused := _refused(request, session)) is not None:
        return refused
    lang, _ = choose_lang(request)
    notice = ""
    if recorded:
        lot_id, _, fineness = recorded[:80].partition("|")
        notice = text(lang, "assay.recorded", lot=lot_id, fineness=fineness)
    with read_session(request) as s:
        rows = waiting(s)
    chrome, chose = kit.chrome(request, session)
    return page(request, "lab/waiting.html", chrome, chose_lang=chose, rows=rows, notice=notice)


def _blank(request: Request, lot: str = "") -> dict[str, str]:
    return {
        "form_key": forms.form_key(),
        "occurred_at": kit.local_now(request).isoformat(),
        "lot": lot[:64],
        "fineness": "",
        "method": "fire_assay",
        "sample": "",
    }


def _assay_page(
    request: Request,
    session: CurrentSession,
    values: dict[str, str],
    *,
    errors: dict[str, str] | None = None,
    problem_text: str = "",
    status: int = 200,
) -> HTMLResponse:
    with read_session(request) as s:
        rows = waiting(s)
    return kit.form_page(
        request,
        session,
        "lab/assay.html",
        values,
        errors=errors,
        problem_text=problem_text,
        status=status,
        rows=rows,
        methods=METHODS,
    )


@router.get("/app/lab/assay", response_class=HTMLResponse)
def assay_form(request: Request, session: kit.SessionDep, lot: str = "") -> Response:
    """The form to record an assay (of `lot`, when chosen from the list)."""
    if (refused := _refused(request, session)) is not None:
        return refused
    return _assay_page(request, session, _blank(request, lot))


@router.post("/app/lab/assay", response_class=HTMLResponse)
async def record_assay(request: Request) -> Response:
    """Record the assay as the signed-in staff member, once per form key."""
    post = await kit.form_post(request, _refused)
    if not isinstance(post, kit.FormPost):
        return post
    blank = _blank(request)
    values = {k: post.fields.get(k, blank[k])[:200] for k in blank}
    values["form_key"] = kit.own_key(values["form_key"])

    def build() -> Submission:
        body = parse_assay(post.fields).body(values["occurred_at"])
        return Submission(type="assay.recorded", body=body, idempotency_key=values["form_key"])

    def again(errors: dict[str, str], problem_text: str, status: int) -> Response:
        return _assay_page(
            request, post.session, values, errors=errors, problem_text=problem_text, status=status
        )

    def done(recorded: Submission) -> str:
        return "/app/lab?recorded=" + quote(
            f"{recorded.body['lot']}|{recorded.body['fineness_ppt']}"
        )

    return await kit.record(post, build, again, place=ASSAY_FIELDS, done=done)
