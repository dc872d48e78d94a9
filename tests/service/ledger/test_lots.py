"""Lots over time: pending points, oldest lots spent first, points expiring soon, and debt."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from app import jobs
from app.auth.actors import StaffActor
from app.errors import InsufficientPoints
from app.ledger import service as ledger_service
from app.ledger.models import PointLot
from tests.conftest import START
from tests.service.ledger.scenario import (
    Lot,
    account_of,
    assert_ledger_clean,
    balance_of,
    buy,
    entries_of,
    join,
    lots_of,
    open_till,
    refund,
    set_pending_days,
)

DAY = dt.timedelta(days=1)


async def test_pending_points_are_not_redeemable(db, settings, clock):
    # given
    await set_pending_days(db, clock, 14)
    till = await open_till(db, settings, clock)
    member = await join(db, settings, clock)
    receipt = await buy(db, clock, till, member, "R-1", 30000)

    # when
    with pytest.raises(InsufficientPoints) as error:
        await buy(db, clock, till, member, "R-2", 1000, redeem=100)

    # then
    assert (receipt.points_earned, receipt.available, receipt.pending) == (300, 0, 300)
    assert await balance_of(db, member.id) == ledger_service.Balance(available=0, pending=300)
    assert (error.value.code, error.value.field, error.value.available) == (
        "INSUFFICIENT_POINTS",
        "redeemPoints",
        0,
    )
    assert await lots_of(db, member.id) == [
        Lot(300, 300, False, START + 14 * DAY, START + 379 * DAY)
    ]
    await assert_ledger_clean(db)


async def test_released_points_become_redeemable(db, settings, clock):
    # given
    await set_pending_days(db, clock, 14)
    till = await open_till(db, settings, clock)
    member = await join(db, settings, clock)
    await buy(db, clock, till, member, "R-1", 30000)
    clock.advance(days=14)
    await jobs.release_pending(db, clock)

    # when
    receipt = await buy(db, clock, till, member, "R-2", 1000, redeem=100)

    # then: 9.00 paid earns 9 points, pending for 14 days
    assert (receipt.points_redeemed, receipt.available, receipt.pending) == (100, 200, 9)
    assert await lots_of(db, member.id) == [
        Lot(300, 200, True, START + 14 * DAY, START + 379 * DAY),
        Lot(9, 9, False, START + 28 * DAY, START + 393 * DAY),
    ]
    await assert_ledger_clean(db)


async def test_redemption_spends_the_oldest_lots_first(db, settings, clock):
    # given: three lots of 100, 200 and 300 points, ten days apart
    till = await open_till(db, settings, clock)
    member = await join(db, settings, clock)
    await buy(db, clock, till, member, "R-1", 10000)
    clock.advance(days=10)
    await buy(db, clock, till, member, "R-2", 20000)
    clock.advance(days=10)
    await buy(db, clock, till, member, "R-3", 30000)
    clock.advance(days=10)

    # when: 250 points pay 2.50 of 10.00; the 7.50 paid earns 7
    receipt = await buy(db, clock, till, member, "R-4", 1000, redeem=250)

    # then
    assert (receipt.points_earned, receipt.available) == (7, 357)
    assert await lots_of(db, member.id) == [
        Lot(100, 0, True, START, START + 365 * DAY),
        Lot(200, 50, True, START + 10 * DAY, START + 375 * DAY),
        Lot(300, 300, True, START + 20 * DAY, START + 385 * DAY),
        Lot(7, 7, True, START + 30 * DAY, START + 395 * DAY),
    ]
    await assert_ledger_clean(db)


async def test_a_redemption_spends_lots_over_more_than_one_page(db, settings, clock):
    # given: more lots than one page of the redemption's read, of 2 points each, a day apart
    till = await open_till(db, settings, clock)
    member = await join(db, settings, clock)
    count = ledger_service.LOT_PAGE + 6
    for n in range(count):
        await buy(db, clock, till, member, f"R-{n}", 200)
        clock.advance(days=1)

    # when: all but the newest three lots pay
    receipt = await buy(db, clock, till, member, "R-pay", 100_000, redeem=2 * (count - 3))

    # then: the oldest emptied, in order, across the page's end
    lots = await lots_of(db, member.id)
    assert [lot.remaining for lot in lots[:count]] == [0] * (count - 3) + [2, 2, 2]
    assert receipt.points_redeemed == 2 * (count - 3)
    assert (await account_of(db, member.id)).available == 6 + receipt.points_earned
    await assert_ledger_clean(db)


async def test_a_lot_the_session_holds_sees_what_a_redemption_took(db, settings, clock):
    # given: a member with one lot, which the transaction has read as an object
    till = await open_till(db, settings, clock)
    member = await join(db, settings, clock)
    await buy(db, clock, till, member, "R-1", 30000)
    posting = ledger_service.Posting(
        actor_kind="system", actor_id=None, store_id=None, rules_version=1, now=clock.now()
    )

    # when
    async with db.transaction() as session:
        account = await ledger_service.lock_account(session, member.id)
        held = (await session.scalars(select(PointLot))).one()
        await ledger_service.spend(
            session, account, posting, points=120, kind="REDEEM", description="Paid"
        )
        seen = held.remaining

    # then: the object, the row and the ledger agree
    assert seen == 180
    assert [lot.remaining for lot in await lots_of(db, member.id)] == [180]
    await assert_ledger_clean(db)


async def test_negative_adjustment_spends_the_oldest_lots_first(db, settings, clock):
    # given
    till = await open_till(db, settings, clock)
    member = await join(db, settings, clock)
    await buy(db, clock, till, member, "R-1", 10000)
    clock.advance(days=1)
    await buy(db, clock, till, member, "R-2", 20000)
    admin = StaffActor(till.actor.staff_id, "ADMIN")

    # when
    result = await ledger_service.adjust_points(
        db, admin, clock, member_id=str(member.id), points=-150, reason="Double entry",
        idempotency_key="adjust-1",
    )  # fmt: skip

    # then
    assert (result.points, result.balance_after) == (-150, 150)
    assert [(lot.points, lot.remaining) for lot in await lots_of(db, member.id)] == [
        (100, 0),
        (200, 150),
    ]
    await assert_ledger_clean(db)


async def test_refund_gives_redeemed_points_back_to_the_lots_they_came_from(db, settings, clock):
    # given: 250 points taken from the lots of 100 and 200
    till = await open_till(db, settings, clock)
    member = await join(db, settings, clock)
    await buy(db, clock, till, member, "R-1", 10000)
    clock.advance(days=10)
    await buy(db, clock, till, member, "R-2", 20000)
    clock.advance(days=10)
    paid = await buy(db, clock, till, member, "R-3", 1000, redeem=250)
    clock.advance(days=1)

    # when: all 7.50 paid is refunded
    receipt = await refund(db, clock, till, paid.purchase_id, 750, "refund-1")

    # then: the 250 points return with their original expiry; the 7 earned are taken back
    assert (receipt.points_reversed, receipt.points_restored, receipt.available) == (7, 250, 300)
    assert await lots_of(db, member.id) == [
        Lot(100, 100, True, START, START + 365 * DAY),
        Lot(200, 200, True, START + 10 * DAY, START + 375 * DAY),
        Lot(7, 0, True, START + 20 * DAY, START + 385 * DAY),
    ]
    await assert_ledger_clean(db)


async def test_expiring_soon_lists_points_that_expire_within_30_days(db, settings, clock):
    # given: lots of 100, 200 and 300 points, the second partly spent
    till = await open_till(db, settings, clock)
    member = await join(db, settings, clock)
    await buy(db, clock, till, member, "R-1", 10000)
    clock.advance(days=10)
    await buy(db, clock, till, member, "R-2", 20000)
    clock.advance(days=90)
    await buy(db, clock, till, member, "R-3", 30000)
    await buy(db, clock, till, member, "R-4", 40000, redeem=150)

    # when
    async with db.read() as session:
        in_340_days = await ledger_service.expiring_soon(session, member.id, now=START + 340 * DAY)
        in_345_days = await ledger_service.expiring_soon(session, member.id, now=START + 345 * DAY)
        in_365_days = await ledger_service.expiring_soon(session, member.id, now=START + 365 * DAY)

    # then: the oldest lot (100) was spent by the redemption, 50 of the 200 too
    assert in_340_days == []
    assert in_345_days == [ledger_service.ExpiringPoints(150, START + 375 * DAY)]
    assert in_365_days == [ledger_service.ExpiringPoints(150, START + 375 * DAY)]
    await assert_ledger_clean(db)


async def test_expiring_soon_sums_the_lots_of_one_date(db, settings, clock):
    # given: two lots expiring at the same moment, one 20 days later, one pending
    till = await open_till(db, settings, clock)
    member = await join(db, settings, clock)
    await buy(db, clock, till, member, "R-1", 10000)
    await buy(db, clock, till, member, "R-2", 5000)
    clock.advance(days=20)
    await buy(db, clock, till, member, "R-3", 20000)
    await set_pending_days(db, clock, 14)
    await buy(db, clock, till, member, "R-4", 40000)

    # when
    async with db.read() as session:
        soon = await ledger_service.expiring_soon(session, member.id, now=START + 360 * DAY)

    # then
    assert soon == [
        ledger_service.ExpiringPoints(150, START + 365 * DAY),
        ledger_service.ExpiringPoints(200, START + 385 * DAY),
    ]
    assert await balance_of(db, member.id) == ledger_service.Balance(available=350, pending=400)


async def test_refund_of_spent_points_leaves_a_debt_that_the_next_earning_repays(
    db, settings, clock
):
    # given: 500 points earned, then all spent
    till = await open_till(db, settings, clock)
    member = await join(db, settings, clock)
    first = await buy(db, clock, till, member, "R-1", 50000)
    spent = await buy(db, clock, till, member, "R-2", 1000, redeem=500)

    # when: the first purchase is refunded in full, then the member buys again
    refunded = await refund(db, clock, till, first.purchase_id, 50000, "refund-1")
    after_refund = await account_of(db, member.id)
    again = await buy(db, clock, till, member, "R-3", 60000)

    # then
    assert (spent.points_earned, spent.available) == (5, 5)
    assert (refunded.points_reversed, refunded.available) == (500, -495)
    assert (after_refund.available, after_refund.pending, after_refund.debt) == (-495, 0, 495)
    assert (again.points_earned, again.available) == (600, 105)
    account = await account_of(db, member.id)
    assert (account.available, account.debt) == (105, 0)
    assert [(lot.points, lot.remaining) for lot in await lots_of(db, member.id)] == [
        (500, 0),
        (5, 0),
        (600, 105),
    ]
    assert [(e.kind, e.points, e.balance_after) for e in await entries_of(db, member.id)] == [
        ("EARN", 500, 500),
        ("REDEEM", -500, 0),
        ("EARN", 5, 5),
        ("REVERSAL", -500, -495),
        ("EARN", 600, 105),
    ]
    await assert_ledger_clean(db)


async def test_pending_earning_repays_a_debt_first(db, settings, clock):
    # given: a debt of 495
    till = await open_till(db, settings, clock)
    member = await join(db, settings, clock)
    first = await buy(db, clock, till, member, "R-1", 50000)
    await buy(db, clock, till, member, "R-2", 1000, redeem=500)
    await refund(db, clock, till, first.purchase_id, 50000, "refund-1")
    await set_pending_days(db, clock, 14)

    # when
    receipt = await buy(db, clock, till, member, "R-3", 60000)

    # then: 495 of the 600 repay the debt at once, the other 105 wait 14 days
    assert (receipt.available, receipt.pending) == (0, 105)
    await assert_ledger_clean(db)
    clock.advance(days=14)
    report = await jobs.release_pending(db, clock)
    assert (report.members, report.points) == (1, 105)
    assert await balance_of(db, member.id) == ledger_service.Balance(available=105, pending=0)
    await assert_ledger_clean(db)


async def test_points_given_back_repay_a_debt_first(db, settings, clock):
    # given: a debt of 495 (the first purchase refunded after its points paid for the second)
    till = await open_till(db, settings, clock)
    member = await join(db, settings, clock)
    first = await buy(db, clock, till, member, "R-1", 50000)
    spent = await buy(db, clock, till, member, "R-2", 1000, redeem=500)
    await refund(db, clock, till, first.purchase_id, 50000, "refund-1")

    # when: the second purchase is refunded too (its 5 points taken back, its 500 given back)
    refunded = await refund(db, clock, till, spent.purchase_id, 500, "refund-2")

    # then: the 500 given back repay the debt (the 495 and the 5 just taken back)
    assert (refunded.points_reversed, refunded.points_restored) == (5, 500)
    assert (refunded.available, refunded.pending) == (0, 0)
    account = await account_of(db, member.id)
    assert (account.available, account.debt) == (0, 0)
    assert [(lot.points, lot.remaining) for lot in await lots_of(db, member.id)] == [
        (500, 0),
        (5, 0),
    ]
    assert [(e.kind, e.points, e.balance_after) for e in await entries_of(db, member.id)][3:] == [
        ("REVERSAL", -500, -495),
        ("REVERSAL", -5, -500),
        ("RESTORE", 500, 0),
    ]
    await assert_ledger_clean(db)
    # and no point waits in a lot to expire the balance below zero
    clock.advance(days=400)
    await jobs.expire_points(db, clock)
    assert (await account_of(db, member.id)).available == 0
    await assert_ledger_clean(db)


async def test_redemption_never_makes_a_negative_balance(db, settings, clock):
    # given: a debt of 495
    till = await open_till(db, settings, clock)
    member = await join(db, settings, clock)
    first = await buy(db, clock, till, member, "R-1", 50000)
    await buy(db, clock, till, member, "R-2", 1000, redeem=500)
    await refund(db, clock, till, first.purchase_id, 50000, "refund-1")

    # when
    with pytest.raises(InsufficientPoints) as error:
        await buy(db, clock, till, member, "R-3", 1000, redeem=100)

    # then
    assert (error.value.code, error.value.field, error.value.available) == (
        "INSUFFICIENT_POINTS",
        "redeemPoints",
        0,
    )
    assert len(await entries_of(db, member.id)) == 4
    await assert_ledger_clean(db)
