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
from schemas.log import Problem
from schemas.types import Identifier
from services.auth import PrincipalDep, bearer_token
from services.bodies import StrictJSONRoute
from services.errors import Conflict, DomainError, RuleViolation
from services.events.service import (
    EventCommitter,
    EventService,
    Recorded,
    Submission,
    decode_signature,
)

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
    unless `atomic` is true, when the first failure records nothing at all. Items carry
    their own `idempotency_key`."""
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
        first = min(early)
        raise early[first]
    results = iter(service.submit_many(items, atomic=batch.atomic))
    out: list[BatchItemOut] = []
    for i in range(len(batch.items)):
        if i in early:
            out.append(_problem(early[i]))
            continue
        if i in repeats:
            out.append(_repeated(out[repeats[i]]))
            continue
        res = next(results)
        if res.error is not None:
            out.append(_problem(res.error))
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


def _problem(exc: DomainError) -> BatchItemOut:
    return BatchItemOut(
        status=exc.status,
        problem=ItemProblem(
            type=PROBLEM_BASE + exc.rule,
            title=exc.rule.replace("-", " ").capitalize(),
            status=exc.status,
            detail=exc.detail,
            field=exc.field,
        ),
    )
