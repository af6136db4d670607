"""One request's unit of work: the connection its use cases share, at most one transaction
on it, and whether the request's audit row is stored.

The edge that received the request (a route, later an MCP tool or a command) opens the unit
with :func:`unit_of_work` and hands it to the use case it calls; a use case that calls
another hands on the same unit, so the two share a connection and, inside
:meth:`Work.transaction`, one transaction:

- The connection is taken from the pool when a use case first asks for it
  (:meth:`Work.connection`), after the checks that need no database: a key probing a
  patient it may not reach is refused even while the database is down or busy.
- A use case whose writing is one statement (an event with its audit row, a correction with
  its audit row) just runs it. On its own that statement is its own transaction, which
  costs one round trip where BEGIN and COMMIT would add two (the fast path, measured in
  ``docs/benchmarks.md``); inside a transaction a caller opened, the same statement is part
  of that transaction. Either way the use case's code is the same.
- A use case that writes more than one statement opens ``work.transaction()``. The first
  one opened on a unit is the transaction; one opened inside it joins it (no savepoint), so
  a workflow's transition, the event it appends, its state row, its audit row and later its
  outbox row commit or roll back together. A failure inside a joined scope is the whole
  unit's: caught and ignored, it still rolls the transaction back (:class:`UnitAborted`).
  A part that may fail on its own (one entry of a batch) runs in ``work.savepoint()``.
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
    begin,
    commit,
    connection,
    current_settings,
    rollback,
    set_local,
    transaction_failed,
    transaction_open,
)

T = TypeVar("T")


class UnitAborted(RuntimeError):
    """A unit's transaction failed inside (a statement's error, or a joined scope's
    exception) and the use case went on as if it had not: it is rolled back, not committed."""


class Work:
    """A request's unit of work: its :class:`Access`, the connection (speaking for the
    access's tenant under row-level security, taken on first use), and the transaction, if
    one is open."""

    __slots__ = (
        "_audited_in_transaction", "_conn", "_depth", "_doomed", "_pool", "_stack", "access"
    )  # fmt: skip

    def __init__(self, pool: Pool, access: Access, stack: AsyncExitStack) -> None:
        self.access = access
        self._pool = pool
        self._stack = stack
        self._conn: Connection | None = None
        self._depth = 0
        self._doomed = False
        self._audited_in_transaction = False

    async def connection(self) -> Connection:
        """The unit's connection, taken from the pool the first time it is asked for."""
        if self._conn is None:
            self._conn = await self._stack.enter_async_context(
                connection(self._pool, self.access.tenant_id)
            )
        return self._conn

    @property
    def conn(self) -> Connection:
        """The connection :meth:`connection` took (an error before it is taken)."""
        if self._conn is None:
            raise RuntimeError("the unit has no connection yet: await work.connection()")
        return self._conn

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

        ``settings`` hold for this scope only. ``pipelined`` (the outermost scope only; a
        joined one ignores it) sends everything the scope queues without waiting for each
        answer, and all of it at the end: a scope that only sends a query and reads its
        cursor after the scope ends (``storage.patient_events.context_candidates``) costs one
        round trip for BEGIN, the settings, the query and COMMIT together. ``rollback``
        rolls the transaction back at the end whatever happens (tests run in one); it
        cannot be asked of a joined scope, which has no transaction of its own.
        """
        conn = await self.connection()
        if self._depth:
            if rollback:
                raise ValueError("rollback=True needs the outermost transaction")
            async with self._joined(conn, settings):
                yield
            return
        self._doomed = self._audited_in_transaction = False
        if pipelined and not rollback:
            async with self._pipelined(conn, settings):
                yield
        else:
            async with conn.transaction(force_rollback=rollback):
                if settings:
                    await set_local(conn, settings)
                async with self._scope():
                    yield
                self._check_not_aborted(conn)
        # Reached only when the block ended without an exception: after COMMIT (or the
        # rollback a test asked for, which stores nothing).
        if self._audited_in_transaction and not rollback:
            self.access.audit.written = True
        self._audited_in_transaction = False

    @asynccontextmanager
    async def savepoint(self) -> AsyncIterator[None]:
        """A part of the open transaction that can fail alone: its failure rolls back what it
        wrote (and its audit row's claim) and propagates, and the transaction goes on."""
        if not self._depth:
            raise RuntimeError("a savepoint needs an open transaction: work.transaction()")
        audited, doomed = self._audited_in_transaction, self._doomed
        try:
            async with self.conn.transaction(), self._scope():
                yield
        except BaseException:
            self._audited_in_transaction, self._doomed = audited, doomed
            raise

    @asynccontextmanager
    async def _scope(self) -> AsyncIterator[None]:
        self._depth += 1
        try:
            yield
        except BaseException:
            self._doomed = True
            raise
        finally:
            self._depth -= 1

    def _check_not_aborted(self, conn: Connection) -> None:
        # A statement's error or a joined scope's exception, caught by the use case: the
        # transaction must not commit (PostgreSQL would silently roll a failed one back).
        if self._doomed or transaction_failed(conn):
            raise UnitAborted("a failure inside the unit's transaction was caught and ignored")

    @asynccontextmanager
    async def _joined(
        self, conn: Connection, settings: Mapping[str, str] | None
    ) -> AsyncIterator[None]:
        if not settings:
            async with self._scope():
                yield
            return
        prior = await current_settings(conn, settings)
        await set_local(conn, settings)
        async with self._scope():
            yield
        await set_local(conn, prior)  # (on failure the whole transaction rolls back)

    @asynccontextmanager
    async def _pipelined(
        self, conn: Connection, settings: Mapping[str, str] | None
    ) -> AsyncIterator[None]:
        # BEGIN, the settings, what the scope sends and COMMIT, queued and sent with one
        # Sync as the pipeline ends (psycopg's transaction() would wait at each step).
        try:
            async with conn.pipeline():
                await begin(conn)
                if settings:
                    await set_local(conn, settings)
                async with self._scope():
                    yield
                self._check_not_aborted(conn)
                await commit(conn)
        except BaseException:
            # Left open (an exception before COMMIT was queued) or failed (an error in the
            # pipeline skips the COMMIT after it): roll it back before the connection goes.
            if transaction_open(conn):
                await rollback(conn)
            raise

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
    """A unit of work for ``access``; its connection is taken from ``pool`` on first use and
    given back as the unit ends.

    The database's failures surface as ``storage.db.connection`` maps them
    (:class:`ServiceUnavailable`, :class:`ServiceBusy`).
    """
    async with AsyncExitStack() as stack:
        yield Work(pool, access, stack)
