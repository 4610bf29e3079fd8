"""Projectors of cases and corrections, and `PROJECTORS`, the list the domain's `Rules`
takes (`services.cases.rules.rules`). A case about a site is also written into the site's
history; a case about a lot into the lot's by the lots domain (its projector of the same
event types, `services.lots.projectors`), so this domain never writes lots' tables."""

from __future__ import annotations

from typing import Final

from sqlalchemy.orm import Session

from services.actors.models import SiteEvent
from services.cases.models import Case, Correction
from services.pipeline import Applied, Projector

# --- opening -----------------------------------------------------------------------------


def _note_on_site(s: Session, case: Case, e: Applied) -> None:
    """A case about a site belongs to its history (one about a lot: see the module)."""
    if case.target_kind == "site":
        s.add(SiteEvent(site_id=case.target_id, index=e.index, type=e.type))


def _project_case_opened(s: Session, e: Applied) -> None:
    b = e.body
    case = Case(
        id=b["case"],
        kind=b["kind"],
        target_kind=b["target"]["kind"],
        target_id=b["target"]["id"],
        category=b["category"],
        description=b["description"],
        status="raised",
        raised_by=e.actor,
        opened_index=e.index,
        last_index=e.index,
        last_note=None,
    )
    s.add(case)
    _note_on_site(s, case, e)


# --- the lifecycle -----------------------------------------------------------------------


def _move(s: Session, e: Applied, status: str, note: str) -> None:
    case = s.get(Case, e.body["case"])
    assert case is not None
    case.status = status
    case.last_index = e.index
    case.last_note = note
    _note_on_site(s, case, e)


def _project_responded(s: Session, e: Applied) -> None:
    _move(s, e, "responded", e.body["response"])


def _project_resolved(s: Session, e: Applied) -> None:
    _move(s, e, "resolved", e.body["resolution"])


def _project_escalated(s: Session, e: Applied) -> None:
    _move(s, e, "escalated", f"to {e.body['to']}: {e.body['reason']}")


# --- corrections -------------------------------------------------------------------------


def _project_correction(s: Session, e: Applied) -> None:
    s.add(
        Correction(
            index=e.index,
            corrects=e.body["corrects"],
            reason=e.body["reason"],
            by=e.actor,
        )
    )


# Every event type of this domain and its projector, in the order of the rules.
PROJECTORS: Final[dict[str, Projector]] = {
    "case.opened": _project_case_opened,
    "case.responded": _project_responded,
    "case.resolved": _project_resolved,
    "case.escalated": _project_escalated,
    "correction.recorded": _project_correction,
}
