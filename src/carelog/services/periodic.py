"""Run a flush every few seconds until cancelled, riding out an unavailable database."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from carelog.errors import ServiceUnavailable

_log = logging.getLogger("carelog")


async def every(
    seconds: float, flush: Callable[[], Awaitable[object]], *, unavailable: Callable[[], None]
) -> None:
    """Await ``flush()`` every ``seconds``; call ``unavailable()`` (to log) when the database
    cannot be reached, and try again at the next tick. Any other failure is logged (by type:
    its message could quote values) and the loop goes on: a flush that stopped for good
    would leave everything after it unwritten."""
    while True:
        await asyncio.sleep(seconds)
        try:
            await flush()
        except ServiceUnavailable:
            unavailable()
        except Exception as exc:
            _log.error("periodic flush failed: %s; will retry", type(exc).__name__)
