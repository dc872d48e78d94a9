"""Engine, sessions and the one transaction helper.

Services receive an `AsyncSession`; only use cases open a transaction, through
`Database.transaction()`. On SQLite the transaction starts with `BEGIN IMMEDIATE`, taking the
write lock up front, and the engine keeps a single connection, so writers are serialised inside
one process (the pool) and across processes (the lock plus `busy_timeout`). On PostgreSQL the
transaction is a plain `BEGIN`; writers that move points lock the member's account row.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import DateTime, MetaData, event
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, create_async_engine
from sqlalchemy.pool import AsyncAdaptedQueuePool
from sqlalchemy.types import TypeDecorator
from sqlmodel import SQLModel

from app.settings import Settings

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
SQLModel.metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(TypeDecorator[dt.datetime]):
    """A timezone-aware UTC timestamp on both databases (SQLite keeps no offset by itself)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(
        self, value: dt.datetime | None, dialect: Dialect
    ) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


def make_engine(settings: Settings, *, url: str | None = None) -> AsyncEngine:
    url = url or settings.database_url
    if url.startswith("sqlite"):
        engine = create_async_engine(
            url,
            poolclass=AsyncAdaptedQueuePool,
            pool_size=1,
            max_overflow=0,
            pool_timeout=600,
        )
        busy_timeout = settings.sqlite_busy_timeout_ms

        @event.listens_for(engine.sync_engine, "connect")
        def _on_connect(dbapi_connection: Any, _record: Any) -> None:
            # Take BEGIN over from the driver, so that we can say BEGIN IMMEDIATE.
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout)}")
            cursor.close()

        @event.listens_for(engine.sync_engine, "begin")
        def _on_begin(conn: Any) -> None:
            mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
            conn.exec_driver_sql(f"BEGIN {mode}")

        return engine
    return create_async_engine(
        url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        pool_recycle=1800,
    )


_AFTER_COMMIT = "after_commit"


def after_commit(session: AsyncSession, callback: Callable[[], object]) -> None:
    """Call `callback` once the transaction of `session` (a `Database.transaction()`) has
    committed; never if it rolls back. Callbacks run in order and must not raise."""
    session.info.setdefault(_AFTER_COMMIT, []).append(callback)


async def core(session: AsyncSession) -> AsyncConnection:
    """The connection of the session's transaction, for Core statements that write rows nothing
    reads back as objects (append-only rows). Unlike `session.execute`, it flushes the session
    only when new objects are pending (a row may refer to them), so that changes to a loaded
    object (the account) reach the database in one UPDATE at the end."""
    if session.new:
        await session.flush()
    return await session.connection()


class Database:
    """Hands out sessions. One per process; the app, the CLI and the worker each build one."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.is_sqlite = engine.dialect.name == "sqlite"

    @classmethod
    def from_settings(cls, settings: Settings) -> Database:
        return cls(make_engine(settings))

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """One write transaction: commits when the block ends, rolls back when it raises."""
        async with self.engine.connect() as conn:
            if self.is_sqlite:
                await conn.execution_options(sqlite_begin="IMMEDIATE")
            async with conn.begin():
                session = AsyncSession(bind=conn, expire_on_commit=False, autoflush=True)
                try:
                    yield session
                    await session.flush()
                finally:
                    callbacks = session.info.pop(_AFTER_COMMIT, [])
                    await session.close()
            for callback in callbacks:  # committed (a raise skips this)
                callback()

    @asynccontextmanager
    async def autocommit(self) -> AsyncIterator[AsyncSession]:
        """A session whose statements commit one by one, for a use case that reads and then
        writes a single row, whose reads need no common snapshot and no lock (the till's scan):
        no BEGIN and no COMMIT to wait for. PostgreSQL only; on SQLite it is `transaction()`."""
        if self.is_sqlite:
            async with self.transaction() as session:
                yield session
            return
        async with self.engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            session = AsyncSession(bind=conn, expire_on_commit=False, autoflush=True)
            try:
                yield session
                await session.flush()
            finally:
                await session.close()

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        """A session for reads; whatever it may have written is rolled back.

        The objects read stay usable after the block: they are detached before the rollback,
        which would otherwise expire them (and a detached, expired object cannot load).
        """
        async with AsyncSession(self.engine, expire_on_commit=False) as session:
            try:
                yield session
            finally:
                session.expunge_all()
                await session.rollback()

    async def dispose(self) -> None:
        await self.engine.dispose()
