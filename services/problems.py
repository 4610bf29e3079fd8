"""RFC 9457 problem details: one table maps every domain error to an HTTP answer.

Routes never build error responses themselves; they let typed errors rise and the
handlers here turn them into ``application/problem+json`` with a stable `type` per rule.
A test fails when a LedgerError subclass is missing from `ERROR_TABLE`.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy import exc as sa_exc
from starlette.exceptions import HTTPException as StarletteHTTPException

from ledger import errors
from ledger.certificate import CertificateInvalid
from schemas.api import PROBLEM_BASE
from services.errors import DomainError

MEDIA_TYPE = "application/problem+json"

log = logging.getLogger(__name__)

# The database could not be reached or dropped the connection (stopped, restarting, failing
# over, a pool exhausted): 503 with Retry-After, never a 500. The outcome of a write cut
# off mid-commit is unknown to the service too; a retry with the same Idempotency-Key
# records it at most once. The engine recovers by itself (pool_pre_ping) once it is back.
DATABASE_UNAVAILABLE: tuple[type[Exception], ...] = (
    sa_exc.OperationalError,
    sa_exc.InterfaceError,
    sa_exc.TimeoutError,
)
RETRY_AFTER_SECONDS = 2
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")


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
    errors.BackupInvalid: ProblemType(422, "backup-invalid", "Backup file refused"),
    errors.OutOfRange: ProblemType(400, "out-of-range", "Index or tree size out of range"),
    errors.StorageError: ProblemType(503, "storage-unavailable", "Storage unavailable"),
    errors.NotEmpty: ProblemType(409, "database-not-empty", "Database not empty"),
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
    """Register the handlers on an app, and say in its OpenAPI document what they answer."""
    build_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        first = app.openapi_schema is None
        spec = build_openapi()
        if first:
            declare_problems(app, spec)
        return spec

    app.openapi = openapi  # type: ignore[method-assign]

    @app.exception_handler(errors.LedgerError)
    async def _ledger_error(_request: Request, exc: errors.LedgerError) -> JSONResponse:
        kind = problem_for(exc)
        if kind.status >= 500:
            log.error("ledger error: %s", exc)
            detail = "the service cannot answer right now; try again later"
        else:
            detail = str(exc)
        retry = {"Retry-After": str(RETRY_AFTER_SECONDS)} if kind.status == 503 else None
        return problem_response(
            kind.status,
            kind.slug,
            kind.title,
            detail,
            field=getattr(exc, "field", None),
            headers=retry,
        )

    async def _database_unavailable(_request: Request, exc: Exception) -> JSONResponse:
        # The driver's own message only: SQLAlchemy's adds the statement and its
        # parameters, which may hold personal data.
        log.error("database unavailable: %s", getattr(exc, "orig", None) or type(exc).__name__)
        return problem_response(
            503,
            "database-unavailable",
            "Database unavailable",
            "the service cannot reach its database right now; nothing was recorded unless a "
            "retry with the same Idempotency-Key says so; try again later",
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )

    for exc_class in DATABASE_UNAVAILABLE:
        app.add_exception_handler(exc_class, _database_unavailable)

    async def _data_error(request: Request, exc: Exception) -> JSONResponse:
        # The database refused a value the edge let through (a NUL, a string too long for
        # its column, a number out of range): the request's fault, so a 4xx, but also a gap
        # in the edge's checks, so logged as an error. Never with the statement, its
        # parameters or the driver's message (which may quote the value): the driver's
        # error class and SQLSTATE only.
        orig = getattr(exc, "orig", None)
        log.error(
            "database refused a value: %s (SQLSTATE %s) on %s %s",
            type(orig or exc).__name__,
            getattr(orig, "sqlstate", None),
            request.method,
            getattr(request.scope.get("route"), "path", "?"),
        )
        if _CONTROL.search(request.url.path) or _CONTROL.search(unquote(request.url.path)):
            # An id in the path no record can have: nothing has it.
            return problem_response(404, "not-found", "Not Found", "no record has this id")
        return problem_response(
            422,
            "invalid-value",
            "Invalid value",
            "a value in the request cannot be stored (a control character, or too long); "
            "nothing was recorded",
        )

    app.add_exception_handler(sa_exc.DataError, _data_error)

    async def _statement_error(request: Request, exc: Exception) -> JSONResponse:
        # A value SQLAlchemy could not turn into a parameter (ValueError from a type's
        # conversion) is the request's; anything else is a bug, answered 500 as a problem
        # and logged without the statement's parameters (str(exc) would carry them).
        if isinstance(getattr(exc, "orig", None), ValueError):
            return await _data_error(request, exc)
        log.error("database statement failed: %s", type(getattr(exc, "orig", None) or exc).__name__)
        return problem_response(
            500, "internal-error", "Internal error", "the service failed; nothing was recorded"
        )

    app.add_exception_handler(sa_exc.StatementError, _statement_error)

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


# What any operation may answer through the handlers above, whatever its own route says.
SHARED_PROBLEMS = {
    "401": "No bearer token, or an unknown or revoked one",
    "403": "The principal's role or relationship to the record does not allow this",
    "404": "Nothing has the id given in the path",
    "413": "The request body is larger than ALTAN_MAX_REQUEST_BYTES",
    "422": "The request is invalid: the field at fault and the rule are named",
    "429": "Too many requests from this token or address; retry after Retry-After seconds",
    "503": "The database or the log key is unavailable; retry after Retry-After seconds",
}


# Never rate limited (services.security.NOT_LIMITED).
UNLIMITED = frozenset({"/healthz", "/metrics"})


def declare_problems(app: FastAPI, spec: dict[str, Any]) -> None:
    """Every error answer is an RFC 9457 problem (`application/problem+json`, the Problem
    schema), where FastAPI's document says `application/json` with its own validation
    error; and the answers every route may give through the shared machinery are listed:
    401 and 403 where a bearer token is required, 404 where the path names a record, 413
    where there is a body, 422 where there is any input, 429 (rate limits) and 503
    everywhere."""
    from fastapi.routing import iter_route_contexts

    from schemas.log import Problem
    from services.auth import authenticate

    schemas = spec.setdefault("components", {}).setdefault("schemas", {})
    if "Problem" not in schemas:
        schemas["Problem"] = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas.pop("HTTPValidationError", None)
    schemas.pop("ValidationError", None)
    problem = {MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}}

    authenticated: set[tuple[str, str]] = set()
    for route in iter_route_contexts(app.routes):
        dependant = getattr(route, "dependant", None)
        if dependant is not None and authenticate in _calls(dependant):
            path = route.path_format or ""
            authenticated.update((path, m.lower()) for m in route.methods or ())

    for path, operations in spec.get("paths", {}).items():
        for method, op in operations.items():
            shared = ["503"] if path in UNLIMITED else ["429", "503"]
            if (path, method) in authenticated:
                shared += ["401", "403"]
            if "{" in path:
                shared.append("404")
            if "requestBody" in op:
                shared.append("413")
            if "requestBody" in op or op.get("parameters"):
                shared.append("422")
            responses = op.setdefault("responses", {})
            for status in shared:
                responses.setdefault(status, {"description": SHARED_PROBLEMS[status]})
            if responses.get("422", {}).get("description") == "Validation Error":
                responses["422"]["description"] = SHARED_PROBLEMS["422"]
            for status, answer in responses.items():
                if status[0] in "45":
                    answer["content"] = problem


def _calls(dependant: Any) -> set[Any]:
    """Every callable a route depends on, however deep."""
    out: set[Any] = set()
    for dep in dependant.dependencies:
        out.add(dep.call)
        out |= _calls(dep)
    return out
