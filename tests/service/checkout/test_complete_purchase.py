"""checkout_service.complete_purchase: earn and redeem by the program's rules, or write nothing."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from sqlalchemy import select
from sqlmodel import col

from app.auth.actors import MemberActor, StaffActor
from app.checkout import service as checkout_service
from app.checkout.models import PurchaseLine
from app.jobs import release_pending
from app.kit.money import Money
from app.program import service as program_service
from app.program.rules import CategoryRule
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
    refused,
    scan,
    snapshot,
)
from tests.support import SYSTEM, create_staff

YEAR = dt.timedelta(days=365)


async def lines_of(db, purchase_id):
    async with db.read() as session:
        rows = await session.scalars(
            select(PurchaseLine)
            .where(col(PurchaseLine.purchase_id) == purchase_id)
            .order_by(col(PurchaseLine.amount))
        )
        return [(r.sku, r.category, r.quantity, r.amount) for r in rows.all()]


async def complete(db, clock, at, cmd, actor=None):
    return await checkout_service.complete_purchase(db, actor or at.actor, clock, cmd)


async def test_a_purchase_earns_by_category_and_writes_its_rows(db, settings, clock):
    # given: coffee earns x3, gift cards nothing
    at = await open_till(db, settings, clock)
    member = await new_member(db, settings, clock)
    rules = await program_service.update_program(
        db,
        SYSTEM,
        clock,
        {"category_rules": {"gift-cards": CategoryRule(0), "coffee": CategoryRule(300)}},
    )
    opened = await scan(db, clock, at, member)
    # 41.04 = 7.05 coffee (typed in capitals) + 20.00 gift cards + 13.99 cake
    lines = [
        line("ESPRESSO", " Coffee ", 705, 3),
        line("GIFT", "gift-cards", 2000),
        line("CAKE", None, 1399),
    ]

    # when
    receipt = await complete(db, clock, at, command(opened.checkout.id, "R-1", 4104, lines=lines))

    # then: 7.05 x3 = 21.15 ; 0 ; 13.99 -> 35.14 -> 35 (per line it would be 21 + 13 = 34)
    assert (receipt.points_earned, receipt.points_redeemed, receipt.discount) == (35, 0, 0)
    assert (receipt.amount_due, receipt.available, receipt.pending) == (4104, 35, 0)
    assert (receipt.receipt_number, receipt.currency, receipt.tier_changed) == ("R-1", "USD", False)
    purchase = await purchase_row(db, receipt.purchase_id)
    assert (purchase.member_id, purchase.store_id, purchase.staff_id, purchase.checkout_id) == (
        member.id,
        at.store.id,
        at.staff.id,
        opened.checkout.id,
    )
    assert (purchase.total, purchase.discount, purchase.amount_paid) == (4104, 0, 4104)
    assert (purchase.points_earned, purchase.points_redeemed, purchase.base_points) == (35, 0, 35)
    assert (purchase.tier_before, purchase.tier_after, purchase.rules_version) == (
        "BRONZE",
        "BRONZE",
        rules.version,
    )
    assert await lines_of(db, receipt.purchase_id) == [
        ("ESPRESSO", "coffee", 3, 705),
        ("CAKE", None, 1, 1399),
        ("GIFT", "gift-cards", 1, 2000),
    ]
    assert await entries_of(db, member.id) == [(1, "EARN", 35, 35)]
    [lot] = await lots_of(db, member.id)
    assert (lot.points, lot.remaining, lot.released, lot.purchase_id) == (
        35,
        35,
        True,
        receipt.purchase_id,
    )
    assert (lot.available_from, lot.expires_at) == (START, START + YEAR)
    await assert_ledger_clean(db)


async def test_a_purchase_without_lines_earns_on_its_total(db, settings, clock):
    # given
    at = await open_till(db, settings, clock)
    member = await new_member(db, settings, clock)

    # when: 123.45 -> 123
    receipt = await buy(db, clock, at, member, "R-1", 12345)

    # then
    assert (receipt.points_earned, receipt.available) == (123, 123)
    assert await lines_of(db, receipt.purchase_id) == []
    await assert_ledger_clean(db)


async def test_a_purchase_redeems_and_earns_at_once(db, settings, clock):
    # given: 500 points from a first purchase of 500.00
    at = await open_till(db, settings, clock)
    member = await new_member(db, settings, clock)
    first = await buy(db, clock, at, member, "R-1", 50000)
    clock.advance(days=1)
    opened = await scan(db, clock, at, member)

    # when: 100.00, 3.00 of it paid with 300 points
    receipt = await complete(db, clock, at, command(opened.checkout.id, "R-2", 10000, redeem=300))

    # then: 97.00 paid -> 97 points ; 500 - 300 + 97 = 297
    assert (receipt.points_earned, receipt.points_redeemed, receipt.discount) == (97, 300, 300)
    assert (receipt.amount_due, receipt.available, receipt.pending) == (9700, 297, 0)
    purchase = await purchase_row(db, receipt.purchase_id)
    assert (purchase.total, purchase.discount, purchase.amount_paid, purchase.base_points) == (
        10000,
        300,
        9700,
        97,
    )
    assert await entries_of(db, member.id) == [
        (1, "EARN", 500, 500),
        (2, "REDEEM", -300, 0),
        (3, "EARN", 97, 97),
    ]
    old, new = await lots_of(db, member.id)
    assert (old.purchase_id, old.points, old.remaining) == (first.purchase_id, 500, 200)
    assert (new.purchase_id, new.points, new.remaining) == (receipt.purchase_id, 97, 97)
    await assert_ledger_clean(db)


async def test_redeeming_the_whole_balance_at_the_cap(db, settings, clock):
    # given: 999 points (one short of SILVER)
    at = await open_till(db, settings, clock)
    member = await new_member(db, settings, clock)
    await buy(db, clock, at, member, "R-1", 99900)
    opened = await scan(db, clock, at, member)

    # when: 19.98, at most 50 % = 9.99 = 999 points
    receipt = await complete(db, clock, at, command(opened.checkout.id, "R-2", 1998, redeem=999))

    # then: 9.99 paid -> 9 points ; 999 - 999 + 9 = 9
    assert (receipt.points_earned, receipt.amount_due, receipt.available) == (9, 999, 9)
    await assert_ledger_clean(db)


async def test_points_stay_pending_for_the_program_s_pending_days(db, settings, clock):
    # given: a 14-day hold
    at = await open_till(db, settings, clock)
    member = await new_member(db, settings, clock)
    await program_service.update_program(db, SYSTEM, clock, {"pending_days": 14})

    # when
    receipt = await buy(db, clock, at, member, "R-1", 10000)

    # then: 100 pending, available after 14 days, expiring a year after that
    assert (receipt.points_earned, receipt.available, receipt.pending) == (100, 0, 100)
    [lot] = await lots_of(db, member.id)
    assert (lot.released, lot.available_from, lot.expires_at) == (
        False,
        START + dt.timedelta(days=14),
        START + dt.timedelta(days=14) + YEAR,
    )
    clock.advance(days=14)
    await release_pending(db, clock)
    account = await account_of(db, member.id)
    assert (account.available, account.pending) == (100, 0)
    await assert_ledger_clean(db)


async def test_pending_points_cannot_be_redeemed(db, settings, clock):
    # given: 1000 points pending
    at = await open_till(db, settings, clock)
    member = await new_member(db, settings, clock)
    await program_service.update_program(db, SYSTEM, clock, {"pending_days": 14})
    await buy(db, clock, at, member, "R-1", 100000)
    opened = await scan(db, clock, at, member)
    before = await snapshot(db)

    # when
    error = await refused(
        complete(db, clock, at, command(opened.checkout.id, "R-2", 10000, redeem=100))
    )

    # then
    assert error == ("INSUFFICIENT_POINTS", "redeemPoints")
    assert await snapshot(db) == before
    await assert_ledger_clean(db)


async def test_a_gift_card_purchase_earns_nothing(db, settings, clock):
    # given
    at = await open_till(db, settings, clock)
    member = await new_member(db, settings, clock)
    opened = await scan(db, clock, at, member)

    # when
    receipt = await complete(
        db,
        clock,
        at,
        command(opened.checkout.id, "R-1", 5000, lines=[line("GIFT", "gift-cards", 5000)]),
    )

    # then
    assert (receipt.points_earned, receipt.available) == (0, 0)
    assert await lots_of(db, member.id) == []
    await assert_ledger_clean(db)


async def test_unicode_receipt_numbers_and_skus_are_kept(db, settings, clock):
    # given
    at = await open_till(db, settings, clock)
    member = await new_member(db, settings, clock)
    opened = await scan(db, clock, at, member)
    lines = [line("café-au-lait", None, 450), line("茶", None, 550)]

    # when: surrounding spaces are dropped
    receipt = await complete(
        db, clock, at, command(opened.checkout.id, "  Ré-№42 ✓ ", 1000, lines=lines)
    )

    # then
    assert receipt.receipt_number == "Ré-№42 ✓"
    assert (await purchase_row(db, receipt.purchase_id)).receipt_number == "Ré-№42 ✓"
    assert await lines_of(db, receipt.purchase_id) == [
        ("café-au-lait", None, 1, 450),
        ("茶", None, 1, 550),
    ]
    await assert_ledger_clean(db)


async def test_a_receipt_number_of_64_characters_fits(db, settings, clock):
    # given
    at = await open_till(db, settings, clock)
    member = await new_member(db, settings, clock)

    # when
    receipt = await buy(db, clock, at, member, "€" * 64, 1000)

    # then
    assert (await purchase_row(db, receipt.purchase_id)).receipt_number == "€" * 64
    await assert_ledger_clean(db)


async def test_the_same_receipt_number_in_another_store_is_another_purchase(db, settings, clock):
    # given
    main = await open_till(db, settings, clock)
    east = await open_till(
        db, settings, clock, email="east@example.com", store_code="EAST", store_name="East"
    )
    member = await new_member(db, settings, clock)
    await buy(db, clock, main, member, "R-1", 1000)

    # when
    receipt = await buy(db, clock, east, member, "R-1", 2000)

    # then
    assert (receipt.points_earned, receipt.available) == (20, 30)
    await assert_ledger_clean(db)


async def test_the_same_receipt_number_for_another_member_is_another_purchase(db, settings, clock):
    # given
    at = await open_till(db, settings, clock)
    ann = await new_member(db, settings, clock)
    bob = await new_member(db, settings, clock, email="bob@example.com")
    await buy(db, clock, at, ann, "R-1", 1000, key="till-1")

    # when
    receipt = await buy(db, clock, at, bob, "R-1", 2000, key="till-2")

    # then
    assert (receipt.points_earned, receipt.available) == (20, 20)
    await assert_ledger_clean(db)


async def test_a_checkout_is_usable_for_15_minutes(db, settings, clock):
    # given
    at = await open_till(db, settings, clock)
    member = await new_member(db, settings, clock)
    opened = await scan(db, clock, at, member)
    clock.advance(minutes=14, seconds=59)

    # when
    receipt = await complete(db, clock, at, command(opened.checkout.id, "R-1", 1000))

    # then
    assert receipt.points_earned == 10

    # -- refusals: each writes nothing ---------------------------------------------------------------
    await assert_ledger_clean(db)


def _eur_line(checkout_id):
    bad = [line("A", None, 500), (line("B", None, 500)[0], "EUR")]
    return command(checkout_id, "R-9", 1000, lines=bad)


REFUSALS = {
    "zero total": (lambda c: command(c, "R-9", 0), ("INVALID_INPUT", "total")),
    "negative total": (lambda c: command(c, "R-9", -100), ("INVALID_INPUT", "total")),
    "absurd total": (lambda c: command(c, "R-9", 10**9 + 1), ("INVALID_INPUT", "total")),
    "foreign total": (
        lambda c: command(c, "R-9", 1000, currency="EUR"),
        ("CURRENCY_MISMATCH", "total"),
    ),
    "foreign line": (_eur_line, ("CURRENCY_MISMATCH", "lines")),
    "lines not adding up": (
        lambda c: command(c, "R-9", 1000, lines=[line("A", None, 600), line("B", None, 300)]),
        ("LINES_MISMATCH", "lines"),
    ),
    "empty sku": (
        lambda c: command(c, "R-9", 1000, lines=[line("", None, 1000)]),
        ("INVALID_INPUT", "lines"),
    ),
    "long category": (
        lambda c: command(c, "R-9", 1000, lines=[line("A", "c" * 51, 1000)]),
        ("INVALID_INPUT", "lines"),
    ),
    "zero quantity": (
        lambda c: command(c, "R-9", 1000, lines=[line("A", None, 1000, quantity=0)]),
        ("INVALID_INPUT", "lines"),
    ),
    "empty receipt": (
        lambda c: command(c, "", 1000, key="k-empty"),
        ("INVALID_INPUT", "receiptNumber"),
    ),
    "blank receipt": (
        lambda c: command(c, "   ", 1000, key="k-blank"),
        ("INVALID_INPUT", "receiptNumber"),
    ),
    "long receipt": (lambda c: command(c, "R" * 65, 1000), ("INVALID_INPUT", "receiptNumber")),
    "control in receipt": (
        lambda c: command(c, "R-1\nR-2", 1000, key="k-control"),
        ("INVALID_INPUT", "receiptNumber"),
    ),
    "empty key": (lambda c: command(c, "R-9", 1000, key=" "), ("INVALID_INPUT", "idempotencyKey")),
    "under the minimum": (
        lambda c: command(c, "R-9", 10000, redeem=99),
        ("REDEMPTION_NOT_ALLOWED", "redeemPoints"),
    ),
    "over the cap": (
        lambda c: command(c, "R-9", 1000, redeem=501),
        ("REDEMPTION_NOT_ALLOWED", "redeemPoints"),
    ),
    "more than available": (
        lambda c: command(c, "R-9", 10000, redeem=501),
        ("INSUFFICIENT_POINTS", "redeemPoints"),
    ),
    "negative redemption": (
        lambda c: command(c, "R-9", 10000, redeem=-100),
        ("INVALID_INPUT", "redeemPoints"),
    ),
    "malformed checkout": (
        lambda c: command("checkout-1", "R-9", 1000),
        ("INVALID_INPUT", "checkoutId"),
    ),
    "unknown checkout": (
        lambda c: command(uuid.uuid4(), "R-9", 1000),
        ("CHECKOUT_NOT_FOUND", "checkoutId"),
    ),
    "duplicate receipt": (
        lambda c: command(c, "R-1", 1000, key="new-key"),
        ("DUPLICATE_RECEIPT", "receiptNumber"),
    ),
    "duplicate receipt with spaces": (
        lambda c: command(c, " R-1 ", 1000, key="new-key"),
        ("DUPLICATE_RECEIPT", "receiptNumber"),
    ),
}


async def test_a_refused_purchase_writes_nothing(db, settings, clock):
    # given: 500 points from receipt R-1, and an open checkout
    at = await open_till(db, settings, clock)
    member = await new_member(db, settings, clock)
    await buy(db, clock, at, member, "R-1", 50000)
    opened = await scan(db, clock, at, member)
    before = await snapshot(db)

    # when: each refusal in turn
    errors = {
        name: await refused(complete(db, clock, at, make(opened.checkout.id)))
        for name, (make, _) in REFUSALS.items()
    }

    # then
    assert errors == {name: expected for name, (_, expected) in REFUSALS.items()}
    assert await snapshot(db) == before
    await assert_ledger_clean(db)


async def test_a_receipt_number_is_one_receipt_however_its_accents_were_typed(db, settings, clock):
    # given: "Ré-1" with "é" as one character
    at = await open_till(db, settings, clock)
    member = await new_member(db, settings, clock)
    await buy(db, clock, at, member, "R\u00e9-1", 50000)
    opened = await scan(db, clock, at, member)

    # when: "e" and a combining accent
    error = await refused(
        complete(db, clock, at, command(opened.checkout.id, "Re\u0301-1", 1000, key="new-key"))
    )

    # then
    assert error == ("DUPLICATE_RECEIPT", "receiptNumber")


async def test_an_expired_checkout_is_refused(db, settings, clock):
    # given
    at = await open_till(db, settings, clock)
    member = await new_member(db, settings, clock)
    opened = await scan(db, clock, at, member)
    clock.advance(minutes=16)
    before = await snapshot(db)

    # when
    error = await refused(complete(db, clock, at, command(opened.checkout.id, "R-1", 1000)))

    # then
    assert error == ("CHECKOUT_EXPIRED", "checkoutId")
    assert await snapshot(db) == before
    await assert_ledger_clean(db)


async def test_a_checkout_expires_at_exactly_15_minutes(db, settings, clock):
    # given
    at = await open_till(db, settings, clock)
    member = await new_member(db, settings, clock)
    opened = await scan(db, clock, at, member)
    clock.advance(minutes=15)

    # when
    error = await refused(complete(db, clock, at, command(opened.checkout.id, "R-1", 1000)))

    # then
    assert error == ("CHECKOUT_EXPIRED", "checkoutId")
    await assert_ledger_clean(db)


async def test_another_staff_member_s_checkout_is_refused(db, settings, clock):
    # given: a second cashier of the same store
    at = await open_till(db, settings, clock)
    second = await create_staff(
        db, settings, clock, email="second@example.com", store_ids=[str(at.store.id)]
    )
    member = await new_member(db, settings, clock)
    opened = await scan(db, clock, at, member)
    before = await snapshot(db)

    # when
    error = await refused(
        complete(
            db,
            clock,
            at,
            command(opened.checkout.id, "R-1", 1000),
            actor=StaffActor(second.id, "CASHIER", frozenset({at.store.id})),
        )
    )

    # then
    assert error == ("CHECKOUT_NOT_YOURS", "checkoutId")
    assert await snapshot(db) == before
    await assert_ledger_clean(db)


async def test_a_cashier_no_longer_in_the_store_is_refused(db, settings, clock):
    # given: the cashier who opened the checkout, now assigned to no store
    at = await open_till(db, settings, clock)
    member = await new_member(db, settings, clock)
    opened = await scan(db, clock, at, member)
    moved = StaffActor(at.staff.id, "CASHIER", frozenset())
    before = await snapshot(db)

    # when
    error = await refused(
        complete(db, clock, at, command(opened.checkout.id, "R-1", 1000), actor=moved)
    )

    # then
    assert error == ("FORBIDDEN", "checkoutId")
    assert await snapshot(db) == before
    await assert_ledger_clean(db)


async def test_a_member_cannot_complete_a_purchase(db, settings, clock):
    # given
    at = await open_till(db, settings, clock)
    member = await new_member(db, settings, clock)
    opened = await scan(db, clock, at, member)

    # when
    error = await refused(
        complete(
            db, clock, at, command(opened.checkout.id, "R-1", 1000), actor=MemberActor(member.id)
        )
    )

    # then
    assert error == ("FORBIDDEN", None)
    assert (await snapshot(db)).rows["purchases"] == 0
    await assert_ledger_clean(db)


async def test_a_redemption_never_makes_the_balance_negative(db, settings, clock):
    # given: 150 points
    at = await open_till(db, settings, clock)
    member = await new_member(db, settings, clock)
    await buy(db, clock, at, member, "R-1", 15000)
    opened = await scan(db, clock, at, member)

    # when
    with pytest.raises(Exception) as raised:
        await complete(db, clock, at, command(opened.checkout.id, "R-2", 10000, redeem=151))

    # then
    assert (raised.value.code, raised.value.available) == ("INSUFFICIENT_POINTS", 150)
    assert (await account_of(db, member.id)).available == 150
    await assert_ledger_clean(db)


async def test_money_in_the_program_s_currency_only(db, settings, clock):
    # given
    at = await open_till(db, settings, clock)
    member = await new_member(db, settings, clock)
    opened = await scan(db, clock, at, member)
    cmd = checkout_service.PurchaseCommand(
        checkout_id=str(opened.checkout.id),
        receipt_number="R-1",
        total=Money(1000, "usd"),
        lines=None,
        redeem_points=0,
        idempotency_key="k",
    )

    # when: currency codes are exact: "usd" is not "USD"
    error = await refused(complete(db, clock, at, cmd))

    # then
    assert error == ("CURRENCY_MISMATCH", "total")
    await assert_ledger_clean(db)
