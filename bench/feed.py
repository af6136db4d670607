"""Live feed benchmark: N subscribers of GET /patient-events/stream while events are written.

Hypothesis
----------
A stream reads the log, not the notification: each committed write wakes the tenant's
streams, and each reads its events from its position with one walk of event_feed's primary
key (migration 0026). Delivery latency from commit to client is then a wake-up plus one
short read per stream, a few milliseconds at low rates; as writes and subscribers grow,
each stream's reads fold several writes into one (a stream woken while it reads reads once
more), so the cost per stream is bounded by its read rate, not by the write rate.

Run
---
From the repository root::

    python bench/feed.py                                   # 200 subscribers, 500 writes/s, 20 s
    python bench/feed.py --subscribers 20 --rate 100 --seconds 10

``carelog serve`` runs as a child process (one worker, rate limit and access log off) on a
fresh embedded PostgreSQL in a temporary folder. The subscribers (one connection each, all
of one key's tenant, each filtered to the same 50 patients) run in ``--processes`` child
processes; the writers (16 concurrent clients posting single events at ``--rate`` per
second in total, spread over the 50 patients) in this one. Each event's commit time is
somewhere between the POST's sending and its answer: the latency is given from both (when
each subscriber received it minus each; the system-wide monotonic clock), which bound the
latency from the commit. It prints writes/s achieved, events delivered, whether
every subscriber got every event and none twice, and the p50/p99/max delivery latency.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import statistics
import tempfile
import time
from multiprocessing.connection import Connection
from pathlib import Path

import httpx
import orjson

# bench/ is not a package: run as ``python bench/feed.py``, Python puts bench/ first on
# sys.path, and that is how these sibling modules import.
from bench_common import say
from bench_service import Service, free_port

PATIENTS = [f"P-feed-{n}" for n in range(50)]


async def subscribe(
    base_url: str, token: str, received: dict[int, float], ready: asyncio.Event, order: list[int]
) -> None:
    query = "&".join(f"patient_id={p}" for p in PATIENTS)
    headers = {"Authorization": f"Bearer {token}"}
    async with (
        httpx.AsyncClient(base_url=base_url, timeout=httpx.Timeout(10, read=None)) as client,
        client.stream("GET", f"/patient-events/stream?{query}", headers=headers) as response,
    ):
        assert response.status_code == 200, response.status_code
        async for line in response.aiter_lines():
            if line == ": open":
                ready.set()
            elif line.startswith("data: "):
                event_id = orjson.loads(line[6:])["id"]
                received.setdefault(event_id, time.monotonic())
                order.append(event_id)


async def _subscribers(base_url: str, token: str, count: int, conn: Connection) -> None:
    received = [dict[int, float]() for _ in range(count)]
    orders: list[list[int]] = [[] for _ in range(count)]
    readies = [asyncio.Event() for _ in range(count)]
    tasks = [
        asyncio.create_task(subscribe(base_url, token, received[k], readies[k], orders[k]))
        for k in range(count)
    ]
    await asyncio.wait_for(asyncio.gather(*(r.wait() for r in readies)), 120)
    conn.send("ready")
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, conn.recv)  # "stop"
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError, httpx.HTTPError):
            await task
    conn.send((received, orders))


def subscriber_process(base_url: str, token: str, count: int, conn: Connection) -> None:
    """``count`` streams in a process of their own: the client's parsing must not be what
    is measured (200 streams in one Python process cannot read 100,000 messages a second)."""
    asyncio.run(_subscribers(base_url, token, count, conn))


async def write(
    client: httpx.AsyncClient,
    n: int,
    interval: float,
    until: float,
    committed: dict[int, tuple[float, float]],
) -> None:
    next_at = time.perf_counter() + n * interval / 16
    i = n
    while time.perf_counter() < until:
        delay = next_at - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        body = {"patient_id": PATIENTS[i % 50], "event_type": "note", "payload": {"i": i}}
        sent = time.monotonic()
        response = await client.post("/patient-events", json=body)
        committed[response.json()["id"]] = (sent, time.monotonic())
        next_at += interval
        i += 16


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def run(
    base_url: str, token: str, subscribers: int, processes: int, rate: float, seconds: float
) -> None:
    pipes = []
    children = []
    for n in range(processes):
        share = subscribers // processes + (n < subscribers % processes)
        parent, child = multiprocessing.Pipe()
        process = multiprocessing.Process(
            target=subscriber_process, args=(base_url, token, share, child)
        )
        process.start()
        pipes.append(parent)
        children.append(process)
    loop = asyncio.get_running_loop()
    for pipe in pipes:
        assert await loop.run_in_executor(None, pipe.recv) == "ready"
    say(f"{subscribers} streams open in {processes} processes")
    committed: dict[int, tuple[float, float]] = {}
    headers = {"Authorization": f"Bearer {token}"}
    limits = httpx.Limits(max_connections=16)
    async with httpx.AsyncClient(base_url=base_url, headers=headers, limits=limits) as client:
        started = time.monotonic()
        until = started + seconds
        interval = 16 / rate  # each of 16 writers
        await asyncio.gather(*(write(client, n, interval, until, committed) for n in range(16)))
        elapsed = time.monotonic() - started
    await asyncio.sleep(3)  # let the last deliveries arrive
    streams_received: list[dict[int, float]] = []
    orders: list[list[int]] = []
    for pipe in pipes:
        pipe.send("stop")
    for pipe in pipes:
        got, order = await loop.run_in_executor(None, pipe.recv)
        streams_received += got
        orders += order
    for process in children:
        process.join()
    # The commit happened between the POST's sending and its answer: the latency from the
    # answer understates it, from the sending overstates it.
    latencies = [
        (got[event_id] - answered) * 1000
        for got in streams_received
        for event_id, (_, answered) in committed.items()
        if event_id in got
    ]
    from_sent = [
        (got[event_id] - sent) * 1000
        for got in streams_received
        for event_id, (sent, _) in committed.items()
        if event_id in got
    ]
    complete = sum(set(committed) <= set(got) for got in streams_received)
    once = sum(len(order) == len(set(order)) for order in orders)
    say(f"writes: {len(committed)} in {elapsed:.1f} s = {len(committed) / elapsed:.0f}/s")
    say(f"delivered: {len(latencies)} of {len(committed) * subscribers}")
    say(f"subscribers with every event: {complete}/{subscribers}; none twice: {once}")
    for name, values in (("answer", latencies), ("sending", from_sent)):
        say(
            f"latency from the POST's {name} to the client, ms: "
            f"p50 {statistics.median(values):.1f}  p99 {pct(values, 0.99):.1f}  "
            f"max {max(values):.1f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subscribers", type=int, default=200)
    parser.add_argument("--rate", type=float, default=500.0, help="writes per second")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--processes", type=int, default=4, help="subscriber processes")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="carelog-feed-bench-") as folder:
        data = Path(folder)
        service = Service(
            data,
            free_port(),
            1,
            data / "service.log",
            access_log=False,
            env={"CARELOG_FEED_MAX_STREAMS_PER_PRINCIPAL": str(args.subscribers + 1)},
        )
        service.start()
        try:
            asyncio.run(
                run(
                    service.base_url,
                    service.token(),
                    args.subscribers,
                    args.processes,
                    args.rate,
                    args.seconds,
                )
            )
        finally:
            service.stop()


if __name__ == "__main__":
    main()
