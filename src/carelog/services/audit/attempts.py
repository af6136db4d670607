"""Repeated failed attempts of unknown callers, counted instead of written one row each.

Anyone who can reach the port can send requests without a valid credential, and each used to
leave a permanent audit row: the append-only table grew as fast as a client could send. Now
the attempts of a caller the service could not identify (tenant ``-``) are grouped by client
address, route, action and status, in windows of ``window`` seconds:

- the first attempt of a group in a window is written at once, as before (a probe shows in
  the trail immediately, with its request id and patient id);
- the repeats in that window are only counted here (how many, when the first and the last
  arrived), and written as ONE row carrying that count (``attempts``) when the window has
  ended, by :meth:`AttemptCounter.flush_every`, and at shutdown.

The counted rows are ordinary audit rows, chained and verified like every other one, so the
trail still says that every attempt happened: ``sum(attempts)`` over the rows is the number
of attempts. What a counted row leaves out is what varies between its attempts (request ids,
the patient id of the path, which an unauthenticated caller can make up at will).

Bounded: at most ``max_groups`` groups are held; when that many are open, groups with nothing
counted are forgotten, and if every one has counts the new attempt is written at once (a row
each again, never a lost attempt). Each process counts its own attempts, so with several
workers a group may have a row per process and window; the sum stays exact. A process killed
without its shutdown (kill -9) loses the counts of its open windows, at most ``window``
seconds of repeats, whose first attempt was written already.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from carelog.domain.audit import (
    UNKNOWN_TENANT,
    AuditAction,
    AuditContext,
    RepeatedAttempts,
)
from carelog.services.audit import outcome_for
from carelog.services.periodic import every
from carelog.storage import audit as audit_store
from carelog.storage.db import Pool, connection

_log = logging.getLogger("carelog.audit")

_Group = tuple[str | None, str | None, AuditAction, int]


@dataclass(slots=True)
class _Window:
    opened: float  # the clock's reading when the group's first attempt was written
    count: int = 0
    first: datetime | None = None
    last: datetime | None = None


class AttemptCounter:
    """Open windows of unknown callers' failed attempts, and their counts to write."""

    def __init__(
        self,
        *,
        window: float,
        max_groups: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        if window <= 0 or max_groups < 1:
            raise ValueError("window must be positive and max_groups at least 1")
        self.window = window
        self._max_groups = max_groups
        self._clock = clock
        self._now = now
        self._windows: dict[_Group, _Window] = {}

    def absorb(self, audit: AuditContext, *, action: AuditAction, status: int) -> bool:
        """Count this attempt instead of writing its row; ``False``: write the row now
        (the caller is known, it is the first of its group in this window, or the table is
        full)."""
        if audit.tenant_id != UNKNOWN_TENANT or audit.principal_id is not None:
            return False
        group: _Group = (audit.client_address, audit.route, action, status)
        now = self._clock()
        window = self._windows.get(group)
        if window is None or (window.count == 0 and now - window.opened >= self.window):
            if group not in self._windows and len(self._windows) >= self._max_groups:
                self._forget_idle()
                if len(self._windows) >= self._max_groups:
                    return False
            self._windows[group] = _Window(opened=now)
            return False
        # (An ended window with counts keeps counting until the next flush writes it.)
        # The wall clock can step back (an NTP correction): first and last stay in order,
        # as the row's check (first_attempt_at <= last_attempt_at) requires.
        stamp = self._now()
        window.count += 1
        window.first = stamp if window.first is None else min(window.first, stamp)
        window.last = stamp if window.last is None else max(window.last, stamp)
        return True

    def pending(self) -> int:
        """Attempts counted and not yet written."""
        return sum(w.count for w in self._windows.values())

    def _forget_idle(self) -> None:
        idle = [group for group, window in self._windows.items() if window.count == 0]
        for group in idle:
            del self._windows[group]

    def _take_due(self, *, everything: bool) -> list[RepeatedAttempts]:
        now = self._clock()
        due = [
            group
            for group, window in self._windows.items()
            if everything or now - window.opened >= self.window
        ]
        taken: list[RepeatedAttempts] = []
        for group in due:
            window = self._windows.pop(group)
            if window.count and window.first is not None and window.last is not None:
                address, route, action, status = group
                taken.append(
                    RepeatedAttempts(
                        client_address=address,
                        route=route,
                        action=action,
                        outcome=outcome_for(status),
                        status=status,
                        attempts=window.count,
                        first_attempt_at=window.first,
                        last_attempt_at=window.last,
                    )
                )
        return taken

    def _give_back(self, repeats: list[RepeatedAttempts]) -> None:
        # Merged with whatever arrived meanwhile.
        for r in repeats:
            group: _Group = (r.client_address, r.route, r.action, r.status)
            window = self._windows.setdefault(group, _Window(opened=self._clock()))
            window.count += r.attempts
            window.first = min(filter(None, (window.first, r.first_attempt_at)))
            window.last = max(filter(None, (window.last, r.last_attempt_at)))

    async def flush(self, pool: Pool, *, everything: bool = False) -> int:
        """Write a counted row for each window that has ended (``everything``: for every
        window, as at shutdown); return how many attempts those rows record.

        The rows are written in one transaction, all or none. If that fails, the counts are
        kept for the next flush; if the flush is cancelled (at shutdown), it first learns
        whether the rows went in, so that they are neither lost nor written twice."""
        repeats = self._take_due(everything=everything)
        if not repeats:
            return 0
        write = asyncio.ensure_future(self._write(pool, repeats))
        try:
            await asyncio.shield(write)
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                await write
            if write.cancelled() or write.exception() is not None:
                self._give_back(repeats)
            raise
        except Exception:
            self._give_back(repeats)
            raise
        return sum(r.attempts for r in repeats)

    @staticmethod
    async def _write(pool: Pool, repeats: list[RepeatedAttempts]) -> None:
        async with connection(pool, UNKNOWN_TENANT) as conn, conn.transaction():
            await audit_store.insert_repeated_attempts(
                conn, tenant_id=UNKNOWN_TENANT, repeats=repeats
            )

    async def flush_every(self, pool: Pool, seconds: float) -> None:
        """Flush the ended windows every ``seconds`` until cancelled."""
        await every(
            seconds,
            lambda: self.flush(pool),
            unavailable=lambda: _log.warning(
                "could not write counted failed attempts (%d pending); will retry",
                self.pending(),
            ),
        )
