"""Run Alembic from code (the CLI, `loyalty serve` on the embedded default, the tests)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config

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
