"""Security headers, CORS for the public read routes, and rate limits: one pure ASGI
middleware (`Security`), so the hot path pays one function call and one header pass.

Headers on every response, unless the route set its own (the certificate and report
pages send their own Content-Security-Policy, which is kept):

    X-Content-Type-Options: nosniff
    Referrer-Policy: no-referrer
    X-Frame-Options: DENY
    Content-Security-Policy: default-src 'none'; frame-ancestors 'none'
        (not on the OpenAPI pages /docs and /redoc, which load Swagger UI and ReDoc from
        a CDN)
    Strict-Transport-Security: max-age=31536000   (only when ALTAN_PUBLIC_URL is https)

The public proofs are readable from any page, always: a GET (or HEAD) of `/log/*` (the
checkpoint, keys, entries and proofs), `/api/c/{token}` (a certificate's verdict with its
proofs) and `/lots/{id}/status-proof` answers `Access-Control-Allow-Origin: *`, and their
preflights are allowed, whatever ALTAN_CORS_ORIGINS says. A verifier the operator does not
serve (`altan verifier export`, hosted by a bank or the regulator on its own domain) reads
them from the browser, so the operator must not be able to switch that off. They need no
credentials and none are ever allowed (no `Access-Control-Allow-Credentials`), and every
answer carries the same `*`, so shared caches, which keep proofs for a year, serve them
right to every origin.

Other CORS is off unless ALTAN_CORS_ORIGINS lists origins; then browsers on those origins
may also GET (and HEAD) the certificate page `/c/…`, nothing else: other preflights get a
403 problem. Those answers say `Vary: Origin` (or carry `*` when the setting is `*`).

Rate limits (ALTAN_RATE_LIMIT_PER_MINUTE, 0 = off): a token bucket per actor once one
of its bearer tokens has been seen valid (all its tokens share it), else per client
address (no token, or one never seen valid), holding up to a minute's worth and refilled
continuously. In memory, per process: with N workers or replicas the
effective limit is N times the setting (a shared limit would need a shared store such as
Redis; not done). Behind a reverse proxy every anonymous client shares the proxy's
address unless ALTAN_FORWARDED_ALLOW_IPS names the proxy (then uvicorn's
ProxyHeadersMiddleware takes the client's address from X-Forwarded-For).
`/healthz`, `/livez`, `/readyz` and `/metrics` are never limited. A refused request gets 429
problem+json with Retry-After (whole seconds).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from services.asgi import ASGIApp, Message, Receive, Scope, Send
from services.observability import RATE_LIMITED, actor_of_token
from services.problems import send_problem

DEFAULT_CSP = b"default-src 'none'; frame-ancestors 'none'"
HSTS = b"max-age=31536000"
BASE_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
)
# FastAPI's documentation pages load their scripts and styles from a CDN.
NO_DEFAULT_CSP = frozenset({"/docs", "/docs/oauth2-redirect", "/redoc"})
NOT_LIMITED = frozenset({"/healthz", "/livez", "/readyz", "/metrics"})
CORS_PREFIXES = ("/log/", "/c/", "/api/c/")
OPEN_PREFIXES = ("/log/", "/api/c/")  # public proofs: `*` always (module docstring)
STATUS_PROOF_SUFFIX = "/status-proof"
CORS_METHODS = b"GET, HEAD"
CORS_ALLOW_HEADERS = frozenset({"x-request-id", "if-none-match", "if-modified-since"})
CORS_EXPOSE = b"X-Request-ID, Retry-After, Cache-Control"
CORS_MAX_AGE = b"600"
OPEN_CORS_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"access-control-allow-origin", b"*"),
    (b"access-control-expose-headers", CORS_EXPOSE),
)


def response_headers(hsts: bool) -> list[tuple[bytes, bytes]]:
    """The headers every response gets (for answers built outside this middleware)."""
    out = [*BASE_HEADERS, (b"content-security-policy", DEFAULT_CSP)]
    if hsts:
        out.append((b"strict-transport-security", HSTS))
    return out


class RateLimiter:
    """Token buckets by key: `capacity` requests at once, refilled at `per_minute`."""

    def __init__(
        self,
        per_minute: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 100_000,
    ) -> None:
        if per_minute < 1:
            raise ValueError(f"expected at least 1 request per minute, got {per_minute}")
        self.per_minute = per_minute
        self.rate = per_minute / 60.0  # tokens per second
        self.capacity = float(per_minute)
        self.clock = clock
        self.max_keys = max_keys
        self._buckets: dict[bytes, tuple[float, float]] = {}  # key -> (tokens, when)

    def take(self, key: bytes) -> float:
        """Spend one token of `key`'s bucket: 0.0 when allowed, else seconds to wait."""
        now = self.clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= self.max_keys:
                self._sweep(now)
            tokens = self.capacity
        else:
            tokens = min(self.capacity, bucket[0] + (now - bucket[1]) * self.rate)
        if tokens >= 1.0:
            self._buckets[key] = (tokens - 1.0, now)
            return 0.0
        self._buckets[key] = (tokens, now)
        return (1.0 - tokens) / self.rate

    def _sweep(self, now: float) -> None:
        """Forget buckets that have refilled (they equal a new one); if that is not
        enough (a flood of distinct keys), forget them all."""
        full = self.capacity / self.rate
        self._buckets = {k: b for k, b in self._buckets.items() if now - b[1] < full}
        if len(self._buckets) >= self.max_keys:
            self._buckets.clear()


def _is_open(path: str) -> bool:
    """A public proof, readable from any origin: `/log/*`, `/api/c/*`,
    `/lots/{id}/status-proof` (one path segment for the id)."""
    if path.startswith(OPEN_PREFIXES):
        return True
    if path.startswith("/lots/") and path.endswith(STATUS_PROOF_SUFFIX):
        lot = path[len("/lots/") : -len(STATUS_PROOF_SUFFIX)]
        return bool(lot) and "/" not in lot
    return False


def _is_public(path: str) -> bool:
    return path.startswith(CORS_PREFIXES) or _is_open(path)


class Security:
    """Security headers, CORS and rate limits for every HTTP request."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        hsts: bool = False,
        cors_origins: tuple[str, ...] = (),
        limiter: RateLimiter | None = None,
    ) -> None:
        self.app = app
        self.headers = response_headers(hsts)
        self.names = frozenset(name for name, _ in self.headers)
        self.any_origin = "*" in cors_origins
        self.origins = frozenset(o.encode() for o in cors_origins if o != "*")
        self.cors = bool(cors_origins)
        self.limiter = limiter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        authorization = origin = preflight = request_headers = None
        for name, value in scope["headers"]:
            if name == b"authorization":
                authorization = value
            elif name == b"origin":
                origin = value
            elif name == b"access-control-request-method":
                preflight = value
            elif name == b"access-control-request-headers":
                request_headers = value
        cors_headers: list[tuple[bytes, bytes]] = []
        is_open = _is_open(path)
        if self.cors or is_open:
            if scope["method"] == "OPTIONS" and origin is not None and preflight is not None:
                await self._preflight(path, origin, preflight, request_headers, send)
                return
            if scope["method"] in ("GET", "HEAD") and is_open:
                cors_headers = list(OPEN_CORS_HEADERS)
            elif scope["method"] in ("GET", "HEAD") and _is_public(path):
                cors_headers = self._cors_headers(origin)
        extra = self.headers
        csp = path not in NO_DEFAULT_CSP

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                present = {name.lower() for name, _ in headers}
                for name, value in extra:
                    if name not in present and (csp or name != b"content-security-policy"):
                        headers.append((name, value))
                headers.extend(cors_headers)
                message["headers"] = headers
            await send(message)

        if self.limiter is not None and path not in NOT_LIMITED:
            key, kind = self._key(scope, authorization)
            wait = self.limiter.take(key)
            if wait > 0.0:
                RATE_LIMITED.labels(kind).inc()
                await self._too_many(send_with_headers, wait, kind)
                return
        await self.app(scope, receive, send_with_headers)

    def _cors_headers(self, origin: bytes | None) -> list[tuple[bytes, bytes]]:
        """For a public read. Shared caches keep these answers (proofs are immutable), so
        they must not vary unseen: `*` goes on every answer, a listed origin's answer
        says it varies by Origin."""
        if self.any_origin:
            return [
                (b"access-control-allow-origin", b"*"),
                (b"access-control-expose-headers", CORS_EXPOSE),
            ]
        if origin is not None and origin in self.origins:
            return [
                (b"access-control-allow-origin", origin),
                (b"access-control-expose-headers", CORS_EXPOSE),
                (b"vary", b"Origin"),
            ]
        return [(b"vary", b"Origin")]

    def _allowed(self, origin: bytes) -> bool:
        return self.any_origin or origin in self.origins

    @staticmethod
    def _key(scope: Scope, authorization: bytes | None) -> tuple[bytes, str]:
        # By the actor a token was seen valid for, all its tokens together; any other
        # token counts against the client's address, so a fresh random bearer per
        # request gains nothing (issue 11, finding 6).
        if authorization is not None:
            scheme, _, token = authorization.partition(b" ")
            token = token.strip()
            actor = actor_of_token(token) if scheme.lower() == b"bearer" and token else None
            if actor is not None:
                return b"p" + actor.encode(), "actor"
        client = scope.get("client")
        host = client[0] if client else "unknown"
        return b"a" + host.encode("latin-1", "replace"), "ip"

    async def _too_many(self, send: Send, wait: float, kind: str) -> None:
        assert self.limiter is not None
        per = "actor" if kind == "actor" else "client address"
        retry = max(1, math.ceil(wait))
        await send_problem(
            send,
            429,
            "rate-limited",
            f"at most {self.limiter.per_minute} requests per minute per {per}; retry in {retry} s",
            title="Too many requests",
            headers=[(b"retry-after", str(retry).encode())],
        )

    async def _preflight(
        self,
        path: str,
        origin: bytes,
        method: bytes,
        request_headers: bytes | None,
        send: Send,
    ) -> None:
        asked = {
            h.strip().lower()
            for h in (request_headers or b"").decode("latin-1").split(",")
            if h.strip()
        }
        is_open = _is_open(path)
        if (
            _is_public(path)
            and (is_open or self._allowed(origin))
            and method.strip().upper() in (b"GET", b"HEAD")
            and asked <= CORS_ALLOW_HEADERS
        ):
            headers = [
                (b"access-control-allow-origin", b"*" if is_open or self.any_origin else origin),
                (b"access-control-allow-methods", CORS_METHODS),
                (b"access-control-allow-headers", ", ".join(sorted(CORS_ALLOW_HEADERS)).encode()),
                (b"access-control-max-age", CORS_MAX_AGE),
                (b"vary", b"Origin"),
                *self.headers,
            ]
            await send({"type": "http.response.start", "status": 204, "headers": headers})
            await send({"type": "http.response.body", "body": b""})
            return
        await send_problem(
            send,
            403,
            "cors-refused",
            "browsers on the configured origins (ALTAN_CORS_ORIGINS) may only GET /log/* "
            "and the certificate verdicts",
            title="Cross-origin request refused",
            headers=[*self.headers, (b"vary", b"Origin")],
        )
