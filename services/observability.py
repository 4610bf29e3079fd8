"""Observability: structured logs, request ids and Prometheus metrics.

Logs
    One JSON object per line on stderr (`ALTAN_LOG_FORMAT=json`, the production default)
    or a line for people (`text`). Every line logged while a request is served carries
    its `request_id`; the request's own line (logger `altan.access`, when
    ALTAN_ACCESS_LOG is true; it replaces uvicorn's access log) adds `method`, `path`
    (query *keys* only: values may hold secrets), `route`, `status`, `duration_ms` and the
    principal's `actor` when the request was authenticated (never the token).
    `RedactSecrets` rewrites every record before it is written: `altan_…` tokens, `Bearer
    …` credentials, PEM blocks, `passphrase=…`-like pairs and the configured secrets'
    values become `[redacted]`. Request and response bodies are never logged.

Request ids
    `RequestObservability`, a pure ASGI middleware (no BaseHTTPMiddleware: it would cost
    a task and a stream per request), keeps the client's `X-Request-ID` when it is a sane
    token (1 to 64 of `[A-Za-z0-9._-]`), makes one otherwise, and returns it on the
    response.

Metrics (`/metrics`, when ALTAN_METRICS is true; ALTAN_METRICS_TOKEN protects it)
    altan_entries_appended_total{type}             entries appended, by event type
    altan_group_commit_batch_size                  histogram: events per group commit
    altan_group_commit_retries_total{reason}       batches run again after an item failed
                                                   unexpectedly (`item`: without it;
                                                   `split`: in halves)
    altan_http_request_duration_seconds{method,route,status}
                                                   histogram by route template and status
                                                   class (2xx...); `unrouted` when no route
                                                   matched (no raw paths: bounded labels)
    altan_proof_duration_seconds{kind}             histogram: inclusion/consistency proofs
    altan_rate_limited_total{key}                  requests refused with 429 (actor / ip)
    altan_checkpoint_age_seconds                   now - the latest checkpoint's time (scrape)
    altan_log_size                                 the latest checkpoint's tree size (scrape)
Each process counts its own. With several workers (`altan serve --workers N`) either
scrape each, or set PROMETHEUS_MULTIPROC_DIR to an empty directory (emptied before
every start) so that any worker answers for all (prometheus_client's multiprocess mode).
"""

from __future__ import annotations

import contextvars
import hashlib
import hmac
import json
import logging
import os
import re
import secrets
import sys
import time
import traceback
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TextIO

from fastapi import FastAPI, Request, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from ledger.entry import parse_time
from ledger.sql.log import Log
from services.asgi import ASGIApp, Message, Receive, Scope, Send
from services.errors import Unauthenticated
from services.settings import Settings

ACCESS_LOGGER = "altan.access"
REQUEST_ID_HEADER = b"x-request-id"
_SANE_REQUEST_ID = re.compile(rb"[A-Za-z0-9._-]{1,64}")
MAX_LOGGED_PATH = 512
# FastAPI's own pages are plain Starlette routes, which leave no route in the scope.
FRAMEWORK_PATHS = frozenset({"/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json"})

# --- metrics ------------------------------------------------------------------------------

ENTRIES_APPENDED = Counter(
    "altan_entries_appended", "Entries appended to the log, by event type", ["type"]
)
GROUP_COMMIT_BATCH = Histogram(
    "altan_group_commit_batch_size",
    "Events gathered by one group commit (concurrent POST /events)",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 10_000),
)
GROUP_COMMIT_RETRIES = Counter(
    "altan_group_commit_retries",
    "Group commits run again because one item failed unexpectedly: `item` (again without "
    "the item that failed) or `split` (no item to blame: the batch in halves)",
    ["reason"],
)
HTTP_DURATION = Histogram(
    "altan_http_request_duration_seconds",
    "HTTP request latency by route template and status class",
    ["method", "route", "status"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
PROOF_DURATION = Histogram(
    "altan_proof_duration_seconds",
    "Time to compute a Merkle proof (inclusion or consistency)",
    ["kind"],
    buckets=(0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5),
)
RATE_LIMITED = Counter("altan_rate_limited", "Requests refused by the rate limit (429)", ["key"])
_STATUS_CLASS = {1: "1xx", 2: "2xx", 3: "3xx", 4: "4xx", 5: "5xx"}


def count_appended(types: Iterable[str]) -> None:
    """Count committed entries by event type (a fixed set, so a bounded label)."""
    totals: dict[str, int] = {}
    for type_ in types:
        totals[type_] = totals.get(type_, 0) + 1
    for type_, n in totals.items():
        ENTRIES_APPENDED.labels(type_).inc(n)


class LogCollector(Collector):
    """Gauges read from the database at scrape time: the same in every worker."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app

    def collect(self) -> Iterator[Metric]:
        log: Log | None = getattr(self.app.state, "log", None)
        if log is None:
            return
        cp = log.checkpoint()
        age = (datetime.now(UTC) - parse_time(cp.published_at)).total_seconds()
        yield GaugeMetricFamily(
            "altan_checkpoint_age_seconds",
            "Seconds since the latest signed checkpoint was published",
            value=max(age, 0.0),
        )
        yield GaugeMetricFamily(
            "altan_log_size", "Entries in the log (the latest checkpoint's tree size)", cp.size
        )


def metrics_text(app_registry: CollectorRegistry) -> bytes:
    """The text exposition: this process's metrics (or every worker's, in multiprocess
    mode) and the gauges read from the database."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        process = generate_latest(registry)
    else:
        process = generate_latest(REGISTRY)
    return process + generate_latest(app_registry)


def install_metrics(app: FastAPI, settings: Settings) -> None:
    """Add `GET /metrics` when ALTAN_METRICS is true (else the path is a 404)."""
    if not settings.metrics:
        return
    registry = CollectorRegistry(auto_describe=False)
    registry.register(LogCollector(app))
    token = settings.metrics_token

    @app.get("/metrics", include_in_schema=False)
    def metrics(request: Request) -> Response:
        if token is not None and token.get_secret_value():
            scheme, _, given = request.headers.get("authorization", "").partition(" ")
            expected = token.get_secret_value().encode()
            if scheme.lower() != "bearer" or not hmac.compare_digest(
                given.strip().encode(), expected
            ):
                raise Unauthenticated(
                    "metrics-token", "send Authorization: Bearer <ALTAN_METRICS_TOKEN>"
                )
        return Response(metrics_text(registry), media_type=CONTENT_TYPE_LATEST)


# --- the request's context ----------------------------------------------------------------


@dataclass(slots=True)
class RequestInfo:
    """What log lines of one request share; routes and auth fill in the actor."""

    request_id: str
    actor: str | None = None


_current: contextvars.ContextVar[RequestInfo | None] = contextvars.ContextVar(
    "altan_request", default=None
)
# Token hash -> actor, for requests whose token is resolved away from the request's context
# (POST /events resolves it in the group committer's thread). A token belongs to one actor
# for ever, so this can never be stale; it only names actors in log lines.
_TOKEN_ACTORS: dict[str, str] = {}
_MAX_TOKEN_ACTORS = 10_000


def note_principal(token_hash: str, actor_id: str) -> None:
    """Auth tells the log who a token stands for (its hash, never the token)."""
    info = _current.get()
    if info is not None:
        info.actor = actor_id
    if token_hash not in _TOKEN_ACTORS:
        if len(_TOKEN_ACTORS) >= _MAX_TOKEN_ACTORS:
            _TOKEN_ACTORS.clear()
        _TOKEN_ACTORS[token_hash] = actor_id


def actor_of_token(token: bytes) -> str | None:
    """The actor a bearer token was seen to stand for in this process (validated by
    `services.identity.auth.principal_for`), or None for a token never seen valid."""
    return _TOKEN_ACTORS.get(hashlib.sha256(token).hexdigest())


def _actor_of(headers: Iterable[tuple[bytes, bytes]]) -> str | None:
    for name, value in headers:
        if name == b"authorization":
            scheme, _, token = value.partition(b" ")
            if scheme.lower() == b"bearer" and token.strip():
                return _TOKEN_ACTORS.get(hashlib.sha256(token.strip()).hexdigest())
            return None
    return None


def _query_keys(query: bytes) -> list[str]:
    keys = []
    for pair in query.split(b"&"):
        key = pair.partition(b"=")[0]
        if key:
            keys.append(key.decode("latin-1")[:64])
    return keys[:20]


class RequestObservability:
    """Request id, access log line and latency histogram for every HTTP request."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        access_log: bool,
        metrics: bool,
        error_headers: Iterable[tuple[bytes, bytes]] = (),
    ) -> None:
        self.app = app
        self.access_log = access_log
        self.metrics = metrics
        self.error_headers = list(error_headers)
        self.log = logging.getLogger(ACCESS_LOGGER)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        request_id = None
        for name, value in scope["headers"]:
            if name == REQUEST_ID_HEADER:
                if _SANE_REQUEST_ID.fullmatch(value):
                    request_id = value.decode("ascii")
                break
        if request_id is None:
            request_id = secrets.token_hex(8)
        info = RequestInfo(request_id)
        context_token = _current.set(info)
        id_header = (REQUEST_ID_HEADER, request_id.encode("ascii"))
        status = 0

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), id_header]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception as exc:
            if status == 0:  # nothing sent yet: a problem+json 500 that carries the id
                status = 500
                await self._server_error(send, id_header)
            # Logged here, and not raised on to the server: uvicorn would print the
            # exception's message, which may hold the request's data (SQLAlchemy's holds
            # the statement's parameters: names, national IDs, prices, salts). The line
            # names the exception's type, the route and the request id, never a message.
            _log_unhandled(exc, scope)
            self._done(scope, info, status, start)
            _current.reset(context_token)
            return
        _current.reset(context_token)
        self._done(scope, info, status, start)

    def _done(self, scope: Scope, info: RequestInfo, status: int, start: float) -> None:
        elapsed = time.perf_counter() - start
        route = getattr(scope.get("route"), "path_format", None)
        if route is None and scope["path"] in FRAMEWORK_PATHS:
            route = scope["path"]
        if self.metrics:
            HTTP_DURATION.labels(
                scope["method"], route or "unrouted", _STATUS_CLASS.get(status // 100, "other")
            ).observe(elapsed)
        if self.access_log and self.log.isEnabledFor(logging.INFO):
            actor = info.actor or _actor_of(scope["headers"])
            path = loggable_path(scope["path"][:MAX_LOGGED_PATH])
            fields: dict[str, Any] = {
                "request_id": info.request_id,
                "method": scope["method"],
                "path": path,
                "route": route,
                "status": status,
                "duration_ms": round(elapsed * 1000, 2),
            }
            if scope.get("query_string"):
                fields["query_keys"] = _query_keys(scope["query_string"])
            if actor is not None:
                fields["actor"] = actor
            self.log.info(
                "%s %s %d %.1fms", scope["method"], path, status, elapsed * 1000, extra=fields
            )

    async def _server_error(self, send: Send, id_header: tuple[bytes, bytes]) -> None:
        body = json.dumps(
            {
                "type": "https://altan-ledger.org/problems/internal-error",
                "title": "Internal error",
                "status": 500,
                "detail": "the service failed to answer; quote the request id when reporting it",
                "request_id": id_header[1].decode(),
            }
        ).encode()
        try:
            await send(
                {
                    "type": "http.response.start",
                    "status": 500,
                    "headers": [
                        (b"content-type", b"application/problem+json"),
                        (b"content-length", str(len(body)).encode()),
                        id_header,
                        *self.error_headers,
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body})
        except Exception:  # noqa: S110 - the client is gone; the server logs the cause
            pass


# --- logging ------------------------------------------------------------------------------

ERROR_LOGGER = "altan.error"


def _log_unhandled(exc: BaseException, scope: Scope) -> None:
    route = getattr(scope.get("route"), "path_format", None) or "unrouted"
    logging.getLogger(ERROR_LOGGER).error(
        "unhandled %s in %s %s",
        type(exc).__name__,
        scope["method"],
        route,
        extra={"error_type": _type_name(exc), "traceback": safe_traceback(exc)},
    )


def _type_name(exc: BaseException) -> str:
    cls = type(exc)
    if cls.__module__ == "builtins":
        return cls.__qualname__
    return f"{cls.__module__}.{cls.__qualname__}"


def safe_traceback(exc: BaseException) -> str:
    """A traceback without any exception's message: frames and types only (and the
    SQLSTATE of a database error). Messages may hold request data: SQLAlchemy's hold the
    statement's parameters, PostgreSQL's DETAIL the row's values, pydantic's the input."""
    chain: list[BaseException] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen and len(chain) < 10:
        chain.append(current)
        seen.add(id(current))
        current = current.__cause__ or (
            None if current.__suppress_context__ else current.__context__
        )
    parts: list[str] = []
    for item in reversed(chain):
        if parts:
            parts.append("\nThe above exception led to the following:\n\n")
        parts.append("Traceback (most recent call last):\n")
        parts.extend(traceback.format_tb(item.__traceback__))
        code = getattr(getattr(item, "orig", None), "sqlstate", None) or getattr(
            item, "sqlstate", None
        )
        suffix = f" (SQLSTATE {code})" if isinstance(code, str) else ""
        parts.append(f"{_type_name(item)}{suffix}: [message withheld]\n")
    return "".join(parts).rstrip("\n")


def _may_hold_request_data(exc: BaseException) -> bool:
    """Whether an exception (or one it came from) carries data of a request in its text."""
    from pydantic import ValidationError
    from sqlalchemy.exc import StatementError

    current: BaseException | None = exc
    for _ in range(10):
        if current is None:
            return False
        if isinstance(current, StatementError | ValidationError | UnicodeError):
            return True
        current = current.__cause__ or current.__context__
    return False


class WithholdRequestData(logging.Filter):
    """Replaces the traceback of a record logged while a request is served (or of a
    database or validation error at any time) with `safe_traceback`: frames and types,
    no messages. On uvicorn's loggers and on our handler, so that any handler (a test's
    capture included) sees the safe form."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc_info = record.exc_info
        if exc_info and exc_info[1] is not None:
            exc = exc_info[1]
            if _current.get() is not None or _may_hold_request_data(exc):
                record.exc_info = None
                record.exc_text = safe_traceback(exc)
        return True


_REDACTED = "[redacted]"
_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (
        re.compile(r"-----BEGIN [A-Z0-9 ]+-----.*?(?:-----END [A-Z0-9 ]+-----|\Z)", re.S),
        "[redacted PEM block]",
    ),
    (re.compile(r"\b(bearer)(\s+)[A-Za-z0-9._~+/=-]+", re.I), r"\1\2" + _REDACTED),
    (re.compile(r"altan_[A-Za-z0-9_-]{16,}"), "altan_" + _REDACTED),
    (
        re.compile(
            r"""(?<![A-Za-z0-9])(passphrase|password|passwd|secret|token|api_key)"""
            r"""(["']?\s*[:=]\s*)("[^"]*"|'[^']*'|[^\s"',;&]+)""",
            re.I,
        ),
        r"\1\2" + _REDACTED,
    ),
)

# Every pattern above starts with one of these: a line without any needs no substitution.
_TRIGGER = re.compile(r"-----BEGIN |bearer|altan_|passphrase|passw|secret|token|api_key", re.I)


class RedactSecrets(logging.Filter):
    """Rewrites a record's message, exception text and string fields with every secret
    pattern and every configured secret value replaced by `[redacted]`."""

    def __init__(self, values: Iterable[str] = ()) -> None:
        super().__init__()
        # Literal secrets (the key passphrase...): longest first, so none hides in another.
        self.values = sorted({v for v in values if len(v) >= 4}, key=len, reverse=True)

    def redact(self, text: str) -> str:
        for value in self.values:
            if value in text:
                text = text.replace(value, _REDACTED)
        if _TRIGGER.search(text) is None:  # the common case: one scan, nothing to redact
            return text
        for pattern, replacement in _PATTERNS:
            text = pattern.sub(replacement, text)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        WithholdRequestData().filter(record)
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: keep the template, drop the arguments
            message = str(record.msg)
        record.msg = self.redact(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        for key in ("path", "color_message", "traceback"):
            value = record.__dict__.get(key)
            if isinstance(value, str):
                record.__dict__[key] = self.redact(value)
        return True


class RequestContext(logging.Filter):
    """Stamps every record with the request id of the request being served (or none)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            info = _current.get()
            record.request_id = None if info is None else info.request_id
        return True


_FIELDS = (
    "method",
    "path",
    "query_keys",
    "route",
    "status",
    "duration_ms",
    "actor",
    "error_type",
    "traceback",
)


def _timestamp(created: float) -> str:
    return datetime.fromtimestamp(created, UTC).isoformat(timespec="milliseconds")[:-6] + "Z"


class JsonFormatter(logging.Formatter):
    """One JSON object per line: timestamp, level, logger, message, request_id, the
    request's fields when present, and the exception's traceback as `exc_info`."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "timestamp": _timestamp(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None),
        }
        for key in _FIELDS:
            value = record.__dict__.get(key)
            if value is not None:
                out[key] = value
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            out["exc_info"] = record.exc_text
        if record.stack_info:
            out["stack_info"] = record.stack_info
        return json.dumps(out, ensure_ascii=False, default=str)


_CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def loggable_path(path: str) -> str:
    """The path with control characters escaped (`%0A` decodes to a line break, which in
    the text format would start a forged log line)."""
    return _CONTROLS.sub(lambda m: ascii(m.group())[1:-1], path)


class TextFormatter(logging.Formatter):
    """A line for people: time, level, logger, request id, message (and actor)."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s [%(request_id)s] %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        if getattr(record, "request_id", None) is None:
            record.request_id = "-"
        line = super().format(record)
        actor = record.__dict__.get("actor")
        if actor is not None:
            line = f"{line} actor={actor}"
        trace = record.__dict__.get("traceback")
        return line if trace is None else f"{line}\n{trace}"


class StderrHandler(logging.StreamHandler[TextIO]):
    """Writes to whatever `sys.stderr` is when a record is emitted (so tests that swap it
    capture the lines); the handler that `configure_logging` installs and recognises."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, _value: TextIO) -> None:
        pass


@dataclass
class LoggingSetup:
    """What `configure_logging` changed, to put back when the app stops (tests start and
    stop many apps in one process)."""

    handler: StderrHandler | None
    saved: list[tuple[logging.Logger, list[logging.Handler], bool]]
    root_level: int

    def undo(self) -> None:
        root = logging.getLogger()
        if self.handler is not None:
            root.removeHandler(self.handler)
            root.setLevel(self.root_level)
        for logger, handlers, propagate in self.saved:
            logger.handlers = handlers
            logger.propagate = propagate


def configure_logging(settings: Settings) -> LoggingSetup:
    """Send the process's log records (uvicorn's included) through one stderr handler in
    the configured format, with request ids and redaction, and silence uvicorn's access
    log, which our own line replaces. When `uvicorn_log_config` configured the process
    already, only the format and the secrets are brought up to date."""
    root = logging.getLogger()
    existing = next((h for h in root.handlers if isinstance(h, StderrHandler)), None)
    handler = existing or StderrHandler()
    _prepare(handler, settings)
    setup = LoggingSetup(None if existing else handler, [], root.level)
    if existing is None:
        root.addHandler(handler)
        if root.level > logging.INFO or root.level == logging.NOTSET:
            root.setLevel(logging.INFO)
    for name, propagate in (("uvicorn", True), ("uvicorn.error", True), ("uvicorn.access", False)):
        # uvicorn writes its access line only when "uvicorn.access" has handlers somewhere.
        logger = logging.getLogger(name)
        setup.saved.append((logger, logger.handlers, logger.propagate))
        logger.handlers = []
        logger.propagate = propagate
        if not any(isinstance(f, WithholdRequestData) for f in logger.filters):
            logger.addFilter(WithholdRequestData())  # before any handler, a capture's too
    return setup


def _prepare(handler: logging.Handler, settings: Settings) -> None:
    fmt = settings.resolved_log_format
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    handler.filters = [RequestContext(), RedactSecrets(_secret_values(settings))]


def _secret_values(settings: Settings) -> list[str]:
    values = []
    for secret in (settings.key_passphrase, settings.metrics_token):
        if secret is not None and secret.get_secret_value():
            values.append(secret.get_secret_value())
    return values


def uvicorn_log_config(settings: Settings) -> dict[str, Any]:
    """A `log_config` for `uvicorn.run` so that its own first lines are already in our
    format (pass it with `access_log=False`: our line replaces uvicorn's)."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "handlers": {"altan": {"()": _configured_handler, "settings": settings}},
        "root": {"handlers": ["altan"], "level": "INFO"},
        "loggers": {
            "uvicorn": {"handlers": [], "propagate": True},
            "uvicorn.error": {"handlers": [], "propagate": True},
            "uvicorn.access": {"handlers": [], "propagate": False},
            "alembic.runtime.plugins": {"level": "WARNING"},  # a line per plugin per worker
        },
    }


def _configured_handler(settings: Settings) -> StderrHandler:
    handler = StderrHandler()
    _prepare(handler, settings)
    return handler
