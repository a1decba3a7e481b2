"""create_app(settings) -> FastAPI: infrastructure, each domain's install, middleware, lifespan."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from fastapi import FastAPI

from quantumlock import __version__
from quantumlock.accounts import install as accounts
from quantumlock.audit import install as audit
from quantumlock.auth import install as auth
from quantumlock.crypto import install as crypto
from quantumlock.entropy import install as entropy
from quantumlock.idempotency import install as idempotency
from quantumlock.identity import install as identity
from quantumlock.licensing import install as licensing
from quantumlock.observability.logging import configure_logging
from quantumlock.portal import install as portal
from quantumlock.runtime import Runtime
from quantumlock.settings import Settings
from quantumlock.web import system
from quantumlock.web.docs import install_docs
from quantumlock.web.errors import install_error_handlers
from quantumlock.web.fastpath import FastRoutes
from quantumlock.web.install import Domain, Infra
from quantumlock.web.middleware import RequestContextMiddleware
from quantumlock.web.openapi import API_DESCRIPTION, install_openapi

# Installed in this order (quantumlock.web.install); their routers are tried in it too, after
# the routers a domain marks hot. Adding a domain is adding it here.
DOMAINS: tuple[Domain, ...] = (
    auth,
    entropy,
    crypto,
    licensing,
    accounts,
    audit,
    idempotency,
    identity,
    portal,
)


def create_app(settings: Settings | None = None, domains: Sequence[Domain] = DOMAINS) -> FastAPI:
    settings = settings or Settings()
    configure_logging(settings.log_level, settings.log_format)
    runtime = Runtime.build(settings)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await runtime.start()
        # Everything built so far lives as long as the process. Freezing it keeps the
        # collector from walking it on every full collection: those walks were 50-70 ms
        # pauses under load (p99 400 ms at 64 connections), and are about 3 ms frozen.
        # No collection first: over the ~245,000 objects start-up built it took 0.13-0.16 s
        # of every cold start and freed ~800 of them (quantumlock.core.startup).
        gc.freeze()
        # A request allocates a few hundred short-lived objects; with the default gen-0
        # threshold (700) the collector ran several times per request under load. At 50,000
        # it runs every few hundred requests: +5-10% throughput on /api/v2/me in paired wrk
        # runs (64 connections, one worker).
        gc.set_threshold(50_000, 50, 1000)
        try:
            yield
        finally:
            await runtime.stop()

    app = FastAPI(
        title="QuantumLock",
        version=__version__,
        description=API_DESCRIPTION,
        lifespan=lifespan,
        # /docs and /redoc are served by quantumlock.web.docs, from local assets (no CDN).
        docs_url=None,
        redoc_url=None,
        # FastAPI's native OpenTelemetry hooks cost a provider lookup per request even when
        # no OTel SDK is configured; they are opt-in (QL_OTEL=true) with an SDK installed.
        telemetry=None if settings.otel else {"tracing": False, "metrics": False, "logs": False},
    )
    app.state.runtime = runtime
    infra = Infra(runtime, app)
    for domain in domains:
        domain.install(infra)
    install_error_handlers(app)
    infra.include_routers()
    app.include_router(system.router)
    if settings.metrics_enabled:
        app.include_router(system.metrics_router)
    install_docs(app)
    install_openapi(app)
    fast_routes = FastRoutes(app)
    # What the domains asked to serve fast, whether or not QL_FAST_PATHS serves it.
    app.state.fast_paths = frozenset(infra.fast_paths)
    if settings.fast_paths:
        for method, path in infra.fast_paths:
            fast_routes.add(method, path)
    app.add_middleware(
        RequestContextMiddleware,
        metrics=runtime.metrics,
        max_body_bytes=settings.max_body_bytes,
        access_log=settings.access_log,
        # 1 MiB of data is 1.4 MiB of base64, plus the JSON around it.
        body_limits={"/api/v1/quantum/crypto/": max(settings.max_body_bytes, 2 * 1024 * 1024)},
        fast_routes=fast_routes,
    )
    return app


def create_app_from_env() -> FastAPI:
    """Kept for `uvicorn --factory quantumlock.app:create_app_from_env`; `quantumlock serve`
    loads quantumlock.server's, which imports this module with the collector paused."""
    return create_app()
