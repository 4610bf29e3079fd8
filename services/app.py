"""The FastAPI application."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import queue
import threading
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Executor, Future
from contextlib import asynccontextmanager
from typing import Any, ParamSpec, TypeVar

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import SQLAlchemyError
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from ledger.errors import LedgerError
from ledger.sql.log import Log
from schemas.event_contract import publish_event_contract
from schemas.log import Health
from services import observability, problems, security
from services.deps import LogDep
from services.domains import DOMAINS
from services.limits import AuthBeforeBody, BodyLimit
from services.log.bundle import router as bundle_router
from services.log.routes import router as log_router
from services.log.tiles import router as tiles_router
from services.pipeline.committer import EventCommitter
from services.pipeline.routes import router as events_router
from services.reports.snapshots import Refresher
from services.runtime import open_runtime
from services.settings import Settings, get_settings

DESCRIPTION = """
Altan Ledger keeps a tamper-evident, signed record of ore and gold lots from artisanal
miners through processing centres to buyers. The `/log/*` endpoints let anyone verify the
whole record without trusting the server: RFC 9162 Merkle proofs, C2SP signed checkpoints,
Ed25519 receipts on every entry. Base64 is standard with padding.
"""

P = ParamSpec("P")
T = TypeVar("T")


def _publish_event_bodies(app: FastAPI) -> None:
    """Make the OpenAPI document show every event body: `EventIn` (a `type` and a
    free-form `body` at run time) is published as the union of every event request,
    discriminated by `type`, with examples (schemas.event_contract). Parsing is unchanged."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = publish_event_contract(FastAPI.openapi(app))
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


class Liveness(BaseModel):
    """`/livez`: the process answers."""

    status: str


class _DaemonThreads(Executor):
    """At most `workers` threads that never hold the process at exit.

    Not a ThreadPoolExecutor: since Python 3.9 its threads are joined at interpreter exit
    (threading._register_atexit), and a thread stuck in the database driver's socket read
    stays stuck until the database answers. On a database that accepts TCP and never
    answers (hung, or stopped with SIGSTOP; its kernel still acknowledges every packet and
    keepalive) no libpq setting ends that read (`statement_timeout` is the server's own,
    `tcp_user_timeout` and keepalives only see a peer that has gone), so Ctrl-C left the
    process hanging forever after "Application shutdown complete". The work given here only
    reads (a readiness probe, a token look-up) and the caller has already answered 503, so
    abandoning it at exit loses nothing: the threads are daemon threads.
    """

    def __init__(self, workers: int, prefix: str) -> None:
        self._workers = workers
        self._prefix = prefix
        self._work: queue.SimpleQueue[tuple[Future[Any], Callable[[], Any]] | None] = (
            queue.SimpleQueue()
        )
        self._idle = threading.Semaphore(0)
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._closed = False

    def submit(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> Future[T]:
        future: Future[T] = Future()
        with self._lock:
            if self._closed:
                raise RuntimeError("cannot schedule new futures after shutdown")
            self._work.put((future, functools.partial(fn, *args, **kwargs)))
            # as ThreadPoolExecutor: a new thread only when none is idle, up to `workers`
            if not self._idle.acquire(blocking=False) and len(self._threads) < self._workers:
                name = f"{self._prefix}_{len(self._threads)}"
                thread = threading.Thread(target=self._run, name=name, daemon=True)
                self._threads.append(thread)
                thread.start()
        return future

    def _run(self) -> None:
        while (item := self._work.get()) is not None:
            future, call = item
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(call())
                except BaseException as exc:  # as ThreadPoolExecutor: the caller gets it
                    future.set_exception(exc)
            del item, future, call
            self._idle.release()
        self._work.put(None)  # and the next thread ends too

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        with self._lock:
            self._closed = True
        if cancel_futures:
            with contextlib.suppress(queue.Empty):
                while (item := self._work.get_nowait()) is not None:
                    item[0].cancel()
        self._work.put(None)
        if wait:
            for thread in self._threads:
                thread.join()


class _Threads:
    """A thread pool that is made when first needed and again after a shutdown."""

    def __init__(self, workers: int, prefix: str) -> None:
        self._workers = workers
        self._prefix = prefix
        self._pool: Executor | None = None

    def __call__(self) -> Executor:
        if self._pool is None:
            self._pool = _DaemonThreads(self._workers, self._prefix)
        return self._pool

    def shutdown(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)


class _OneProbe:
    """One readiness probe of the database in flight at a time, bounded by `timeout`.

    A probe that comes while another runs shares its answer, within the same bound counted
    from that one's start; past the bound (a hung database: its thread is stuck in the
    driver) it is told at once that the database did not answer, instead of sending one
    more thread to get stuck behind it.
    """

    def __init__(self, timeout: float) -> None:
        self._timeout = timeout
        self._threads = _Threads(1, "altan-probe")
        self._running: asyncio.Future[int] | None = None
        self._deadline = 0.0

    async def __call__(self, size: Callable[[], int]) -> int:
        """`size()` on the probe's thread; TimeoutError past the bound."""
        loop = asyncio.get_running_loop()
        if self._running is None or self._running.done():
            running = loop.run_in_executor(self._threads(), size)
            # retrieved here, so that a late failure nobody awaits any more is not logged
            running.add_done_callback(lambda f: f.cancelled() or f.exception())
            self._running, self._deadline = running, loop.time() + self._timeout
        remaining = self._deadline - loop.time()
        if remaining <= 0:
            raise TimeoutError
        return await asyncio.wait_for(asyncio.shield(self._running), remaining)

    def shutdown(self) -> None:
        self._running = None  # a future of this loop; the app may start again on another
        self._threads.shutdown()


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app; the database, keys and log open when it starts."""
    cfg = settings or get_settings()
    # Threads of their own for what asks the database outside the routes (probes, token
    # checks before a body is read): a hung database queues them here, not in the routes'.
    # Made anew at each start: an app may be started and stopped more than once (tests,
    # schemathesis), and a pool that was shut down takes no more work.
    probe = _OneProbe(cfg.readiness_timeout_s)
    auth_pool = _Threads(4, "altan-auth")

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        logging_setup = observability.configure_logging(cfg)
        runtime = open_runtime(cfg)
        app.state.runtime = runtime
        app.state.log = runtime.log
        app.state.read_log = runtime.read_log  # the read replica's, or the same log
        app.state.events = runtime.events
        app.state.committer = EventCommitter(
            runtime.events,
            cfg.group_commit_max,
            cfg.group_commit_linger_ms / 1000,
            timeout=cfg.write_timeout_s,
        )
        app.state.settings = cfg
        # the console's regulator report, computed in the background (reports/snapshots.py)
        # on the pipeline's clock (as the page reads it: tests set one for both)
        report_snapshots = Refresher(
            runtime.engine, runtime.read_log.engine, cfg, lambda: runtime.events.clock()
        )
        app.state.report_snapshots = report_snapshots
        report_snapshots.start()
        try:
            yield
        finally:
            report_snapshots.stop()
            app.state.committer.close()
            probe.shutdown()
            auth_pool.shutdown()
            runtime.close()
            logging_setup.undo()

    app = FastAPI(
        title="Altan Ledger",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    _publish_event_bodies(app)
    problems.install(app)
    app.add_middleware(BodyLimit, max_bytes=cfg.max_request_bytes)
    app.add_middleware(AuthBeforeBody, timeout=cfg.readiness_timeout_s, pool=auth_pool)
    # Pure ASGI middleware only; the last added runs first: request id, log line and
    # latency around everything (and the one catch-all 500), then headers, CORS and rate
    # limits (per actor once its token is known valid, else per address), then a write's
    # bearer token is checked, then body limits; only then is a body read.
    hsts = cfg.public_url.startswith("https://")
    limiter = None
    if cfg.rate_limit_per_minute:
        limiter = security.RateLimiter(cfg.rate_limit_per_minute)
    app.add_middleware(
        security.Security, hsts=hsts, cors_origins=cfg.cors_origin_list, limiter=limiter
    )
    if cfg.forwarded_allow_ips:  # the client's address, as a trusted proxy says, first
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=cfg.forwarded_allow_ips)
    app.add_middleware(
        observability.RequestObservability,
        access_log=cfg.access_log,
        metrics=cfg.metrics,
        error_headers=security.response_headers(hsts),
    )
    observability.install_metrics(app, cfg)
    app.include_router(log_router)
    app.include_router(bundle_router)
    app.include_router(tiles_router)
    app.include_router(events_router)
    for domain in DOMAINS:
        if domain.router is not None:
            app.include_router(domain.router)

    async def database_answers(log: Log) -> int | JSONResponse:
        """The log's size, or a 503 problem when the database has not answered within
        ALTAN_READINESS_TIMEOUT_S."""
        try:
            return await probe(log.size)
        except (TimeoutError, SQLAlchemyError, LedgerError) as exc:
            # the type only: a database error's text may name the statement
            problems.log.warning("readiness: the database did not answer (%s)", type(exc).__name__)
            return problems.problem_response(
                503,
                "not-ready",
                "Not ready",
                f"the database did not answer within {cfg.readiness_timeout_s} s",
                headers={"Retry-After": str(problems.RETRY_AFTER_SECONDS)},
            )

    @app.get(
        "/livez",
        response_model=Liveness,
        tags=["operations"],
        summary="Liveness: the process answers (the database is not asked)",
        responses={200: {"content": {"application/json": {"example": {"status": "ok"}}}}},
    )
    async def livez() -> Liveness:
        """For a liveness probe: restarting the process would not mend a database, so this
        never asks it."""
        return Liveness(status="ok")

    @app.get(
        "/readyz",
        response_model=Health,
        tags=["operations"],
        summary="Readiness: the database answers within a bound",
        responses={
            200: {"content": {"application/json": {"example": {"status": "ok", "tree_size": 300}}}},
            503: {"description": "The database did not answer in time (Retry-After)"},
        },
    )
    async def readyz(log: LogDep) -> Health | JSONResponse:
        """`{"status": "ok", "tree_size": n}` when the database answered within
        ALTAN_READINESS_TIMEOUT_S, else 503 problem+json with Retry-After; for readiness
        probes and load balancers."""
        size = await database_answers(log)
        return size if isinstance(size, JSONResponse) else Health(status="ok", tree_size=size)

    @app.get(
        "/healthz",
        response_model=Health,
        tags=["operations"],
        summary="Readiness, as `/readyz` (kept for existing load balancers)",
        responses={
            200: {"content": {"application/json": {"example": {"status": "ok", "tree_size": 300}}}},
            503: {"description": "The database did not answer in time (Retry-After)"},
        },
    )
    async def healthz(log: LogDep) -> Health | JSONResponse:
        """The same answer as `/readyz`."""
        return await readyz(log)

    return app
