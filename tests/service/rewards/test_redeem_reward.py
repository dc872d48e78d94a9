"""redeemReward: points for a voucher, stock taken, once per key; refusals write nothing."""

from __future__ import annotations

import datetime as dt

from app.kit.ids import new_id
from app.rewards import rules as reward_rules
from app.rewards import service as rewards_service
from tests.service.checkout.tills import (
    assert_ledger_clean,
    buy,
    lots_of,
    new_member,
    open_till,
    refused,
)
from tests.service.rewards.support import (
    as_member,
    events,
    give,
    history,
    new_reward,
    reward_row,
    snapshot,
)


def redeem(db, clock, member, reward_id, key="redeem-1"):
    return rewards_service.redeem_reward(
        db, as_member(member), clock, reward_id=str(reward_id), idempotency_key=key
    )


async def test_redeem_spends_points_and_issues_a_voucher(db, settings, clock):
    # given: 200 points, a coffee for 150 of which 3 are left
    member = await new_member(db, settings, clock)
    await give(db, clock, member, 200)
    reward = await new_reward(db, clock, stock=3, voucher_valid_days=14)

    # when
    issued = await redeem(db, clock, member, reward.id)

    # then
    voucher = issued.voucher
    assert (voucher.member_id, voucher.reward_id, voucher.points) == (member.id, reward.id, 150)
    assert reward_rules.normalize_voucher_code(voucher.code) == voucher.code
    assert (voucher.issued_at, voucher.expires_at, voucher.used_at) == (
        clock.now(),
        clock.now() + dt.timedelta(days=14),
        None,
    )
    assert (await reward_row(db, reward.id)).stock == 2
    assert (await history(db, member.id))[-1] == ("REWARD", -150, "Reward: Free coffee")
    [event] = await events(db, "reward.redeemed")
    assert (event.member_id, event.data["voucherId"], event.data["points"]) == (
        member.id,
        str(voucher.id),
        150,
    )
    await assert_ledger_clean(db)


async def test_redeem_spends_the_oldest_points_first(db, settings, clock):
    # given: 100 points from a purchase, then 100 more a month later
    till = await open_till(db, settings, clock)
    member = await new_member(db, settings, clock)
    await buy(db, clock, till, member, "R-1", 10000)
    clock.advance(days=30)
    await buy(db, clock, till, member, "R-2", 10000)
    reward = await new_reward(db, clock, points_cost=150)

    # when
    await redeem(db, clock, member, reward.id)

    # then
    assert [(lot.points, lot.remaining) for lot in await lots_of(db, member.id)] == [
        (100, 0),
        (100, 50),
    ]
    await assert_ledger_clean(db)


async def test_unlimited_stock_stays_unlimited(db, settings, clock):
    # given
    member = await new_member(db, settings, clock)
    await give(db, clock, member, 300)
    reward = await new_reward(db, clock)

    # when
    await redeem(db, clock, member, reward.id, key="a")
    await redeem(db, clock, member, reward.id, key="b")

    # then
    assert (await reward_row(db, reward.id)).stock is None
    assert [kind for kind, _, _ in await history(db, member.id)] == ["ADJUST", "REWARD", "REWARD"]


async def test_a_replay_returns_the_same_voucher(db, settings, clock):
    # given
    member = await new_member(db, settings, clock)
    await give(db, clock, member, 500)
    reward = await new_reward(db, clock, stock=5)
    first = await redeem(db, clock, member, reward.id)
    before = await snapshot(db)

    # when
    again = await redeem(db, clock, member, reward.id)

    # then
    assert (again.voucher.id, again.voucher.code) == (first.voucher.id, first.voucher.code)
    assert await snapshot(db) == before


async def test_a_key_used_for_another_reward_is_refused(db, settings, clock):
    # given
    member = await new_member(db, settings, clock)
    await give(db, clock, member, 500)
    coffee = await new_reward(db, clock)
    cake = await new_reward(db, clock, title="Free cake")
    await redeem(db, clock, member, coffee.id)
    before = await snapshot(db)

    # when
    error = await refused(redeem(db, clock, member, cake.id))

    # then
    assert error == ("IDEMPOTENCY_KEY_REUSED", "idempotencyKey")
    assert await snapshot(db) == before


async def test_a_tier_that_may_not_take_it_is_refused(db, settings, clock):
    # given: a Bronze member with points enough
    member = await new_member(db, settings, clock)
    await give(db, clock, member, 500)
    reward = await new_reward(db, clock, tier_codes=["GOLD", "PLATINUM"], stock=1)
    before = await snapshot(db)

    # when
    error = await refused(redeem(db, clock, member, reward.id))

    # then
    assert error == ("TIER_NOT_ELIGIBLE", "rewardId")
    assert await snapshot(db) == before


async def test_not_enough_points_leaves_points_and_stock_untouched(db, settings, clock):
    # given
    member = await new_member(db, settings, clock)
    await give(db, clock, member, 149)
    reward = await new_reward(db, clock, stock=1)
    before = await snapshot(db)

    # when
    error = await refused(redeem(db, clock, member, reward.id))

    # then
    assert error == ("INSUFFICIENT_POINTS", None)
    assert await snapshot(db) == before


async def test_lapsed_points_do_not_pay(db, settings, clock):
    # given: 200 points that lapsed a day ago; the expiry job has not run yet
    till = await open_till(db, settings, clock)
    member = await new_member(db, settings, clock)
    await buy(db, clock, till, member, "R-1", 20000)
    clock.advance(days=366)
    reward = await new_reward(db, clock)
    before = await snapshot(db)

    # when
    error = await refused(redeem(db, clock, member, reward.id))

    # then: refused, and the refusal's expiry was rolled back with it
    assert error == ("INSUFFICIENT_POINTS", None)
    assert await snapshot(db) == before


async def test_out_of_stock_leaves_points_untouched(db, settings, clock):
    # given
    member = await new_member(db, settings, clock)
    await give(db, clock, member, 500)
    reward = await new_reward(db, clock, stock=0)
    before = await snapshot(db)

    # when
    error = await refused(redeem(db, clock, member, reward.id))

    # then
    assert error == ("OUT_OF_STOCK", "rewardId")
    assert await snapshot(db) == before


async def test_the_last_unit_goes_once(db, settings, clock):
    # given
    ann = await new_member(db, settings, clock, "ann@example.com")
    bob = await new_member(db, settings, clock, "bob@example.com")
    await give(db, clock, ann, 500)
    await give(db, clock, bob, 500)
    reward = await new_reward(db, clock, stock=1)
    await redeem(db, clock, ann, reward.id)
    before = await snapshot(db)

    # when
    error = await refused(redeem(db, clock, bob, reward.id))

    # then
    assert error == ("OUT_OF_STOCK", "rewardId")
    assert await snapshot(db) == before


async def test_a_reward_outside_its_window_is_refused(db, settings, clock):
    # given
    member = await new_member(db, settings, clock)
    await give(db, clock, member, 500)
    later = await new_reward(db, clock, starts_at=clock.now() + dt.timedelta(days=1))
    ended = await new_reward(db, clock, ends_at=clock.now() + dt.timedelta(minutes=1))
    clock.advance(minutes=1)
    before = await snapshot(db)

    # then
    assert await refused(redeem(db, clock, member, later.id)) == ("REWARD_UNAVAILABLE", "rewardId")
    assert await refused(redeem(db, clock, member, ended.id, key="k2")) == (
        "REWARD_UNAVAILABLE",
        "rewardId",
    )
    assert await snapshot(db) == before


async def test_unknown_and_malformed_rewards_are_refused(db, settings, clock):
    # given
    member = await new_member(db, settings, clock)
    await give(db, clock, member, 500)

    # then
    assert await refused(redeem(db, clock, member, new_id())) == ("REWARD_NOT_FOUND", "rewardId")
    assert await refused(redeem(db, clock, member, "coffee")) == ("INVALID_INPUT", "rewardId")


async def test_staff_do_not_redeem_rewards(db, settings, clock):
    # given
    till = await open_till(db, settings, clock)
    reward = await new_reward(db, clock)

    # when
    error = await refused(
        rewards_service.redeem_reward(
            db, till.actor, clock, reward_id=str(reward.id), idempotency_key="k"
        )
    )

    # then
    assert error == ("FORBIDDEN", None)


async def test_the_member_lists_its_vouchers(db, settings, clock):
    # given
    member = await new_member(db, settings, clock)
    other = await new_member(db, settings, clock, "bob@example.com")
    await give(db, clock, member, 500)
    await give(db, clock, other, 500)
    coffee = await new_reward(db, clock)
    cake = await new_reward(db, clock, title="Free cake", points_cost=100)
    await redeem(db, clock, member, coffee.id, key="a")
    clock.advance(seconds=1)
    await redeem(db, clock, member, cake.id, key="b")
    await redeem(db, clock, other, cake.id, key="c")

    # when
    async with db.read() as session:
        first = await rewards_service.list_vouchers(session, as_member(member), first=1, after=None)
        rest = await rewards_service.list_vouchers(
            session, as_member(member), first=5, after=first.end_cursor
        )

    # then
    assert [i.reward.title for i in first.items] == ["Free cake"]
    assert [i.reward.title for i in rest.items] == ["Free coffee"]
    assert (first.has_next, rest.has_next) == (True, False)
