"""RFC 9457 problem details: one table maps every domain error to an HTTP answer.

Routes never build error responses themselves; they let typed errors rise and the
handlers here turn them into ``application/problem+json`` with a stable `type` per rule.
A test fails when a LedgerError subclass is missing from `ERROR_TABLE`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ledger import errors
from ledger.certificate import CertificateInvalid
from schemas.api import PROBLEM_BASE
from services.errors import DomainError

MEDIA_TYPE = "application/problem+json"

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ProblemType:
    """How one kind of error is shown over HTTP."""

    status: int
    slug: str
    title: str


ERROR_TABLE: dict[type[errors.LedgerError], ProblemType] = {
    errors.LedgerError: ProblemType(500, "ledger-error", "Ledger error"),
    errors.MalformedInput: ProblemType(400, "malformed-input", "Malformed input"),
    errors.MalformedProof: ProblemType(400, "malformed-proof", "Malformed proof"),
    errors.KeyProblem: ProblemType(503, "key-unavailable", "Log key unavailable"),
    errors.VerificationError: ProblemType(422, "verification-failed", "Verification failed"),
    errors.InvalidSignature: ProblemType(422, "invalid-signature", "Invalid signature"),
    errors.UnknownKey: ProblemType(422, "unknown-key", "Unknown key"),
    errors.RootMismatch: ProblemType(422, "root-mismatch", "Root mismatch"),
    errors.NotWitnessed: ProblemType(422, "not-witnessed", "Not cosigned by enough witnesses"),
    errors.ConsistencyError: ProblemType(422, "inconsistent", "Inconsistent tree heads"),
    errors.OriginMismatch: ProblemType(422, "origin-mismatch", "Checkpoint of another log"),
    CertificateInvalid: ProblemType(422, "certificate-invalid", "Certificate not genuine"),
    errors.ChainBroken: ProblemType(422, "chain-broken", "Hash chain broken"),
    errors.OutOfRange: ProblemType(400, "out-of-range", "Index or tree size out of range"),
    errors.StorageError: ProblemType(503, "storage-unavailable", "Storage unavailable"),
    errors.BatcherClosed: ProblemType(503, "appender-closed", "Log not accepting appends"),
}


def problem_for(exc: errors.LedgerError) -> ProblemType:
    """The table entry for the most specific class of `exc`."""
    for cls in type(exc).__mro__:
        if cls in ERROR_TABLE:
            return ERROR_TABLE[cls]
    return ERROR_TABLE[errors.LedgerError]


def problem_response(
    status: int,
    slug: str,
    title: str,
    detail: str,
    *,
    headers: Mapping[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    """A problem+json response; `headers` go on the response, `extra` into the body."""
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + slug,
        "title": title,
        "status": status,
        "detail": detail,
    }
    body.update({k: v for k, v in extra.items() if v is not None})
    return JSONResponse(body, status_code=status, media_type=MEDIA_TYPE, headers=headers)


def install(app: FastAPI) -> None:
    """Register the handlers on an app."""

    @app.exception_handler(errors.LedgerError)
    async def _ledger_error(_request: Request, exc: errors.LedgerError) -> JSONResponse:
        kind = problem_for(exc)
        if kind.status >= 500:
            log.error("ledger error: %s", exc)
            detail = "the service cannot answer right now; try again later"
        else:
            detail = str(exc)
        return problem_response(
            kind.status, kind.slug, kind.title, detail, field=getattr(exc, "field", None)
        )

    @app.exception_handler(DomainError)
    async def _domain_error(_request: Request, exc: DomainError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        return problem_response(
            exc.status,
            exc.rule,
            exc.rule.replace("-", " ").capitalize(),
            exc.detail,
            field=exc.field,
            headers=headers,
        )

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
        errs = [
            {
                "field": ".".join(str(p) for p in e.get("loc", ()) if p not in ("query", "body")),
                "rule": e.get("type"),
                "message": e.get("msg"),
            }
            for e in exc.errors()
        ]
        first = errs[0] if errs else {"field": None, "message": "invalid request"}
        return problem_response(
            422,
            "validation-error",
            "Invalid request",
            f"{first['field']}: {first['message']}",
            field=first["field"],
            errors=errs,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        slug = {404: "not-found", 405: "method-not-allowed"}.get(exc.status_code, "http-error")
        # Keep the exception's headers: a 405 must say which methods are allowed (Allow).
        return problem_response(
            exc.status_code, slug, str(exc.detail), str(exc.detail), headers=exc.headers
        )
