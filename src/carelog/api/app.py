"""The FastAPI application factory and its lifespan (pool, migrations, embedded database)."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from carelog import __version__
from carelog.api.docs import install_docs
from carelog.api.middleware import BodyLimitMiddleware, RequestContextMiddleware
from carelog.api.openapi import install_openapi
from carelog.api.problems import install_problem_handlers
from carelog.api.routes import audit, catalog, context, events, health, search
from carelog.api.routing import assert_protected
from carelog.errors import ServiceUnavailable
from carelog.services.attempts import AttemptCounter
from carelog.services.context_cache import ContextCache
from carelog.services.key_use import KeyUseTracker
from carelog.services.oidc import OidcVerifier
from carelog.services.principal_cache import KEYS_CHANNEL, PrincipalCache
from carelog.services.rate_limit import TokenBucketLimiter
from carelog.settings import Settings, get_settings
from carelog.storage.db import connect, create_pool
from carelog.storage.embedded import EmbeddedPostgres
from carelog.storage.migrate import migrate
from carelog.storage.notify import listen_forever

_log = logging.getLogger("carelog")

PROTECTED_ROUTERS = [
    events.router,
    audit.router,
    catalog.router,
    context.router,
    search.router,
]


def create_app(settings: Settings | None = None) -> FastAPI:
    """A Carelog API app. The database pool opens when the app starts and closes when it stops.

    With no database URL configured, the lifespan starts the embedded PostgreSQL itself.
    """
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        embedded: EmbeddedPostgres | None = None
        url = settings.database_url
        if url is None:
            # The app is the long-running service: it owns (and stops) the server it uses.
            embedded = EmbeddedPostgres(settings.data_dir, serving=True)
            url = embedded.start()
        # Migrate as the login user (the owner) before any pooled connection takes the
        # carelog_app role, which the migrations create.
        async with await connect(url) as conn:
            await migrate(conn)
        pool = create_pool(
            url,
            min_size=settings.pool_min_size,
            max_size=settings.pool_max_size,
            timeout=settings.pool_timeout,
            statement_timeout_ms=settings.statement_timeout_ms,
        )
        await pool.open(wait=True, timeout=30)
        cache = PrincipalCache()
        key_use = KeyUseTracker()
        window = settings.audit_repeat_window_seconds
        attempts = AttemptCounter(window=window) if window > 0 else None
        background = [
            asyncio.create_task(
                listen_forever(
                    url, KEYS_CHANNEL, on_message=cache.invalidate, on_state=cache.set_live
                ),
                name="carelog-keys-listener",
            ),
            asyncio.create_task(
                key_use.flush_every(pool, settings.key_use_flush_seconds),
                name="carelog-key-use",
            ),
        ]
        if attempts is not None:
            background.append(
                asyncio.create_task(
                    attempts.flush_every(pool, min(window, 5.0)), name="carelog-attempts"
                )
            )
        try:
            app.state.pool = pool
            app.state.attempts = attempts
            app.state.principal_cache = cache
            app.state.key_use = key_use
            app.state.context_cache = ContextCache(settings.context_cache_size)
            app.state.oidc = OidcVerifier(settings) if settings.oidc_issuer else None
            app.state.rate_limiter = (
                TokenBucketLimiter(
                    rate=settings.rate_limit_per_second, burst=settings.rate_limit_burst
                )
                if settings.rate_limit_per_second > 0
                else None
            )
            app.state.auth_failure_limiter = (
                TokenBucketLimiter(
                    rate=settings.auth_failure_rate_per_second, burst=settings.auth_failure_burst
                )
                if settings.auth_failure_rate_per_second > 0
                else None
            )
            # What start-up made (modules, routes, schemas, validators) lives as long as the
            # process: frozen, it is left out of every later collection. A full collection
            # walking it paused a worker for tens of milliseconds, which was most of the p99
            # of reads (docs/benchmarks.md, "The tail was the garbage collector").
            gc.collect()
            gc.freeze()
            yield
        finally:
            for task in background:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            with contextlib.suppress(ServiceUnavailable):
                await key_use.flush(pool)
            if attempts is not None:
                try:
                    await attempts.flush(pool, everything=True)
                except ServiceUnavailable:
                    _log.error(
                        "counted failed attempts not written: database unavailable (%d lost)",
                        attempts.pending(),
                    )
            await pool.close()
            if embedded is not None:
                embedded.stop()

    app = FastAPI(
        title="Carelog",
        version=__version__,
        summary="Durable, auditable patient memory and workflow API for healthcare AI agents.",
        lifespan=lifespan,
        docs_url=None,  # served by install_docs, without a CDN
        redoc_url=None,
    )
    app.state.settings = settings
    install_problem_handlers(app)
    install_openapi(app)
    # Authenticated by default: health and the docs are the public routers; every route of
    # the others must demand a scope, or the app refuses to start.
    app.include_router(health.router)
    install_docs(app)
    for router in PROTECTED_ROUTERS:
        assert_protected(router)
        app.include_router(router)
    protected = [route for router in PROTECTED_ROUTERS for route in router.routes]
    app.add_middleware(
        BodyLimitMiddleware, max_bytes=settings.max_body_bytes, protected_routes=protected
    )
    app.add_middleware(
        RequestContextMiddleware,
        access_log=settings.access_log,
        max_header_bytes=settings.max_header_bytes,
        audited_routes=protected,
    )
    return app
