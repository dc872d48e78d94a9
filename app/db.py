"""Engine, sessions and the one transaction helper.

Services receive an `AsyncSession`; only use cases open a transaction, through
`Database.transaction()`. On SQLite the transaction starts with `BEGIN IMMEDIATE`, taking the
write lock up front, and the engine keeps a single connection, so writers are serialised inside
one process (the pool) and across processes (the lock plus `busy_timeout`). On PostgreSQL the
transaction is a plain `BEGIN`; writers that move points lock the member's account row.
"""

from __future__ import annotations

import collections
import datetime as dt
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from typing import Any

import asyncpg
from sqlalchemy import DateTime, MetaData, event
from sqlalchemy.engine import Connection, Dialect, Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, create_async_engine
from sqlalchemy.pool import AsyncAdaptedQueuePool
from sqlalchemy.sql.base import Executable
from sqlalchemy.types import TypeDecorator
from sqlalchemy.util.concurrency import greenlet_spawn
from sqlmodel import SQLModel

from app.kit import jsontext
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
            json_serializer=jsontext.dumps,
            json_deserializer=jsontext.loads,
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
        # JSON columns (outbox events, idempotency results) in orjson's compact text.
        json_serializer=jsontext.dumps,
        json_deserializer=jsontext.loads,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        pool_recycle=1800,
    )


_AFTER_COMMIT = "after_commit"
_LAST_WRITES = "last_writes"


def after_commit(session: AsyncSession, callback: Callable[[], object]) -> None:
    """Call `callback` once the transaction of `session` (a `Database.transaction()`) has
    committed; never if it rolls back. Callbacks run in order and must not raise."""
    session.info.setdefault(_AFTER_COMMIT, []).append(callback)


def write_last(session: AsyncSession, write: Callable[[Core], Awaitable[None]]) -> bool:
    """Have `write` run on the transaction's connection among its last statements, after the
    session's own changes are flushed and just before the COMMIT. For rows that every till
    writes (the day's totals): their lock is then held for one statement and the commit rather
    than for the rest of the transaction. False when the session is not one of
    `Database.transaction()`: the caller writes now."""
    writes: list[Callable[[Core], Awaitable[None]]] | None = session.info.get(_LAST_WRITES)
    if writes is None:
        return False
    writes.append(write)
    return True


async def core(session: AsyncSession) -> Core:
    """The connection of the session's transaction, for Core statements built once that write
    rows nothing reads back as objects (append-only rows). Unlike `session.execute`, it flushes
    the session only when new objects are pending (a row may refer to them), so that changes to
    a loaded object (the account) reach the database in one UPDATE at the end. Kept on the
    session for the rest of its transaction: a purchase sends a dozen statements. A session of
    `Database.transaction()` or `autocommit()` has its connection from the start."""
    if session.sync_session._new:  # (`session.new` copies them into a set first)
        await session.flush()
    bound: Core | None = session.info.get(_BOUND)
    if bound is not None:
        return bound
    kept: tuple[object, Core] | None = session.info.get(_CORE)
    transaction = session.sync_session.get_transaction()
    if kept is not None and transaction is not None and kept[0] is transaction:
        return kept[1]
    found = Core(await session.connection())
    session.info[_CORE] = (session.sync_session.get_transaction(), found)
    return found


_CORE = "core"
_BOUND = "core_of_connection"


def _bound_session(conn: AsyncConnection) -> AsyncSession:
    """A session on a connection whose transaction the caller runs, and that connection's Core
    (no session transaction to begin for a Core statement)."""
    session = AsyncSession(bind=conn, expire_on_commit=False, autoflush=True)
    session.info[_BOUND] = Core(conn, conn.sync_connection.connection.dbapi_connection)  # type: ignore[union-attr]
    return session


def unused(session: AsyncSession) -> bool:
    """Whether the ORM never used the session: no transaction begun, no object held (closing
    it, or flushing it, would do nothing but cost a greenlet round trip)."""
    sync = session.sync_session
    return sync.get_transaction() is None and not sync.identity_map and not sync._new


async def _end(session: AsyncSession, *, flush: bool) -> None:
    """Flush what the session holds (when `flush`), and close it; a session the ORM never used
    (Core statements only: the till's purchase) has nothing to do either."""
    if unused(session):
        return
    try:
        if flush:
            await session.flush()
    finally:
        await session.close()


class Core:
    """Runs Core statements on a session's connection.

    On PostgreSQL a statement built once goes to the driver's connection directly: compiled once
    per statement and set of columns, its values passed through the columns' types as
    SQLAlchemy would pass them (and a query's rows through their result types), prepared once
    per connection by asyncpg. When it is the transaction's first statement, it begins the
    transaction first as SQLAlchemy's driver adapter does on its own first statement (nothing
    in autocommit). That is half of SQLAlchemy's execution path (0.12 ms against 0.2 to 0.4 ms of
    CPU a statement). Anything else takes `AsyncConnection.execute`: SQLite; a statement whose
    columns have defaults to compute or with an IN list to expand.
    """

    __slots__ = ("_adapter", "connection", "postgres")

    def __init__(self, connection: AsyncConnection, adapter: Any = None) -> None:
        self.connection = connection
        self.postgres = connection.dialect.name == "postgresql"
        self._adapter = adapter  # SQLAlchemy's adapter of the driver's connection, once known

    async def _driver(self) -> Any:
        """The driver's connection, inside the connection's transaction (or in autocommit);
        None when SQLAlchemy's adapter is not the one this was written against."""
        adapter = self._adapter
        if adapter is None:
            adapter = self._adapter = (await self.connection.get_raw_connection()).dbapi_connection
        begin = getattr(adapter, "_start_transaction", None)
        if (
            begin is None
            or not hasattr(adapter, "_transaction")
            or not hasattr(adapter, "isolation_level")
        ):
            return None
        if adapter._transaction is None:
            if not self.connection.in_transaction() and adapter.isolation_level != "autocommit":
                return None  # SQLAlchemy's own path begins the transaction it will commit
            await begin()  # BEGIN, as the adapter's first statement would (autocommit: nothing)
        return adapter._connection

    def _watch(self, sql: str) -> None:
        for engine, watch in _WATCHERS:
            if engine is self.connection.sync_engine:
                watch(sql)

    async def execute(self, statement: Executable, parameters: Values | Sequence[Values]) -> None:
        """Run a statement that returns no rows, once or (a list of rows) for each row."""
        many = isinstance(parameters, list | tuple)
        rows: Sequence[Values] = parameters if many else [parameters]  # type: ignore[assignment, list-item]
        if not rows:
            return
        if self.postgres:
            compiled = _compiled(statement, tuple(rows[0]), self.connection.dialect)
            if compiled is not None and (driver := await self._driver()) is not None:
                self._watch(compiled.sql)
                await compiled.run(driver, rows)
                return
        await self.connection.execute(statement, parameters)

    async def all(self, statement: Executable, parameters: Values) -> Sequence[Any]:
        """The rows of a query, each a named tuple of its columns, as SQLAlchemy's rows read."""
        if self.postgres:
            query = _query(statement, tuple(parameters), self.connection.dialect)
            if query is not None and (driver := await self._driver()) is not None:
                self._watch(query.statement.sql)
                return await query.fetch(driver, parameters)
        return (await self.connection.execute(statement, parameters)).all()


Values = dict[str, Any]


@dataclass(frozen=True, slots=True)
class _Compiled:
    sql: str
    names: tuple[str, ...]
    processors: tuple[Callable[[Any], Any] | None, ...]

    def args(self, row: Values) -> list[Any]:
        return [
            row[name] if process is None else process(row[name])
            for name, process in zip(self.names, self.processors, strict=True)
        ]

    async def run(self, driver: Any, rows: Sequence[Values]) -> None:
        try:
            if len(rows) == 1:
                await driver.execute(self.sql, *self.args(rows[0]))
            else:
                await driver.executemany(self.sql, [self.args(row) for row in rows])
        except asyncpg.IntegrityConstraintViolationError as error:  # as SQLAlchemy raises it
            raise IntegrityError(self.sql, None, error) from error


@dataclass(frozen=True, slots=True)
class _Query:
    statement: _Compiled  # its constants (a LIMIT, a CASE's values) among the values
    constants: Values
    row: Callable[[Iterable[Any]], tuple[Any, ...]]  # a named tuple of the result's columns
    processors: tuple[Callable[[Any], Any] | None, ...]

    async def fetch(self, driver: Any, parameters: Values) -> list[tuple[Any, ...]]:
        args = self.statement.args(
            {**self.constants, **parameters} if self.constants else parameters
        )
        records = await driver.fetch(self.statement.sql, *args)
        processors = self.processors
        return [
            self.row(
                value if process is None else process(value)
                for value, process in zip(record, processors, strict=True)
            )
            for record in records
        ]


_COMPILED: dict[tuple[Executable, tuple[str, ...]], _Compiled | None] = {}
_QUERIES: dict[tuple[Executable, tuple[str, ...]], _Query | None] = {}


def _compiled(statement: Executable, keys: tuple[str, ...], dialect: Dialect) -> _Compiled | None:
    found = _COMPILED.get((statement, keys), _MISSING)
    if found is not _MISSING:
        return found  # type: ignore[return-value]
    compiled = statement.compile(dialect=dialect, column_keys=list(keys))  # type: ignore[attr-defined]
    result: _Compiled | None = None
    if set(compiled.positiontup or ()) <= set(keys):
        result = _driver_form(compiled, dialect)
    # else: a column default to compute: SQLAlchemy's path does that.
    _COMPILED[(statement, keys)] = result
    return result


def _query(statement: Executable, keys: tuple[str, ...], dialect: Dialect) -> _Query | None:
    found = _QUERIES.get((statement, keys), _MISSING)
    if found is not _MISSING:
        return found  # type: ignore[return-value]
    compiled = statement.compile(dialect=dialect)  # type: ignore[attr-defined]
    sent = _driver_form(compiled, dialect)
    columns = getattr(compiled, "_result_columns", None)
    result: _Query | None = None
    if sent is not None and columns:
        constants = {
            name: compiled.binds[name].effective_value
            for name in sent.names
            if name not in keys and not compiled.binds[name].required
        }
        if set(sent.names) <= set(keys) | set(constants):
            row = collections.namedtuple("Row", [c.keyname for c in columns], rename=True)  # type: ignore[misc]
            processors = tuple(c.type._cached_result_processor(dialect, None) for c in columns)
            result = _Query(sent, constants, row._make, processors)
    # else: a value missing, or no columns described: SQLAlchemy's path.
    _QUERIES[(statement, keys)] = result
    return result


def _driver_form(compiled: Any, dialect: Dialect) -> _Compiled | None:
    """The SQL and the bind processors of a compiled statement; None when an IN list is to
    expand (SQLAlchemy renders it per call)."""
    names = tuple(compiled.positiontup or ())
    binds = [compiled.binds[name] for name in names]
    if any(bind.expanding for bind in binds):
        return None
    return _Compiled(compiled.string, names, tuple(b.type.bind_processor(dialect) for b in binds))


_MISSING = object()
_WATCHERS: list[tuple[Any, Callable[[str], None]]] = []


@contextmanager
def watching_statements(engine: AsyncEngine, watch: Callable[[str], None]) -> Iterator[None]:
    """Call `watch` with the SQL of every statement sent on the engine while the block runs:
    through SQLAlchemy (its cursor event) and by `Core` straight to the driver. For the tests
    and benchmarks that count statements."""

    def on_cursor(_conn: object, _cursor: object, sql: str, *_args: object) -> None:
        watch(sql)

    event.listen(engine.sync_engine, "before_cursor_execute", on_cursor)
    _WATCHERS.append((engine.sync_engine, watch))
    try:
        yield
    finally:
        _WATCHERS.remove((engine.sync_engine, watch))
        event.remove(engine.sync_engine, "before_cursor_execute", on_cursor)


def _check_out(engine: Engine, options: dict[str, Any], begin: bool) -> Connection:
    """A pool connection with its options set and (when `begin`) its transaction begun: in one
    trip into SQLAlchemy's greenlet rather than one per step (the till opens two transactions
    a purchase, and each trip costs some 30 microseconds)."""
    connection = engine.connect()
    try:
        if options:
            connection.execution_options(**options)
        if begin:
            connection.begin()
    except BaseException:
        connection.close()
        raise
    return connection


def _check_in(connection: Connection, commit: bool) -> None:
    """Commit (when `commit`), then return the connection to the pool, which rolls back
    whatever is left and resets its options; in one trip, as `_check_out`."""
    try:
        if commit:
            connection.commit()
    finally:
        connection.close()


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
        options = {"sqlite_begin": "IMMEDIATE"} if self.is_sqlite else {}
        async with self._connected(options, begin=True) as session:
            session.info[_LAST_WRITES] = []
            yield session
        for callback in session.info.pop(_AFTER_COMMIT, []):  # committed (a raise skips this)
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
        # The pool sets the isolation level back when the connection is checked in.
        async with self._connected({"isolation_level": "AUTOCOMMIT"}, begin=False) as session:
            yield session

    @asynccontextmanager
    async def _connected(
        self, options: dict[str, Any], *, begin: bool
    ) -> AsyncIterator[AsyncSession]:
        """A session on a pool connection of its own, checked out with `options` and, when
        `begin`, its transaction begun. When the block ends: the session's changes flushed, the
        transaction's last writes (`write_last`), the commit; when it raises, the rollback; the
        connection back in the pool either way."""
        connection = await greenlet_spawn(_check_out, self.engine.sync_engine, options, begin)
        session = _bound_session(AsyncConnection(self.engine, connection))
        ended = False
        try:
            try:
                yield session
            except BaseException:
                await _end(session, flush=False)
                raise
            await _end(session, flush=True)
            for write in session.info.pop(_LAST_WRITES, []):
                await write(session.info[_BOUND])
            ended = True
        finally:
            await greenlet_spawn(_check_in, connection, begin and ended)

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
