"""One request's unit of work: the connection its use cases share, at most one transaction
on it, and whether the request's audit row is stored.

The edge that received the request (a route, later an MCP tool or a command) opens the unit
with :func:`unit_of_work` and hands it to the use case it calls; a use case that calls
another hands on the same unit, so the two share a connection and, inside
:meth:`Work.transaction`, one transaction:

- A use case whose writing is one statement (an event with its audit row, a correction with
  its audit row) just runs it. On its own that statement is its own transaction, which
  costs one round trip where BEGIN and COMMIT would add two (the fast path, measured in
  ``docs/benchmarks.md``); inside a transaction a caller opened, the same statement is part
  of that transaction. Either way the use case's code is the same.
- A use case that writes more than one statement opens ``work.transaction()``. The first
  one opened on a unit is the transaction; one opened inside it joins it (no savepoint), so
  a workflow's transition, the event it appends, its state row, its audit row and later its
  outbox row commit or roll back together.
- Per-transaction settings (``SET LOCAL``: the context query's plan) are the unit's to set,
  for the scope that asks for them: ``work.transaction(settings=...)``. Inside an outer
  transaction the scope puts the values back as it ends, instead of leaving them to the end
  of the outer transaction.

The audit row: storage says whether a statement wrote the request's row
(``storage.audit.Audited``); the unit marks the request audited (``AuditContext.written``,
which the request middleware reads to decide whether to write a denied or failed row) only
once that row is committed. A row written in a transaction that then rolls back does not
count, so the failure is still audited.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from typing import TypeVar

from carelog.domain.access import Access
from carelog.storage.audit import Audited
from carelog.storage.db import (
    Connection,
    Pool,
    connection,
    current_settings,
    restore_settings,
    set_local,
)

T = TypeVar("T")


class Work:
    """A request's unit of work: its :class:`Access`, the connection (speaking for the
    access's tenant under row-level security), and the transaction, if one is open."""

    __slots__ = ("_audited_in_transaction", "_depth", "access", "conn")

    def __init__(self, conn: Connection, access: Access) -> None:
        self.conn = conn
        self.access = access
        self._depth = 0
        self._audited_in_transaction = False

    @property
    def in_transaction(self) -> bool:
        """Whether a transaction of this unit is open."""
        return self._depth > 0

    @asynccontextmanager
    async def transaction(
        self,
        *,
        settings: Mapping[str, str] | None = None,
        pipelined: bool = False,
        rollback: bool = False,
    ) -> AsyncIterator[None]:
        """A transaction: the unit's one, or (opened inside it) a part of it.

        ``settings`` hold for this scope only. ``pipelined`` sends what the scope queues
        without waiting for each answer (psycopg's pipeline mode): a scope that only sends
        a query and reads its cursor after the scope ends (see
        ``storage.patient_events.context_candidates``) costs one round trip, BEGIN, the
        settings, the query and COMMIT together. ``rollback`` rolls the outermost
        transaction back at the end whatever happens (tests run in one).
        """
        outermost = self._depth == 0
        if outermost:
            self._audited_in_transaction = False
        async with AsyncExitStack() as stack:
            if pipelined:
                await stack.enter_async_context(self.conn.pipeline())
            if outermost:
                await stack.enter_async_context(self.conn.transaction(force_rollback=rollback))
                if settings:
                    await set_local(self.conn, settings)
            elif settings:
                prior = await current_settings(self.conn, settings)
                await set_local(self.conn, settings)
                stack.push_async_callback(restore_settings, self.conn, prior)
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
        # Reached only when the block ended without an exception: for the outermost scope,
        # after COMMIT (or the rollback a test asked for, which stores nothing).
        if outermost:
            if self._audited_in_transaction and not rollback:
                self.access.audit.written = True
            self._audited_in_transaction = False

    def audited(self, result: Audited[T]) -> T:
        """A self-auditing statement's result; the request counts as audited once its row
        is committed (now, if no transaction is open: the statement was its own)."""
        self.note_audited(result.audited)
        return result.value

    def note_audited(self, written: bool) -> None:
        """Record that a statement wrote (or did not write) the request's audit row."""
        if not written:
            return
        if self._depth == 0:
            self.access.audit.written = True
        else:
            self._audited_in_transaction = True


@asynccontextmanager
async def unit_of_work(pool: Pool, access: Access) -> AsyncIterator[Work]:
    """A unit of work for ``access``, on a pooled connection speaking for its tenant.

    The database's failures surface as ``storage.db.connection`` maps them
    (:class:`ServiceUnavailable`, :class:`ServiceBusy`).
    """
    async with connection(pool, access.tenant_id) as conn:
        yield Work(conn, access)
