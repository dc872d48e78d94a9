"""Fixtures: a migrated database, empty at the start of every test, the app, a fake clock.

SQLite by default (a file per test, copied from a migrated template); PostgreSQL when
LOYALTY_TEST_DATABASE_URL names a database (postgresql+asyncpg://...): it is migrated once and
emptied before every test; tests marked `private_database` get a copy of it of their own.
"""

from __future__ import annotations

import datetime as dt
import itertools
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import pytest_asyncio
from asgi_lifespan import LifespanManager
from sqlalchemy.engine import make_url

import app.models
from app.auth.passwords import PasswordHasher
from app.db import Database, make_engine
from app.main import create_app
from app.migrate import migrate
from app.settings import Settings
from tests.support import FakeClock

TEST_DATABASE_URL = os.environ.get("LOYALTY_TEST_DATABASE_URL", "")
ON_POSTGRES = TEST_DATABASE_URL.startswith("postgresql")
START = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)
_counter = itertools.count()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if ON_POSTGRES:
        return
    skip = pytest.mark.skip(reason="PostgreSQL only (set LOYALTY_TEST_DATABASE_URL)")
    for item in items:
        if "postgres_only" in item.keywords:
            item.add_marker(skip)


def make_settings(database_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": database_url,
        "env": "development",
        "argon2_time_cost": 1,
        "argon2_memory_kib": 8,
        "db_pool_size": 20,
        "db_max_overflow": 20,
    }
    values.update(overrides)
    return Settings(**values)


def _pg_dsn(url: str, database: str) -> str:
    parsed = make_url(url).set(drivername="postgresql", database=database)
    return parsed.render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def template_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The migrated template: a SQLite file, or the PostgreSQL database CI created for us."""
    import asyncio

    if ON_POSTGRES:
        url = TEST_DATABASE_URL
    else:
        url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('template') / 'template.db'}"
    settings = make_settings(url)

    async def prepare() -> None:
        if ON_POSTGRES:
            await _claim_for_tests(url)
        db = Database(make_engine(settings))
        try:
            await migrate(settings, db, FakeClock(START))
        finally:
            await db.dispose()

    asyncio.run(prepare())
    yield url


TEST_DATABASE_MARK = "loyalty tests: every test deletes all rows of this database"


async def _claim_for_tests(url: str) -> None:
    """The tests empty their PostgreSQL database before each test: refuse a database that holds
    tables they did not create (a demo's, someone's data), and mark one they may use."""
    name = make_url(url).database or ""
    conn = await asyncpg.connect(_pg_dsn(url, name))
    try:
        tables = await conn.fetchval("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
        mark = await conn.fetchval(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database "
            "WHERE datname = current_database()"
        )
        if tables and mark != TEST_DATABASE_MARK:
            pytest.exit(
                f"LOYALTY_TEST_DATABASE_URL names {name!r}, which holds tables the tests did not "
                "create; the tests delete every row of their database. Name an empty one "
                "(createdb loyalty_test).",
                returncode=2,
            )
        quoted = name.replace('"', '""')
        literal = TEST_DATABASE_MARK.replace("'", "''")
        await conn.execute(f"COMMENT ON DATABASE \"{quoted}\" IS '{literal}'")
    finally:
        await conn.close()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


async def _reset_postgres(url: str) -> None:
    """Empty the shared test database: end every other connection to it, then delete every row
    but the program's first rules version (seeded by `migrate`, never changed: rules only grow
    new versions). Much cheaper than a database per test, which costs ~1 s on PostgreSQL."""
    name = make_url(url).database
    conn = await asyncpg.connect(_pg_dsn(url, name or ""))
    try:
        await conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        async with conn.transaction():
            for table in reversed(app.models.metadata.sorted_tables):
                if table.name == "program_versions":
                    await conn.execute('DELETE FROM "program_versions" WHERE version > 1')
                else:
                    await conn.execute(f'DELETE FROM "{table.name}"')
    finally:
        await conn.close()


@pytest_asyncio.fixture
async def database_url(
    template_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> AsyncIterator[str]:
    """An empty, migrated database for this test: a copy of the template file on SQLite; on
    PostgreSQL the shared test database emptied, or, for tests marked `private_database` (they
    break the schema), a copy of it."""
    if not ON_POSTGRES:
        source = make_url(template_url).database
        assert source
        target = tmp_path / "test.db"
        shutil.copyfile(source, target)
        yield f"sqlite+aiosqlite:///{target}"
        return
    await _reset_postgres(template_url)
    if request.node.get_closest_marker("private_database") is None:
        yield template_url
        return
    template = make_url(template_url).database
    name = f"{template}_{os.getpid()}_{next(_counter)}"
    admin = await asyncpg.connect(_pg_dsn(template_url, "postgres"))
    try:
        await admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    finally:
        await admin.close()
    try:
        yield make_url(template_url).set(database=name).render_as_string(hide_password=False)
    finally:
        admin = await asyncpg.connect(_pg_dsn(template_url, "postgres"))
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


@pytest.fixture
def settings(database_url: str) -> Settings:
    return make_settings(database_url)


@pytest_asyncio.fixture
async def db(settings: Settings) -> AsyncIterator[Database]:
    database = Database(make_engine(settings))
    try:
        yield database
    finally:
        await database.dispose()


@pytest.fixture
def hasher(settings: Settings) -> PasswordHasher:
    return PasswordHasher(settings)


@pytest_asyncio.fixture
async def client(
    settings: Settings, db: Database, clock: FakeClock
) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings, db=db, clock=clock)
    async with LifespanManager(app):
        transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield http


@pytest.fixture
def unique() -> str:
    return uuid.uuid4().hex[:8]
