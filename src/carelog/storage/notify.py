"""LISTEN on a channel for as long as the process runs, reconnecting after failures."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import psycopg
from psycopg import sql

from carelog.storage.db import connect

_log = logging.getLogger("carelog.notify")


async def listen_forever(
    url: str,
    channel: str,
    *,
    on_message: Callable[[str], None],
    on_state: Callable[[bool], None],
    retry_seconds: float = 1.0,
) -> None:
    """Call ``on_message`` with the payload of every notification on ``channel``, until
    cancelled.

    ``on_state(True)`` once listening, ``on_state(False)`` whenever the connection is lost;
    it reconnects every ``retry_seconds`` meanwhile.
    """
    while True:
        try:
            conn = await connect(url, keepalives=1, keepalives_idle=5, keepalives_interval=2)
            async with conn:
                await conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))
                on_state(True)
                async for notification in conn.notifies():
                    on_message(notification.payload)
        except (psycopg.Error, OSError) as exc:
            _log.warning("listener on %s lost: %s", channel, type(exc).__name__)
        finally:
            on_state(False)
        await asyncio.sleep(retry_seconds)
