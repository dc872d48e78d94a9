"""Migrations: `upgrade head` on an empty database matches the models exactly."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

import app.models
from app.db import Database, make_engine
from app.migrate import upgrade_async


async def test_upgrade_head_leaves_no_diff(settings):
    # given: the per-test database is a copy of the template, migrated at head
    db = Database(make_engine(settings))
    try:
        # when
        async with db.engine.connect() as conn:
            diff = await conn.run_sync(
                lambda sync: compare_metadata(
                    MigrationContext.configure(sync, opts={"compare_type": True}),
                    app.models.metadata,
                )
            )
            tables = await conn.run_sync(lambda sync: set(inspect(sync).get_table_names()))
    finally:
        await db.dispose()

    # then
    assert diff == []
    assert set(app.models.metadata.tables) <= tables


async def test_upgrade_is_idempotent(settings):
    # when: running it again on a database at head changes nothing and does not fail
    await upgrade_async(settings.database_url)
    await upgrade_async(settings.database_url)
