"""The FastAPI application factory; its lifespan runs the service's runtime (services/runtime)."""

from __future__ import annotations

import gc
import importlib.util
import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

from fastapi import FastAPI

from carelog import __version__
from carelog.api.body_limit import BodyLimitMiddleware
from carelog.api.docs import install_docs
from carelog.api.middleware import RequestContextMiddleware
from carelog.api.openapi import install_openapi
from carelog.api.problems import install_problem_handlers
from carelog.api.routes import (
    audit,
    care_tasks,
    catalog,
    context,
    escalations,
    events,
    feed,
    fhir,
    fhir_bulk,
    health,
    prior_auth,
    search,
    subscriptions,
)
from carelog.api.routing import assert_protected
from carelog.services.runtime import Runtime, running
from carelog.settings import Settings, get_settings

_log = logging.getLogger("carelog")

PROTECTED_ROUTERS = [
    feed.router,  # (before events: /patient-events/stream is not /patient-events/{patient_id})
    events.router,
    audit.router,
    catalog.router,
    context.router,
    search.router,
    escalations.router,
    prior_auth.router,
    care_tasks.router,
    fhir.router,
    fhir_bulk.router,
    subscriptions.router,
]


def create_app(settings: Settings | None = None) -> FastAPI:
    """A Carelog API app. The database pool opens when the app starts and closes when it stops.

    With no database URL configured, the lifespan starts the embedded PostgreSQL itself.
    """
    settings = settings or get_settings()

    def current_runtime() -> Runtime:
        found: Runtime = app.state.runtime
        return found

    # The MCP server at /mcp (the mcp extra): the same services, with the caller's own key.
    mcp = None
    if importlib.util.find_spec("mcp") is not None:
        from carelog.mcp.http import mcp_http

        mcp = mcp_http(settings, current_runtime)
    else:
        _log.warning("MCP server off: install carelog[mcp] to serve /mcp")

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with running(settings) as runtime, AsyncExitStack() as stack:
            app.state.runtime = runtime
            if mcp is not None:
                await stack.enter_async_context(mcp.running())
            # What start-up made (modules, routes, schemas, validators) lives as long as the
            # process: frozen, it is left out of every later collection. A full collection
            # walking it paused a worker for tens of milliseconds, which was most of the p99
            # of reads (docs/benchmarks.md, "The tail was the garbage collector").
            gc.collect()
            gc.freeze()
            yield

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
    if mcp is not None:
        # Plain routes, not FastAPI's: the OpenAPI document lists the REST API only.
        app.router.routes.extend(mcp.routes)
    protected = [route for router in PROTECTED_ROUTERS for route in router.routes]
    app.add_middleware(
        BodyLimitMiddleware,
        max_bytes=settings.max_body_bytes,
        protected_routes=protected,
        path_limits={events.BATCH_PATH: settings.batch_max_bytes},
        max_streamed_bytes=settings.fhir_import_max_bytes,
    )
    app.add_middleware(
        RequestContextMiddleware,
        access_log=settings.access_log,
        max_header_bytes=settings.max_header_bytes,
        audited_routes=protected,
    )
    return app
