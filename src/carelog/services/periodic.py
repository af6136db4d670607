"""Loops of the background tasks, riding out an unavailable database: a flush every few
seconds, and a worker's claim-and-run until its queue is empty, then a poll."""

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


async def poll_forever(
    run_once: Callable[[], Awaitable[bool]], seconds: float, *, name: str
) -> None:
    """Await ``run_once()`` again at once while it did something, else after ``seconds``;
    any failure (the database away) is logged by type under ``name`` and the loop goes on,
    until cancelled."""
    while True:
        try:
            if await run_once():
                continue
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            _log.warning("%s: %s", name, type(exc).__name__)
        await asyncio.sleep(seconds)
