"""Token buckets: the burst, the refill, and how long to wait."""

from __future__ import annotations

import pytest

from carelog.services.rate_limit import TokenBucketLimiter
from tests.factories import Clock

pytestmark = pytest.mark.unit


def test_burst_then_refill() -> None:
    clock = Clock()
    limiter = TokenBucketLimiter(rate=2, burst=3, clock=clock)
    decisions = [limiter.take("a") for _ in range(4)]
    assert [d.allowed for d in decisions] == [True, True, True, False]
    assert [d.remaining for d in decisions] == [2, 1, 0, 0]
    assert decisions[-1].retry_after == 1
    assert decisions[-1].reset_seconds == 2  # 3 tokens at 2 per second
    clock.now += 0.5
    assert limiter.take("a").allowed
    assert not limiter.take("a").allowed


def test_principals_have_their_own_buckets() -> None:
    limiter = TokenBucketLimiter(rate=1, burst=1, clock=Clock())
    assert limiter.take("a").allowed
    assert not limiter.take("a").allowed
    assert limiter.take("b").allowed


def test_bucket_count_is_bounded() -> None:
    clock = Clock()
    limiter = TokenBucketLimiter(rate=1, burst=1, clock=clock, max_buckets=10)
    for i in range(100):
        limiter.take(str(i))
        clock.now += 2  # every earlier bucket has refilled and can be forgotten
    assert len(limiter._buckets) <= 10


def test_bad_configuration() -> None:
    with pytest.raises(ValueError, match="rate"):
        TokenBucketLimiter(rate=0, burst=1)


def test_peek_tells_without_taking() -> None:
    clock = Clock()
    limiter = TokenBucketLimiter(rate=1, burst=2, clock=clock)
    assert limiter.peek("a").allowed
    assert limiter.peek("a").remaining == 2  # nothing taken
    limiter.take("a")
    limiter.take("a")
    held = limiter.peek("a")
    assert (held.allowed, held.retry_after) == (False, 1)
    clock.now += 1.0
    assert limiter.peek("a").allowed
