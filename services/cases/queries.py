"""Reads of cases: who is a party to a case (and so may read it and answer it), and a
case as its parties and the case officers read it.

A case's target (a lot, an actor, a site) belongs to another domain, which this one does
not import (lots sit above cases): each kind of target comes with a function telling
whether the target exists and who answers for it (`Targets`), given explicitly where the
domain is built (`services.cases.domain.domain`, called in services/domains.py)."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from sqlalchemy import select
from sqlalchemy.orm import Session

from schemas.cases import CaseOut, CaseTargetOut
from services.cases.models import Case
from services.roles import OFFICERS

Parties = Callable[[Session, str], set[str] | None]
"""The actors who answer for a target of one kind, given its id (a lot: its custodian and
owner; an actor: itself; a site: its owner); None if there is no such target."""

Targets = Mapping[str, Parties]
"""Each kind of case target (`lot`, `actor`, `site`) and its `Parties`."""


def is_party(session: Session, targets: Targets, case: Case, actor_id: str, role: str) -> bool:
    """Whether an actor may speak in a case: case officers always; otherwise whoever
    answers for its target (`Targets`): the target actor itself, the custodian or owner
    of a target lot, or the owner of a target site."""
    if role in OFFICERS:
        return True
    parties = targets[case.target_kind](session, case.target_id)
    return parties is not None and actor_id in parties


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


def readable_case(
    session: Session, targets: Targets, case_id: str, actor_id: str, role: str
) -> CaseOut | None:
    """The case, if the actor is a party to it (see `is_party`); None otherwise, absent or
    not: the caller answers both alike."""
    case = session.get(Case, case_id)
    if case is None or not is_party(session, targets, case, actor_id, role):
        return None
    return case_view(case)


def cases_of(
    session: Session,
    targets: Targets,
    actor_id: str,
    role: str,
    *,
    target_kind: str | None,
    target_id: str | None,
    status: str | None,
    limit: int,
) -> list[CaseOut]:
    """Up to `limit` cases the actor is a party to, newest first, filtered by target and
    status (case officers: all; others: their own)."""
    stmt = select(Case).order_by(Case.opened_index.desc())
    if target_kind is not None:
        stmt = stmt.where(Case.target_kind == target_kind)
    if target_id is not None:
        stmt = stmt.where(Case.target_id == target_id)
    if status is not None:
        stmt = stmt.where(Case.status == status)
    found: list[CaseOut] = []
    for case in session.scalars(stmt.limit(limit * 4)):
        if is_party(session, targets, case, actor_id, role):
            found.append(case_view(case))
        if len(found) >= limit:
            break
    return found
