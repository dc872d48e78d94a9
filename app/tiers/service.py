"""Tiers: where a member stands and how far the next tier is."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.ext.asyncio import AsyncSession

from app.ledger import service as ledger_service
from app.ledger.models import MemberAccount
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
