"""checkout_service.purchase_quote: what completing would earn and cost, without writing."""

from __future__ import annotations

from app.auth.actors import StaffActor
from app.checkout import service as checkout_service
from tests.service.checkout.tills import (
    assert_ledger_clean,
    buy,
    command,
    line,
    new_member,
    open_till,
    refused,
    scan,
    snapshot,
)
from tests.support import create_staff


async def test_a_quote_writes_nothing_and_is_what_the_purchase_then_does(db, settings, clock):
    # given: 500 points, and a basket of 60.00 coffee beans and 40.00 of gift cards
    at = await open_till(db, settings, clock)
    member = await new_member(db, settings, clock)
    await buy(db, clock, at, member, "R-1", 50000)
    opened = await scan(db, clock, at, member)
    lines = [line("BEANS", None, 6000), line("GIFT", "gift-cards", 4000)]
    cmd = command(opened.checkout.id, "R-2", 10000, redeem=200, lines=lines)
    before = await snapshot(db)

    # when
    quoted = await checkout_service.purchase_quote(db, at.actor, clock, cmd)
    after_quote = await snapshot(db)
    receipt = await checkout_service.complete_purchase(db, at.actor, clock, cmd)

    # then: 2.00 paid with points, spread 60/40: the beans pay 60.00 - 1.20 = 58.80 -> 58
    assert after_quote == before
    assert quoted.currency == "USD"
    assert (
        quoted.quote.points_to_earn,
        quoted.quote.base_points,
        quoted.quote.points_to_redeem,
        quoted.quote.discount,
        quoted.quote.amount_due,
    ) == (58, 58, 200, 200, 9800)
    assert (
        receipt.points_earned,
        receipt.points_redeemed,
        receipt.discount,
        receipt.amount_due,
    ) == (
        quoted.quote.points_to_earn,
        quoted.quote.points_to_redeem,
        quoted.quote.discount,
        quoted.quote.amount_due,
    )
    assert receipt.available == 500 - 200 + 58
    await assert_ledger_clean(db)


async def test_a_quote_applies_the_member_s_tier(db, settings, clock):
    # given: SILVER after 1000 qualifying points
    at = await open_till(db, settings, clock)
    member = await new_member(db, settings, clock)
    await buy(db, clock, at, member, "R-1", 100000)
    opened = await scan(db, clock, at, member)

    # when: 10.00 x1.25 = 12.5 -> 12
    quoted = await checkout_service.purchase_quote(
        db, at.actor, clock, command(opened.checkout.id, "R-2", 1000)
    )

    # then
    assert (quoted.quote.points_to_earn, quoted.quote.base_points) == (12, 10)
    await assert_ledger_clean(db)


async def test_quoting_twice_gives_the_same_answer(db, settings, clock):
    # given
    at = await open_till(db, settings, clock)
    member = await new_member(db, settings, clock)
    opened = await scan(db, clock, at, member)
    cmd = command(opened.checkout.id, "R-1", 4321)

    # when
    first = await checkout_service.purchase_quote(db, at.actor, clock, cmd)
    second = await checkout_service.purchase_quote(db, at.actor, clock, cmd)

    # then
    assert first == second
    assert first.quote.points_to_earn == 43


async def test_a_quote_of_an_expired_checkout_is_refused(db, settings, clock):
    # given
    at = await open_till(db, settings, clock)
    member = await new_member(db, settings, clock)
    opened = await scan(db, clock, at, member)
    clock.advance(minutes=16)

    # when
    error = await refused(
        checkout_service.purchase_quote(
            db, at.actor, clock, command(opened.checkout.id, "R-1", 1000)
        )
    )

    # then
    assert error == ("CHECKOUT_EXPIRED", "checkoutId")


async def test_a_quote_of_another_staff_member_s_checkout_is_refused(db, settings, clock):
    # given
    at = await open_till(db, settings, clock)
    second = await create_staff(
        db, settings, clock, email="second@example.com", store_ids=[str(at.store.id)]
    )
    member = await new_member(db, settings, clock)
    opened = await scan(db, clock, at, member)

    # when
    error = await refused(
        checkout_service.purchase_quote(
            db,
            StaffActor(second.id, "CASHIER", frozenset({at.store.id})),
            clock,
            command(opened.checkout.id, "R-1", 1000),
        )
    )

    # then
    assert error == ("CHECKOUT_NOT_YOURS", "checkoutId")


async def test_a_quote_refuses_what_the_purchase_would_refuse(db, settings, clock):
    # given: 150 points
    at = await open_till(db, settings, clock)
    member = await new_member(db, settings, clock)
    await buy(db, clock, at, member, "R-1", 15000)
    opened = await scan(db, clock, at, member)
    checkout_id = opened.checkout.id

    async def quote_error(cmd):
        return await refused(checkout_service.purchase_quote(db, at.actor, clock, cmd))

    # when
    mismatch = await quote_error(
        command(checkout_id, "R-2", 1000, lines=[line("A", None, 600), line("B", None, 300)])
    )
    foreign = await quote_error(command(checkout_id, "R-2", 1000, currency="EUR"))
    too_many = await quote_error(command(checkout_id, "R-2", 10000, redeem=200))
    too_few = await quote_error(command(checkout_id, "R-2", 10000, redeem=50))
    empty_receipt = await quote_error(command(checkout_id, " ", 1000))
    zero = await quote_error(command(checkout_id, "R-2", 0))

    # then
    assert mismatch == ("LINES_MISMATCH", "lines")
    assert foreign == ("CURRENCY_MISMATCH", "total")
    assert too_many == ("INSUFFICIENT_POINTS", "redeemPoints")
    assert too_few == ("REDEMPTION_NOT_ALLOWED", "redeemPoints")
    assert empty_receipt == ("INVALID_INPUT", "receiptNumber")
    assert zero == ("INVALID_INPUT", "total")
    await assert_ledger_clean(db)


async def test_a_quote_does_not_count_points_that_have_lapsed(db, settings, clock):
    # given: 500 points from a year and a day ago, the expiry job not run yet
    at = await open_till(db, settings, clock)
    member = await new_member(db, settings, clock)
    await buy(db, clock, at, member, "R-1", 50000)
    clock.advance(days=366)
    opened = await scan(db, clock, at, member)
    cmd = command(opened.checkout.id, "R-2", 10000, redeem=300)

    # when
    quoted = await refused(checkout_service.purchase_quote(db, at.actor, clock, cmd))
    completed = await refused(checkout_service.complete_purchase(db, at.actor, clock, cmd))

    # then: the till is told what the purchase then does
    assert (opened.available, opened.max_redeemable) == (0, 0)
    assert quoted == completed == ("INSUFFICIENT_POINTS", "redeemPoints")
    await assert_ledger_clean(db)
