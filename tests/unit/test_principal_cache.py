"""The principal cache: trusted only while live, never refilled with a stale lookup."""

from __future__ import annotations

import time

import pytest

from carelog.domain.principals import Principal
from carelog.domain.scopes import Permission
from carelog.services.auth.principal_cache import PrincipalCache

pytestmark = pytest.mark.unit

ALICE = Principal(key_id="k1", tenant_id="t", permissions=frozenset({Permission.EVENTS_READ}))


def test_not_live_means_no_hits() -> None:
    cache = PrincipalCache()
    cache.put(b"h", ALICE, cache.generation)
    assert cache.get(b"h") is None
    cache.set_live(True)
    cache.put(b"h", ALICE, cache.generation)
    assert cache.get(b"h") == ALICE
    cache.set_live(False)
    assert cache.get(b"h") is None


def test_a_lookup_older_than_an_invalidation_is_not_cached() -> None:
    cache = PrincipalCache()
    cache.set_live(True)
    generation = cache.generation
    cache.invalidate()  # a revocation arrived while the lookup was in flight
    cache.put(b"h", ALICE, generation)
    assert cache.get(b"h") is None


def test_entries_expire(monkeypatch: pytest.MonkeyPatch) -> None:
    cache = PrincipalCache(ttl=5)
    cache.set_live(True)
    cache.put(b"h", ALICE, cache.generation)
    now = time.monotonic()
    monkeypatch.setattr(time, "monotonic", lambda: now + 6)
    assert cache.get(b"h") is None


def test_size_is_bounded() -> None:
    cache = PrincipalCache(max_entries=3)
    cache.set_live(True)
    for i in range(10):
        cache.put(bytes([i]), ALICE, cache.generation)
    assert sum(cache.get(bytes([i])) is not None for i in range(10)) <= 3
