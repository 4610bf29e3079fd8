"""`/log/*`: what an auditor needs to verify the log without trusting the server."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response
from fastapi.responses import PlainTextResponse

from ledger.encoding import b64encode
from ledger.errors import OutOfRange
from ledger.note import NoteVerifier
from schemas.log import (
    ConsistencyProofOut,
    InclusionProofOut,
    LogEntriesOut,
    LogEntryOut,
    LogKeyOut,
    LogKeysOut,
    Problem,
)
from services.deps import LogDep, SettingsDep

router = APIRouter(prefix="/log", tags=["log (auditors)"])

_PROBLEMS: dict[int | str, dict[str, object]] = {
    400: {"model": Problem, "description": "Parameters out of range"},
    422: {"model": Problem, "description": "Parameters missing or not integers"},
}
# Anything below a signed tree size never changes: let caches keep it.
_IMMUTABLE = "public, max-age=31536000, immutable"


@router.get(
    "/checkpoint",
    response_class=PlainTextResponse,
    summary="The latest signed checkpoint (C2SP tlog-checkpoint in a C2SP signed note)",
    responses={
        200: {
            "content": {
                "text/plain": {
                    "example": "altan.localhost/ledger\n300\nq0v...=\n\n"
                    "— altan.localhost/ledger PkY...=\n"
                }
            }
        }
    },
)
def get_checkpoint(log: LogDep) -> PlainTextResponse:
    return PlainTextResponse(
        log.checkpoint().note,
        media_type="text/plain; charset=utf-8",
        headers={"Cache-Control": "no-cache"},
    )


@router.get("/keys", response_model=LogKeysOut, summary="Every log public key, retired included")
def get_keys(log: LogDep) -> LogKeysOut:
    return LogKeysOut(
        keys=[
            LogKeyOut(
                key_id=k.key_id,
                verifier_key=NoteVerifier(k.name, bytes.fromhex(k.key_id), k.public_key).vkey,
                public_key=b64encode(k.public_key),
                status="active" if k.status == "active" else "retired",
                not_before=k.not_before,
                not_after=k.not_after,
            )
            for k in log.public_keys()
        ]
    )


@router.get(
    "/entries",
    response_model=LogEntriesOut,
    responses=_PROBLEMS,
    summary="Entries start <= i < end with their receipts (the server may return fewer)",
)
def get_entries(
    log: LogDep,
    settings: SettingsDep,
    response: Response,
    start: Annotated[int, Query(ge=0, le=2**62, examples=[0])],
    end: Annotated[int, Query(ge=1, le=2**62, examples=[100])],
) -> LogEntriesOut:
    if end <= start:
        raise OutOfRange(
            f"end must be greater than start, got start={start} end={end}", field="end"
        )
    rows = log.entries(start, end, settings.entries_page_max)
    if rows and rows[-1].index + 1 == end:
        response.headers["Cache-Control"] = _IMMUTABLE
    return LogEntriesOut(
        entries=[
            LogEntryOut(
                index=r.index,
                entry=b64encode(r.entry),
                leaf_hash=b64encode(r.leaf_hash),
                key_id=r.key_id,
                signature=b64encode(r.signature),
            )
            for r in rows
        ]
    )


@router.get(
    "/proof/inclusion",
    response_model=InclusionProofOut,
    responses=_PROBLEMS,
    summary="RFC 9162 inclusion proof of entry `index` in the tree of size `tree_size`",
)
def get_inclusion_proof(
    log: LogDep,
    response: Response,
    index: Annotated[int, Query(ge=0, le=2**62, examples=[3])],
    tree_size: Annotated[int, Query(ge=1, le=2**62, examples=[8])],
) -> InclusionProofOut:
    hashes = log.inclusion_proof(index, tree_size)
    response.headers["Cache-Control"] = _IMMUTABLE
    return InclusionProofOut(
        index=index, tree_size=tree_size, hashes=[b64encode(h) for h in hashes]
    )


@router.get(
    "/proof/consistency",
    response_model=ConsistencyProofOut,
    responses=_PROBLEMS,
    summary="RFC 9162 consistency proof between tree sizes `first` and `second`",
)
def get_consistency_proof(
    log: LogDep,
    response: Response,
    first: Annotated[int, Query(ge=1, le=2**62, examples=[4])],
    second: Annotated[int, Query(ge=1, le=2**62, examples=[8])],
) -> ConsistencyProofOut:
    hashes = log.consistency_proof(first, second)
    response.headers["Cache-Control"] = _IMMUTABLE
    return ConsistencyProofOut(first=first, second=second, hashes=[b64encode(h) for h in hashes])
