"""What a running Carelog serves requests with, whichever door they come through (the REST
app today, an MCP server later): one typed object, built once at start-up and closed at
shutdown, instead of loose attributes on the web framework's state.

:func:`running` starts it: the embedded PostgreSQL when no database URL is configured (this
process then owns and stops it), the migrations (as the login user, before any pooled
connection takes the application role they create), the pool, the caches and limiters, and
the background tasks (key revocations and committed events heard over LISTEN, key use and
counted failed attempts flushed every few seconds, and once more at shutdown, the Bulk Data
export workers, which give their running jobs back to the queue as they stop, the webhook
delivery workers, and the processes that read FHIR NDJSON imports, if asked for).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Executor
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

from carelog.services.audit.attempts import AttemptCounter
from carelog.services.auth.key_use import KeyUseTracker
from carelog.services.auth.oidc import OidcVerifier
from carelog.services.auth.principal_cache import KEYS_CHANNEL, PrincipalCache
from carelog.services.context.cache import ContextCache
from carelog.services.feed import EVENTS_CHANNEL, FeedHub
from carelog.services.fhir.export import run_export
from carelog.services.fhir.ndjson import line_readers
from carelog.services.jobs import JobWorker
from carelog.services.outbox import DeliveryWorker
from carelog.services.rate_limit import TokenBucketLimiter
from carelog.settings import Settings
from carelog.storage.db import Pool, connect, create_pool
from carelog.storage.embedded import EmbeddedPostgres
from carelog.storage.migrate import migrate
from carelog.storage.notify import listen_forever

_log = logging.getLogger("carelog")


@dataclass(slots=True)
class Runtime:
    """The service's long-lived parts. (Not frozen: a test may swap a limiter.)"""

    settings: Settings
    pool: Pool
    principal_cache: PrincipalCache
    key_use: KeyUseTracker
    context_cache: ContextCache
    # The live streams of this process, woken by one LISTEN on the events channel.
    feed: FeedHub
    oidc: OidcVerifier | None
    # Per principal; None: no limit.
    rate_limiter: TokenBucketLimiter | None
    # Failed authentication per client address; None: no limit.
    auth_failure_limiter: TokenBucketLimiter | None
    # An unknown caller's repeated failures, counted; None: a row each.
    attempts: AttemptCounter | None
    # The wall clock due times and overdue flags are computed from (tests set their own).
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    # The processes that read POST /fhir/$import's lines; None: a thread reads them.
    fhir_readers: Executor | None = None


def _limiter(rate: float, burst: int) -> TokenBucketLimiter | None:
    return TokenBucketLimiter(rate=rate, burst=burst) if rate > 0 else None


@asynccontextmanager
async def running(settings: Settings) -> AsyncIterator[Runtime]:
    """A started runtime for the block; everything it started is stopped after it."""
    embedded: EmbeddedPostgres | None = None
    url = settings.database_url
    if url is None:
        # The service is the long-running process: it owns (and stops) the server it uses.
        embedded = EmbeddedPostgres(settings.data_dir, serving=True)
        url = embedded.start()
    try:
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
        stack = AsyncExitStack()
        try:
            readers = await stack.enter_async_context(line_readers(settings.fhir_import_processes))
            window = settings.audit_repeat_window_seconds
            runtime = Runtime(
                settings=settings,
                pool=pool,
                principal_cache=PrincipalCache(),
                key_use=KeyUseTracker(),
                context_cache=ContextCache(settings.context_cache_size),
                feed=FeedHub(max_streams_per_principal=settings.feed_max_streams_per_principal),
                oidc=OidcVerifier(settings) if settings.oidc_issuer else None,
                rate_limiter=_limiter(settings.rate_limit_per_second, settings.rate_limit_burst),
                auth_failure_limiter=_limiter(
                    settings.auth_failure_rate_per_second, settings.auth_failure_burst
                ),
                attempts=AttemptCounter(window=window) if window > 0 else None,
                fhir_readers=readers,
            )
            async with _background(runtime, url):
                yield runtime
        finally:
            await stack.aclose()
            await pool.close()
    finally:
        if embedded is not None:
            embedded.stop()


@asynccontextmanager
async def _background(runtime: Runtime, url: str) -> AsyncIterator[None]:
    settings, pool, cache = runtime.settings, runtime.pool, runtime.principal_cache
    feed = runtime.feed

    def keys_changed(_payload: str) -> None:
        cache.invalidate()
        feed.keys_changed()  # (each stream looks at its own key again)

    tasks = [
        *(
            asyncio.create_task(
                JobWorker(
                    pool,
                    run_export,
                    poll_seconds=settings.export_poll_seconds,
                    stale_seconds=settings.export_stale_seconds,
                ).run_forever(),
                name=f"carelog-export-worker-{n}",
            )
            for n in range(settings.export_workers)
        ),
        *(
            asyncio.create_task(
                DeliveryWorker(pool, settings).run_forever(), name=f"carelog-webhook-worker-{n}"
            )
            for n in range(settings.webhook_workers)
        ),
        asyncio.create_task(
            listen_forever(url, KEYS_CHANNEL, on_message=keys_changed, on_state=cache.set_live),
            name="carelog-keys-listener",
        ),
        asyncio.create_task(
            # (looked up at each message, so that a test can stop hearing them)
            listen_forever(
                url,
                EVENTS_CHANNEL,
                on_message=lambda tenant: feed.wake(tenant),
                on_state=feed.set_live,
            ),
            name="carelog-events-listener",
        ),
        asyncio.create_task(
            runtime.key_use.flush_every(pool, settings.key_use_flush_seconds),
            name="carelog-key-use",
        ),
    ]
    attempts = runtime.attempts
    if attempts is not None:
        every = min(attempts.window, 5.0)
        tasks.append(
            asyncio.create_task(attempts.flush_every(pool, every), name="carelog-attempts")
        )
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        # (A task that failed is not let stop the final flushes below.)
        results = await asyncio.gather(*tasks, return_exceptions=True)
        for task, result in zip(tasks, results, strict=True):
            if not isinstance(result, asyncio.CancelledError | None):
                _log.error("%s had failed: %s", task.get_name(), type(result).__name__)
        try:
            await runtime.key_use.flush(pool)
        except Exception as exc:
            _log.error("key use not recorded at shutdown: %s", type(exc).__name__)
        if attempts is not None:
            try:
                await attempts.flush(pool, everything=True)
            except Exception as exc:
                _log.error(
                    "counted failed attempts not written: %s (%d lost)",
                    type(exc).__name__,
                    attempts.pending(),
                )
