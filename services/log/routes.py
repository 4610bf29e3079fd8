"""`/log/*`: what an auditor needs to verify the log without trusting the server."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response
from fastapi.responses import PlainTextResponse

from ledger.encoding import b64encode
from ledger.errors import OutOfRange
from ledger.note import NoteVerifier
from ledger.sql import storage
from schemas.log import (
    ConsistencyProofOut,
    InclusionProofOut,
    LogEntriesOut,
    LogEntryOut,
    LogKeyOut,
    LogKeysOut,
    Problem,
)
from services.deps import ReadLogDep, SettingsDep
from services.observability import PROOF_DURATION
from services.witnesses.queries import checkpoint_note

router = APIRouter(prefix="/log", tags=["log (auditors)"])

_PROBLEMS: dict[int | str, dict[str, object]] = {
    400: {"model": Problem, "description": "Parameters out of range"},
    422: {"model": Problem, "description": "Parameters missing or not integers"},
}
# Anything below a signed tree size never changes: let caches keep it.
_IMMUTABLE = "public, max-age=31536000, immutable"


def _example(value: object) -> dict[int | str, dict[str, object]]:
    """An OpenAPI example for a JSON 200 response."""
    return {200: {"content": {"application/json": {"example": value}}}}


# Real values from one log (key, entry 0 of 8, proofs in the tree of 8), so that readers
# can check them by hand.
_KEY_ID = "473a000d"
_KEYS_EXAMPLE = {
    "keys": [
        {
            "key_id": _KEY_ID,
            "verifier_key": "altan.localhost/ledger+473a000d+"
            "AWIiLG+KasCbZFA5GYzGqKkQFPBrXEb9iBOU9DmpE9ZY",
            "public_key": "YiIsb4pqwJtkUDkZjMaoqRAU8GtcRv2IE5T0OakT1lg=",
            "algorithm": "Ed25519",
            "status": "active",
            "not_before": "2026-09-01T08:00:00.000000Z",
            "not_after": None,
        }
    ]
}
_ENTRIES_EXAMPLE = {
    "entries": [
        {
            "index": 0,
            "entry": "eyJhY3RvciI6ImNlbnRyZTpib3JudXVyIiwiYm9keSI6eyJsb3QiOiJPUkUtMjAyNi0wMDAwMDEi"
            "LCJtYXNzX2tnIjoiMTIwMC41Iiwic2l0ZSI6InNpdGU6MDAwMSJ9LCJpbmRleCI6MCwicHJldiI6IkFB"
            "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUE9IiwidGltZSI6IjIwMjYtMDkt"
            "MDFUMDg6MDA6MDAuMDAwMDAwWiIsInR5cGUiOiJvcmUuZGVsaXZlcmVkIiwidiI6MX0=",
            "leaf_hash": "VIBGoKYaA8bM7X5ji18rX76Wr/GRPWu5VIDmsBFHTug=",
            "key_id": _KEY_ID,
            "signature": "qTvKMmejDNCdxlQonm6Vei9mwYXdYB9MUfeUMFkFDbirjiuI2VuszmzTgdZCqRHqjqYk"
            "+O7lgkwDrGpR4BPwBw==",
        }
    ]
}
_INCLUSION_EXAMPLE = {
    "index": 3,
    "tree_size": 8,
    "hashes": [
        "29cNm2Uo30SdIsdFWdizlD6/365NwC556l2BLnMfqEI=",
        "xzyfN7cyrzSuzDW6TTGw8gg47u4qQcgZuL1/Cg03IKM=",
        "Sgc5SYMI36MtjjBEa/UW8ngjyzDxJRkwbZ+Q8JmjXdg=",
    ],
}
_CONSISTENCY_EXAMPLE = {
    "first": 4,
    "second": 8,
    "hashes": ["Sgc5SYMI36MtjjBEa/UW8ngjyzDxJRkwbZ+Q8JmjXdg="],
}


@router.get(
    "/checkpoint",
    response_class=PlainTextResponse,
    summary="The latest signed checkpoint (C2SP tlog-checkpoint in a C2SP signed note)",
    responses={
        200: {
            "content": {
                "text/plain": {
                    "example": "altan.localhost/ledger\n8\n"
                    "0VViYuth2j9+JO2EsahQEk0Wx69RMHJFvhp8AV+Wmy8=\n\n"
                    "\u2014 altan.localhost/ledger RzoADeCPviFujSPuEQZZiZpsHPg8P00AP5RCTL5EDl50L"
                    "cLe25ae5NQFW6/aOd13TScJR2NcbTRMZL82whodMSNGDgw=\n"
                }
            }
        }
    },
)
def get_checkpoint(log: ReadLogDep) -> PlainTextResponse:
    """The origin line, the tree size, the base64 root hash, a blank line, then one line
    `— <key name> <base64(4-byte key id || Ed25519 signature)>` per log key that signed,
    then one `cosignature/v1` line per registered witness that cosigned this checkpoint
    (c2sp.org/tlog-cosignature; see `/log/witnesses`). Verify it with a key from
    `/log/keys`, and count the cosignatures of the witnesses you trust. Never cached: it
    changes with every append and every cosignature."""
    with storage.read_transaction(log.engine) as conn:
        note = checkpoint_note(conn)
    return PlainTextResponse(
        note,
        media_type="text/plain; charset=utf-8",
        headers={"Cache-Control": "no-cache"},
    )


@router.get(
    "/keys",
    response_model=LogKeysOut,
    responses=_example(_KEYS_EXAMPLE),
    summary="Every log public key, retired included",
)
def get_keys(log: ReadLogDep) -> LogKeysOut:
    """The log's Ed25519 keys with their C2SP verifier key strings. Retired keys stay listed
    so that old checkpoints and receipts stay verifiable; pin one out of band to trust it."""
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
    responses={**_PROBLEMS, **_example(_ENTRIES_EXAMPLE)},
    summary="Entries start <= i < end with their receipts (the server may return fewer)",
)
def get_entries(
    log: ReadLogDep,
    settings: SettingsDep,
    response: Response,
    start: Annotated[
        int, Query(ge=0, le=2**62, examples=[0], description="First index, below the size")
    ],
    end: Annotated[
        int, Query(ge=1, le=2**62, examples=[100], description="Index after the last (exclusive)")
    ],
) -> LogEntriesOut:
    """Each entry's RFC 8785 bytes (base64), its leaf hash SHA-256(0x00 || bytes) and the
    log's receipt: Ed25519 over `altan/entry/v1\\n` || leaf hash. At most the configured
    page (ALTAN_ENTRIES_PAGE_MAX) and never past the log's size, but at least one entry
    whenever `start` is below the size: ask again from the last index + 1."""
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
    responses={**_PROBLEMS, **_example(_INCLUSION_EXAMPLE)},
    summary="RFC 9162 inclusion proof of entry `index` in the tree of size `tree_size`",
)
def get_inclusion_proof(
    log: ReadLogDep,
    response: Response,
    index: Annotated[
        int, Query(ge=0, le=2**62, examples=[3], description="The entry, below tree_size")
    ],
    tree_size: Annotated[
        int, Query(ge=1, le=2**62, examples=[8], description="A tree size up to the log's size")
    ],
) -> InclusionProofOut:
    """The audit path (RFC 9162 §2.1.3) from the entry's leaf hash to the root of the first
    `tree_size` entries, as base64 hashes; verify with §2.1.3.2 against a checkpoint root."""
    with PROOF_DURATION.labels("inclusion").time():
        hashes = log.inclusion_proof(index, tree_size)
    response.headers["Cache-Control"] = _IMMUTABLE
    return InclusionProofOut(
        index=index, tree_size=tree_size, hashes=[b64encode(h) for h in hashes]
    )


@router.get(
    "/proof/consistency",
    response_model=ConsistencyProofOut,
    responses={**_PROBLEMS, **_example(_CONSISTENCY_EXAMPLE)},
    summary="RFC 9162 consistency proof between tree sizes `first` and `second`",
)
def get_consistency_proof(
    log: ReadLogDep,
    response: Response,
    first: Annotated[
        int, Query(ge=1, le=2**62, examples=[4], description="The older tree size, at least 1")
    ],
    second: Annotated[
        int, Query(ge=1, le=2**62, examples=[8], description="The newer size, up to the log's")
    ],
) -> ConsistencyProofOut:
    """The RFC 9162 §2.1.4 proof that the tree of `second` entries extends the tree of
    `first` entries (empty when they are equal); verify with §2.1.4.2 against two roots."""
    with PROOF_DURATION.labels("consistency").time():
        hashes = log.consistency_proof(first, second)
    response.headers["Cache-Control"] = _IMMUTABLE
    return ConsistencyProofOut(first=first, second=second, hashes=[b64encode(h) for h in hashes])
