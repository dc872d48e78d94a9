"""The operator's numbers: maintained with every movement, equal to a recomputation from the
ledger, rebuilt by `loyalty stats rebuild`, read by administrators (and managers, per store)."""

from __future__ import annotations

import asyncio
import uuid
from decimal import Decimal

import pytest
from sqlalchemy import delete, func, select, update

from app import jobs
from app.auth.actors import StaffActor, SystemActor
from app.errors import Forbidden
from app.ledger.models import LedgerEntry, MemberAccount
from app.program import service as program_service
from app.stats import service as stats_service
from app.stats.models import ALL_STORES, DailyTotal
from tests.service.ledger.scenario import (
    assert_ledger_clean,
    busy,
    buy,
    join,
    open_till,
    refund,
)
from tests.service.ledger.scenario import (
    ledger_service as ledger,
)

ADMIN = SystemActor("tests")


async def stats_of(db, clock) -> stats_service.ProgramStats:
    async with db.read() as session:
        rules = await program_service.current_rules(session)
        return await stats_service.program_stats(session, ADMIN, rules, now=clock.now())


async def store_stats_of(db, clock, store_id, actor=ADMIN) -> stats_service.StoreStats:
    async with db.read() as session:
        rules = await program_service.current_rules(session)
        _, numbers = await stats_service.store_stats(
            session, actor, rules, store_id, now=clock.now()
        )
    return numbers


async def drift(db) -> list[str]:
    """The maintained totals against a recomputation from the ledger, every day."""
    computed, _ = await stats_service.recompute(db)
    return stats_service.differences(computed, await stats_service.maintained(db))


async def held_points(db) -> int:
    async with db.read() as session:
        total = await session.scalar(
            select(func.sum(MemberAccount.available + MemberAccount.pending))
        )
    return int(total or 0)


async def small_program(db, settings, clock):
    """Ann and Bob at one store: three purchases (one paid partly with points), a refund of
    half of it, an adjustment down."""
    till = await open_till(db, settings, clock)
    admin = StaffActor(till.actor.staff_id, "ADMIN")
    ann = await join(db, settings, clock, "ann@example.com")
    bob = await join(db, settings, clock, "bob@example.com")
    await buy(db, clock, till, ann, "A-1", 30000)  # +300
    await buy(db, clock, till, bob, "B-1", 10000)  # +100
    clock.advance(days=1)
    paid = await buy(db, clock, till, ann, "A-2", 1000, redeem=100)  # -100, 9.00 paid: +9
    await refund(db, clock, till, paid.purchase_id, 450, "refund-a2")  # -5, +50 given back
    await ledger.adjust_points(
        db, admin, clock, member_id=str(bob.id), points=-20, reason="Correction",
        idempotency_key="adjust-bob",
    )  # fmt: skip
    return till, ann, bob


async def test_a_small_program_in_numbers(db, settings, clock):
    # given
    till, _, _ = await small_program(db, settings, clock)

    # when
    numbers = await stats_of(db, clock)
    store = await store_stats_of(db, clock, till.store_id)

    # then
    assert numbers == stats_service.ProgramStats(
        currency="USD",
        members=2,
        active_members_30d=2,
        buyers_90d=2,
        repeat_buyers_90d=1,
        points_issued=300 + 100 + 9 - 5 - 20,
        points_redeemed=100 - 50,
        points_expired=0,
        outstanding_points=334,
        outstanding_liability=334,  # 100 points pay 1.00
        purchases=3,
        sales=30000 + 10000 + 900 - 450,
    )
    assert numbers.outstanding_points == await held_points(db)
    assert numbers.redemption_rate == Decimal("0.1302")  # 50 / 384
    assert numbers.breakage == Decimal("0.0000")
    assert numbers.repeat_purchase_rate_90d == Decimal("0.5000")
    assert numbers.average_purchase == 13483  # 40450 / 3, half up
    assert store == stats_service.StoreStats(
        store_id=till.store_id,
        currency="USD",
        active_members_30d=2,
        points_issued=300 + 100 + 9 - 5,  # the adjustment belongs to no store
        points_redeemed=50,
        purchases=3,
        sales=40450,
    )
    assert await drift(db) == []


async def test_activity_windows_move_with_time(db, settings, clock):
    # given: Ann bought on June 1 and 2, Bob on June 1 (at noon, UTC); the windows are UTC days,
    # today and the 29 (89) days before
    await small_program(db, settings, clock)

    # when
    clock.advance(days=28, hours=11, minutes=59)  # June 30, 23:59: June 1 is in the 30 days
    last_minute = await stats_of(db, clock)
    clock.advance(minutes=1)  # July 1: it is not
    next_day = await stats_of(db, clock)
    clock.advance(days=1)  # July 2: neither is June 2
    after_a_month = await stats_of(db, clock)
    clock.advance(days=58)  # August 29: June 1 is the first of the 90 days
    end_of_quarter = await stats_of(db, clock)
    clock.advance(days=1)  # August 30: Ann's first purchase and Bob's left the window
    after_a_quarter = await stats_of(db, clock)

    # then
    assert last_minute.active_members_30d == 2
    assert next_day.active_members_30d == 1
    assert (after_a_month.active_members_30d, after_a_month.buyers_90d) == (0, 2)
    assert after_a_month.repeat_purchase_rate_90d == Decimal("0.5000")
    assert (end_of_quarter.buyers_90d, end_of_quarter.repeat_buyers_90d) == (2, 1)
    assert (after_a_quarter.buyers_90d, after_a_quarter.repeat_buyers_90d) == (1, 0)
    assert after_a_quarter.repeat_purchase_rate_90d == Decimal("0.0000")


async def test_expiry_is_breakage(db, settings, clock):
    # given
    await small_program(db, settings, clock)
    clock.advance(days=367)

    # when
    report = await jobs.expire_points(db, clock)
    numbers = await stats_of(db, clock)

    # then: Ann's 250 + 4 and Bob's 80 points expired
    assert report.points == 334
    assert (numbers.points_expired, numbers.outstanding_points) == (334, 0)
    assert numbers.outstanding_liability == 0
    assert numbers.breakage == Decimal("0.8698")  # 334 / 384
    assert await drift(db) == []


async def test_points_that_lapse_at_the_till_count_as_expired(db, settings, clock):
    # given: Ann's first 300 points lapse before the expiry job reaches her
    till, ann, _ = await small_program(db, settings, clock)
    clock.advance(days=300)
    await buy(db, clock, till, ann, "A-3", 40000)  # +400, expiring a year later
    clock.advance(days=70)

    # when: paying with points expires the lapsed lots first, in the purchase
    await buy(db, clock, till, ann, "A-4", 1000, redeem=100)
    numbers = await stats_of(db, clock)

    # then
    assert numbers.points_expired == 250 + 4
    assert numbers.outstanding_points == await held_points(db)
    assert await drift(db) == []
    await assert_ledger_clean(db)


async def test_a_busy_year_leaves_no_drift(db, settings, clock):
    # given: purchases, redemptions, partial and full refunds, a debt, adjustments both ways,
    # a pending period and its release, an expiry
    await busy(db, settings, clock)

    # when
    numbers = await stats_of(db, clock)

    # then
    assert await drift(db) == []
    assert numbers.members == 2
    assert numbers.outstanding_points == await held_points(db)
    async with db.read() as session:
        expired = await session.scalar(
            select(func.sum(LedgerEntry.points)).where(LedgerEntry.kind == "EXPIRE")
        )
    assert numbers.points_expired == -int(expired or 0) > 0


async def test_rebuild_restores_the_totals_and_the_purchase_times(db, settings, clock):
    # given: the totals and the accounts' purchase times lost
    till, _, _ = await small_program(db, settings, clock)
    before = await stats_of(db, clock)
    async with db.transaction() as session:
        await session.execute(delete(DailyTotal))
        await session.execute(
            update(MemberAccount).values(last_purchase_at=None, prev_purchase_at=None)
        )
    lost = await stats_of(db, clock)

    # when
    report = await stats_service.rebuild(db, clock, include_today=True, batch_size=1)
    again = await stats_service.rebuild(db, clock, include_today=True)

    # then
    assert (lost.members, lost.points_issued, lost.active_members_30d) == (0, 0, 0)
    assert (report.members, report.entries, report.purchases) == (2, 7, 3)
    assert again.rows == report.rows
    assert await stats_of(db, clock) == before
    assert (await store_stats_of(db, clock, till.store_id)).points_issued == 404
    assert await drift(db) == []


async def test_rebuild_leaves_today_to_the_live_totals(db, settings, clock):
    # given: yesterday's program, and a purchase today whose row the rebuild must not touch
    till, ann, _ = await small_program(db, settings, clock)
    clock.advance(days=1)
    await buy(db, clock, till, ann, "A-3", 5000)
    async with db.transaction() as session:
        await session.execute(
            update(DailyTotal)
            .where(DailyTotal.day < clock.now().date())
            .values(issued=DailyTotal.issued + 1000)
        )  # yesterday's totals went wrong

    # when
    checked = await stats_service.check(db, clock)
    await stats_service.rebuild(db, clock)
    rechecked = await stats_service.check(db, clock)

    # then
    assert len(checked.differences) > 0
    assert rechecked.differences == []
    assert await drift(db) == []
    assert (await stats_of(db, clock)).purchases == 4


async def test_a_purchase_writes_its_store_row_and_the_program_row(db, settings, clock):
    # given
    till = await open_till(db, settings, clock)
    ann = await join(db, settings, clock)

    # when
    await buy(db, clock, till, ann, "A-1", 2500)

    # then: one row each, in the member's shard (the sign-up's row is the program's too)
    async with db.read() as session:
        rows = (
            await session.execute(
                select(
                    DailyTotal.store_id,
                    DailyTotal.day,
                    DailyTotal.shard,
                    DailyTotal.joined,
                    DailyTotal.purchases,
                    DailyTotal.amount,
                    DailyTotal.issued,
                )
            )
        ).all()
    day, shard = clock.now().date(), ann.id.int % 8
    assert sorted(rows, key=lambda row: row[0] != ALL_STORES) == [
        (ALL_STORES, day, shard, 1, 1, 2500, 25),
        (till.store_id, day, shard, 0, 1, 2500, 25),
    ]


@pytest.mark.parametrize("role", ["CASHIER", "MANAGER"])
async def test_only_administrators_see_the_program_numbers(db, clock, role):
    # given
    actor = StaffActor(uuid.uuid4(), role, frozenset())

    # when / then
    async with db.read() as session:
        rules = await program_service.current_rules(session)
        with pytest.raises(Forbidden):
            await stats_service.program_stats(session, actor, rules, now=clock.now())


async def test_managers_see_only_their_stores_numbers(db, settings, clock):
    # given
    till = await open_till(db, settings, clock)
    manager = StaffActor(uuid.uuid4(), "MANAGER", frozenset({till.store_id}))
    elsewhere = StaffActor(uuid.uuid4(), "MANAGER", frozenset({uuid.uuid4()}))
    cashier = StaffActor(uuid.uuid4(), "CASHIER", frozenset({till.store_id}))

    # when
    numbers = await store_stats_of(db, clock, till.store_id, actor=manager)

    # then
    assert (numbers.purchases, numbers.points_issued) == (0, 0)
    for refused in (elsewhere, cashier):
        with pytest.raises(Forbidden):
            await store_stats_of(db, clock, till.store_id, actor=refused)


async def test_concurrent_purchases_add_up(db, settings, clock):
    # given: twelve members, more than there are shards, each at its own till session
    till = await open_till(db, settings, clock)
    members = [await join(db, settings, clock, f"m{i}@example.com") for i in range(12)]

    # when: they all pay at once (their rows of the day collide on shards)
    await asyncio.gather(
        *(buy(db, clock, till, member, f"R-{i}", 1000 + i) for i, member in enumerate(members))
    )

    # then
    numbers = await stats_of(db, clock)
    assert (numbers.members, numbers.purchases, numbers.active_members_30d) == (12, 12, 12)
    assert numbers.sales == sum(1000 + i for i in range(12))
    assert numbers.points_issued == 12 * 10
    assert await drift(db) == []
    await assert_ledger_clean(db)
