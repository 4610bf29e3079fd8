"""`/log/cosignatures` and `/log/witnesses`: witnesses hand in cosignatures; anyone reads
who the registered witnesses are. No bearer token: a witness is known by its signature."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from ledger.errors import MalformedInput
from ledger.sql import storage
from schemas.log import Problem
from schemas.witnesses import CosignatureOut, CosignaturesOut, WitnessesOut, WitnessOut
from services.clock import utc_now
from services.deps import LogDep, ReadLogDep
from services.witnesses import queries
from services.witnesses.cosignatures import MAX_SUBMISSION_BYTES, accept_cosignatures

router = APIRouter(prefix="/log", tags=["log (auditors)"])

_EXAMPLE_SUBMISSION = (
    "altan.localhost/ledger\n8\n0VViYuth2j9+JO2EsahQEk0Wx69RMHJFvhp8AV+Wmy8=\n\n"
    "\u2014 witness.example.mn/w1 k7mOmAAAAABqEiEg...base64 of key id, 8-byte time, "
    "64-byte Ed25519 signature...\n"
)


async def _body(request: Request) -> bytes:
    """The request body, read no further than MAX_SUBMISSION_BYTES."""
    data = bytearray()
    async for chunk in request.stream():
        data += chunk
        if len(data) > MAX_SUBMISSION_BYTES:
            raise MalformedInput(
                f"cosignatures: expected at most {MAX_SUBMISSION_BYTES} bytes", field="body"
            )
    return bytes(data)


@router.post(
    "/cosignatures",
    status_code=201,
    response_model=CosignaturesOut,
    summary="Hand in witness cosignatures of a checkpoint this log published",
    responses={
        200: {"model": CosignaturesOut, "description": "Already kept: nothing new stored"},
        400: {"model": Problem, "description": "Not a signed checkpoint note, or too large"},
        403: {"model": Problem, "description": "No line by a registered, active witness"},
        409: {"model": Problem, "description": "Not a checkpoint this log published"},
        422: {"model": Problem, "description": "A witness's cosignature does not verify"},
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"text/plain": {"example": _EXAMPLE_SUBMISSION}},
        }
    },
)
async def post_cosignatures(request: Request, log: LogDep) -> JSONResponse:
    """The body (`text/plain`, at most 16 KiB) is the cosigned checkpoint as a C2SP signed
    note: the checkpoint text exactly as `/log/checkpoint` served it, a blank line, and
    signature lines, among them one `cosignature/v1` line (c2sp.org/tlog-cosignature:
    `— <name> base64(key id || 8-byte big-endian time || Ed25519 signature)`) per witness.
    Lines by keys that are not registered witnesses (the log's own) are ignored.

    Accepted when every line by a registered, active witness verifies over that text and
    the text is exactly the checkpoint this log published at that tree size; the
    cosignatures are then kept (idempotently) and shown with that checkpoint by
    `GET /log/checkpoint` while it is the latest."""
    text = await _body(request)
    size, accepted = await run_in_threadpool(accept_cosignatures, log.engine, text, utc_now())
    out = CosignaturesOut(
        tree_size=size,
        cosignatures=[
            CosignatureOut(
                witness=a.witness, key_id=a.key_id, timestamp=a.timestamp, stored=a.stored
            )
            for a in accepted
        ],
    )
    status = 201 if any(a.stored for a in accepted) else 200
    return JSONResponse(out.model_dump(mode="json"), status_code=status)


@router.get(
    "/witnesses",
    response_model=WitnessesOut,
    summary="Witness keys registered through the log, removed ones included",
)
def get_witnesses(log: ReadLogDep) -> WitnessesOut:
    """Every witness key the log was told about by `witness.registered` entries, with its
    status. Pin the keys you trust out of band; this list only says whom the log accepts."""
    with storage.read_transaction(log.engine) as conn:
        rows = queries.all_witnesses(Session(bind=conn))
        return WitnessesOut(
            witnesses=[
                WitnessOut(
                    name=w.name,
                    key_id=w.key_id,
                    vkey=w.vkey,
                    status="active" if w.status == "active" else "removed",
                    registered_index=w.registered_index,
                    removed_index=w.removed_index,
                    removed_reason=w.removed_reason,
                )
                for w in rows
            ]
        )
