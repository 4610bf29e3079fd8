"""`/cases`: holds, red flags and disputes, readable by case officers and parties (who they
are depends on the case's target: `targets`, given where the domain is built)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request

from schemas.cases import CaseOut, CasesOut
from services.cases import queries
from services.cases.queries import Targets
from services.identity.auth import PrincipalDep, hidden
from services.reads import read_session


def router(targets: Targets) -> APIRouter:
    """The routes of cases, finding each case's parties with `targets`."""
    router = APIRouter(tags=["cases"])

    @router.get("/cases/{case_id}", summary="A hold, red flag or dispute")
    def get_case(case_id: str, principal: PrincipalDep, request: Request) -> CaseOut:
        with read_session(request) as s:
            case = queries.readable_case(s, targets, case_id, principal.actor_id, principal.role)
            # absent and not-yours answer alike, so a stranger cannot probe case ids
            if case is None:
                raise hidden("case", "case_id")
            return case

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
            found = queries.cases_of(
                s,
                targets,
                principal.actor_id,
                principal.role,
                target_kind=target_kind,
                target_id=target_id,
                status=status,
                limit=limit,
            )
            return CasesOut(cases=found)

    return router
