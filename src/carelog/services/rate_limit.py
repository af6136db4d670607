"""Per-principal rate limits: a token bucket per principal, in each service process.

Each principal's bucket holds up to ``burst`` tokens and refills at ``rate`` per second; a
request takes one. An empty bucket answers 429 with how long until a token is back. Buckets
live in the process, so with N worker processes a principal gets up to N times the rate on
one host: set the rate per process accordingly, or put a shared limiter in front for many
hosts (the load balancer, or a later PostgreSQL/Redis-backed limiter).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Decision:
    """The outcome of one request against its principal's bucket."""

    allowed: bool
    limit: int
    remaining: int
    reset_seconds: int
    retry_after: int


class TokenBucketLimiter:
    """Token buckets by principal name."""

    def __init__(
        self,
        *,
        rate: float,
        burst: int,
        clock: Callable[[], float] = time.monotonic,
        max_buckets: int = 100_000,
    ) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be positive and burst at least 1")
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._max_buckets = max_buckets
        self._buckets: dict[str, tuple[float, float]] = {}

    def take(self, key: str) -> Decision:
        """Take a token for ``key`` if there is one."""
        return self._decide(key, take=True)

    def peek(self, key: str) -> Decision:
        """Whether ``key`` has a token, without taking it (for a bucket charged only for
        some outcomes, such as failed authentication)."""
        return self._decide(key, take=False)

    def _decide(self, key: str, *, take: bool) -> Decision:
        now = self._clock()
        tokens, stamp = self._buckets.get(key, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - stamp) * self.rate)
        allowed = tokens >= 1.0
        if take:
            if allowed:
                tokens -= 1.0
            if key not in self._buckets and len(self._buckets) >= self._max_buckets:
                self._evict(now)
            self._buckets[key] = (tokens, now)
        missing = self.burst - tokens
        return Decision(
            allowed=allowed,
            limit=self.burst,
            remaining=int(tokens),
            reset_seconds=math.ceil(missing / self.rate),
            retry_after=0 if allowed else max(1, math.ceil((1.0 - tokens) / self.rate)),
        )

    def _evict(self, now: float) -> None:
        # Drop buckets that have refilled completely: forgetting them changes nothing.
        full = [
            key
            for key, (tokens, stamp) in self._buckets.items()
            if tokens + (now - stamp) * self.rate >= self.burst
        ]
        for key in full:
            del self._buckets[key]
        if len(self._buckets) >= self._max_buckets:
            self._buckets.clear()
