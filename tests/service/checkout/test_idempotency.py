"""Till writes are idempotent: the same key and input return the first result and write nothing;
the same key with other input is IDEMPOTENCY_KEY_REUSED."""

from __future__ import annotations

from app.checkout import service as checkout_service
from app.idempotency import service as idempotency
from tests.service.checkout.tills import (
    account_of,
    assert_ledger_clean,
    buy,
    command,
    line,
    new_member,
    open_till,
    refund,
    refused,
    scan,
    snapshot,
)


async def complete(db, clock, at, cmd):
    return await checkout_service.complete_purchase(db, at.actor, clock, cmd)


async def test_a_replay_returns_the_identical_receipt_and_writes_nothing(db, settings, clock):
    # given
    at = await open_till(db, settings, clock)
    member = await new_member(db, settings, clock)
    opened = await scan(db, clock, at, member)
    cmd = command(opened.checkout.id, "R-1", 2550, lines=[line("A", None, 2550)], key="till-1")
    first = await complete(db, clock, at, cmd)
    before = await snapshot(db)

    # when
    again = await complete(db, clock, at, cmd)

    # then: 25.50 -> 25
    assert again == first
    assert (again.points_earned, again.available) == (25, 25)
    assert await snapshot(db) == before
    await assert_ledger_clean(db)


async def test_a_replay_returns_the_original_result_after_later_changes(db, settings, clock):
    # given: a purchase, then another one that changes the balance
    at = await open_till(db, settings, clock)
    member = await new_member(db, settings, clock)
    opened = await scan(db, clock, at, member)
    cmd = command(opened.checkout.id, "R-1", 10000, key="till-1")
    first = await complete(db, clock, at, cmd)
    await complete(db, clock, at, command(opened.checkout.id, "R-2", 5000, key="till-2"))

    # when
    again = await complete(db, clock, at, cmd)

    # then: the stored receipt, with the balance it had then (100, not 150)
    assert again == first
    assert again.available == 100
    assert (await account_of(db, member.id)).available == 150
    await assert_ledger_clean(db)


async def test_a_replay_after_the_checkout_expired_returns_the_receipt(db, settings, clock):
    # given: a till retrying long after a timeout
    at = await open_till(db, settings, clock)
    member = await new_member(db, settings, clock)
    opened = await scan(db, clock, at, member)
    cmd = command(opened.checkout.id, "R-1", 10000, key="till-1")
    first = await complete(db, clock, at, cmd)
    clock.advance(minutes=30)
    before = await snapshot(db)

    # when
    again = await complete(db, clock, at, cmd)

    # then
    assert again == first
    assert await snapshot(db) == before
    await assert_ledger_clean(db)


async def test_a_key_is_compared_without_surrounding_spaces(db, settings, clock):
    # given
    at = await open_till(db, settings, clock)
    member = await new_member(db, settings, clock)
    opened = await scan(db, clock, at, member)
    first = await complete(db, clock, at, command(opened.checkout.id, "R-1", 1000, key="till-1"))
    before = await snapshot(db)

    # when
    again = await complete(db, clock, at, command(opened.checkout.id, "R-1", 1000, key=" till-1 "))

    # then
    assert again == first
    assert await snapshot(db) == before
    await assert_ledger_clean(db)


OTHER_INPUT = {
    "other total": lambda c: command(c, "R-1", 2000, key="till-1"),
    "other receipt": lambda c: command(c, "R-2", 1000, key="till-1"),
    "other redemption": lambda c: command(c, "R-1", 1000, redeem=100, key="till-1"),
    "other lines": lambda c: command(c, "R-1", 1000, lines=[line("A", None, 1000)], key="till-1"),
    "other currency": lambda c: command(c, "R-1", 1000, currency="EUR", key="till-1"),
}


async def test_a_key_reused_with_other_input_is_refused(db, settings, clock):
    # given: 500 points, then R-1 with key till-1
    at = await open_till(db, settings, clock)
    member = await new_member(db, settings, clock)
    await buy(db, clock, at, member, "R-0", 50000)
    opened = await scan(db, clock, at, member)
    await complete(db, clock, at, command(opened.checkout.id, "R-1", 1000, key="till-1"))
    before = await snapshot(db)

    # when
    errors = {
        name: await refused(complete(db, clock, at, make(opened.checkout.id)))
        for name, make in OTHER_INPUT.items()
    }

    # then
    assert errors == dict.fromkeys(OTHER_INPUT, ("IDEMPOTENCY_KEY_REUSED", "idempotencyKey"))
    assert await snapshot(db) == before
    await assert_ledger_clean(db)


async def test_a_key_reused_on_a_new_checkout_is_refused(db, settings, clock):
    # given
    at = await open_till(db, settings, clock)
    member = await new_member(db, settings, clock)
    opened = await scan(db, clock, at, member)
    await complete(db, clock, at, command(opened.checkout.id, "R-1", 1000, key="till-1"))
    rescanned = await scan(db, clock, at, member)
    before = await snapshot(db)

    # when
    error = await refused(
        complete(db, clock, at, command(rescanned.checkout.id, "R-1", 1000, key="till-1"))
    )

    # then
    assert error == ("IDEMPOTENCY_KEY_REUSED", "idempotencyKey")
    assert await snapshot(db) == before
    await assert_ledger_clean(db)


async def test_a_key_reused_for_another_member_is_refused(db, settings, clock):
    # given: the till used key till-1 for Ann
    at = await open_till(db, settings, clock)
    ann = await new_member(db, settings, clock)
    bob = await new_member(db, settings, clock, email="bob@example.com")
    await buy(db, clock, at, ann, "R-1", 1000, key="till-1")
    opened = await scan(db, clock, at, bob)
    before = await snapshot(db)

    # when: and again for Bob
    error = await refused(
        complete(db, clock, at, command(opened.checkout.id, "R-2", 1000, key="till-1"))
    )

    # then
    assert error == ("IDEMPOTENCY_KEY_REUSED", "idempotencyKey")
    assert await snapshot(db) == before


async def test_a_purchase_key_reused_for_a_refund_is_refused(db, settings, clock):
    # given
    at = await open_till(db, settings, clock)
    member = await new_member(db, settings, clock)
    receipt = await buy(db, clock, at, member, "R-1", 1000, key="till-1")
    before = await snapshot(db)

    # when
    error = await refused(refund(db, clock, at, receipt.purchase_id, 500, key="till-1"))

    # then
    assert error == ("IDEMPOTENCY_KEY_REUSED", "idempotencyKey")
    assert await snapshot(db) == before
    await assert_ledger_clean(db)


async def test_a_new_key_for_the_same_receipt_is_a_duplicate(db, settings, clock):
    # given
    at = await open_till(db, settings, clock)
    member = await new_member(db, settings, clock)
    opened = await scan(db, clock, at, member)
    await complete(db, clock, at, command(opened.checkout.id, "R-1", 1000, key="till-1"))
    before = await snapshot(db)

    # when
    error = await refused(
        complete(db, clock, at, command(opened.checkout.id, "R-1", 1000, key="till-2"))
    )

    # then
    assert error == ("DUPLICATE_RECEIPT", "receiptNumber")
    assert await snapshot(db) == before
    await assert_ledger_clean(db)


async def test_a_refused_purchase_does_not_use_up_its_key(db, settings, clock):
    # given: a first attempt refused (the lines do not add up)
    at = await open_till(db, settings, clock)
    member = await new_member(db, settings, clock)
    opened = await scan(db, clock, at, member)
    wrong = command(opened.checkout.id, "R-1", 1000, lines=[line("A", None, 900)], key="till-1")
    await refused(complete(db, clock, at, wrong))

    # when: the corrected purchase with the same key
    receipt = await complete(
        db,
        clock,
        at,
        command(opened.checkout.id, "R-1", 1000, lines=[line("A", None, 1000)], key="till-1"),
    )

    # then
    assert (receipt.points_earned, receipt.available) == (10, 10)
    await assert_ledger_clean(db)


async def test_keys_belong_to_each_cashier(db, settings, clock):
    # given: two tills of two stores both number their keys from 1
    main = await open_till(db, settings, clock)
    east = await open_till(
        db, settings, clock, email="east@example.com", store_code="EAST", store_name="East"
    )
    member = await new_member(db, settings, clock)
    await buy(db, clock, main, member, "M-1", 1000, key="1")

    # when
    receipt = await buy(db, clock, east, member, "E-1", 2000, key="1")

    # then
    assert (receipt.points_earned, receipt.available) == (20, 30)
    await assert_ledger_clean(db)


async def test_a_bad_key_is_refused(db, settings, clock):
    # given
    at = await open_till(db, settings, clock)
    member = await new_member(db, settings, clock)
    opened = await scan(db, clock, at, member)
    keys = ["", "   ", "k" * 201, "key\n1"]

    # when
    errors = [
        await refused(complete(db, clock, at, command(opened.checkout.id, "R-1", 1000, key=key)))
        for key in keys
    ]

    # then
    assert errors == [("INVALID_INPUT", "idempotencyKey")] * len(keys)
    assert (await snapshot(db)).rows["purchases"] == 0
    await assert_ledger_clean(db)


async def test_a_key_of_200_characters_is_accepted(db, settings, clock):
    # given
    at = await open_till(db, settings, clock)
    member = await new_member(db, settings, clock)

    # when
    receipt = await buy(db, clock, at, member, "R-1", 1000, key="ключ" * 50)

    # then
    assert receipt.points_earned == 10
    await assert_ledger_clean(db)


async def test_a_replay_finds_its_record_among_other_members_records_of_the_key(
    db, settings, clock
):
    # given: one key stored for three members (as tills racing with one key may leave it)
    members = [await new_member(db, settings, clock, email=f"m{n}@example.com") for n in range(3)]
    for member in members:
        async with db.transaction() as session:
            await idempotency.remember(
                session, member_id=member.id, scope="staff:1", key="k", operation="op",
                digest=f"digest-{member.email}", result={"for": member.email}, now=clock.now(),
            )  # fmt: skip

    # when: each member's own replay
    async with db.read() as session:
        replays = []
        for member in members:
            stored = await idempotency.replay(
                session, member_id=member.id, scope="staff:1", key="k", operation="op",
                digest=f"digest-{member.email}",
            )  # fmt: skip
            replays.append(stored)

    # then
    assert replays == [{"for": member.email} for member in members]
