"""Run a flush every few seconds until cancelled, riding out an unavailable database."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from carelog.errors import ServiceUnavailable


async def every(
    seconds: float, flush: Callable[[], Awaitable[object]], *, unavailable: Callable[[], None]
) -> None:
    """Await ``flush()`` every ``seconds``; call ``unavailable()`` (to log) when the database
    cannot be reached, and try again at the next tick."""
    while True:
        await asyncio.sleep(seconds)
        try:
            await flush()
        except ServiceUnavailable:
            unavailable()
