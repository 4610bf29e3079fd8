"""The FastAPI application."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from schemas.log import Health
from services import observability, problems, security
from services.actors.routes import router as actors_router
from services.cases.routes import router as cases_router
from services.certificates.routes import router as certificates_router
from services.deps import LogDep
from services.epcis.routes import router as epcis_router
from services.events.routes import router as events_router
from services.events.service import EventCommitter
from services.limits import BodyLimit
from services.log.bundle import router as bundle_router
from services.log.routes import router as log_router
from services.lots.routes import router as lots_router
from services.reports.routes import router as reports_router
from services.runtime import open_runtime
from services.settings import Settings, get_settings
from services.witnesses.routes import router as witnesses_router

DESCRIPTION = """
Altan Ledger keeps a tamper-evident, signed record of ore and gold lots from artisanal
miners through processing centres to buyers. The `/log/*` endpoints let anyone verify the
whole record without trusting the server: RFC 9162 Merkle proofs, C2SP signed checkpoints,
Ed25519 receipts on every entry. Base64 is standard with padding.
"""


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app; the database, keys and log open when it starts."""
    cfg = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        logging_setup = observability.configure_logging(cfg)
        runtime = open_runtime(cfg)
        app.state.runtime = runtime
        app.state.log = runtime.log
        app.state.read_log = runtime.read_log  # the read replica's, or the same log
        app.state.events = runtime.events
        app.state.committer = EventCommitter(
            runtime.events, cfg.group_commit_max, cfg.group_commit_linger_ms / 1000
        )
        app.state.settings = cfg
        try:
            yield
        finally:
            app.state.committer.close()
            runtime.close()
            logging_setup.undo()

    app = FastAPI(
        title="Altan Ledger",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    problems.install(app)
    app.add_middleware(BodyLimit, max_bytes=cfg.max_request_bytes)
    # Pure ASGI middleware only; the last added runs first: request id, log line and
    # latency around everything, then headers, CORS and rate limits, then body limits.
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
    app.include_router(events_router)
    app.include_router(actors_router)
    app.include_router(lots_router)
    app.include_router(cases_router)
    app.include_router(certificates_router)
    app.include_router(epcis_router)
    app.include_router(reports_router)
    app.include_router(witnesses_router)

    @app.get(
        "/healthz",
        response_model=Health,
        tags=["operations"],
        summary="Liveness: the service answers and can read the log",
        responses={
            200: {"content": {"application/json": {"example": {"status": "ok", "tree_size": 300}}}}
        },
    )
    def healthz(log: LogDep) -> Health:
        """`{"status": "ok", "tree_size": n}` when the database answers; for load balancers."""
        return Health(status="ok", tree_size=log.size())

    return app
