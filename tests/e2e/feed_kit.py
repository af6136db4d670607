"""What the live-feed tests share: an app with short feed timings served by uvicorn on
loopback (httpx's in-process transport buffers a whole response, so a stream needs a real
server), and a Server-Sent Events reader."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson
import uvicorn
from fastapi import FastAPI

from carelog.api.app import create_app
from carelog.settings import Settings

FAST = {
    "feed_heartbeat_seconds": 0.3,
    "feed_catch_up_seconds": 0.4,
    "feed_max_streams_per_principal": 2,
    "pool_min_size": 1,
    "pool_max_size": 8,
    "access_log": False,
}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Served:
    """A started app and the loopback URL it is served at."""

    app: FastAPI
    url: str


@asynccontextmanager
async def served(settings: Settings, **overrides: Any) -> AsyncIterator[Served]:
    """A new app instance (its own runtime: pool, listener, hub) on ``settings``' database,
    with the feed's short timings, served on a free loopback port for the block."""
    app = create_app(settings.model_copy(update={**FAST, **overrides}))
    async with app.router.lifespan_context(app):
        port = _free_port()
        config = uvicorn.Config(
            app, host="127.0.0.1", port=port, lifespan="off", log_level="warning"
        )
        server = uvicorn.Server(config)
        serving = asyncio.create_task(server.serve())
        try:
            for _ in range(500):
                if server.started:
                    break
                await asyncio.sleep(0.01)
            yield Served(app, f"http://127.0.0.1:{port}")
        finally:
            server.should_exit = True
            await serving


@dataclass
class Sse:
    """One message of a stream: its fields as sent (``comment`` for a comment line)."""

    event: str | None = None
    id: str | None = None
    data: str = ""
    comment: str | None = None

    def json(self) -> Any:
        return orjson.loads(self.data)


@dataclass
class Stream:
    """An open stream; :meth:`next` takes its messages one by one."""

    status: int
    headers: httpx.Headers
    body: str
    messages: asyncio.Queue[Sse | None] = field(default_factory=asyncio.Queue)

    async def next(self, within: float = 5.0) -> Sse | None:
        """The next message (None: the stream ended)."""
        return await asyncio.wait_for(self.messages.get(), within)

    async def events(self, count: int, within: float = 5.0) -> list[Sse]:
        """The next ``count`` patient events, skipping comments."""
        found: list[Sse] = []
        while len(found) < count:
            message = await self.next(within)
            assert message is not None, f"the stream ended after {len(found)} events"
            if message.event == "patient_event":
                found.append(message)
        return found

    async def quiet(self, seconds: float) -> list[Sse]:
        """The patient events that arrive within ``seconds`` (expected: none)."""
        found: list[Sse] = []
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                while True:
                    message = await self.messages.get()
                    if message is None:
                        break
                    if message.event == "patient_event":
                        found.append(message)
        return found


async def _pump(response: httpx.Response, queue: asyncio.Queue[Sse | None]) -> None:
    current = Sse()
    try:
        async for line in response.aiter_lines():
            if line == "":
                if current.event or current.data or current.id:
                    await queue.put(current)
                current = Sse()
            elif line.startswith(":"):
                await queue.put(Sse(comment=line[1:].strip()))
            else:
                name, _, value = line.partition(":")
                value = value.removeprefix(" ")
                if name == "data":
                    current.data += value
                elif name == "event":
                    current.event = value
                elif name == "id":
                    current.id = value
    except (httpx.HTTPError, asyncio.CancelledError):
        pass
    finally:
        await queue.put(None)


@asynccontextmanager
async def open_stream(
    url: str, headers: dict[str, str], query: str = "", last_event_id: str | None = None
) -> AsyncIterator[Stream]:
    """GET /patient-events/stream; for a 200, the stream is open (its first comment read)
    when the block starts and closed by the client as it ends."""
    sent = dict(headers)
    if last_event_id is not None:
        sent["Last-Event-ID"] = last_event_id
    async with AsyncExitStack() as stack:
        client = await stack.enter_async_context(httpx.AsyncClient(base_url=url, timeout=10))
        response = await stack.enter_async_context(
            client.stream("GET", f"/patient-events/stream{query}", headers=sent)
        )
        if response.status_code != 200:
            body = (await response.aread()).decode()
            yield Stream(response.status_code, response.headers, body)
            return
        stream = Stream(response.status_code, response.headers, "")
        pump = asyncio.create_task(_pump(response, stream.messages))
        try:
            opened = await stream.next()
            assert opened is not None
            assert opened.comment == "open", opened
            yield stream
        finally:
            pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pump
