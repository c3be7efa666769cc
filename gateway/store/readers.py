"""Reads on connections of their own, so that they never hold the store's writer.

On SQLite the application engine has one pooled connection and every transaction on it
begins with ``BEGIN IMMEDIATE`` (the write lock): an inbox poll or a fetch then waited for,
and held up, the single writer that stores documents. In WAL mode readers and the writer
do not block each other, so reads get an engine of their own: a small pool of read-only
connections (``PRAGMA query_only``) whose transactions begin deferred and see the last
committed state. PostgreSQL's pool already gives reads their own connections: its reader
is the application engine itself.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from gateway.errors import StoreError
from gateway.store.database import SQLITE_BUSY_TIMEOUT_MS, async_url, translate_errors
from gateway.store.sqlite_trips import one_trip_module, queued

READ_POOL_SIZE = 4


def create_reader(url: str, engine: AsyncEngine) -> AsyncEngine:
    """Return the engine reads use for the store at ``url`` (``engine`` unless SQLite)."""
    full = async_url(url)
    if not full.startswith("sqlite+aiosqlite:") or ":memory:" in full:
        return engine
    try:
        reader = create_async_engine(
            full,
            pool_size=READ_POOL_SIZE,
            max_overflow=0,
            pool_reset_on_return=None,
            module=one_trip_module(),
        )
    except (SQLAlchemyError, ValueError, ImportError) as exc:
        raise StoreError(f"cannot create the read engine: {exc}") from exc

    @event.listens_for(reader.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # BEGIN (deferred) is emitted below
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA query_only=ON")
        cursor.close()

    @event.listens_for(reader.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN")

    @event.listens_for(reader.sync_engine.pool, "reset")
    def _on_reset(dbapi_connection: Any, _record: Any, _state: Any = None) -> None:
        if dbapi_connection.driver_connection.in_transaction or queued(dbapi_connection):
            dbapi_connection.rollback()

    return reader


@asynccontextmanager
async def read(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """Yield a connection of ``engine`` inside one read transaction (one snapshot);
    database errors come out as ``StoreError``."""
    with translate_errors():
        async with engine.begin() as conn:
            yield conn
