"""run_until_disconnect on its own: a server whose receive fails does not leave the app
waiting for a body for ever."""

from __future__ import annotations

import asyncio

import pytest
from starlette.types import Message, Receive, Scope, Send

from carelog.api.middleware import run_until_disconnect

pytestmark = pytest.mark.unit


async def test_a_failing_receive_cancels_the_app_instead_of_hanging_it() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        while (await receive())["type"] != "http.disconnect":
            pass
        await asyncio.sleep(3600)  # what a handler still at work would do

    async def receive() -> Message:
        raise RuntimeError("the connection broke")

    async def send(message: Message) -> None:
        raise AssertionError("nothing is sent")

    cancelled = await asyncio.wait_for(
        run_until_disconnect(app, {"type": "http"}, receive, send), timeout=5
    )
    assert cancelled
