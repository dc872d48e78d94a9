"""Small helpers shared by the service and concurrency tests."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from app.auth import service as auth_service
from app.auth.actors import Actor
from app.db import Database
from app.settings import Settings
from tests.support import FakeClock


async def count_rows(db: Database, model: Any) -> int:
    async with db.read() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def counts(db: Database, *models: Any) -> dict[str, int]:
    return {model.__tablename__: await count_rows(db, model) for model in models}


async def actor_for(
    db: Database, settings: Settings, clock: FakeClock, tokens: auth_service.AuthTokens
) -> Actor:
    """The actor a session's access token speaks for, as the API would resolve it."""
    return await auth_service.actor_for_token(db, settings, clock, tokens.access_token)


def code_secret(settings: Settings) -> bytes:
    return settings.member_code_secret.get_secret_value().encode()
