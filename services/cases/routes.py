"""`/cases`: holds, red flags and disputes, readable by case officers and parties."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from sqlalchemy import select

from schemas.cases import CaseOut, CasesOut, CaseTargetOut
from services.cases.models import Case
from services.cases.service import is_party
from services.identity.auth import PrincipalDep, hidden
from services.reads import read_session

router = APIRouter(tags=["cases"])


def case_view(case: Case) -> CaseOut:
    """A case as its parties and the case officers read it."""
    return CaseOut(
        case=case.id,
        kind=case.kind,
        target=CaseTargetOut(kind=case.target_kind, id=case.target_id),
        category=case.category,
        description=case.description,
        status=case.status,
        raised_by=case.raised_by,
        opened_index=case.opened_index,
        last_index=case.last_index,
        last_note=case.last_note,
    )


@router.get("/cases/{case_id}", summary="A hold, red flag or dispute")
def get_case(case_id: str, principal: PrincipalDep, request: Request) -> CaseOut:
    with read_session(request) as s:
        case = s.get(Case, case_id)
        # absent and not-yours answer alike, so a stranger cannot probe case ids
        if case is None or not is_party(s, case, principal.actor_id, principal.role):
            raise hidden("case", "case_id")
        return case_view(case)


@router.get("/cases", summary="Cases, newest first (case officers: all; others: their own)")
def list_cases(
    principal: PrincipalDep,
    request: Request,
    target_kind: Literal["lot", "actor", "site"] | None = None,
    target_id: Annotated[str | None, Query(max_length=80)] = None,
    status: Literal["raised", "responded", "resolved", "escalated"] | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> CasesOut:
    with read_session(request) as s:
        stmt = select(Case).order_by(Case.opened_index.desc())
        if target_kind is not None:
            stmt = stmt.where(Case.target_kind == target_kind)
        if target_id is not None:
            stmt = stmt.where(Case.target_id == target_id)
        if status is not None:
            stmt = stmt.where(Case.status == status)
        found: list[CaseOut] = []
        for case in s.scalars(stmt.limit(limit * 4)):
            if is_party(s, case, principal.actor_id, principal.role):
                found.append(case_view(case))
            if len(found) >= limit:
                break
        return CasesOut(cases=found)
