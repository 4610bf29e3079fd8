"""RFC 9457 problem details: one table maps every domain error to an HTTP answer.

Routes never build error responses themselves; they let typed errors rise and the
handlers here turn them into ``application/problem+json`` with a stable `type` per rule.
A test fails when a LedgerError subclass is missing from `ERROR_TABLE`.

Every problem lists its mistakes in `errors` (all of them, not the first: a clerk fixes a
form once), each with `field` (dotted), `pointer` (RFC 6901, into the JSON body), a stable
`rule` slug and a plain-language `detail`, worded by `services.problem_texts` in the
language `Accept-Language` asks for (English by default, Mongolian for `mn`): never a
regular expression, pydantic's message or the value sent.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping, Sequence
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
from services.asgi import Scope, Send
from services.errors import BODY_ROOTS, DomainError, InvalidFields
from services.field_errors import FieldError
from services.i18n import Lang
from services.problem_texts import (
    INVALID_REQUEST,
    RULES,
    field_error_text,
    negotiate,
    summary,
)
from services.problem_texts import (
    title as localized_title,
)

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
    errors.StateProjectionError: ProblemType(
        422, "state-unprojectable", "An entry the lot projection cannot apply"
    ),
    errors.StatusProofInvalid: ProblemType(
        422, "status-proof-invalid", "Status proof does not hold up"
    ),
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


def language(request: Request | None) -> Lang:
    """The language a request's problems are worded in (`Accept-Language`)."""
    if request is None:
        return "en"
    return negotiate(request.headers.get("accept-language"))


def pointer(field: str) -> str:
    """The RFC 6901 JSON pointer (as a URI fragment, RFC 9457's example) of a dotted path."""
    return "#/" + "/".join(p.replace("~", "~0").replace("/", "~1") for p in field.split("."))


def render_errors(errors: Sequence[FieldError], lang: Lang) -> list[dict[str, Any]]:
    """The `errors` member: each mistake with its field, pointer, rule and plain detail."""
    out: list[dict[str, Any]] = []
    for e in errors:
        item: dict[str, Any] = {"field": e.field}
        if e.in_body and e.field:
            item["pointer"] = pointer(e.field)
        item["rule"] = e.rule
        item["detail"] = field_error_text(e, lang)
        out.append(item)
    return out


def problem_document(
    status: int,
    slug: str,
    title: str,
    detail: str,
    *,
    lang: Lang = "en",
    errors: Sequence[FieldError] | None = None,
    field: str | None = None,
    specific: bool = True,
    **extra: Any,
) -> dict[str, Any]:
    """The body of a problem: `title` and `detail` are the English contract; in another
    language they are worded from the glossary. Without `errors`, the one mistake is the
    problem itself (`field`, `slug`); `specific` says whether `detail` carries specifics
    worth keeping beside the glossary's sentence (ids, masses) or is a fixed text."""
    listed = errors is not None
    if errors is None:
        in_body = field is not None and field.split(".", 1)[0] in BODY_ROOTS
        kept = detail if specific or slug not in RULES else None
        errors = [FieldError(field, slug, detail=kept, in_body=in_body)]
    rendered = render_errors(errors, lang)
    if lang == "en" and not listed:
        # English keeps the detail as given (the contract), the item too.
        rendered[0]["detail"] = detail
    elif listed or lang != "en":
        detail = summary([e["detail"] for e in rendered], lang)
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + slug,
        "title": localized_title(slug, title, status, lang),
        "status": status,
        "detail": detail,
    }
    first_field = field if field is not None else (errors[0].field if errors else None)
    if first_field is not None:
        body["field"] = first_field
    body["errors"] = rendered
    body.update({k: v for k, v in extra.items() if v is not None})
    return body


def problem_response(
    status: int,
    slug: str,
    title: str,
    detail: str,
    *,
    headers: Mapping[str, str] | None = None,
    lang: Lang = "en",
    errors: Sequence[FieldError] | None = None,
    field: str | None = None,
    specific: bool = True,
    **extra: Any,
) -> JSONResponse:
    """A problem+json response; `headers` go on the response, `extra` into the body (see
    `problem_document` for the rest)."""
    body = problem_document(
        status,
        slug,
        title,
        detail,
        lang=lang,
        errors=errors,
        field=field,
        specific=specific,
        **extra,
    )
    out_headers = {"Content-Language": lang, "Vary": "Accept-Language", **(headers or {})}
    return JSONResponse(body, status_code=status, media_type=MEDIA_TYPE, headers=out_headers)


def scope_language(scope: Scope) -> Lang:
    """The language an ASGI request's Accept-Language asks for (English by default)."""
    accept = dict(scope.get("headers", [])).get(b"accept-language")
    return negotiate(accept.decode("latin-1") if accept else None)


async def send_problem(
    send: Send,
    status: int,
    rule: str,
    detail: str,
    *,
    title: str | None = None,
    field: str | None = None,
    headers: Sequence[tuple[bytes, bytes]] = (),
    lang: Lang | None = None,
) -> None:
    """Answer a problem straight on an ASGI `send`, for middleware that refuses a request
    before the app sees it (a body too large, a missing token, a rate limit, CORS).

    Worded as every other problem (`problem_document`; `title` defaults to the rule's
    words). With `lang`, worded in that language and said so (Content-Language, Vary:
    Accept-Language); without, the English contract alone, no language headers."""
    worded = title or _title(rule)
    doc = problem_document(status, rule, worded, detail, field=field, lang=lang or "en")
    body = json.dumps(doc).encode()
    said: list[tuple[bytes, bytes]] = []  # Content-Language, when worded for the request
    if lang is not None:
        said = [(b"content-language", lang.encode()), (b"vary", b"Accept-Language")]
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", MEDIA_TYPE.encode()),
                (b"content-length", str(len(body)).encode()),
                *headers,
                *said,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


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
    async def _ledger_error(request: Request, exc: errors.LedgerError) -> JSONResponse:
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
            lang=language(request),
            specific=kind.status < 500,
        )

    async def _database_unavailable(request: Request, exc: Exception) -> JSONResponse:
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
            lang=language(request),
            specific=False,
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
            return problem_response(
                404,
                "not-found",
                "Not Found",
                "no record has this id",
                lang=language(request),
                specific=False,
            )
        return problem_response(
            422,
            "invalid-value",
            "Invalid value",
            "a value in the request cannot be stored (a control character, or too long); "
            "nothing was recorded",
            lang=language(request),
            specific=False,
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
            500,
            "internal-error",
            "Internal error",
            "the service failed; nothing was recorded",
            lang=language(request),
            specific=False,
        )

    app.add_exception_handler(sa_exc.StatementError, _statement_error)

    @app.exception_handler(DomainError)
    async def _domain_error(request: Request, exc: DomainError) -> JSONResponse:
        return domain_problem(exc, language(request))

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        found = [_request_field_error(e) for e in exc.errors()]
        if not found:
            found = [FieldError(None, "invalid")]
        return problem_response(
            422,
            "validation-error",
            INVALID_REQUEST.en,
            "",
            field=found[0].field,
            errors=found,
            lang=language(request),
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        slug = {404: "not-found", 405: "method-not-allowed"}.get(exc.status_code, "http-error")
        # Keep the exception's headers: a 405 must say which methods are allowed (Allow).
        return problem_response(
            exc.status_code,
            slug,
            str(exc.detail),
            str(exc.detail),
            headers=exc.headers,
            lang=language(request),
            specific=False,
        )


def domain_problem(exc: DomainError, lang: Lang) -> JSONResponse:
    """The problem+json answer to a DomainError, worded in `lang`: every field error it
    carries, and its extension members (a failed batch's `results`)."""
    headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else {}
    headers.update(exc.headers)
    headers.update({"Content-Language": lang, "Vary": "Accept-Language"})
    return JSONResponse(
        domain_problem_document(exc, lang),
        status_code=exc.status,
        media_type=MEDIA_TYPE,
        headers=headers,
    )


def domain_problem_document(exc: DomainError, lang: Lang) -> dict[str, Any]:
    """The problem document of a DomainError (also an item's problem in a batch answer)."""
    listed = isinstance(exc, InvalidFields) or len(exc.errors) > 1
    english_title = INVALID_REQUEST.en if isinstance(exc, InvalidFields) else _title(exc.rule)
    return problem_document(
        exc.status,
        exc.rule,
        english_title,
        exc.detail,
        field=exc.field,
        errors=exc.errors if listed else None,
        lang=lang,
        **exc.members,
    )


def _title(rule: str) -> str:
    return rule.replace("-", " ").capitalize()


# Where FastAPI found a mistake (the first element of its `loc`) and the name it is known by.
_LOCATIONS = {"body", "query", "path"}


def _request_field_error(e: Mapping[str, Any]) -> FieldError:
    """One of FastAPI's validation errors as a FieldError: its location without the
    `body`/`query`/`path` prefix (a header keeps `header.`), never its input or message."""
    loc = [str(p) for p in e.get("loc", ())]
    where, rest = (loc[0], loc[1:]) if loc and loc[0] in _LOCATIONS else ("", loc)
    kind = str(e.get("type", "invalid")).replace("_", "-")
    if where == "body" and not rest and kind == "missing":
        return FieldError(None, "body-missing")
    ctx = {k: v for k, v in (e.get("ctx") or {}).items() if k != "error"}
    return FieldError(".".join(rest) or None, kind, ctx, in_body=where == "body")


# What any operation may answer through the handlers above, whatever its own route says.
SHARED_PROBLEMS = {
    "401": "No bearer token, or an unknown or revoked one",
    "403": "The principal's role or relationship to the record does not allow this",
    "404": "Nothing has the id given in the path",
    "413": "The request body is larger than ALTAN_MAX_REQUEST_BYTES",
    "422": "The request is invalid: every field at fault, its rule and a plain detail are "
    "listed in `errors` (English, or Mongolian for Accept-Language: mn)",
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
    from services.identity.auth import authenticate

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
