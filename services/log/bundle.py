"""`GET /log/proof/bundle`: an entry, its inclusion proof and the signed checkpoint in one
file (c2sp.org/tlog-proof@v1) that `altan verify --bundle` checks with no server."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import PlainTextResponse

from ledger.errors import OutOfRange, StorageError
from ledger.merkle import inclusion_proof
from ledger.proof_bundle import ProofBundle
from ledger.sql import storage
from services.reads import read_engine
from services.witnesses.queries import checkpoint_note

router = APIRouter(prefix="/log", tags=["log (auditors)"])


def bundle_text(request: Request, index: int) -> str:
    """The bundle of entry `index` against the latest checkpoint, read in one snapshot."""
    with storage.read_transaction(read_engine(request)) as conn:
        checkpoint = storage.latest_checkpoint(conn)
        if checkpoint is None:
            raise StorageError("no checkpoint published yet: the log is not initialised")
        if index >= checkpoint.size:
            raise OutOfRange(
                f"index {index} is not below the latest checkpoint's size {checkpoint.size}",
                field="index",
            )
        [row] = storage.read_entries(conn, index, index + 1)
        proof = inclusion_proof(storage.NodeTable(conn), index, checkpoint.size)
        note = checkpoint_note(conn, checkpoint.size)  # with the witnesses' cosignatures
    return ProofBundle(index, tuple(proof), note, row.entry).to_text()


@router.get(
    "/proof/bundle",
    response_class=PlainTextResponse,
    summary="An offline proof that entry `index` is in the log (C2SP tlog-proof@v1)",
    responses={
        200: {"content": {"text/plain": {}}},
        400: {"description": "No entry `index` below the latest checkpoint's size"},
    },
)
def get_proof_bundle(
    request: Request,
    index: Annotated[int, Query(ge=0, le=2**62, examples=[3], description="The entry")],
) -> PlainTextResponse:
    """`c2sp.org/tlog-proof@v1`, the entry's bytes as `extra`, `index`, the inclusion proof
    and the latest signed checkpoint with its cosignatures. Save it as `.tlog-proof`; verify
    it anywhere with `altan verify --bundle FILE --key <log key>`."""
    text = bundle_text(request, index)
    return PlainTextResponse(
        text,
        headers={"Content-Disposition": f'attachment; filename="altan-{index}.tlog-proof"'},
    )
