"""SQLite through aiosqlite in as few trips to the driver's thread as possible.

aiosqlite runs each SQLite connection on a thread of its own; SQLAlchemy's adapter makes
three or four trips to that thread per statement (open a cursor, execute, fetch, close),
and each trip waits for the event loop to come round again (~1.8 ms under load, against
0.1–0.8 ms of SQLite's own work): a group-commit cycle of the intake made ~38 of them.
The adapter here (the engine's DBAPI module, :func:`one_trip_module`) does:

* one trip per statement: execute, fetch and close together on the driver's thread;
* ``BEGIN`` is not sent alone: it rides with the transaction's first statement (or its
  ``COMMIT``/``ROLLBACK``);
* inside :func:`deferred_inserts`, ``INSERT`` statements without ``RETURNING`` (single or
  many rows) are queued and sent with the next statement that has to answer (a read, an
  ``UPDATE``), or with the ``COMMIT``. Order is kept, so a read sees every row queued
  before it. A queued insert that fails (a unique key) fails that later statement or the
  commit, inside the same transaction, which is then rolled back as a whole.

So a group-commit cycle of the intake is three trips: ``BEGIN`` + the duplicate lookup;
the audit head's compare-and-set, after the inserts of blobs, messages, deliveries and
statuses; the audit records and mailbox deliveries with the ``COMMIT``. A server-side
cursor (``stream``) or a statement on the connection itself first sends the queue. The
transaction and its guarantees are unchanged: the commit is still the last trip and
callers are answered after it. PostgreSQL (asyncpg) needs none of this: it has no thread
and SQLAlchemy already sends a many-row insert with asyncpg's ``executemany``.

The trips use ``aiosqlite.Connection._execute`` and ``_conn``, as SQLAlchemy's own adapter
does (``isolation_level``).
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

import aiosqlite
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
    AsyncAdapt_aiosqlite_ss_cursor,
)
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.util.concurrency import await_only

# (many, operation, parameters) of a statement queued for the next trip.
_Queued = tuple[bool, str, Any]
_Answer = tuple[Any, list[Any], int | None, int]  # description, rows, lastrowid, rowcount


def _execute(cursor: sqlite3.Cursor, many: bool, operation: str, parameters: Any) -> None:
    if many:
        cursor.executemany(operation, parameters)
    else:
        cursor.execute(operation, parameters or ())


def _send(conn: sqlite3.Connection, queued: Sequence[_Queued]) -> None:
    for many, operation, parameters in queued:
        cursor = conn.cursor()
        try:
            _execute(cursor, many, operation, parameters)
        finally:
            cursor.close()


def _trip(
    queued: Sequence[_Queued], work: Callable[[sqlite3.Connection], Any], conn: sqlite3.Connection
) -> Any:
    """On the driver's thread: the queued statements, in order, then ``work``."""
    _send(conn, queued)
    return work(conn)


def _statement(many: bool, operation: str, parameters: Any, conn: sqlite3.Connection) -> _Answer:
    cursor = conn.cursor()
    try:
        _execute(cursor, many, operation, parameters)
        if cursor.description:
            return cursor.description, cursor.fetchall(), None, -1
        return None, [], cursor.lastrowid, cursor.rowcount
    finally:
        cursor.close()


async def _nothing() -> None:
    return None


def _is_begin(operation: str) -> bool:
    return operation.lstrip()[:5].upper() == "BEGIN"


def _is_plain_insert(operation: str) -> bool:
    head = operation.lstrip()[:6].upper()
    return head == "INSERT" and "RETURNING" not in operation.upper()


class OneTripConnection(AsyncAdapt_aiosqlite_connection):
    """SQLAlchemy's aiosqlite connection adapter, one trip per statement (see the module)."""

    __slots__ = ("deferring", "queued")

    def __init__(self, dbapi: Any, connection: Any) -> None:
        super().__init__(dbapi, connection)
        self.deferring = 0
        self.queued: list[_Queued] = []

    def cursor(self, server_side: bool = False) -> Any:
        """A cursor whose statements each cost one trip (server-side ones: SQLAlchemy's,
        after what is queued has been sent, so that they run after it, as written)."""
        if server_side:
            self.send_queued()
            return AsyncAdapt_aiosqlite_ss_cursor(self)
        return OneTripCursor(self)

    def execute(self, *args: Any, **kw: Any) -> Any:
        """A statement on the connection itself (not through a cursor), after the queue."""
        self.send_queued()
        return super().execute(*args, **kw)

    def send_queued(self) -> None:
        """Send what is queued now, in one trip (nothing when the queue is empty)."""
        if self.queued:
            try:
                self.trip(lambda conn: None)
            except Exception as error:
                self._handle_exception(error)

    def defers(self, operation: str) -> bool:
        """Whether ``operation`` waits for the next trip instead of making its own."""
        return _is_begin(operation) or (self.deferring > 0 and _is_plain_insert(operation))

    def trip(self, work: Callable[[sqlite3.Connection], Any]) -> Any:
        """Run the queued statements, then ``work(sqlite3_connection)``, in one trip."""
        queued, self.queued = self.queued, []
        driver = self._connection
        return self.await_(driver._execute(_trip, queued, work, driver._conn))

    def commit(self) -> None:
        """Send what is queued and ``COMMIT``, in one trip."""
        try:
            self.trip(lambda conn: conn.commit())
        except Exception as error:
            self._handle_exception(error)

    def rollback(self) -> None:
        """Drop what is queued (never sent) and roll back."""
        self.queued = []
        super().rollback()


class OneTripCursor(AsyncAdapt_aiosqlite_cursor):
    """Executes (or queues, see :meth:`OneTripConnection.defers`) a statement in one trip."""

    __slots__ = ()

    def execute(self, operation: Any, parameters: Any = None) -> Any:
        """Execute one statement (fetching its rows) in one trip, or queue it."""
        self._run(False, operation, parameters)

    def executemany(self, operation: Any, seq_of_parameters: Any) -> Any:
        """Execute one statement for many parameter sets in one trip, or queue it."""
        self._run(True, operation, list(seq_of_parameters))

    def _run(self, many: bool, operation: str, parameters: Any) -> None:
        connection: OneTripConnection = self._adapt_connection  # type: ignore[assignment]
        if connection.defers(operation):
            connection.queued.append((many, operation, parameters))
            self.description, self.lastrowid, self.rowcount = None, None, -1
            # SQLAlchemy requires an ``execute`` to await something; this costs no trip.
            self.await_(_nothing())
            return
        try:
            answer = connection.trip(partial(_statement, many, operation, parameters))
        except Exception as error:
            connection._handle_exception(error)
        self.description, rows, self.lastrowid, self.rowcount = answer
        self._rows.clear()
        self._rows.extend(rows)


class OneTripDbapi(AsyncAdapt_aiosqlite_dbapi):
    """The DBAPI module given to SQLAlchemy: connections are :class:`OneTripConnection`."""

    def connect(self, *arg: Any, **kw: Any) -> OneTripConnection:
        """Open an aiosqlite connection, wrapped in the one-trip adapter."""
        kw.pop("async_fallback", None)
        creator = kw.pop("async_creator_fn", None)
        connection = creator(*arg, **kw) if creator else self.aiosqlite.connect(*arg, **kw)
        connection._thread.daemon = True  # as SQLAlchemy's adapter does
        return OneTripConnection(self, await_only(_open(connection)))


async def _open(connection: aiosqlite.Connection) -> aiosqlite.Connection:
    """Await the connection; when it cannot open, wait for its thread to stop.

    aiosqlite queues its thread's stop on a failed connect without waiting for it; the
    thread then answers a future on a loop that may have closed meanwhile (an exception
    in a thread, at an arbitrary later moment)."""
    try:
        return await connection
    except BaseException:
        await asyncio.get_running_loop().run_in_executor(None, connection._thread.join, 5.0)
        raise


def one_trip_module() -> OneTripDbapi:
    """The ``module=`` argument of ``create_async_engine`` for ``sqlite+aiosqlite`` URLs."""
    return OneTripDbapi(aiosqlite, sqlite3)


def queued(dbapi_connection: Any) -> bool:
    """Whether a pooled connection holds statements not sent yet (see the pool's reset)."""
    return bool(getattr(dbapi_connection, "queued", None))


@asynccontextmanager
async def deferred_inserts(conn: AsyncConnection) -> AsyncIterator[None]:
    """Queue the block's plain ``INSERT`` statements for the transaction's next trip.

    No effect on other databases. Use it only where nothing reads an insert's rowcount
    or generated key (they are unknown until sent)."""
    raw = await conn.get_raw_connection()
    adapted = raw.dbapi_connection
    if not isinstance(adapted, OneTripConnection):
        yield
        return
    adapted.deferring += 1
    try:
        yield
    finally:
        adapted.deferring -= 1
