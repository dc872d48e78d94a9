"""verify-ledger proves that vouchers, donations and bonuses agree with the entries."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import delete, update
from sqlmodel import col

from app import jobs
from app.ledger.verify import verify_ledger
from app.referrals.models import BirthdayBonus
from app.rewards import service as rewards_service
from app.rewards.models import Donation, Voucher
from tests.service.checkout.tills import new_member
from tests.service.rewards.support import as_member, give, new_cause, new_reward
from tests.support import create_member


async def rules_broken(db) -> list[str]:
    return [v.rule for v in (await verify_ledger(db)).violations]


async def test_a_voucher_that_disagrees_with_its_entry_is_found(db, settings, clock):
    # given
    member = await new_member(db, settings, clock)
    await give(db, clock, member, 500)
    reward = await new_reward(db, clock)
    issued = await rewards_service.redeem_reward(
        db, as_member(member), clock, reward_id=str(reward.id), idempotency_key="k"
    )
    assert await rules_broken(db) == []

    # when: someone edits the voucher's price behind the application's back
    async with db.transaction() as session:
        await session.execute(
            update(Voucher).where(col(Voucher.id) == issued.voucher.id).values(points=1)
        )

    # then
    assert await rules_broken(db) == ["vouchers disagree with the entries"]


async def test_a_donation_entry_without_its_donation_is_found(db, settings, clock):
    # given
    member = await new_member(db, settings, clock)
    await give(db, clock, member, 500)
    cause = await new_cause(db, clock)
    await rewards_service.donate_points(
        db, as_member(member), clock, cause_id=str(cause.id), points=50, idempotency_key="k"
    )

    # when
    async with db.transaction() as session:
        await session.execute(delete(Donation))

    # then
    assert await rules_broken(db) == ["donations disagree with the entries"]


async def test_a_birthday_entry_without_its_bonus_is_found(db, settings, clock):
    # given
    await create_member(
        db, settings, clock, email="ann@example.com", birth_date=dt.date(1990, 8, 15)
    )
    clock.current = dt.datetime(2026, 8, 15, 10, tzinfo=dt.UTC)
    await jobs.birthday_bonuses(db, clock)
    assert await rules_broken(db) == []

    # when
    async with db.transaction() as session:
        await session.execute(delete(BirthdayBonus))

    # then
    assert await rules_broken(db) == ["bonus disagrees with the entries"]
