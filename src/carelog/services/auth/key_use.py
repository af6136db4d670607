"""When each key was last used: noted in memory per request, written in batches.

Writing ``last_used_at`` on every request would turn every read into a write. Each process
instead keeps the latest use per key and stores them all in one UPDATE every few seconds
(and when it stops). A crash loses at most that interval of last-use times, never a request.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from carelog.errors import ServiceUnavailable
from carelog.services.periodic import every
from carelog.storage import keys as key_store
from carelog.storage.db import Pool, connection

_log = logging.getLogger("carelog.keys")


class KeyUseTracker:
    """Latest use time per key id, waiting to be flushed."""

    def __init__(self) -> None:
        self._pending: dict[str, datetime] = {}

    def touch(self, key_id: str) -> None:
        """Note that ``key_id`` authenticated a request just now."""
        self._pending[key_id] = datetime.now(UTC)

    async def flush(self, pool: Pool) -> int:
        """Write the pending use times; return how many keys were written."""
        if not self._pending:
            return 0
        pending, self._pending = self._pending, {}
        try:
            async with connection(pool) as conn:
                await key_store.record_key_use(conn, used=pending)
        except ServiceUnavailable:
            # Keep them for the next try, unless newer uses have replaced them meanwhile.
            for key_id, used in pending.items():
                self._pending.setdefault(key_id, used)
            raise
        return len(pending)

    async def flush_every(self, pool: Pool, seconds: float) -> None:
        """Flush every ``seconds`` until cancelled."""
        await every(
            seconds,
            lambda: self.flush(pool),
            unavailable=lambda: _log.warning("could not record key use; will retry"),
        )
