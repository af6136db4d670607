"""An in-process cache of authenticated principals, invalidated by the database.

Looking a key up costs a pool checkout and a query on every request, about a fifth of a
read's CPU. Entries are trusted only while this process is LISTENing on the database's
``carelog_api_keys`` channel: a revocation commits together with a NOTIFY on that channel,
which empties every process's cache as soon as it arrives. When the listening connection is
lost, the cache switches itself off (every request goes to the database) until it is back.

Two guards keep a stale principal from being cached after an invalidation: entries carry
the generation they were looked up in and are dropped if an invalidation happened meanwhile,
and every entry expires after ``ttl`` seconds whatever happens (the bound if a listening
connection dies without the process noticing). A key's own expiry is checked on every hit.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

from carelog.domain.principals import Principal

KEYS_CHANNEL = "carelog_api_keys"


class PrincipalCache:
    """Principals by token hash, valid only while ``live``."""

    def __init__(self, *, ttl: float = 10.0, max_entries: int = 10_000) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self.generation = 0
        self.live = False
        self._entries: dict[bytes, tuple[Principal, float]] = {}

    def get(self, key_hash: bytes) -> Principal | None:
        """The cached principal, if the cache is live and the entry fresh."""
        if not self.live:
            return None
        entry = self._entries.get(key_hash)
        if entry is None:
            return None
        principal, expires = entry
        if time.monotonic() >= expires or (
            principal.expires_at is not None and principal.expires_at <= datetime.now(UTC)
        ):
            del self._entries[key_hash]
            return None
        return principal

    def put(self, key_hash: bytes, principal: Principal, generation: int) -> None:
        """Remember a principal looked up during ``generation``."""
        if not self.live or generation != self.generation:
            return
        if len(self._entries) >= self.max_entries:
            self._entries.clear()
        self._entries[key_hash] = (principal, time.monotonic() + self.ttl)

    def invalidate(self) -> None:
        """Forget everything, and refuse entries looked up before now."""
        self.generation += 1
        self._entries.clear()

    def set_live(self, live: bool) -> None:
        """Turn the cache on (the listener is connected) or off (it is not)."""
        self.invalidate()
        self.live = live
