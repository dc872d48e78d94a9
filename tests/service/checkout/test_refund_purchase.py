"""checkout_service.refund_purchase: partial refunds take back earned points and give back
redeemed points in proportion, into their original lots; a take-back can leave a debt."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import select
from sqlmodel import col

from app.auth.actors import MemberActor, StaffActor
from app.checkout import service as checkout_service
from app.checkout.models import Refund
from app.jobs import expire_points
from app.kit.money import Money
from app.program import service as program_service
from tests.conftest import START
from tests.service.checkout.tills import (
    account_of,
    assert_ledger_clean,
    buy,
    command,
    entries_of,
    line,
    lots_of,
    new_member,
    open_till,
    purchase_row,
    refund,
    refused,
    scan,
    snapshot,
)
from tests.support import SYSTEM, create_staff

YEAR = dt.timedelta(days=365)


async def refunds_of(db, purchase_id):
    async with db.read() as session:
        rows = await session.scalars(
            select(Refund)
            .where(col(Refund.purchase_id) == purchase_id)
            .order_by(col(Refund.created_at), col(Refund.amount))
        )
        return [(r.amount, r.points_reversed, r.points_restored, r.staff_id) for r in rows.all()]


async def test_partial_refunds_up_to_what_was_paid_add_up_exactly(db, settings, clock):
    # given: 500 points, then 400.00 paying 1.00 with 100 points: 399.00 paid -> 399 earned
    at = await open_till(db, settings, clock)
    member = await new_member(db, settings, clock)
    await buy(db, clock, at, member, "R-0", 50000)
    clock.advance(days=1)
    purchase = await buy(db, clock, at, member, "R-1", 40000, redeem=100)
    assert purchase.available == 500 - 100 + 399

    # when: three thirds of 399.00
    first = await refund(db, clock, at, purchase.purchase_id, 13300, key="refund-1")
    second = await refund(db, clock, at, purchase.purchase_id, 13300, key="refund-2")
    third = await refund(db, clock, at, purchase.purchase_id, 13300, key="refund-3")

    # then: taken back ceil(399 x 1/3) = 133, ceil(399 x 2/3) = 266 (+133), 399 (+133);
    #       given back floor(100 x 1/3) = 33, floor(100 x 2/3) = 66 (+33), 100 (+34)
    assert (first.points_reversed, first.points_restored, first.available) == (133, 33, 699)
    assert (second.points_reversed, second.points_restored, second.available) == (133, 33, 599)
    assert (third.points_reversed, third.points_restored, third.available) == (133, 34, 500)
    assert (first.purchase_id, first.pending) == (purchase.purchase_id, 0)
    row = await purchase_row(db, purchase.purchase_id)
    assert (row.refunded_amount, row.points_reversed, row.points_restored) == (39900, 399, 100)
    assert row.qualifying_reversed == 399
    assert await refunds_of(db, purchase.purchase_id) == [
        (13300, 133, 33, at.staff.id),
        (13300, 133, 33, at.staff.id),
        (13300, 133, 34, at.staff.id),
    ]
    assert await entries_of(db, member.id) == [
        (1, "EARN", 500, 500),
        (2, "REDEEM", -100, 0),
        (3, "EARN", 399, 399),
        (4, "REVERSAL", -133, -133),
        (5, "RESTORE", 33, 0),
        (6, "REVERSAL", -133, -133),
        (7, "RESTORE", 33, 0),
        (8, "REVERSAL", -133, -133),
        (9, "RESTORE", 34, 0),
    ]
    old, own = await lots_of(db, member.id)
    assert (old.points, old.remaining) == (500, 500)
    assert (own.points, own.remaining) == (399, 0)
    await assert_ledger_clean(db)


async def test_nothing_can_be_refunded_after_everything_was(db, settings, clock):
    # given: 10.00 refunded in full
    at = await open_till(db, settings, clock)
    member = await new_member(db, settings, clock)
    purchase = await buy(db, clock, at, member, "R-1", 1000)
    await refund(db, clock, at, purchase.purchase_id, 1000, key="refund-1")
    before = await snapshot(db)

    # when
    error = await refused(refund(db, clock, at, purchase.purchase_id, 1, key="refund-2"))

    # then
    assert error == ("REFUND_TOO_LARGE", "amount")
    assert await snapshot(db) == before
    await assert_ledger_clean(db)


async def test_a_refund_larger_than_what_is_left_is_refused(db, settings, clock):
    # given: 100.00 paid (1.00 of the 101.00 with points), 30.00 already refunded
    at = await open_till(db, settings, clock)
    member = await new_member(db, settings, clock)
    await buy(db, clock, at, member, "R-0", 20000)
    purchase = await buy(db, clock, at, member, "R-1", 10100, redeem=100)
    await refund(db, clock, at, purchase.purchase_id, 3000, key="refund-1")
    before = await snapshot(db)

    # when: 70.01 > 100.00 - 30.00 ; the total of 101.00 does not count, only what was paid
    over = await refused(refund(db, clock, at, purchase.purchase_id, 7001, key="refund-2"))
    rest = await refund(db, clock, at, purchase.purchase_id, 7000, key="refund-3")

    # then: 100 earned, 100 redeemed: the rest takes back 100 - ceil(30) = 70, gives back 100 - 30
    assert over == ("REFUND_TOO_LARGE", "amount")
    assert (rest.points_reversed, rest.points_restored) == (70, 70)
    assert before.rows["refunds"] == 1
    assert (await snapshot(db)).rows["refunds"] == 2
    await assert_ledger_clean(db)


async def test_points_are_taken_back_from_the_purchase_s_own_lot_first(db, settings, clock):
    # given: an older lot of 100, then the purchase's own lot of 200
    at = await open_till(db, settings, clock)
    member = await new_member(db, settings, clock)
    older = await buy(db, clock, at, member, "R-0", 10000)
    clock.advance(days=1)
    purchase = await buy(db, clock, at, member, "R-1", 20000)

    # when: half of 200.00 -> 100 taken back
    result = await refund(db, clock, at, purchase.purchase_id, 10000, key="refund-1")

    # then: from the purchase's lot, although the other one is older
    assert (result.points_reversed, result.available) == (100, 200)
    first, second = await lots_of(db, member.id)
    assert (first.purchase_id, first.remaining) == (older.purchase_id, 100)
    assert (second.purchase_id, second.remaining) == (purchase.purchase_id, 100)
    await assert_ledger_clean(db)


async def test_redeemed_points_go_back_to_their_lots_with_their_expiry(db, settings, clock):
    # given: lots of 300 on day 0 and day 10; on day 20, 20.00 paying 5.00 with 500 points
    #        (300 from the first lot, 200 from the second), earning 15 on the 15.00 paid
    at = await open_till(db, settings, clock)
    member = await new_member(db, settings, clock)
    await buy(db, clock, at, member, "R-0", 30000)
    clock.advance(days=10)
    await buy(db, clock, at, member, "R-10", 30000)
    clock.advance(days=10)
    purchase = await buy(db, clock, at, member, "R-20", 2000, redeem=500)
    spent = [(lot.points, lot.remaining) for lot in await lots_of(db, member.id)]
    clock.advance(days=10)

    # when: half of 15.00, then the other half
    half = await refund(db, clock, at, purchase.purchase_id, 750, key="refund-1")
    after_half = [(lot.points, lot.remaining) for lot in await lots_of(db, member.id)]
    rest = await refund(db, clock, at, purchase.purchase_id, 750, key="refund-2")

    # then: half takes back ceil(7.5) = 8 of the 15 and gives back 250: to the first lot
    #       (soonest expiry); the rest takes back 7 and gives back 250: 50 + 200
    assert spent == [(300, 0), (300, 100), (15, 15)]
    assert (half.points_reversed, half.points_restored, half.available) == (8, 250, 357)
    assert after_half == [(300, 250), (300, 100), (15, 7)]
    assert (rest.points_reversed, rest.points_restored, rest.available) == (7, 250, 600)
    lots = await lots_of(db, member.id)
    assert [(lot.points, lot.remaining, lot.expires_at) for lot in lots] == [
        (300, 300, START + YEAR),
        (300, 300, START + dt.timedelta(days=10) + YEAR),
        (15, 0, START + dt.timedelta(days=20) + YEAR),
    ]
    await assert_ledger_clean(db)


async def test_given_back_points_expire_on_their_original_date(db, settings, clock):
    # given: 300 points from day 0 spent on day 20 and given back on day 30
    at = await open_till(db, settings, clock)
    member = await new_member(db, settings, clock)
    await buy(db, clock, at, member, "R-0", 30000)
    clock.advance(days=20)
    purchase = await buy(db, clock, at, member, "R-20", 1000, redeem=300)
    clock.advance(days=10)
    await refund(db, clock, at, purchase.purchase_id, 700, key="refund-1")
    clock.current = START + YEAR

    # when
    report = await expire_points(db, clock)

    # then: the 300 expire a year after day 0, as they would have without the purchase
    assert (report.members, report.points) == (1, 300)
    assert (await account_of(db, member.id)).available == 0
    await assert_ledger_clean(db)


async def test_a_refund_of_spent_points_leaves_a_debt_that_later_purchases_repay(
    db, settings, clock
):
    # given: 500 earned on 500.00, then all 500 spent on a 100.00 purchase that earns 95
    at = await open_till(db, settings, clock)
    member = await new_member(db, settings, clock)
    big = await buy(db, clock, at, member, "R-0", 50000)
    clock.advance(days=1)
    spent = await buy(db, clock, at, member, "R-1", 10000, redeem=500)
    assert spent.available == 95

    # when: the 500.00 purchase is refunded: 500 to take back, only 95 left in the lots
    taken = await refund(db, clock, at, big.purchase_id, 50000, key="refund-1")
    debt = await account_of(db, member.id)
    opened = await scan(db, clock, at, member)
    redeem_error = await refused(
        checkout_service.complete_purchase(
            db, at.actor, clock, command(opened.checkout.id, "R-2", 10000, redeem=100)
        )
    )
    clock.advance(days=1)
    partly = await buy(db, clock, at, member, "R-3", 20000)
    clock.advance(days=1)
    repaid = await buy(db, clock, at, member, "R-4", 30000)

    # then: 95 - 500 = -405 ; 200 earned repays 200 of it: -205 ; 300 repays 205, keeps 95
    assert (taken.points_reversed, taken.points_restored, taken.available) == (500, 0, -405)
    assert (debt.available, debt.pending, debt.debt) == (-405, 0, 405)
    assert redeem_error == ("INSUFFICIENT_POINTS", "redeemPoints")
    assert (partly.points_earned, partly.available) == (200, -205)
    assert (repaid.points_earned, repaid.available) == (300, 95)
    account = await account_of(db, member.id)
    assert (account.available, account.debt) == (95, 0)
    lots = await lots_of(db, member.id)
    assert [(lot.points, lot.remaining) for lot in lots] == [(500, 0), (95, 0), (200, 0), (300, 95)]
    await assert_ledger_clean(db)


async def test_a_refund_takes_pending_points_back_from_pending(db, settings, clock):
    # given: a 14-day hold; 100 pending
    at = await open_till(db, settings, clock)
    member = await new_member(db, settings, clock)
    await program_service.update_program(db, SYSTEM, clock, {"pending_days": 14})
    purchase = await buy(db, clock, at, member, "R-1", 10000)

    # when: 40.00 of 100.00 -> 40 taken back
    result = await refund(db, clock, at, purchase.purchase_id, 4000, key="refund-1")

    # then
    assert (result.points_reversed, result.available, result.pending) == (40, 0, 60)
    await assert_ledger_clean(db)


async def test_a_refund_of_a_gift_card_purchase_moves_no_points(db, settings, clock):
    # given
    at = await open_till(db, settings, clock)
    member = await new_member(db, settings, clock)
    opened = await scan(db, clock, at, member)
    purchase = await checkout_service.complete_purchase(
        db,
        at.actor,
        clock,
        command(opened.checkout.id, "R-1", 5000, lines=[line("GIFT", "gift-cards", 5000)]),
    )

    # when
    result = await refund(db, clock, at, purchase.purchase_id, 5000, key="refund-1")

    # then
    assert (result.points_reversed, result.points_restored, result.available) == (0, 0, 0)
    assert (await purchase_row(db, purchase.purchase_id)).refunded_amount == 5000
    await assert_ledger_clean(db)


# -- refusals ------------------------------------------------------------------------------------


async def test_a_refused_refund_writes_nothing(db, settings, clock):
    # given
    at = await open_till(db, settings, clock)
    member = await new_member(db, settings, clock)
    purchase = await buy(db, clock, at, member, "R-1", 1000)
    before = await snapshot(db)
    amounts = {
        "zero": Money(0, "USD"),
        "negative": Money(-100, "USD"),
        "foreign currency": Money(500, "EUR"),
        "more than paid": Money(1001, "USD"),
        "absurd": Money(10**15, "USD"),
    }

    # when
    errors = {
        name: await refused(
            checkout_service.refund_purchase(
                db,
                at.actor,
                clock,
                purchase_id=str(purchase.purchase_id),
                amount=amount,
                idempotency_key=f"refund-{name}",
            )
        )
        for name, amount in amounts.items()
    }

    # then
    assert errors == {
        "zero": ("INVALID_INPUT", "amount"),
        "negative": ("INVALID_INPUT", "amount"),
        "foreign currency": ("CURRENCY_MISMATCH", "amount"),
        "more than paid": ("REFUND_TOO_LARGE", "amount"),
        "absurd": ("REFUND_TOO_LARGE", "amount"),
    }
    assert await snapshot(db) == before
    await assert_ledger_clean(db)


async def test_refunding_an_unknown_purchase_is_refused(db, settings, clock):
    # given
    at = await open_till(db, settings, clock)
    member = await new_member(db, settings, clock)
    await buy(db, clock, at, member, "R-1", 1000)
    before = await snapshot(db)

    # when
    unknown = await refused(refund(db, clock, at, uuid.uuid4(), 500, key="refund-1"))
    malformed = await refused(refund(db, clock, at, "R-1", 500, key="refund-2"))

    # then
    assert unknown == ("PURCHASE_NOT_FOUND", "purchaseId")
    assert malformed == ("INVALID_INPUT", "purchaseId")
    assert await snapshot(db) == before
    await assert_ledger_clean(db)


async def test_a_cashier_of_another_store_cannot_refund(db, settings, clock):
    # given
    main = await open_till(db, settings, clock)
    east = await open_till(
        db, settings, clock, email="east@example.com", store_code="EAST", store_name="East"
    )
    member = await new_member(db, settings, clock)
    purchase = await buy(db, clock, main, member, "R-1", 1000)
    before = await snapshot(db)

    # when
    error = await refused(refund(db, clock, east, purchase.purchase_id, 500, key="refund-1"))

    # then
    assert error == ("FORBIDDEN", "purchaseId")
    assert await snapshot(db) == before
    await assert_ledger_clean(db)


async def test_another_cashier_of_the_store_may_refund(db, settings, clock):
    # given
    at = await open_till(db, settings, clock)
    member = await new_member(db, settings, clock)
    purchase = await buy(db, clock, at, member, "R-1", 1000)
    manager = await create_staff(
        db,
        settings,
        clock,
        email="manager@example.com",
        role="MANAGER",
        store_ids=[str(at.store.id)],
    )
    colleague = StaffActor(manager.id, "MANAGER", frozenset({at.store.id}))

    # when
    result = await checkout_service.refund_purchase(
        db,
        colleague,
        clock,
        purchase_id=str(purchase.purchase_id),
        amount=Money(1000, "USD"),
        idempotency_key="refund-1",
    )

    # then
    assert (result.points_reversed, result.available) == (10, 0)
    await assert_ledger_clean(db)


async def test_a_member_cannot_refund(db, settings, clock):
    # given
    at = await open_till(db, settings, clock)
    member = await new_member(db, settings, clock)
    purchase = await buy(db, clock, at, member, "R-1", 1000)

    # when
    error = await refused(
        checkout_service.refund_purchase(
            db,
            MemberActor(member.id),
            clock,
            purchase_id=str(purchase.purchase_id),
            amount=Money(1000, "USD"),
            idempotency_key="refund-1",
        )
    )

    # then
    assert error == ("FORBIDDEN", None)

    # -- idempotency ---------------------------------------------------------------------------------
    await assert_ledger_clean(db)


async def test_a_replayed_refund_returns_the_same_receipt_and_writes_nothing(db, settings, clock):
    # given
    at = await open_till(db, settings, clock)
    member = await new_member(db, settings, clock)
    purchase = await buy(db, clock, at, member, "R-1", 10000)
    first = await refund(db, clock, at, purchase.purchase_id, 2500, key="refund-1")
    before = await snapshot(db)

    # when
    again = await refund(db, clock, at, purchase.purchase_id, 2500, key="refund-1")

    # then: 25.00 of 100.00 -> 25 taken back, once
    assert again == first
    assert (again.points_reversed, again.available) == (25, 75)
    assert await snapshot(db) == before
    assert (await purchase_row(db, purchase.purchase_id)).refunded_amount == 2500
    await assert_ledger_clean(db)


async def test_a_refund_key_reused_with_another_amount_is_refused(db, settings, clock):
    # given
    at = await open_till(db, settings, clock)
    member = await new_member(db, settings, clock)
    purchase = await buy(db, clock, at, member, "R-1", 10000)
    other = await buy(db, clock, at, member, "R-2", 10000)
    await refund(db, clock, at, purchase.purchase_id, 2500, key="refund-1")
    before = await snapshot(db)

    # when
    amount = await refused(refund(db, clock, at, purchase.purchase_id, 2600, key="refund-1"))
    elsewhere = await refused(refund(db, clock, at, other.purchase_id, 2500, key="refund-1"))

    # then
    assert amount == ("IDEMPOTENCY_KEY_REUSED", "idempotencyKey")
    assert elsewhere == ("IDEMPOTENCY_KEY_REUSED", "idempotencyKey")
    assert await snapshot(db) == before
    await assert_ledger_clean(db)


async def test_a_bad_refund_key_is_refused(db, settings, clock):
    # given
    at = await open_till(db, settings, clock)
    member = await new_member(db, settings, clock)
    purchase = await buy(db, clock, at, member, "R-1", 10000)

    # when
    error = await refused(refund(db, clock, at, purchase.purchase_id, 2500, key="  "))

    # then
    assert error == ("INVALID_INPUT", "idempotencyKey")
    await assert_ledger_clean(db)
