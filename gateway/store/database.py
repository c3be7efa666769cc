"""Database engine for the store: SQLite (WAL) by default, PostgreSQL by URL.

SQLAlchemy errors are translated into :class:`gateway.errors.StoreError` here and in the
repository, once, with ``raise … from``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from gateway.errors import DuplicateMessage, StoreError
from gateway.ops.metrics import STORE_ERRORS
from gateway.store import models  # noqa: F401  (registers the tables on Base.metadata)
from gateway.store.base import Base

SQLITE_BUSY_TIMEOUT_MS = 30_000
_SCHEMA_LOCK = 0x65646F63  # "edoc": the advisory lock key of schema creation


def async_url(url: str) -> str:
    """Return ``url`` with the async driver SQLAlchemy needs (aiosqlite or asyncpg)."""
    if url.startswith("sqlite:"):
        return "sqlite+aiosqlite:" + url[len("sqlite:") :]
    for prefix in ("postgresql:", "postgres:", "postgresql+psycopg2:", "postgresql+psycopg:"):
        if url.startswith(prefix):
            return "postgresql+asyncpg:" + url[len(prefix) :]
    return url


def _setup_sqlite(engine: AsyncEngine) -> None:
    """WAL, a busy timeout, foreign keys and ``BEGIN IMMEDIATE`` on every connection.

    ``synchronous=NORMAL`` in WAL mode does not fsync on each commit, only at checkpoints:
    a committed transaction survives a crash or SIGKILL of the gateway process (the WAL
    is written to the OS before the commit returns), and the database never corrupts; an
    operating-system crash or power loss may lose the last commits (FULL would fsync the
    WAL on each commit and close that window, at a cost in latency).

    ``BEGIN IMMEDIATE`` takes the write lock at the start of a transaction, so a
    read-then-write transaction never fails with SQLITE_BUSY_SNAPSHOT (which ignores the
    busy timeout) when another process or connection wrote in between.
    """

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    @event.listens_for(engine.sync_engine.pool, "reset")
    def _on_reset(dbapi_connection: Any, _record: Any, _state: Any = None) -> None:
        # The pool's own reset (a ROLLBACK on every check-in, one more round trip to the
        # driver's thread per transaction) is off for SQLite; roll back only a connection
        # really left inside a transaction. ``in_transaction`` is read without a round trip.
        if dbapi_connection.driver_connection.in_transaction:
            dbapi_connection.rollback()


def create_engine(url: str, **kwargs: Any) -> AsyncEngine:
    """Create the async engine for ``url`` (``sqlite:///path`` or ``postgresql://…``).

    SQLite runs in WAL mode with a busy timeout; the same code path serves PostgreSQL.
    Extra keyword arguments go to :func:`sqlalchemy.ext.asyncio.create_async_engine`.
    """
    full = async_url(url)
    try:
        if full.startswith("sqlite+aiosqlite:"):
            kwargs.setdefault("pool_reset_on_return", None)  # see _setup_sqlite
            engine = create_async_engine(full, **kwargs)
            _setup_sqlite(engine)
            return engine
        kwargs.setdefault("pool_size", 10)
        kwargs.setdefault("max_overflow", 20)
        kwargs.setdefault("pool_pre_ping", True)
        return create_async_engine(full, **kwargs)
    except (SQLAlchemyError, ValueError, ImportError) as exc:
        raise StoreError(f"cannot create the database engine: {exc}") from exc


async def create_schema(engine: AsyncEngine) -> None:
    """Create every table on ``Base.metadata`` that does not exist yet.

    On PostgreSQL a transaction-level advisory lock serialises processes starting together
    (two gateways of one node), which would otherwise race on ``CREATE`` and fail."""
    try:
        async with engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                await conn.execute(
                    text("SELECT pg_advisory_xact_lock(:key)"), {"key": _SCHEMA_LOCK}
                )
            await conn.run_sync(Base.metadata.create_all)
    except SQLAlchemyError as exc:
        raise StoreError(f"cannot create the schema: {exc}") from exc
    except OSError as exc:
        raise StoreError(f"cannot reach the database: {exc}") from exc


def _driver_errors() -> tuple[type[BaseException], ...]:
    try:
        import asyncpg  # optional: only with a PostgreSQL store
    except ImportError:
        return ()
    return (asyncpg.PostgresError, asyncpg.InterfaceError)


_DRIVER_ERRORS = _driver_errors()


@contextmanager
def translate_errors() -> Iterator[None]:
    """Translate SQLAlchemy and driver errors raised inside the block into ``StoreError``.

    A unique-key violation on the messages table becomes :class:`DuplicateMessage`.
    """
    try:
        yield
    except IntegrityError as exc:
        if "uq_messages_duplicate" in str(exc) or "messages.sender" in str(exc):
            raise DuplicateMessage(str(exc.orig)) from exc
        STORE_ERRORS.inc()
        raise StoreError(str(exc.orig)) from exc
    except SQLAlchemyError as exc:
        STORE_ERRORS.inc()
        raise StoreError(str(exc)) from exc
    except OSError as exc:
        STORE_ERRORS.inc()
        raise StoreError(f"cannot reach the database: {exc}") from exc
    except _DRIVER_ERRORS as exc:  # raised unwrapped by asyncpg while a server restarts
        STORE_ERRORS.inc()
        raise StoreError(f"database driver error: {exc}") from exc


@asynccontextmanager
async def transaction(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """Yield a connection inside one transaction: committed on clean exit, rolled back on
    error; database errors come out as ``StoreError``."""
    with translate_errors():
        async with engine.begin() as conn:
            yield conn
