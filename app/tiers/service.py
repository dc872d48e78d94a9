"""Tiers: where a member stands and how far the next tier is."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.actors import Actor, require_admin
from app.clock import Clock
from app.db import Database
from app.errors import Conflict, NotFound
from app.ledger import service as ledger_service
from app.ledger.models import MemberAccount
from app.program import rules as program_rules
from app.program import service as program_service
from app.program.rules import ProgramRules
from app.tiers import rules as tier_rules
from app.tiers.rules import TierStatus


async def tier_status(
    session: AsyncSession, rules: ProgramRules, account: MemberAccount, *, now: dt.datetime
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
    session: AsyncSession, rules: ProgramRules, account: MemberAccount, *, now: dt.datetime
) -> bool:
    """Upgrade at once when the qualifying points cross a higher tier's threshold (the new
    multiplier applies from the next purchase). A new tier year starts with the upgrade."""
    since = now - dt.timedelta(days=rules.tier_window_days)
    qualifying = await ledger_service.qualifying_points(session, account.member_id, since=since)
    reached = rules.tier_for(qualifying)
    current = rules.tier(account.tier_code) or rules.lowest_tier
    if reached.threshold <= current.threshold:
        return False
    account.tier_code = reached.code
    account.tier_year_ends_at = now + dt.timedelta(days=rules.tier_window_days)
    return True


async def revert_upgrade_after_refund(
    session: AsyncSession,
    rules: ProgramRules,
    account: MemberAccount,
    *,
    tier_before: str,
    tier_after: str,
    now: dt.datetime,
) -> bool:
    """A refund that takes back the purchase which caused an upgrade takes the upgrade back:
    down to the tier the remaining qualifying points reach, never below the tier before."""
    if tier_before == tier_after or account.tier_code != tier_after:
        return False
    since = now - dt.timedelta(days=rules.tier_window_days)
    qualifying = await ledger_service.qualifying_points(session, account.member_id, since=since)
    upgraded = rules.tier(tier_after)
    if upgraded is None or qualifying >= upgraded.threshold:
        return False
    before = rules.tier(tier_before) or rules.lowest_tier
    reached = rules.tier_for(qualifying)
    account.tier_code = (reached if reached.threshold > before.threshold else before).code
    return True


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
