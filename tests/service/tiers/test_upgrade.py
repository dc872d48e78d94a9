"""Tier upgrades at the till: a purchase crossing a threshold upgrades at once (its own points at
the old multiplier, the next purchase at the new one); refunding it takes the upgrade back."""

from __future__ import annotations

import datetime as dt

from app import jobs
from tests.conftest import START
from tests.service.checkout.tills import (
    account_of,
    assert_ledger_clean,
    buy,
    entries_of,
    new_member,
    open_till,
    purchase_row,
    refund,
)

YEAR = dt.timedelta(days=365)


async def test_crossing_1000_qualifying_points_upgrades_to_silver_at_once(db, settings, clock):
    # given: 900 qualifying points
    at = await open_till(db, settings, clock)
    member = await new_member(db, settings, clock)
    await buy(db, clock, at, member, "R-1", 90000)
    clock.advance(days=1)

    # when: 200.00 more: 900 + 200 = 1100 >= 1000
    crossing = await buy(db, clock, at, member, "R-2", 20000)

    # then: earned at BRONZE's x1.00: 200 ; the tier year starts again
    assert (crossing.points_earned, crossing.tier_changed, crossing.available) == (200, True, 1100)
    account = await account_of(db, member.id)
    assert (account.tier_code, account.tier_year_ends_at) == (
        "SILVER",
        START + dt.timedelta(days=1) + YEAR,
    )
    row = await purchase_row(db, crossing.purchase_id)
    assert (row.tier_before, row.tier_after, row.base_points) == ("BRONZE", "SILVER", 200)
    await assert_ledger_clean(db)


async def test_the_purchase_after_the_upgrade_earns_at_the_new_multiplier(db, settings, clock):
    # given: SILVER since the second purchase
    at = await open_till(db, settings, clock)
    member = await new_member(db, settings, clock)
    await buy(db, clock, at, member, "R-1", 90000)
    await buy(db, clock, at, member, "R-2", 20000)

    # when
    after = await buy(db, clock, at, member, "R-3", 10000)

    # then: 100.00 x1.25 = 125, of which 100 qualify
    assert (after.points_earned, after.tier_changed, after.available) == (125, False, 1225)
    assert (await entries_of(db, member.id))[-1] == (3, "EARN", 125, 100)
    await assert_ledger_clean(db)


async def test_exactly_the_threshold_upgrades(db, settings, clock):
    # given
    at = await open_till(db, settings, clock)
    member = await new_member(db, settings, clock)

    # when: 1000.00 -> 1000 qualifying points, exactly SILVER's threshold
    receipt = await buy(db, clock, at, member, "R-1", 100000)

    # then
    assert (receipt.points_earned, receipt.tier_changed) == (1000, True)
    assert (await account_of(db, member.id)).tier_code == "SILVER"
    await assert_ledger_clean(db)


async def test_one_point_short_of_the_threshold_does_not_upgrade(db, settings, clock):
    # given
    at = await open_till(db, settings, clock)
    member = await new_member(db, settings, clock)

    # when: 999.99 -> 999
    receipt = await buy(db, clock, at, member, "R-1", 99999)

    # then
    assert (receipt.points_earned, receipt.tier_changed) == (999, False)
    assert (await account_of(db, member.id)).tier_code == "BRONZE"
    await assert_ledger_clean(db)


async def test_a_big_purchase_jumps_straight_to_gold(db, settings, clock):
    # given
    at = await open_till(db, settings, clock)
    member = await new_member(db, settings, clock)

    # when: 5000.00 -> 5000 qualifying points, at x1.00
    jump = await buy(db, clock, at, member, "R-1", 500000)
    after = await buy(db, clock, at, member, "R-2", 1000)

    # then: the next 10.00 earn x1.5 = 15
    assert (jump.points_earned, jump.tier_changed) == (5000, True)
    assert (await account_of(db, member.id)).tier_code == "GOLD"
    assert (after.points_earned, after.tier_changed) == (15, False)
    await assert_ledger_clean(db)


async def test_points_paid_with_points_do_not_qualify(db, settings, clock):
    # given: 990 qualifying points and 990 available
    at = await open_till(db, settings, clock)
    member = await new_member(db, settings, clock)
    await buy(db, clock, at, member, "R-1", 99000)

    # when: 20.00, 9.90 of it paid with 990 points
    half = await buy(db, clock, at, member, "R-2", 2000, redeem=990)

    # then: 20.00 - 9.90 = 10.10 paid -> 10 ; 990 + 10 = 1000
    assert (half.points_earned, half.tier_changed) == (10, True)
    await assert_ledger_clean(db)


async def test_refunding_the_upgrading_purchase_takes_the_upgrade_back(db, settings, clock):
    # given: 900, then the 200 that made the member SILVER
    at = await open_till(db, settings, clock)
    member = await new_member(db, settings, clock)
    await buy(db, clock, at, member, "R-1", 90000)
    crossing = await buy(db, clock, at, member, "R-2", 20000)

    # when
    result = await refund(db, clock, at, crossing.purchase_id, 20000, key="refund-1")
    after = await buy(db, clock, at, member, "R-3", 5000)

    # then: back to 900 qualifying points, BRONZE: the next 50.00 earn 50 (x1.00), 950 in all
    assert (result.points_reversed, result.available) == (200, 900)
    assert (after.points_earned, after.tier_changed) == (50, False)
    assert (await account_of(db, member.id)).tier_code == "BRONZE"
    await assert_ledger_clean(db)


async def test_a_partial_refund_below_the_threshold_takes_the_upgrade_back(db, settings, clock):
    # given: 900 + 200 = 1100 qualifying, SILVER
    at = await open_till(db, settings, clock)
    member = await new_member(db, settings, clock)
    await buy(db, clock, at, member, "R-1", 90000)
    crossing = await buy(db, clock, at, member, "R-2", 20000)

    # when: 150.00 of 200.00 back: ceil(200 x 0.75) = 150 -> 950 qualifying
    result = await refund(db, clock, at, crossing.purchase_id, 15000, key="refund-1")

    # then
    assert result.points_reversed == 150
    assert (await account_of(db, member.id)).tier_code == "BRONZE"
    await assert_ledger_clean(db)


async def test_a_partial_refund_that_stays_above_the_threshold_keeps_the_tier(db, settings, clock):
    # given: 900 + 200 = 1100 qualifying, SILVER
    at = await open_till(db, settings, clock)
    member = await new_member(db, settings, clock)
    await buy(db, clock, at, member, "R-1", 90000)
    crossing = await buy(db, clock, at, member, "R-2", 20000)

    # when: 50.00 of 200.00 back: ceil(200 x 0.25) = 50 -> 1050 qualifying
    result = await refund(db, clock, at, crossing.purchase_id, 5000, key="refund-1")

    # then
    assert result.points_reversed == 50
    assert (await account_of(db, member.id)).tier_code == "SILVER"
    await assert_ledger_clean(db)


async def test_refunding_an_earlier_purchase_does_not_take_the_upgrade_back(db, settings, clock):
    # given: 900 then 200 (the upgrade)
    at = await open_till(db, settings, clock)
    member = await new_member(db, settings, clock)
    earlier = await buy(db, clock, at, member, "R-1", 90000)
    await buy(db, clock, at, member, "R-2", 20000)

    # when: the 900.00 purchase is refunded: 200 qualifying points are left
    await refund(db, clock, at, earlier.purchase_id, 90000, key="refund-1")

    # then: only the refund of the purchase that caused an upgrade takes it back
    assert (await account_of(db, member.id)).tier_code == "SILVER"
    await assert_ledger_clean(db)


async def test_a_refund_keeps_the_tier_while_later_purchases_still_qualify(db, settings, clock):
    # given: 900, 200 (SILVER), then 100.00 at SILVER: 100 more qualifying, 1200 in all
    at = await open_till(db, settings, clock)
    member = await new_member(db, settings, clock)
    await buy(db, clock, at, member, "R-1", 90000)
    crossing = await buy(db, clock, at, member, "R-2", 20000)
    await buy(db, clock, at, member, "R-3", 10000)

    # when: the upgrading purchase is refunded: 1200 - 200 = 1000 qualifying points
    await refund(db, clock, at, crossing.purchase_id, 20000, key="refund-1")

    # then: still at SILVER's threshold
    assert (await account_of(db, member.id)).tier_code == "SILVER"
    await assert_ledger_clean(db)


async def test_taking_the_upgrade_back_restores_the_tier_year_it_replaced(db, settings, clock):
    # given: BRONZE for the year to START + 365 days; 900, then on day 100 the 200 to SILVER
    at = await open_till(db, settings, clock)
    member = await new_member(db, settings, clock)
    await buy(db, clock, at, member, "R-1", 90000)
    clock.advance(days=100)
    crossing = await buy(db, clock, at, member, "R-2", 20000)
    upgraded = await account_of(db, member.id)
    clock.advance(days=1)

    # when
    await refund(db, clock, at, crossing.purchase_id, 20000, key="refund-1")

    # then: the year the upgrade started is gone with it
    row = await purchase_row(db, crossing.purchase_id)
    account = await account_of(db, member.id)
    assert (upgraded.tier_code, upgraded.tier_year_ends_at) == (
        "SILVER",
        START + dt.timedelta(days=100) + YEAR,
    )
    assert row.tier_year_ends_before == START + YEAR
    assert (account.tier_code, account.tier_year_ends_at) == ("BRONZE", START + YEAR)
    await assert_ledger_clean(db)


async def test_a_smaller_upgrade_left_by_a_refund_keeps_the_year_of_the_purchase(
    db, settings, clock
):
    # given: 900, then on day 10 4200 more: 5100 qualifying, GOLD
    at = await open_till(db, settings, clock)
    member = await new_member(db, settings, clock)
    await buy(db, clock, at, member, "R-1", 90000)
    clock.advance(days=10)
    jump = await buy(db, clock, at, member, "R-2", 420000)

    # when: 3000.00 back: 2100 qualifying, still above SILVER's 1000
    await refund(db, clock, at, jump.purchase_id, 300000, key="refund-1")

    # then: SILVER was reached at that purchase: its year stays
    account = await account_of(db, member.id)
    assert (account.tier_code, account.tier_year_ends_at) == (
        "SILVER",
        START + dt.timedelta(days=10) + YEAR,
    )
    await assert_ledger_clean(db)


async def test_a_restored_year_that_has_ended_is_reviewed_by_the_next_run(db, settings, clock):
    # given: SILVER from START (year to START + 365); on day 300, 4000 more make GOLD
    at = await open_till(db, settings, clock)
    member = await new_member(db, settings, clock)
    await buy(db, clock, at, member, "R-1", 100000)
    clock.advance(days=300)
    crossing = await buy(db, clock, at, member, "R-2", 400000)
    clock.advance(days=70)  # the first 1000 have left the window

    # when: the GOLD purchase is refunded, then the tier review runs
    await refund(db, clock, at, crossing.purchase_id, 400000, key="refund-1")
    reverted = await account_of(db, member.id)
    report = await jobs.review_tiers(db, clock)

    # then: back to SILVER in the year that ended; the review moves the member down at once
    account = await account_of(db, member.id)
    assert (reverted.tier_code, reverted.tier_year_ends_at) == ("SILVER", START + YEAR)
    assert report.members == 1
    assert (account.tier_code, account.tier_year_ends_at) == ("BRONZE", START + 2 * YEAR)
    await assert_ledger_clean(db)
