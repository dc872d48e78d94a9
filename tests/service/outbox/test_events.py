"""The use cases announce their changes in the outbox, in their own transaction."""

from __future__ import annotations

import datetime as dt

import pytest

from app import jobs
from app.auth.actors import StaffActor
from app.errors import DomainError
from app.ledger import service as ledger_service
from app.outbox import service as outbox_service
from tests.service.ledger.scenario import buy, join, open_till, refund
from tests.service.outbox.fakes import events
from tests.support import create_staff

YEAR = dt.timedelta(days=365)


async def announced(db, type: str) -> list[tuple[str | None, dict]]:
    return [
        (str(e.member_id) if e.member_id else None, e.data) for e in await events(db, type=type)
    ]


async def test_a_new_member_is_announced(db, settings, clock):
    # when
    member = await join(db, settings, clock)

    # then
    [event] = await events(db, type="member.registered")
    assert (event.member_id, event.occurred_at) == (member.id, clock.now())
    assert event.data == {
        "email": "ann@example.com",
        "firstName": "Ann",
        "lastName": None,
        "locale": "en",
        "marketingConsent": False,
        "referredBy": None,
    }


async def test_a_purchase_announces_what_it_earned_and_redeemed(db, settings, clock):
    # given: 500 points from a first purchase
    till = await open_till(db, settings, clock)
    member = await join(db, settings, clock)
    first = await buy(db, clock, till, member, "R-1", 50000)

    # when: 200 points (2.00) paid on a 40.00 basket
    second = await buy(db, clock, till, member, "R-2", 4000, redeem=200)

    # then
    common = {"storeId": str(till.store_id), "storeName": "Main st.", "currency": "USD"}
    assert await announced(db, "points.earned") == [
        (str(member.id), {**common, "purchaseId": str(first.purchase_id), "receiptNumber": "R-1",
                          "amountPaid": 50000, "points": 500, "available": 500, "pending": 0}),
        (str(member.id), {**common, "purchaseId": str(second.purchase_id), "receiptNumber": "R-2",
                          "amountPaid": 3800, "points": 38, "available": 338, "pending": 0}),
    ]  # fmt: skip
    assert await announced(db, "points.redeemed") == [
        (str(member.id), {**common, "purchaseId": str(second.purchase_id), "receiptNumber": "R-2",
                          "amountPaid": 3800, "points": 200, "discount": 200,
                          "available": 338, "pending": 0}),
    ]  # fmt: skip


async def test_a_refused_purchase_announces_nothing(db, settings, clock):
    # given
    till = await open_till(db, settings, clock)
    member = await join(db, settings, clock)

    # when: more points than the member has
    with pytest.raises(DomainError):
        await buy(db, clock, till, member, "R-1", 4000, redeem=200)

    # then
    assert await announced(db, "points.earned") == []
    assert await announced(db, "points.redeemed") == []


async def test_a_refund_announces_the_points_taken_and_given_back(db, settings, clock):
    # given
    till = await open_till(db, settings, clock)
    member = await join(db, settings, clock)
    await buy(db, clock, till, member, "R-1", 50000)
    paid = await buy(db, clock, till, member, "R-2", 4000, redeem=200)

    # when: 10.00 of the 38.00 paid comes back
    receipt = await refund(db, clock, till, paid.purchase_id, 1000, "refund-1")

    # then
    assert (receipt.points_reversed, receipt.points_restored) != (0, 0)
    assert await announced(db, "points.reversed") == [
        (str(member.id), {
            "purchaseId": str(paid.purchase_id), "refundId": str(receipt.refund_id),
            "storeId": str(till.store_id), "storeName": "Main st.", "amount": 1000,
            "currency": "USD", "pointsReversed": receipt.points_reversed,
            "pointsRestored": receipt.points_restored, "available": receipt.available,
            "pending": 0,
        }),
    ]  # fmt: skip


async def test_an_adjustment_is_announced(db, settings, clock):
    # given
    member = await join(db, settings, clock)
    boss = await create_staff(db, settings, clock, email="boss@example.com", role="ADMIN")

    # when
    result = await ledger_service.adjust_points(
        db, StaffActor(boss.id, "ADMIN", frozenset()), clock,
        member_id=str(member.id), points=75, reason="Goodwill", idempotency_key="adj-1",
    )  # fmt: skip

    # then
    assert await announced(db, "points.adjusted") == [
        (str(member.id), {"entryId": str(result.entry_id), "points": 75, "reason": "Goodwill",
                          "by": str(boss.id), "available": 75, "pending": 0}),
    ]  # fmt: skip


async def test_the_expiry_job_announces_expired_points(db, settings, clock):
    # given
    till = await open_till(db, settings, clock)
    member = await join(db, settings, clock)
    await buy(db, clock, till, member, "R-1", 30000)
    clock.advance(days=365)

    # when
    await jobs.expire_points(db, clock)
    await jobs.expire_points(db, clock)

    # then
    [(member_id, data)] = await announced(db, "points.expired")
    assert member_id == str(member.id)
    assert {k: data[k] for k in ("points", "available", "pending")} == {
        "points": 300,
        "available": 0,
        "pending": 0,
    }


async def test_an_upgrade_and_its_reversal_are_announced(db, settings, clock):
    # given: 1 000 qualifying points reach Silver
    till = await open_till(db, settings, clock)
    member = await join(db, settings, clock)
    upgrade = await buy(db, clock, till, member, "R-1", 100000)

    # when
    await refund(db, clock, till, upgrade.purchase_id, 100000, "refund-1")

    # then
    assert upgrade.tier_changed is True
    assert await announced(db, "tier.changed") == [
        (str(member.id), {"from": "BRONZE", "to": "SILVER", "reason": "purchase"}),
        (str(member.id), {"from": "SILVER", "to": "BRONZE", "reason": "refund"}),
    ]


async def test_expiring_points_are_announced_30_and_7_days_ahead_once(db, settings, clock):
    # given: a lot of 300 points expiring a year after the purchase
    till = await open_till(db, settings, clock)
    member = await join(db, settings, clock)
    await buy(db, clock, till, member, "R-1", 30000)
    expires_at = clock.now() + YEAR

    # when: 31 days before (nothing), 29 days before (twice), 6 days before (twice)
    clock.current = expires_at - dt.timedelta(days=31)
    too_early = await jobs.remind_expiring_points(db, clock)
    clock.current = expires_at - dt.timedelta(days=29)
    month = await jobs.remind_expiring_points(db, clock)
    month_again = await jobs.remind_expiring_points(db, clock)
    clock.current = expires_at - dt.timedelta(days=6)
    week = await jobs.remind_expiring_points(db, clock)
    week_again = await jobs.remind_expiring_points(db, clock)

    # then
    counts = [(r.members, r.points) for r in (too_early, month, month_again, week, week_again)]
    assert counts == [(0, 0), (1, 300), (0, 0), (1, 300), (0, 0)]
    assert await announced(db, "points.expiring") == [
        (str(member.id), {"points": 300, "expiresAt": expires_at.isoformat(), "withinDays": 30}),
        (str(member.id), {"points": 300, "expiresAt": expires_at.isoformat(), "withinDays": 7}),
    ]


async def test_a_lot_first_seen_inside_a_week_gets_the_week_notice_only(db, settings, clock):
    # given
    till = await open_till(db, settings, clock)
    member = await join(db, settings, clock)
    await buy(db, clock, till, member, "R-1", 30000)
    clock.advance(days=365 - 5)

    # when
    report = await jobs.remind_expiring_points(db, clock)

    # then
    assert (report.members, report.points) == (1, 300)
    [(_, data)] = await announced(db, "points.expiring")
    assert data["withinDays"] == 7


async def test_the_events_of_one_change_are_written_together_in_order(db, clock):
    # when
    async with db.transaction() as session:
        ids = await outbox_service.record_all(
            session,
            [
                outbox_service.NewEvent("points.redeemed", None, {"n": 1}),
                outbox_service.NewEvent("points.earned", None, {"n": 2}),
            ],
            at=clock.now(),
        )

    # then
    assert [(e.id, e.type, e.data) for e in await events(db)] == [
        (ids[0], "points.redeemed", {"n": 1}),
        (ids[1], "points.earned", {"n": 2}),
    ]


async def test_an_unknown_event_type_writes_none_of_the_events(db, clock):
    # when
    with pytest.raises(ValueError, match=r"unknown event type 'points\.invented'"):
        async with db.transaction() as session:
            await outbox_service.record_all(
                session,
                [
                    outbox_service.NewEvent("points.earned", None, {}),
                    outbox_service.NewEvent("points.invented", None, {}),
                ],
                at=clock.now(),
            )

    # then
    assert await events(db) == []
