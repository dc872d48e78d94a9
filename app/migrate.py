"""Run Alembic from code (the CLI, `loyalty serve` on the embedded default, the tests)."""

from __future__ import annotations

import asyncio
from functools import lru_cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text

from app.clock import Clock
from app.db import Database
from app.program import service as program_service
from app.program.rules import ProgramRules
from app.settings import Settings

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option(
        "file_template", "%%(year)d-%%(month).2d-%%(day).2d-%%(hour).2d%%(minute).2d_%%(slug)s"
    )
    config.attributes["database_url"] = database_url
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    """`alembic upgrade head`. Runs its own event loop: call it outside one, or in a thread."""
    command.upgrade(alembic_config(database_url), revision)


async def upgrade_async(database_url: str, revision: str = "head") -> None:
    await asyncio.to_thread(upgrade, database_url, revision)


async def migrate(settings: Settings, db: Database, clock: Clock) -> ProgramRules:
    """Bring the schema to head and seed the program's first version when it has none."""
    await upgrade_async(settings.database_url)
    async with db.transaction() as session:
        return await program_service.ensure_program(
            session, name=settings.program_name, currency=settings.currency, now=clock.now()
        )


@lru_cache(maxsize=1)
def _revisions() -> tuple[str, frozenset[str]]:
    script = ScriptDirectory.from_config(alembic_config(""))
    head = script.get_current_head()
    assert head is not None
    return head, frozenset(revision.revision for revision in script.walk_revisions())


def head_revision() -> str:
    """The schema revision this code needs."""
    return _revisions()[0]


async def schema_revision(db: Database) -> str | None:
    """The database's schema revision; None when it was never migrated."""
    async with db.engine.connect() as conn:
        if not await conn.run_sync(lambda sync: inspect(sync).has_table("alembic_version")):
            return None
        return await conn.scalar(text("SELECT version_num FROM alembic_version"))


def is_behind(revision: str | None) -> bool:
    """Whether a schema lacks migrations this code needs: never migrated, or at a revision
    before head. A revision this code does not know is a newer one (migrated for the next
    release while this one still serves): not behind."""
    head, known = _revisions()
    return revision is None or (revision != head and revision in known)
