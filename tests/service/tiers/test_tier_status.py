"""tiers_service.tier_status: where a member stands and how far the next tier is."""

from __future__ import annotations

import datetime as dt

from app.ledger.models import MemberAccount
from app.program import service as program_service
from app.program.rules import Tier
from app.tiers import service as tiers_service
from tests.conftest import START
from tests.support import SYSTEM, create_member


async def status_of(db, clock, member_id):
    async with db.read() as session:
        rules = await program_service.current_rules(session)
        account = await session.get(MemberAccount, member_id)
        assert account is not None
        return await tiers_service.tier_status(session, rules, account, now=clock.now())


async def test_a_new_member_stands_at_the_lowest_tier(db, settings, clock):
    # given
    _, member = await create_member(db, settings, clock)

    # when
    status = await status_of(db, clock, member.id)

    # then
    assert (status.current.code, status.next.code if status.next else None) == ("BRONZE", "SILVER")
    assert (status.qualifying_points, status.points_to_next, status.percent) == (0, 1000, 0)
    assert status.period_ends_at == START + dt.timedelta(days=365)


async def test_a_member_in_the_top_tier_has_no_next(db, settings, clock):
    # given
    _, member = await create_member(db, settings, clock)
    await tiers_service.remove_tier(db, SYSTEM, clock, "PLATINUM")
    await tiers_service.remove_tier(db, SYSTEM, clock, "GOLD")
    await tiers_service.remove_tier(db, SYSTEM, clock, "SILVER")

    # when
    status = await status_of(db, clock, member.id)

    # then
    assert (status.current.code, status.next, status.points_to_next, status.percent) == (
        "BRONZE",
        None,
        0,
        100,
    )


async def test_the_next_tier_follows_the_current_rules(db, settings, clock):
    # given
    _, member = await create_member(db, settings, clock)
    await program_service.set_tier(db, SYSTEM, clock, Tier("SILVER", "Silver", 400, 125))

    # when
    status = await status_of(db, clock, member.id)

    # then
    assert status.next is not None
    assert (status.next.code, status.next.threshold, status.points_to_next) == ("SILVER", 400, 400)
