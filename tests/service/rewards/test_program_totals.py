"""Rewards, donations, referral and birthday bonuses keep the operator's maintained totals equal
to what the ledger says (app/stats: REWARD and DONATION count as redeemed, bonuses as issued)."""

from __future__ import annotations

import datetime as dt

from app import jobs
from app.rewards import service as rewards_service
from app.stats import service as stats_service
from tests.service.checkout.tills import buy, new_member, open_till
from tests.service.rewards.support import as_member, give, new_cause, new_reward
from tests.support import create_member


async def test_every_movement_is_counted_once(db, settings, clock):
    # given: a referral settled by a purchase, a reward, a donation, a birthday bonus, and
    # lapsed points that a redemption expired before spending
    till = await open_till(db, settings, clock)
    ann = await new_member(db, settings, clock, "ann@example.com")
    _, bob = await create_member(
        db, settings, clock, email="bob@example.com", referral_code=ann.referral_code,
        birth_date=dt.date(1990, 8, 15),
    )  # fmt: skip
    await buy(db, clock, till, bob, "B-1", 2000)
    await give(db, clock, ann, 300)
    reward = await new_reward(db, clock)
    cause = await new_cause(db, clock)

    # when
    await rewards_service.redeem_reward(
        db, as_member(ann), clock, reward_id=str(reward.id), idempotency_key="r"
    )
    await rewards_service.donate_points(
        db, as_member(bob), clock, cause_id=str(cause.id), points=100, idempotency_key="d"
    )
    clock.current = dt.datetime(2026, 8, 15, 10, tzinfo=dt.UTC)
    await jobs.birthday_bonuses(db, clock)
    clock.current = dt.datetime(2027, 7, 1, 10, tzinfo=dt.UTC)  # Bob's first points lapsed
    await rewards_service.redeem_reward(
        db, as_member(bob), clock, reward_id=str(reward.id), idempotency_key="r2"
    )

    # then
    computed, _ = await stats_service.recompute(db)
    assert stats_service.differences(computed, await stats_service.maintained(db)) == []
