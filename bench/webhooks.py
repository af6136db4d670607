"""Webhook delivery benchmark: how fast the delivery workers empty the outbox, and the time
from an event's commit to its delivery.

Hypothesis
----------
A delivery costs the worker five statements (the claim, the read of what to send, and the
attempt's row, the delivery's state and its audit row in one transaction) and one HTTP
round trip to the receiver, all on loopback: about 3 ms, so one worker sends about 300 a
second and more workers share the outbox (SKIP LOCKED) up to what the 2 cores give. Events
written faster than that queue; the latency from commit to delivery is then the queue's.

Run
---
From the repository root::

    python bench/webhooks.py                          # 3,000 events, 1 worker
    python bench/webhooks.py --events 3000 --webhook-workers 4

It starts ``carelog serve`` on a fresh embedded PostgreSQL in a temporary folder, with a
receiver (stdlib http.server in a thread, answering 204 at once) on loopback, subscribes it
to every event of the tenant, writes the events in batches of ``--batch`` (each patient's
events in order), and waits until every delivery has arrived. It prints the deliveries per
second (first write to last delivery) and the commit-to-delivery latency (from the answer to
the batch that wrote the event to its arrival at the receiver): median, p99, worst.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import orjson

from bench_common import say
from bench_service import Service, free_port

arrivals: dict[int, float] = {}  # event id -> when its delivery arrived
lock = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["content-length"]))
        event_id = orjson.loads(body)["data"]["id"]
        with lock:
            arrivals.setdefault(event_id, time.perf_counter())
        self.send_response(204)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=3000)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--patients", type=int, default=50)
    parser.add_argument("--webhook-workers", type=int, default=1)
    args = parser.parse_args()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    hook = f"http://127.0.0.1:{server.server_address[1]}/hook"
    with tempfile.TemporaryDirectory(prefix="carelog-webhooks-bench-") as folder:
        data_dir = Path(folder)
        service = Service(
            data_dir, free_port(), 1, data_dir / "service.log", access_log=False,
            env={
                "CARELOG_WEBHOOK_WORKERS": str(args.webhook_workers),
                "CARELOG_WEBHOOK_POLL_SECONDS": "0.05",
                "CARELOG_WEBHOOK_ALLOW_HTTP": "true",
                "CARELOG_WEBHOOK_ALLOW_PRIVATE_ADDRESSES": "true",
            },
        )  # fmt: skip
        service.start()
        try:
            token = service.token()  # the first start's admin key
            headers = {"Authorization": f"Bearer {token}"}
            with httpx.Client(base_url=service.base_url, headers=headers, timeout=120) as client:
                made = client.post("/subscriptions", json={"url": hook})
                if made.status_code != 201:
                    sys.exit(f"subscription refused: {made.status_code} {made.text}")
                committed: dict[int, float] = {}
                started = time.perf_counter()
                for first in range(0, args.events, args.batch):
                    items = [
                        {
                            "patient_id": f"P-{n % args.patients:04d}",
                            "event_type": "note",
                            "payload": {"text": f"synthetic note {n}"},
                        }
                        for n in range(first, min(first + args.batch, args.events))
                    ]
                    response = client.post("/patient-events/batch", json=items)
                    if response.status_code != 200:
                        sys.exit(f"batch refused: {response.status_code} {response.text[:300]}")
                    done = time.perf_counter()
                    committed.update((event_id, done) for event_id in response.json()["ids"])
                written = time.perf_counter() - started
                say(f"{args.events:,} events written in {written:.1f} s; waiting for deliveries")
                deadline = time.perf_counter() + 600
                while len(arrivals) < args.events and time.perf_counter() < deadline:
                    time.sleep(0.05)
                took = max(arrivals.values()) - started
        finally:
            service.stop()
            server.shutdown()
    if len(arrivals) < args.events:
        sys.exit(f"error: {len(arrivals)} of {args.events} deliveries arrived")
    latencies = sorted(arrivals[e] - committed[e] for e in committed)
    p99 = latencies[int(len(latencies) * 0.99) - 1]
    print(
        f"{args.events:,} deliveries, {args.webhook_workers} webhook worker(s): "
        f"{args.events / took:,.0f} deliveries/s (first write to last delivery, {took:.1f} s; "
        f"writing took {written:.1f} s); commit to delivery median "
        f"{statistics.median(latencies) * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms, "
        f"max {latencies[-1] * 1000:.0f} ms"
    )


if __name__ == "__main__":
    main()
