"""Offers applied by purchaseQuote and completePurchase: each kind and each condition, the
entries they produce, the use limit, and refunds of purchases with offer points."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlmodel import col

from app.auth.actors import MemberActor, StaffActor
from app.checkout import service as checkout_service
from app.errors import DomainError
from app.ledger.models import LedgerEntry
from app.offers import service as offers_service
from app.offers.models import OfferUse
from app.stores import service as stores_service
from tests.conftest import START
from tests.service.checkout.tills import (
    account_of,
    assert_ledger_clean,
    buy,
    command,
    entries_of,
    line,
    new_member,
    open_till,
    refund,
    scan,
)
from tests.service.helpers import count_rows
from tests.service.offers.helpers import make_offer, uses_of
from tests.support import SYSTEM


async def test_a_bonus_offer_earns_in_an_entry_of_its_own_named_on_the_receipt(db, settings, clock):
    # given
    at = await open_till(db, settings, clock)
    member = await new_member(db, settings, clock)
    bonus = await make_offer(db, clock, "Welcome bonus", value=50)

    # when: 10.50
    receipt = await buy(db, clock, at, member, "R-1", 1050)

    # then: 10 for the purchase, 50 for the offer, in two entries; qualifying: the 10 only
    assert (receipt.points_earned, receipt.available) == (60, 60)
    assert [(o.id, o.title, o.points) for o in receipt.applied_offers] == [
        (bonus.id, "Welcome bonus", 50)
    ]
    assert await entries_of(db, member.id) == [(1, "EARN", 10, 10), (2, "OFFER", 50, 0)]
    async with db.read() as session:
        offer_entry = await session.get(LedgerEntry, (await _entry_ids(db, member.id))[1])
    assert offer_entry is not None
    assert offer_entry.description == 'Offer "Welcome bonus" at Main st., receipt R-1'
    assert await uses_of(db, member.id) == [("Welcome bonus", 1, 50, 0)]
    await assert_ledger_clean(db)


async def _entry_ids(db, member_id):
    async with db.read() as session:
        rows = await session.scalars(
            select(col(LedgerEntry.id))
            .where(col(LedgerEntry.member_id) == member_id)
            .order_by(col(LedgerEntry.seq))
        )
        return list(rows.all())


async def test_a_quote_names_the_offers_it_would_apply_and_writes_nothing(db, settings, clock):
    # given
    at = await open_till(db, settings, clock)
    member = await new_member(db, settings, clock)
    await make_offer(
        db, clock, "Coffee x2", kind="POINTS_MULTIPLIER", value=200, categories=["coffee"]
    )
    await make_offer(
        db, clock, "10 % off bread", kind="PERCENT_DISCOUNT", value=10, categories=["bread"]
    )
    opened = await scan(db, clock, at, member)
    lines = [line("C1", "Coffee", 400), line("B1", "bread", 1000)]

    # when
    result = await checkout_service.purchase_quote(
        db, at.actor, clock, command(opened.checkout.id, "R-1", 1400, lines=lines)
    )

    # then: bread 10.00 - 1.00 = 9.00; coffee 4.00 x2: 4 + 9 = 13, + 4
    quote = result.quote
    assert (quote.points_to_earn, quote.offer_discount, quote.amount_due) == (17, 100, 1300)
    assert [(o.title, o.points, o.discount) for o in quote.applied_offers] == [
        ("Coffee x2", 4, 0),
        ("10 % off bread", 0, 100),
    ]
    assert await uses_of(db, member.id) == []


async def test_a_discount_is_paid_less_and_a_refund_takes_back_in_proportion(db, settings, clock):
    # given: 25 % off everything, and 100 bonus points
    at = await open_till(db, settings, clock)
    member = await new_member(db, settings, clock)
    await make_offer(db, clock, "Quarter off", kind="PERCENT_DISCOUNT", value=25)
    await make_offer(db, clock, "Bonus", value=100)

    # when: 40.00 -> 30.00 paid, 30 + 100 points
    receipt = await buy(db, clock, at, member, "R-1", 4000)
    back = await refund(db, clock, at, receipt.purchase_id, 1500, key="refund-1")

    # then: half of what was paid comes back: half of the 130 points go
    assert (receipt.amount_due, receipt.offer_discount, receipt.points_earned) == (3000, 1000, 130)
    assert (back.points_reversed, back.available) == (65, 65)
    await assert_ledger_clean(db)


async def test_an_offer_needing_activation_applies_after_the_member_activates_it(
    db, settings, clock
):
    # given
    at = await open_till(db, settings, clock)
    member = await new_member(db, settings, clock)
    offer = await make_offer(db, clock, "Activate me", value=30, requires_activation=True)
    before = await buy(db, clock, at, member, "R-1", 1000)

    # when
    await offers_service.activate_offer(db, MemberActor(member.id), clock, str(offer.id))
    after = await buy(db, clock, at, member, "R-2", 1000)

    # then
    assert (before.points_earned, after.points_earned) == (10, 40)
    await assert_ledger_clean(db)


async def test_a_use_limit_counts_the_members_purchases(db, settings, clock):
    # given
    at = await open_till(db, settings, clock)
    member = await new_member(db, settings, clock)
    other = await new_member(db, settings, clock, email="bob@example.com")
    await make_offer(db, clock, "Twice", value=20, uses_per_member=2)

    # when
    earned = [(await buy(db, clock, at, member, f"R-{n}", 1000)).points_earned for n in range(3)]
    others = (await buy(db, clock, at, other, "R-9", 1000)).points_earned

    # then
    assert (earned, others) == ([30, 30, 10], 30)
    assert await uses_of(db, member.id) == [("Twice", 1, 20, 0), ("Twice", 2, 20, 0)]
    await assert_ledger_clean(db)


async def test_a_replayed_purchase_returns_the_same_offers_and_uses_none_more(db, settings, clock):
    # given
    at = await open_till(db, settings, clock)
    member = await new_member(db, settings, clock)
    await make_offer(db, clock, "Once", value=20, uses_per_member=1)
    opened = await scan(db, clock, at, member)
    purchase = command(opened.checkout.id, "R-1", 1000)

    # when
    first = await checkout_service.complete_purchase(db, at.actor, clock, purchase)
    again = await checkout_service.complete_purchase(db, at.actor, clock, purchase)

    # then
    assert again == first
    assert [o.title for o in again.applied_offers] == ["Once"]
    assert await uses_of(db, member.id) == [("Once", 1, 20, 0)]


async def test_conditions_of_tier_store_spend_and_window(db, settings, clock):
    # given: a second store; offers for GOLD, for the other store, from 50.00, and ended
    at = await open_till(db, settings, clock)
    other = await stores_service.create_store(
        db, SYSTEM, clock, stores_service.NewStore(code="EAST", name="East")
    )
    member = await new_member(db, settings, clock)
    await make_offer(db, clock, "Gold", value=1, tier_codes=["GOLD"])
    await make_offer(db, clock, "East only", value=2, store_ids=[other.id])
    await make_offer(db, clock, "Big basket", value=4, min_spend=5000)
    await make_offer(db, clock, "Short", value=8, ends_at=START + dt.timedelta(hours=1))
    clock.advance(hours=2)

    # when
    small = await buy(db, clock, at, member, "R-1", 1000)
    big = await buy(db, clock, at, member, "R-2", 5000)

    # then
    assert [o.title for o in small.applied_offers] == []
    assert [o.title for o in big.applied_offers] == ["Big basket"]
    assert (await account_of(db, member.id)).available == 10 + 50 + 4


async def test_weekdays_and_hours_follow_the_stores_time_zone(db, settings, clock):
    # given: a store in Tokyo (UTC+9); START is Monday 2026-06-01 12:00 UTC = 21:00 in Tokyo
    tokyo = await stores_service.create_store(
        db, SYSTEM, clock, stores_service.NewStore(code="TYO", name="Tokyo", timezone="Asia/Tokyo")
    )
    at = await open_till(db, settings, clock, store_code="MAIN")
    at.actor = StaffActor(at.staff.id, "ADMIN", frozenset())
    at.store = tokyo
    member = await new_member(db, settings, clock)
    await make_offer(db, clock, "Monday evening", value=5, weekdays=[1], hour_from=20, hour_to=22)
    await make_offer(db, clock, "Monday noon", value=7, weekdays=[1], hour_from=11, hour_to=13)

    # when
    receipt = await buy(db, clock, at, member, "R-1", 1000)

    # then
    assert [o.title for o in receipt.applied_offers] == ["Monday evening"]


async def test_nothing_is_used_when_the_purchase_is_refused(db, settings, clock):
    # given
    at = await open_till(db, settings, clock)
    member = await new_member(db, settings, clock)
    await make_offer(db, clock, "Once", value=20, uses_per_member=1)
    opened = await scan(db, clock, at, member)

    # when: more points than the member has
    try:
        await checkout_service.complete_purchase(
            db, at.actor, clock, command(opened.checkout.id, "R-1", 1000, redeem=200)
        )
    except DomainError as error:
        code = error.code
    # then
    assert code == "INSUFFICIENT_POINTS"
    assert await count_rows(db, OfferUse) == 0
