"""Stores: where staff work and purchases happen."""

from __future__ import annotations

import datetime as dt
import re
import uuid
import zoneinfo
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.auth.actors import Actor, require_admin
from app.clock import Clock
from app.db import Database
from app.errors import AlreadyExists, InvalidInput, NotFound
from app.stores.models import Store

_CODE = re.compile(r"^[A-Z0-9][A-Z0-9_-]{0,31}$")


@dataclass(frozen=True, slots=True)
class NewStore:
    code: str
    name: str
    timezone: str | None = None


def check_timezone(value: str | None) -> str:
    if value is None or not value.strip():
        return "UTC"
    try:
        zoneinfo.ZoneInfo(value.strip())
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise InvalidInput(
            "Use an IANA time zone such as Europe/Berlin.", field="timezone"
        ) from None
    return value.strip()


async def add_store(
    session: AsyncSession, actor: Actor | None, new: NewStore, *, now: dt.datetime
) -> Store:
    require_admin(actor)
    code = new.code.strip().upper()
    if not _CODE.match(code):
        raise InvalidInput("A store code is 1 to 32 letters, digits, '-' or '_'.", field="code")
    name = new.name.strip()
    if not name or len(name) > 100 or not name.isprintable():
        raise InvalidInput("A store needs a name of at most 100 characters.", field="name")
    timezone = check_timezone(new.timezone)
    if await session.scalar(select(col(Store.id)).where(col(Store.code) == code)) is not None:
        raise AlreadyExists("A store with this code exists already.", field="code")
    store = Store(code=code, name=name, timezone=timezone, created_at=now)
    session.add(store)
    await session.flush()
    return store


async def find_store_by_code(session: AsyncSession, code: str) -> Store | None:
    return await session.scalar(select(Store).where(col(Store.code) == code.strip().upper()))


async def get_store(session: AsyncSession, store_id: uuid.UUID) -> Store:
    store = await session.get(Store, store_id)
    if store is None:
        raise NotFound("No such store.", field="storeId")
    return store


_NAMES: dict[uuid.UUID, str] = {}


async def store_name(session: AsyncSession, store_id: uuid.UUID) -> str:
    """A store's name, from a per-process cache: names never change (there is no update), and
    the till names the store in every entry's description."""
    name = _NAMES.get(store_id)
    if name is None:
        name = (await get_store(session, store_id)).name
        if len(_NAMES) >= 10_000:
            _NAMES.clear()
        _NAMES[store_id] = name
    return name


async def stores_by_ids(session: AsyncSession, ids: Iterable[uuid.UUID]) -> Sequence[Store]:
    wanted = list(set(ids))
    if not wanted:
        return []
    rows = await session.scalars(select(Store).where(col(Store.id).in_(wanted)))
    return rows.all()


async def list_stores(session: AsyncSession) -> Sequence[Store]:
    return (await session.scalars(select(Store).order_by(col(Store.code)))).all()


async def create_store(db: Database, actor: Actor | None, clock: Clock, new: NewStore) -> Store:
    require_admin(actor)
    async with db.transaction() as session:
        return await add_store(session, actor, new, now=clock.now())
