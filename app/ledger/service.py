"""The ledger's reads and the account's opening. Points move only through use cases that lock
the member's account row first."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.kit import pagination
from app.kit.pagination import Page
from app.ledger.models import LedgerEntry, MemberAccount, PointLot

EXPIRING_SOON_DAYS = 30


@dataclass(frozen=True, slots=True)
class ExpiringPoints:
    points: int
    expires_at: dt.datetime


async def open_account(
    session: AsyncSession,
    member_id: uuid.UUID,
    *,
    tier_code: str,
    tier_year_days: int,
    now: dt.datetime,
) -> MemberAccount:
    """Building block: the empty account of a new member, in the lowest tier."""
    account = MemberAccount(
        member_id=member_id,
        tier_code=tier_code,
        tier_year_ends_at=now + dt.timedelta(days=tier_year_days),
        created_at=now,
        updated_at=now,
    )
    session.add(account)
    await session.flush()
    return account


async def accounts_by_member(
    session: AsyncSession, member_ids: Sequence[uuid.UUID]
) -> Mapping[uuid.UUID, MemberAccount]:
    rows = await session.scalars(
        select(MemberAccount).where(col(MemberAccount.member_id).in_(list(member_ids)))
    )
    return {account.member_id: account for account in rows.all()}


async def expiring_soon(
    session: AsyncSession, member_id: uuid.UUID, *, now: dt.datetime, days: int = EXPIRING_SOON_DAYS
) -> list[ExpiringPoints]:
    """Available points that expire within `days`, grouped by expiry date, soonest first."""
    rows = await session.execute(
        select(col(PointLot.expires_at), func.sum(col(PointLot.remaining)))
        .where(
            col(PointLot.member_id) == member_id,
            col(PointLot.remaining) > 0,
            col(PointLot.available_from) <= now,
            col(PointLot.expires_at) > now,
            col(PointLot.expires_at) <= now + dt.timedelta(days=days),
        )
        .group_by(col(PointLot.expires_at))
        .order_by(col(PointLot.expires_at))
    )
    return [ExpiringPoints(int(points), expires_at) for expires_at, points in rows.all()]


async def qualifying_points(
    session: AsyncSession, member_id: uuid.UUID, *, since: dt.datetime
) -> int:
    total = await session.scalar(
        select(func.coalesce(func.sum(col(LedgerEntry.qualifying)), 0)).where(
            col(LedgerEntry.member_id) == member_id, col(LedgerEntry.created_at) > since
        )
    )
    return int(total or 0)


async def list_entries(
    session: AsyncSession, member_id: uuid.UUID, *, first: int, after: str | None
) -> Page[LedgerEntry]:
    """The member's entries, newest first, keyset-paginated on (created_at, id)."""
    pagination.check_first(first)
    query = select(LedgerEntry).where(col(LedgerEntry.member_id) == member_id)
    if after is not None:
        at, entry_id = pagination.decode_cursor(after)
        query = query.where(
            or_(
                col(LedgerEntry.created_at) < at,
                and_(col(LedgerEntry.created_at) == at, col(LedgerEntry.id) < entry_id),
            )
        )
    rows = (
        await session.scalars(
            query.order_by(col(LedgerEntry.created_at).desc(), col(LedgerEntry.id).desc()).limit(
                first + 1
            )
        )
    ).all()
    items = rows[:first]
    return Page(
        items=items,
        cursors=[pagination.encode_cursor(e.created_at, e.id) for e in items],
        has_next=len(rows) > first,
    )


async def count_accounts_in_tier(session: AsyncSession, tier_code: str) -> int:
    count = await session.scalar(
        select(func.count())
        .select_from(MemberAccount)
        .where(col(MemberAccount.tier_code) == tier_code)
    )
    return int(count or 0)
