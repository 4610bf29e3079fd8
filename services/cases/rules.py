"""Rules of cases (holds, red flags, disputes) and corrections, and `rules(targets)`, the
domain's `Rules` (its projectors are in `services.cases.projectors`, its reads in
`services.cases.queries`).

A case is opened on a lot, an actor or a site and then runs a short lifecycle:

    raised -> responded -> resolved | escalated;   escalated -> responded | resolved

More loosely: any state but `resolved` may be responded to (again), escalated (again, to a
higher body) or resolved (a hold raised in error is lifted without waiting for an answer);
`resolved` is final. A hold blocks trade while it is not resolved (the lots rules ask
`services.lots.queries.active_holds`); a red flag only warns; a dispute is over a site.
Red flags are raised by auditors, regulators and administrators, and by the system itself
as derived events (`derive_red_flag`) that never pass through a handler, so the projector
(`services.cases.projectors`) takes its entry as it comes.

Whether a target exists and who answers for it is asked of its own domain through
`targets` (`services.cases.queries.Targets`, given in services/domains.py): the lots
domain sits above this one, so this one does not import it.

A correction declares an earlier entry mistaken and may name the entries that replace it;
nothing is ever edited.

Rule slugs (the `rule` of the error), besides NotFound `unknown-lot|actor|site|case`:

    Conflict       case-exists
    Forbidden      not-a-party, not-own-entry
    NotFound       unknown-entry
    RuleViolation  reserved-case-id, dispute-target, case-closed, actor-not-active (revoked
                   actors may not respond), correction-of-correction, entry-not-yet-recorded,
                   replacement-not-later, duplicate-replacement
"""

from __future__ import annotations

from functools import partial

from ledger.entry import Entry
from ledger.sql import storage
from schemas.events import (
    CaseEscalated,
    CaseOpened,
    CaseResolved,
    CaseResponded,
    CorrectionRecorded,
)
from services.actors.models import Actor
from services.cases.models import Case
from services.cases.projectors import PROJECTORS
from services.cases.queries import Targets, is_party
from services.errors import Conflict, Forbidden, NotFound, RuleViolation
from services.pipeline import Context, Rules, lookup
from services.roles import OFFICERS, ROLES

SYSTEM_CASE_PREFIX = "auto:"


# --- opening -----------------------------------------------------------------------------


def _open_case(targets: Targets, ctx: Context, body: CaseOpened) -> None:
    if body.case.startswith(SYSTEM_CASE_PREFIX):
        raise RuleViolation(
            "reserved-case-id",
            f"case ids starting with {SYSTEM_CASE_PREFIX!r} are given by the system",
            field="body.case",
        )
    if ctx.session.get(Case, body.case) is not None:
        raise Conflict("case-exists", f"case {body.case} is already open", field="body.case")
    if body.kind == "dispute" and body.target.kind != "site":
        raise RuleViolation(
            "dispute-target",
            f"a dispute is over a site, not a {body.target.kind}",
            field="body.target.kind",
        )
    kind, target_id = body.target.kind, body.target.id
    if targets[kind](ctx.session, target_id) is None:
        raise NotFound(f"unknown-{kind}", f"no {kind} {target_id!r}", field="body.target.id")


def derive_red_flag(
    ctx: Context,
    *,
    target_kind: str,
    target_id: str,
    category: str,
    description: str,
    occurred_at: str,
) -> str:
    """Have the system raise a red flag as a consequence of the event being decided.

    The flag is a derived `case.opened` entry recorded right after its cause, by the system
    actor; its case id is `auto:<its ledger index>`, so it is unique and known at once.
    The caller vouches that the target exists once its own event is projected (a lot the
    event creates is fine). Returns the case id.
    """
    index = ctx.next_index + 1 + len(ctx.derived)
    body = CaseOpened.model_validate(
        {
            "occurred_at": occurred_at,
            "case": f"{SYSTEM_CASE_PREFIX}{index}",
            "kind": "red_flag",
            "target": {"kind": target_kind, "id": target_id},
            "category": category,
            "description": description,
        }
    )
    ctx.derive("case.opened", body.model_dump(exclude_defaults=True))
    return body.case


# --- the lifecycle -----------------------------------------------------------------------


def _open_case_row(ctx: Context, case_id: str) -> Case:
    case: Case = lookup(ctx.session, Case, case_id, "case", "body.case")
    if case.status == "resolved":
        raise RuleViolation(
            "case-closed", f"case {case_id} is resolved for good", field="body.case"
        )
    return case


def _respond(targets: Targets, ctx: Context, body: CaseResponded) -> None:
    # Suspended actors pass the pipeline here (they must be able to answer a hold against
    # them); revoked ones do not.
    actor = ctx.session.get(Actor, ctx.principal.actor_id)
    if actor is not None and actor.status == "revoked":
        raise RuleViolation(
            "actor-not-active",
            f"{actor.id} is revoked ({actor.status_reason}) and cannot record case.responded",
        )
    case = _open_case_row(ctx, body.case)
    if not is_party(ctx.session, targets, case, ctx.principal.actor_id, ctx.principal.role):
        raise Forbidden(
            "not-a-party",
            f"{ctx.principal.actor_id} is not a party to case {body.case}",
            field="body.case",
        )


def _resolve(ctx: Context, body: CaseResolved) -> None:
    _open_case_row(ctx, body.case)


def _escalate(ctx: Context, body: CaseEscalated) -> None:
    _open_case_row(ctx, body.case)


# --- corrections -------------------------------------------------------------------------


def _recorded_entry(ctx: Context, index: int) -> Entry:
    """The entry at `index`, which must be in the log already."""
    if index >= ctx.next_index:
        raise NotFound(
            "unknown-entry",
            f"no entry {index}: the log will hold {ctx.next_index} entries before this one",
            field="body.corrects",
        )
    rows = storage.read_entries(ctx.session.connection(), index, index + 1)
    if not rows:
        raise RuleViolation(
            "entry-not-yet-recorded",
            f"entry {index} is in this same batch; correct it in a later request",
            field="body.corrects",
        )
    return Entry.from_bytes(rows[0].entry)


def _correct(ctx: Context, body: CorrectionRecorded) -> None:
    entry = _recorded_entry(ctx, body.corrects)
    if entry.event.type == "correction.recorded":
        raise RuleViolation(
            "correction-of-correction",
            f"entry {body.corrects} is itself a correction; correct entry "
            f"{entry.event.body.get('corrects')} again instead",
            field="body.corrects",
        )
    if ctx.principal.role not in OFFICERS and entry.event.actor != ctx.principal.actor_id:
        raise Forbidden(
            "not-own-entry",
            f"entry {body.corrects} was recorded by {entry.event.actor}; an actor corrects "
            "only its own entries",
            field="body.corrects",
        )
    seen: set[int] = set()
    for i, index in enumerate(body.replaced_by):
        where = f"body.replaced_by.{i}"
        if index >= ctx.next_index:
            raise NotFound("unknown-entry", f"no entry {index} yet", field=where)
        if index <= body.corrects:
            raise RuleViolation(
                "replacement-not-later",
                f"entry {index} cannot replace entry {body.corrects}: a replacement comes later",
                field=where,
            )
        if index in seen:
            raise RuleViolation(
                "duplicate-replacement", f"entry {index} is listed twice", field=where
            )
        seen.add(index)


# --- the domain's rules ------------------------------------------------------------------


def rules(targets: Targets) -> Rules:
    """This domain's `Rules`: the rules of each of its event types (above) and their
    projectors; `targets` tells whether a case's target exists and who answers for it
    (services/domains.py gives it, from the domains that own lots, actors and sites)."""
    rules = Rules(projectors=dict(PROJECTORS))
    rules.handles("case.opened", CaseOpened, OFFICERS)(partial(_open_case, targets))
    rules.handles("case.responded", CaseResponded, ROLES, allowed_when_suspended=True)(
        partial(_respond, targets)
    )  # suspended actors answer a hold against them
    rules.handles("case.resolved", CaseResolved, OFFICERS)(_resolve)
    rules.handles("case.escalated", CaseEscalated, OFFICERS)(_escalate)
    rules.handles("correction.recorded", CorrectionRecorded, ROLES)(_correct)
    return rules
