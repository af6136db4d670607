"""Counting an unknown caller's repeated failures: which attempts are counted, windows, bounds."""

from __future__ import annotations

import pytest

from carelog.domain.audit import AuditAction, AuditContext
from carelog.services.audit.attempts import AttemptCounter
from tests.factories import Clock

pytestmark = pytest.mark.unit


def _anonymous(address: str, route: str = "/patient-events") -> AuditContext:
    return AuditContext(request_id="r", client_address=address, route=route)


def test_the_first_of_a_group_is_written_and_the_repeats_counted() -> None:
    counter = AttemptCounter(window=60, clock=Clock())
    absorbed = [
        counter.absorb(_anonymous("192.0.2.1"), action=AuditAction.CREATE, status=401)
        for _ in range(5)
    ]
    assert absorbed == [False, True, True, True, True]
    # Another status, route or address is a group of its own.
    assert not counter.absorb(_anonymous("192.0.2.1"), action=AuditAction.CREATE, status=429)
    assert not counter.absorb(_anonymous("192.0.2.1", "/x"), action=AuditAction.CREATE, status=401)
    assert not counter.absorb(_anonymous("192.0.2.2"), action=AuditAction.CREATE, status=401)
    assert counter.pending() == 4


def test_known_callers_are_always_written() -> None:
    counter = AttemptCounter(window=60, clock=Clock())
    known = _anonymous("192.0.2.1")
    known.tenant_id, known.principal_id = "t-1", "key:1"
    assert not any(counter.absorb(known, action=AuditAction.READ, status=403) for _ in range(3))
    assert counter.pending() == 0


def test_an_ended_window_with_nothing_counted_reopens() -> None:
    clock = Clock()
    counter = AttemptCounter(window=10, clock=clock)
    probe = _anonymous("192.0.2.1")
    assert not counter.absorb(probe, action=AuditAction.READ, status=401)
    clock.now += 11
    assert not counter.absorb(probe, action=AuditAction.READ, status=401)  # written at once
    assert counter.absorb(probe, action=AuditAction.READ, status=401)
    clock.now += 11  # ended, but with a count: it keeps counting until it is flushed
    assert counter.absorb(probe, action=AuditAction.READ, status=401)
    assert counter.pending() == 2


def test_the_table_is_bounded() -> None:
    counter = AttemptCounter(window=60, max_groups=2, clock=Clock())
    a, b, c = (_anonymous(f"192.0.2.{n}") for n in (1, 2, 3))
    for probe in (a, a, b):
        counter.absorb(probe, action=AuditAction.READ, status=401)
    # Full: b has nothing counted and is forgotten for c.
    assert not counter.absorb(c, action=AuditAction.READ, status=401)
    assert counter.absorb(c, action=AuditAction.READ, status=401)
    # Full of counted groups: a new one is written at once, every time, never dropped.
    d = _anonymous("192.0.2.4")
    assert not counter.absorb(d, action=AuditAction.READ, status=401)
    assert not counter.absorb(d, action=AuditAction.READ, status=401)
    assert counter.pending() == 2
