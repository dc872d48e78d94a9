"""Referrals: both sides earn once, after the new member's first qualifying purchase; the
referrer's monthly cap; no self-referral."""

from __future__ import annotations

from sqlalchemy import select

from app.members import service as members_service
from app.referrals.models import Referral
from tests.service.checkout.tills import (
    account_of,
    assert_ledger_clean,
    buy,
    new_member,
    open_till,
    refused,
)
from tests.service.helpers import count_rows
from tests.service.rewards.support import as_member, events, history
from tests.support import create_member


async def referred(db, settings, clock, referrer, email: str, **fields):
    _, member = await create_member(
        db, settings, clock, email=email, referral_code=referrer.referral_code, **fields
    )
    return member


async def test_both_earn_after_the_first_qualifying_purchase(db, settings, clock):
    # given: Ann referred Bob
    till = await open_till(db, settings, clock)
    ann = await new_member(db, settings, clock, "ann@example.com")
    bob = await referred(db, settings, clock, ann, "bob@example.com")

    # when: Bob buys for 12.00
    receipt = await buy(db, clock, till, bob, "B-1", 1200)

    # then: 12 points and the 500 welcome bonus; Ann earns 500
    assert (receipt.points_earned, receipt.available) == (12, 512)
    assert (await history(db, bob.id))[-1] == (
        "REFERRAL",
        500,
        "Referral bonus: welcome, invited by Ann",
    )
    assert await history(db, ann.id) == [("REFERRAL", 500, "Referral bonus: Ann joined")]
    assert (await account_of(db, ann.id)).available == 500
    [event] = await events(db, "referral.completed")
    assert (event.member_id, event.data["memberId"], event.data["referrerPoints"]) == (
        ann.id,
        str(bob.id),
        500,
    )
    await assert_ledger_clean(db)


async def test_a_purchase_under_ten_does_not_settle_it(db, settings, clock):
    # given
    till = await open_till(db, settings, clock)
    ann = await new_member(db, settings, clock, "ann@example.com")
    bob = await referred(db, settings, clock, ann, "bob@example.com")

    # when: 9.99, then 10.00
    await buy(db, clock, till, bob, "B-1", 999)
    after_small = await count_rows(db, Referral)
    await buy(db, clock, till, bob, "B-2", 1000)

    # then
    assert after_small == 0
    assert (await account_of(db, ann.id)).available == 500
    assert [kind for kind, _, _ in await history(db, bob.id)] == ["EARN", "EARN", "REFERRAL"]


async def test_the_bonus_is_given_once(db, settings, clock):
    # given
    till = await open_till(db, settings, clock)
    ann = await new_member(db, settings, clock, "ann@example.com")
    bob = await referred(db, settings, clock, ann, "bob@example.com")
    await buy(db, clock, till, bob, "B-1", 5000)

    # when
    await buy(db, clock, till, bob, "B-2", 5000)

    # then
    assert (await account_of(db, ann.id)).available == 500
    assert [kind for kind, _, _ in await history(db, bob.id)] == ["EARN", "REFERRAL", "EARN"]
    assert await count_rows(db, Referral) == 1


async def test_members_without_a_referrer_earn_no_bonus(db, settings, clock):
    # given
    till = await open_till(db, settings, clock)
    ann = await new_member(db, settings, clock, "ann@example.com")

    # when
    receipt = await buy(db, clock, till, ann, "A-1", 5000)

    # then
    assert receipt.available == 50
    assert await count_rows(db, Referral) == 0


async def test_the_referrer_earns_at_most_ten_a_month(db, settings, clock):
    # given: Ann referred twelve members
    till = await open_till(db, settings, clock)
    ann = await new_member(db, settings, clock, "ann@example.com")
    friends = [
        await referred(db, settings, clock, ann, f"friend{n}@example.com") for n in range(12)
    ]

    # when: eleven buy in June, the twelfth in July
    for n, friend in enumerate(friends[:11]):
        await buy(db, clock, till, friend, f"F-{n}", 1000)
    june = (await account_of(db, ann.id)).available
    clock.advance(days=30)  # 1 July
    await buy(db, clock, till, friends[11], "F-11", 1000)

    # then: ten in June, and the eleventh friend still got the welcome bonus
    assert june == 5000
    assert (await account_of(db, ann.id)).available == 5500
    assert (await account_of(db, friends[10].id)).available == 510
    async with db.read() as session:
        rows = (await session.scalars(select(Referral))).all()
        settled = {r.member_id: (r.status, r.member_points, r.referrer_points) for r in rows}
    assert [settled[friend.id] for friend in friends] == [
        *[("REWARDED", 500, 500)] * 10,
        ("CAPPED", 500, 0),
        ("REWARDED", 500, 500),
    ]
    await assert_ledger_clean(db)


async def test_the_same_mailbox_is_a_self_referral(db, settings, clock):
    # given: Ann signs up again as ann+2@example.com with her own code
    till = await open_till(db, settings, clock)
    ann = await new_member(db, settings, clock, "ann@example.com")
    again = await referred(db, settings, clock, ann, "ann+2@example.com")

    # when
    receipt = await buy(db, clock, till, again, "A-1", 5000)

    # then: nobody earns the bonus, and the referral is closed
    assert receipt.available == 50
    assert (await account_of(db, ann.id)).available == 0
    assert await count_rows(db, Referral) == 1
    assert await events(db, "referral.completed") == []


async def test_a_phone_added_later_is_a_self_referral(db, settings, clock):
    # given: Bob, referred by Ann, later gives Ann's phone number
    till = await open_till(db, settings, clock)
    ann = await new_member(db, settings, clock, "ann@example.com")
    await members_service.update_profile(
        db, as_member(ann), clock, members_service.ProfileChanges(phone="+14155550123")
    )
    bob = await referred(db, settings, clock, ann, "bob@example.com")
    await members_service.update_profile(
        db, as_member(bob), clock, members_service.ProfileChanges(phone="+1 415 555 0123")
    )

    # when
    await buy(db, clock, till, bob, "B-1", 5000)

    # then
    assert (await account_of(db, ann.id)).available == 0
    assert (await account_of(db, bob.id)).available == 50


async def test_the_same_phone_is_refused_at_sign_up(db, settings, clock):
    # given
    _, ann = await create_member(db, settings, clock, email="ann@example.com", phone="+14155550123")

    # when
    error = await refused(
        create_member(
            db,
            settings,
            clock,
            email="bob@example.com",
            phone="+14155550123",
            referral_code=ann.referral_code,
        )
    )

    # then
    assert error == ("INVALID_INPUT", "referralCode")


async def test_an_unknown_referral_code_is_refused_at_sign_up(db, settings, clock):
    # when
    error = await refused(
        create_member(db, settings, clock, email="bob@example.com", referral_code="NOPE2345")
    )

    # then
    assert error == ("INVALID_INPUT", "referralCode")
