"""The worker loop: claim a job, run it, poll again (see the package's docstring)."""

from __future__ import annotations

import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable

from carelog.services.periodic import poll_forever
from carelog.storage import jobs as job_store
from carelog.storage.db import Pool, connection
from carelog.storage.jobs import Claimed

_log = logging.getLogger("carelog.jobs")

# Runs a claimed job to its end (done, failed, or given back if cancelled).
Handler = Callable[[Pool, Claimed, str], Awaitable[None]]


class JobWorker:
    """One worker of this process: its name (host, process, a random part) is stamped on
    the jobs it claims."""

    def __init__(
        self, pool: Pool, handler: Handler, *, poll_seconds: float, stale_seconds: float
    ) -> None:
        self.pool = pool
        self.handler = handler
        self.poll_seconds = poll_seconds
        self.stale_seconds = stale_seconds
        self.name = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"

    async def run_once(self) -> bool:
        """Claim and run one job; whether there was one."""
        async with connection(self.pool) as conn:
            claimed = await job_store.claim_export(
                conn, worker=self.name, stale_seconds=self.stale_seconds
            )
        if claimed is None:
            return False
        await self.handler(self.pool, claimed, self.name)
        return True

    async def run_forever(self) -> None:
        """Claim and run jobs until cancelled (the service stops)."""
        await poll_forever(self.run_once, self.poll_seconds, name="export worker")
