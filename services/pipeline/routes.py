"""`/events`: record supply-chain events, one at a time or in batches."""

from __future__ import annotations

import asyncio
from typing import Annotated, cast

from fastapi import APIRouter, Header, Request
from fastapi.responses import JSONResponse

from schemas.api import (
    PROBLEM_BASE,
    BatchIn,
    BatchItemOut,
    BatchOut,
    EventIn,
    ItemProblem,
    RecordedOut,
)
from schemas.event_contract import openapi_examples
from schemas.log import Problem
from schemas.types import Identifier
from services.bodies import StrictJSONRoute
from services.errors import Conflict, DomainError, RuleViolation
from services.i18n import Lang
from services.identity.auth import PrincipalDep, bearer_token
from services.pipeline.committer import EventCommitter
from services.pipeline.service import EventService, Recorded, Submission, decode_signature
from services.problems import domain_problem_document, language

# Bodies parsed strictly (services.bodies): no duplicate keys, UTF-8 only, bounded depth.
router = APIRouter(tags=["events"], route_class=StrictJSONRoute)

_PROBLEMS: dict[int | str, dict[str, object]] = {
    code: {"model": Problem, "description": text}
    for code, text in {
        401: "No or bad bearer token",
        403: "The actor's role or relationship does not allow this",
        404: "An id in the body does not exist",
        409: "An id is already taken, or the Idempotency-Key was used with another body",
        422: "The body breaks a rule (field and rule named); nothing was recorded",
    }.items()
}


def _service(request: Request) -> EventService:
    return cast(EventService, request.app.state.events)


def _submission(item: EventIn, idempotency_key: str | None) -> Submission:
    signature = None
    if item.signature is not None:
        signature = decode_signature(item.signature.key_id, item.signature.signature)
    return Submission(
        type=item.type,
        body=item.body,
        private=item.private,
        signature=signature,
        idempotency_key=idempotency_key,
    )


def _out(rec: Recorded) -> RecordedOut:
    return RecordedOut.model_validate(rec.to_json())


@router.post(
    "/events",
    status_code=201,
    response_model=RecordedOut,
    responses=_PROBLEMS,
    summary="Record one event",
    # One named example per event type for /docs; the body's schema (a union discriminated
    # by `type`) is published by services.app, parsing stays EventIn's.
    openapi_extra={
        "requestBody": {"content": {"application/json": {"examples": openapi_examples()}}}
    },
)
async def record_event(
    item: EventIn,
    request: Request,
    idempotency_key: Annotated[
        Identifier | None,
        Header(description="Retries with the same key and body record once"),
    ] = None,
) -> JSONResponse:
    """Check the event against the rules, append it to the log and return the receipt.

    The body is logged exactly as sent. A retry with the same `Idempotency-Key` and body
    returns the first receipt (200) and appends nothing.
    """
    committer: EventCommitter = request.app.state.committer
    # The token is checked inside the batch's transaction, not in a transaction of its own;
    # the request waits for its batch without holding a worker thread.
    future = committer.submit_nowait(bearer_token(request), _submission(item, idempotency_key))
    rec = await asyncio.wrap_future(future)
    # The receipt is built by our own code: answered as is, without a second validation
    # by the response model (which stays declared for the OpenAPI document).
    if rec.replayed:
        return JSONResponse(rec.to_json(), headers={"Idempotent-Replayed": "true"})
    return JSONResponse(rec.to_json(), status_code=201)


@router.post(
    "/events/batch",
    response_model=BatchOut,
    responses=_PROBLEMS,
    summary="Record many events in one request (a centre syncing after days offline)",
)
def record_batch(batch: BatchIn, principal: PrincipalDep, request: Request) -> BatchOut:
    """Each item gets its own result. Valid items are recorded even when others fail,
    unless `atomic` is true: then any failure records nothing at all, and the answer is a
    422 problem (`batch-failed`) listing every failing item's mistakes in `errors` and
    every item's result in `results`. Items carry their own `idempotency_key`."""
    lang = language(request)
    service = _service(request)
    if len(batch.items) > service.settings.batch_max_items:
        raise RuleViolation(
            "batch-too-large",
            f"at most {service.settings.batch_max_items} items per batch",
            field="items",
        )
    items = []
    early: dict[int, DomainError] = {}
    repeats: dict[int, int] = {}  # item -> the earlier item of the batch it repeats
    first_with_key: dict[str, tuple[int, str]] = {}
    for i, item in enumerate(batch.items):
        try:
            sub = _submission(item, item.idempotency_key)
            if sub.idempotency_key is not None:
                seen, asked = first_with_key.get(sub.idempotency_key), _request_hash(sub)
                if seen is None:
                    first_with_key[sub.idempotency_key] = (i, asked)
                elif asked and seen[1] == asked:
                    repeats[i] = seen[0]  # a retry inside the batch: the first's answer
                    continue
                else:
                    raise Conflict(
                        "idempotency-key-reused",
                        f"items {seen[0]} and {i} of this batch have the same "
                        "idempotency_key with different requests",
                        field=f"items.{i}.idempotency_key",
                    )
            items.append((principal, sub))
        except DomainError as exc:
            early[i] = exc
    if early and batch.atomic:
        # Nothing is submitted (it could commit): the items refused here are listed, the
        # others are not recorded.
        not_checked = RuleViolation(
            "batch-aborted",
            f"not recorded: item {min(early)} failed and the batch is all-or-nothing",
        )
        raise BatchFailed(
            [early.get(i, not_checked) for i in range(len(batch.items))],
            [_problem(early.get(i, not_checked), lang) for i in range(len(batch.items))],
        )
    submitted = service.submit_many(items, atomic=batch.atomic)
    if batch.atomic and any(r.error is not None for r in submitted):
        # Every item then has an error: its own, or `batch-aborted` (not recorded).
        given = iter(submitted)
        errors: list[DomainError] = []
        for i in range(len(batch.items)):
            error = errors[repeats[i]] if i in repeats else next(given).error
            assert error is not None
            errors.append(error)
        raise BatchFailed(errors, [_problem(e, lang) for e in errors])
    results = iter(submitted)
    out: list[BatchItemOut] = []
    for i in range(len(batch.items)):
        if i in early:
            out.append(_problem(early[i], lang))
            continue
        if i in repeats:
            out.append(_repeated(out[repeats[i]]))
            continue
        res = next(results)
        if res.error is not None:
            out.append(_problem(res.error, lang))
        else:
            assert res.recorded is not None
            out.append(BatchItemOut(status=201, recorded=_out(res.recorded)))
    recorded = sum(1 for o in out if o.recorded is not None)
    return BatchOut(recorded=recorded, failed=len(out) - recorded, results=out)


def _request_hash(sub: Submission) -> str:
    """What makes two items with one key the same request ("" when it cannot be hashed:
    the item then fails on its own)."""
    try:
        return sub.request_hash()
    except DomainError:
        return ""


def _repeated(first: BatchItemOut) -> BatchItemOut:
    """The answer to an item that repeats an earlier one of its batch (same key, same
    request): the earlier one's receipt, as a replay (200), or its problem."""
    if first.recorded is None:
        return first
    return BatchItemOut(status=200, recorded=first.recorded)


def _problem(exc: DomainError, lang: Lang) -> BatchItemOut:
    """An item's refusal, worded as the whole request's problems are (in `lang`)."""
    doc = domain_problem_document(exc, lang)
    return BatchItemOut(
        status=exc.status,
        problem=ItemProblem(
            type=PROBLEM_BASE + exc.rule,
            title=doc["title"],
            status=exc.status,
            detail=doc["detail"],
            field=exc.field,
            errors=doc["errors"],
        ),
    )


class BatchFailed(DomainError):
    """An atomic batch with a failing item (422 `batch-failed`): nothing was recorded.
    `errors` lists every mistake of every failing item, under `items.<n>`; the problem's
    `results` member has each item's result as a batch answer has them (`recorded`: 0)."""

    status = 422

    def __init__(self, errors: list[DomainError], results: list[BatchItemOut]) -> None:
        failing = [i for i, e in enumerate(errors) if e.rule != "batch-aborted"]
        listed = [fe.within(f"items.{i}") for i in failing for fe in errors[i].errors]
        super().__init__(
            "batch-failed",
            f"nothing was recorded: item(s) {', '.join(map(str, failing))} of this "
            "all-or-nothing batch failed; fix them and send the batch again",
            field=listed[0].field if listed else "items",
            errors=listed,
        )
        self.members = {
            "recorded": 0,
            "failed": len(results),
            "results": [r.model_dump(mode="json", exclude_none=True) for r in results],
        }
