"""run_until_disconnect on its own: the work of a client that went away is cancelled, before
or after its body, however the server tells it; a request that ends soon costs no watcher;
a shutdown still unwinds the app."""

from __future__ import annotations

import asyncio
import time

import pytest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from carelog.api import body_limit, middleware
from carelog.api.middleware import run_until_disconnect

pytestmark = pytest.mark.unit

BODY: Message = {"type": "http.request", "body": b"{}", "more_body": False}


class Client:
    """A server's receive: the body, then nothing until the client goes away at ``leaves``
    seconds (never, with None)."""

    def __init__(self, leaves: float | None) -> None:
        self.calls = 0
        self.gone = asyncio.Event()
        if leaves is not None:
            asyncio.get_running_loop().call_later(leaves, self.gone.set)

    async def receive(self) -> Message:
        self.calls += 1
        if self.calls == 1:
            return BODY
        await self.gone.wait()
        return {"type": "http.disconnect"}


async def _no_send(message: Message) -> None:
    raise AssertionError("nothing is sent")


async def _sent(message: Message) -> None:
    pass


def _working(unwound: list[str]) -> ASGIApp:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        assert await receive() == BODY
        try:
            await asyncio.sleep(3600)  # what a handler at work on a statement does
        finally:
            unwound.append("unwound")

    return app


async def test_a_failing_receive_cancels_the_app_instead_of_hanging_it() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        while (await receive())["type"] != "http.disconnect":
            pass
        await asyncio.sleep(3600)  # what a handler still at work would do

    async def receive() -> Message:
        raise RuntimeError("the connection broke")

    cancelled = await asyncio.wait_for(
        run_until_disconnect(app, {"type": "http"}, receive, _no_send), timeout=5
    )
    assert cancelled


@pytest.mark.parametrize("leaves", [0.0, 0.01, 0.3], ids=["at-once", "before-watch", "later"])
async def test_the_work_of_a_client_that_left_after_its_body_is_cancelled(leaves: float) -> None:
    client, unwound = Client(leaves), list[str]()
    started = time.monotonic()
    cancelled = await asyncio.wait_for(
        run_until_disconnect(_working(unwound), {"type": "http"}, client.receive, _no_send),
        timeout=5,
    )
    assert cancelled
    assert unwound == ["unwound"]
    assert time.monotonic() - started < max(leaves, middleware.WATCH_AFTER) + 0.5


async def test_a_client_that_leaves_while_sending_its_body_cancels_the_work() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        while (await receive()).get("more_body"):
            pass
        await asyncio.sleep(3600)

    messages = iter([{**BODY, "more_body": True}, {"type": "http.disconnect"}])

    async def receive() -> Message:
        return next(messages)

    assert await asyncio.wait_for(
        run_until_disconnect(app, {"type": "http"}, receive, _no_send), timeout=5
    )


async def test_a_request_that_ends_soon_starts_no_watch() -> None:
    client = Client(None)

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    tasks = len(asyncio.all_tasks())
    assert not await run_until_disconnect(app, {"type": "http"}, client.receive, _sent)
    await asyncio.sleep(middleware.WATCH_AFTER * 2)
    assert client.calls == 1  # nobody listened for a disconnect
    assert len(asyncio.all_tasks()) == tasks


async def test_an_app_waiting_for_the_disconnect_hears_it_and_a_sent_answer_is_kept() -> None:
    client, heard = Client(0.1), list[str]()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})
        heard.append((await receive())["type"])  # as a streaming response listens

    assert not await asyncio.wait_for(
        run_until_disconnect(app, {"type": "http"}, client.receive, _sent), timeout=5
    )
    assert heard == ["http.disconnect"]


async def test_a_shutdown_unwinds_the_app_and_goes_on() -> None:
    client, unwound = Client(None), list[str]()
    request = asyncio.ensure_future(
        run_until_disconnect(_working(unwound), {"type": "http"}, client.receive, _no_send)
    )
    await asyncio.sleep(middleware.WATCH_AFTER * 2)  # the watch has started
    request.cancel()
    with pytest.raises(asyncio.CancelledError):
        await request
    assert unwound == ["unwound"]


async def test_a_body_over_the_limit_is_not_read_while_the_route_authenticates(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Review of issue 9, item 9: a declared size over the limit is left unread, not read
    and dropped by the watcher while the route authenticates (which would also have the
    server invite the upload with 100 Continue)."""
    monkeypatch.setattr(body_limit, "refuses_bodies_itself", lambda route: True)
    calls = 0

    async def uploading() -> Message:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.001)  # a client sending steadily
        return {"type": "http.request", "body": b"x" * 65536, "more_body": True}

    async def route(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()  # the empty body BodyLimitMiddleware hands on
        await asyncio.sleep(0.3)  # authenticating: a key lookup
        await send({"type": "http.response.start", "status": 413, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    app = body_limit.BodyLimitMiddleware(route, max_bytes=1024 * 1024)
    scope: Scope = {
        "type": "http",
        "method": "POST",
        "path": "/patient-events",
        "headers": [(b"content-length", b"10000000000")],
    }
    assert not await run_until_disconnect(app, scope, uploading, _sent)
    assert calls == 0
