"""Per-request context: the database, the actor, one shared read session, the loaders."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.actors import Actor
from app.auth.passwords import PasswordHasher
from app.auth.service import ActorCache
from app.clock import Clock
from app.db import Database, unused
from app.offers import service as offers_service
from app.program import service as program_service
from app.program.rules import ProgramRules
from app.settings import Settings


@dataclass
class Services:
    """What lives as long as the app: built once in create_app."""

    settings: Settings
    db: Database
    clock: Clock
    hasher: PasswordHasher
    rules_cache: program_service.RulesCache = field(default_factory=program_service.RulesCache)
    actor_cache: ActorCache = field(default_factory=ActorCache)
    offers_cache: offers_service.OffersCache = field(default_factory=offers_service.OffersCache)


@dataclass
class Context:
    services: Services
    actor: Actor | None
    client_address: str | None
    auth_error: str | None = None  # why the bearer token was refused, when it was
    request: Any = None
    response: Any = None
    loaders: dict[str, Any] = field(default_factory=dict)
    _session: AsyncSession | None = None
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    _rules: ProgramRules | None = None
    _rules_lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    @property
    def settings(self) -> Settings:
        return self.services.settings

    @property
    def db(self) -> Database:
        return self.services.db

    @property
    def clock(self) -> Clock:
        return self.services.clock

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[AsyncSession]:
        """The request's one read session. Sibling resolvers run concurrently, and a session
        is not safe for concurrent use, so they take turns; one connection serves the request."""
        async with self._lock:
            if self._session is None:
                self._session = AsyncSession(self.db.engine, expire_on_commit=False)
            try:
                yield self._session
            finally:
                if self.db.is_sqlite:
                    # SQLite has one connection per process: hand it back at once, or a mutation
                    # later in this request would wait forever for it. Loaded rows stay readable
                    # (close() detaches them without expiring them).
                    await self.close()

    async def rules(self) -> ProgramRules:
        """The program's rules for this request: from the process's short cache, or read once
        (sibling resolvers asking at the same moment wait for the one read)."""
        async with self._rules_lock:
            if self._rules is None:
                rules = self.services.rules_cache.fresh()
                if rules is None:
                    async with self.reading() as session:
                        rules = await program_service.current_rules(session)
                    self.services.rules_cache.put(rules)
                self._rules = rules
        return self._rules

    async def close(self) -> None:
        if self._session is not None:
            session, self._session = self._session, None
            if unused(session):  # asked for, never used (the scan's offers, when none are open)
                return
            # close() rolls the connection back and detaches the rows without expiring them.
            await session.close()
