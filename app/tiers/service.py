"""Tiers: where a member stands and how far the next tier is."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.auth.actors import Actor, require_admin
from app.clock import Clock
from app.db import Database
from app.errors import Conflict, NotFound
from app.ledger import service as ledger_service
from app.ledger.models import Account, MemberAccount
from app.outbox import service as outbox_service
from app.outbox.events import EventType
from app.program import rules as program_rules
from app.program import service as program_service
from app.program.rules import ProgramRules
from app.tiers import rules as tier_rules
from app.tiers.rules import TierStatus


async def tier_status(
    session: AsyncSession, rules: ProgramRules, account: Account, *, now: dt.datetime
) -> TierStatus:
    since = now - dt.timedelta(days=rules.tier_window_days)
    qualifying = await ledger_service.qualifying_points(session, account.member_id, since=since)
    return tier_rules.status(
        rules,
        tier_code=account.tier_code,
        qualifying_points=qualifying,
        period_ends_at=account.tier_year_ends_at,
    )


async def upgrade_after_purchase(
    session: AsyncSession, rules: ProgramRules, account: Account, *, now: dt.datetime
) -> bool:
    """Upgrade at once when the qualifying points cross a higher tier's threshold (the new
    multiplier applies from the next purchase). A new tier year starts with the upgrade."""
    current = rules.tier(account.tier_code) or rules.lowest_tier
    higher = [tier.threshold for tier in rules.tiers if tier.threshold > current.threshold]
    if not higher or account.qualifying_total < min(higher):
        return False  # not even every qualifying point ever earned would reach a higher tier
    since = now - dt.timedelta(days=rules.tier_window_days)
    qualifying = await ledger_service.qualifying_points(session, account.member_id, since=since)
    reached = rules.tier_for(qualifying)
    if reached.threshold <= current.threshold:
        return False
    await announce_tier_change(session, account, to_code=reached.code, reason="purchase", now=now)
    account.tier_code = reached.code
    account.tier_year_ends_at = now + dt.timedelta(days=rules.tier_window_days)
    return True


async def revert_upgrade_after_refund(
    session: AsyncSession,
    rules: ProgramRules,
    account: Account,
    *,
    tier_before: str,
    tier_after: str,
    tier_year_ends_before: dt.datetime | None,
    now: dt.datetime,
) -> bool:
    """A refund that takes back the purchase which caused an upgrade takes the upgrade back:
    down to the tier the remaining qualifying points reach, never below the tier before. Back
    at the tier before, the member is back in the tier year the upgrade replaced (when the
    purchase kept it); a smaller upgrade still happened at that purchase and keeps its year."""
    if tier_before == tier_after or account.tier_code != tier_after:
        return False
    since = now - dt.timedelta(days=rules.tier_window_days)
    qualifying = await ledger_service.qualifying_points(session, account.member_id, since=since)
    upgraded = rules.tier(tier_after)
    if upgraded is None or qualifying >= upgraded.threshold:
        return False
    before = rules.tier(tier_before) or rules.lowest_tier
    reached = rules.tier_for(qualifying)
    back_to = (reached if reached.threshold > before.threshold else before).code
    await announce_tier_change(session, account, to_code=back_to, reason="refund", now=now)
    account.tier_code = back_to
    if back_to == before.code and tier_year_ends_before is not None:
        account.tier_year_ends_at = tier_year_ends_before
    return True


async def announce_tier_change(
    session: AsyncSession,
    account: Account,
    *,
    to_code: str,
    reason: str,
    now: dt.datetime,
) -> None:
    """The `tier.changed` event, written before `account.tier_code` changes (from = current).
    `reason`: purchase (an upgrade), refund (an upgrade taken back), downgrade (tier year end)."""
    if to_code == account.tier_code:
        return
    await outbox_service.record(
        session,
        type=EventType.TIER_CHANGED,
        member_id=account.member_id,
        data={"from": account.tier_code, "to": to_code, "reason": reason},
        at=now,
    )


async def remove_tier(db: Database, actor: Actor, clock: Clock, code: str) -> ProgramRules:
    """Remove a tier nobody holds (members move off it at their tier year's end)."""
    require_admin(actor)
    async with db.transaction() as session:
        current = await program_service.current_rules(session)
        if current.tier(code) is None:
            raise NotFound("No tier has this code.", field="code")
        if await ledger_service.count_accounts_in_tier(session, code) > 0:
            raise Conflict("Members hold this tier; it cannot be removed.", field="code")
        return await program_service.save_version(
            session, actor, program_rules.without_tier(current, code), now=clock.now()
        )


# -- the tier year's review (the worker) ----------------------------------------------------------


async def members_due_for_review(
    session: AsyncSession, *, now: dt.datetime, after: uuid.UUID | None, limit: int
) -> list[uuid.UUID]:
    """A batch of members whose tier year has ended (ix_member_accounts_tier_year_ends_at), in
    id order after `after`."""
    query = select(col(MemberAccount.member_id)).where(col(MemberAccount.tier_year_ends_at) <= now)
    if after is not None:
        query = query.where(col(MemberAccount.member_id) > after)
    query = query.order_by(col(MemberAccount.member_id)).limit(limit)
    return list((await session.scalars(query)).all())


async def review_tier(
    session: AsyncSession, rules: ProgramRules, account: Account, *, now: dt.datetime
) -> bool:
    """Building block on a locked account: at the end of the member's tier year the member
    moves down to the tier their qualifying points of the last window reach, if it is lower
    (upgrades happen at the purchase that earns them), and a new tier year starts where the last
    one ended. A member whose year has not ended is left alone, so a second run changes
    nothing. True when the tier changed."""
    if account.tier_year_ends_at > now:
        return False
    since = now - dt.timedelta(days=rules.tier_window_days)
    qualifying = await ledger_service.qualifying_points(session, account.member_id, since=since)
    current = rules.tier(account.tier_code)  # None: a tier removed from the rules
    reached = rules.tier_for(qualifying)
    if current is not None and reached.threshold >= current.threshold:
        reached = current
    window = dt.timedelta(days=rules.tier_window_days)
    years = (now - account.tier_year_ends_at) // window + 1
    account.tier_year_ends_at += years * window
    account.version += 1
    account.updated_at = now
    if reached.code == account.tier_code:
        return False
    await announce_tier_change(session, account, to_code=reached.code, reason="downgrade", now=now)
    account.tier_code = reached.code
    return True
