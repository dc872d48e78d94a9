"""Active and repeat buyers from maintained per-day counts: each purchase moves its member from
the days of its old last two purchases to the new ones, in the purchase's one upsert, exactly as
the account's purchase times move (also when two tills commit out of clock order); refunds move
nothing; `stats check` compares the counts with the accounts and the accounts with their
purchases, `stats rebuild` restores both; and every use case that moves points leaves
`stats check` clean."""

from __future__ import annotations

import asyncio
import datetime as dt

from sqlalchemy import func, select, update
from sqlmodel import col

from app import jobs
from app.auth.actors import StaffActor
from app.db import watching_statements
from app.ledger import service as ledger_service
from app.ledger.models import MemberAccount
from app.program import service as program_service
from app.rewards import service as rewards_service
from app.stats import rules
from app.stats import service as stats_service
from app.stats.models import ALL_STORES, SHARDS, DailyTotal
from tests.service.checkout.tills import (
    assert_ledger_clean,
    buy,
    new_member,
    open_till,
    refund,
)
from tests.service.offers.helpers import make_offer
from tests.service.rewards.support import as_member, give, new_cause, new_reward
from tests.support import SYSTEM, create_member

JUNE = dt.date(2026, 6, 1)  # the tests' clock starts at noon on June 1 (UTC)


def day(n: int) -> dt.date:
    return JUNE + dt.timedelta(days=n)


def at(clock, n: int, hour: int = 12) -> None:
    clock.current = dt.datetime.combine(day(n), dt.time(hour), tzinfo=dt.UTC)


async def counts(db) -> dict[dt.date, tuple[int, int]]:
    """The program's (last_buyers, prev_buyers) per day, summed over the shards, the zeros left
    out."""
    async with db.read() as session:
        rows = await session.execute(
            select(
                col(DailyTotal.day),
                func.sum(col(DailyTotal.last_buyers)),
                func.sum(col(DailyTotal.prev_buyers)),
            )
            .where(col(DailyTotal.store_id) == ALL_STORES)
            .group_by(col(DailyTotal.day))
        )
        found = {row_day: (int(last), int(prev)) for row_day, last, prev in rows.all()}
    return {row_day: pair for row_day, pair in found.items() if pair != (0, 0)}


async def purchase_times(db, member_id) -> tuple[dt.datetime | None, dt.datetime | None]:
    async with db.read() as session:
        account = await session.get(MemberAccount, member_id)
    assert account is not None
    return account.last_purchase_at, account.prev_purchase_at


async def stats_of(db, clock) -> stats_service.ProgramStats:
    async with db.read() as session:
        program = await program_service.current_rules(session)
        return await stats_service.program_stats(session, SYSTEM, program, now=clock.now())


async def assert_check_clean(db, clock) -> stats_service.RebuildReport:
    report = await stats_service.check(db, clock)
    assert report.differences == []
    return report


def test_a_move_takes_the_member_off_its_old_days_and_onto_the_new():
    # given
    first_purchase = ((None, None), (day(0), None))
    second = ((day(0), None), (day(3), day(0)))
    third = ((day(3), day(0)), (day(5), day(3)))
    same_day_again = ((day(5), day(3)), (day(5), day(5)))
    out_of_order_between = ((day(5), day(3)), (day(5), day(4)))
    older_than_both = ((day(5), day(3)), (day(5), day(3)))

    # when / then
    assert rules.activity_moves(*first_purchase) == {day(0): (1, 0)}
    assert rules.activity_moves(*second) == {day(0): (-1, 1), day(3): (1, 0)}
    assert rules.activity_moves(*third) == {day(0): (0, -1), day(3): (-1, 1), day(5): (1, 0)}
    assert rules.activity_moves(*same_day_again) == {day(3): (0, -1), day(5): (0, 1)}
    assert rules.activity_moves(*out_of_order_between) == {day(3): (0, -1), day(4): (0, 1)}
    assert rules.activity_moves(*older_than_both) == {}


async def test_purchases_move_the_member_between_days(db, settings, clock):
    # given
    till = await open_till(db, settings, clock)
    ann = await new_member(db, settings, clock)

    # when: June 1, 3 and 5
    await buy(db, clock, till, ann, "A-1", 1000)
    after_one = await counts(db)
    at(clock, 2)
    await buy(db, clock, till, ann, "A-2", 1000)
    at(clock, 4)
    await buy(db, clock, till, ann, "A-3", 1000)

    # then
    assert after_one == {day(0): (1, 0)}
    assert await counts(db) == {day(4): (1, 0), day(2): (0, 1)}
    numbers = await stats_of(db, clock)
    assert (numbers.active_members_30d, numbers.buyers_90d, numbers.repeat_buyers_90d) == (1, 1, 1)
    at(clock, 6)
    await assert_check_clean(db, clock)


async def test_tills_committing_out_of_clock_order_move_the_counts_as_the_account(
    db, settings, clock
):
    # given: Ann's purchase stamped June 11 committed first
    till = await open_till(db, settings, clock)
    ann = await new_member(db, settings, clock)
    at(clock, 10)
    await buy(db, clock, till, ann, "A-1", 1000)

    # when: tills whose clocks read June 9, then June 10, then June 2 commit after it
    at(clock, 8)
    await buy(db, clock, till, ann, "A-2", 1000)
    after_older = (await counts(db), await purchase_times(db, ann.id))
    at(clock, 9)
    await buy(db, clock, till, ann, "A-3", 1000)
    after_between = (await counts(db), await purchase_times(db, ann.id))
    at(clock, 1)
    await buy(db, clock, till, ann, "A-4", 1000)

    # then: the account keeps the two latest times, and the counts are on their days
    noon = dt.time(12)
    assert after_older == (
        {day(10): (1, 0), day(8): (0, 1)},
        (dt.datetime.combine(day(10), noon, dt.UTC), dt.datetime.combine(day(8), noon, dt.UTC)),
    )
    assert after_between[0] == {day(10): (1, 0), day(9): (0, 1)}
    assert await counts(db) == after_between[0]
    assert await purchase_times(db, ann.id) == after_between[1]
    at(clock, 11)
    report = await assert_check_clean(db, clock)
    assert report.purchases == 4


async def test_a_refund_leaves_the_member_active(db, settings, clock):
    # given
    till = await open_till(db, settings, clock)
    ann = await new_member(db, settings, clock)
    paid = await buy(db, clock, till, ann, "A-1", 1000)
    before = (await counts(db), await purchase_times(db, ann.id))

    # when: the whole purchase is refunded the next day
    at(clock, 1)
    await refund(db, clock, till, paid.purchase_id, 1000, key="refund-1")

    # then
    assert (await counts(db), await purchase_times(db, ann.id)) == before
    assert (await stats_of(db, clock)).active_members_30d == 1
    at(clock, 2)
    await assert_check_clean(db, clock)


async def test_a_purchase_writes_the_totals_and_the_counts_in_one_statement(db, settings, clock):
    # given: Ann bought twice already, so her next purchase moves three days' counts
    till = await open_till(db, settings, clock)
    ann = await new_member(db, settings, clock)
    await buy(db, clock, till, ann, "A-1", 1000)
    at(clock, 1)
    paid = await buy(db, clock, till, ann, "A-2", 1000)
    at(clock, 2)
    statements: list[str] = []

    def seen(statement: str) -> None:
        if "daily_totals" in statement:
            statements.append(statement)

    # when
    with watching_statements(db.engine, seen):
        await buy(db, clock, till, ann, "A-3", 1000)
        purchase_statements = list(statements)
        statements.clear()
        await refund(db, clock, till, paid.purchase_id, 500, key="refund-1")

    # then
    assert len(purchase_statements) == 1, purchase_statements
    assert len(statements) == 1, statements
    assert await counts(db) == {day(2): (1, 0), day(1): (0, 1)}


async def test_check_finds_drifted_counts_and_purchase_times_and_rebuild_restores_them(
    db, settings, clock
):
    # given: two members' purchases, then a count and an account's purchase time gone wrong
    till = await open_till(db, settings, clock)
    ann = await new_member(db, settings, clock)
    bob = await new_member(db, settings, clock, "bob@example.com")
    await buy(db, clock, till, ann, "A-1", 1000)
    await buy(db, clock, till, bob, "B-1", 1000)
    at(clock, 1)
    await buy(db, clock, till, ann, "A-2", 1000)
    at(clock, 2)
    before = await stats_of(db, clock)
    async with db.transaction() as session:
        await session.execute(
            update(DailyTotal)
            .where(
                col(DailyTotal.store_id) == ALL_STORES,
                col(DailyTotal.day) == day(0),
                col(DailyTotal.shard) == bob.id.int % SHARDS,
            )
            .values(last_buyers=DailyTotal.last_buyers + 5)
        )
        await session.execute(
            update(MemberAccount)
            .where(col(MemberAccount.member_id) == ann.id)
            .values(prev_purchase_at=None)
        )

    # when
    checked = await stats_service.check(db, clock)
    rebuilt = await stats_service.rebuild(db, clock)

    # then
    assert f"{day(0)} program last_buyers: maintained 6, accounts 1" in checked.differences
    assert f"{day(0)} program prev_buyers: maintained 1, accounts 0" in checked.differences
    assert any(f"member {ann.id} purchase times" in d for d in checked.differences)
    assert rebuilt.buyers == 2
    await assert_check_clean(db, clock)
    assert await counts(db) == {day(0): (1, 1), day(1): (1, 0)}
    assert await stats_of(db, clock) == before


async def test_purchases_during_a_rebuild_are_counted_once(db, settings, clock):
    # given: six members who bought yesterday
    till = await open_till(db, settings, clock)
    members = [await new_member(db, settings, clock, f"m{i}@example.com") for i in range(6)]
    for i, member in enumerate(members):
        await buy(db, clock, till, member, f"R-{i}", 1000)
    at(clock, 1)

    # when: they buy again while the totals are rebuilt
    await asyncio.gather(
        stats_service.rebuild(db, clock, batch_size=2),
        *(buy(db, clock, till, member, f"S-{i}", 1000) for i, member in enumerate(members)),
    )

    # then
    assert await counts(db) == {day(1): (6, 0), day(0): (0, 6)}
    at(clock, 2)
    await assert_check_clean(db, clock)


async def test_concurrent_purchases_moving_old_days_add_up(db, settings, clock):
    # given: twelve members (more than the shards), each last seen on a day of its own
    till = await open_till(db, settings, clock)
    members = [await new_member(db, settings, clock, f"m{i}@example.com") for i in range(12)]
    for i, member in enumerate(members):
        at(clock, i % 4)
        await buy(db, clock, till, member, f"R-{i}", 1000)
    at(clock, 10)

    # when: they all pay at once, each moving its own old day's count and today's
    await asyncio.gather(
        *(buy(db, clock, till, member, f"S-{i}", 1000) for i, member in enumerate(members))
    )

    # then
    numbers = await stats_of(db, clock)
    assert (numbers.active_members_30d, numbers.repeat_buyers_90d) == (12, 12)
    assert await counts(db) == {day(10): (12, 0), **{day(n): (0, 3) for n in range(4)}}
    at(clock, 11)
    await assert_check_clean(db, clock)
    await assert_ledger_clean(db)


async def test_every_use_case_that_moves_points_leaves_the_check_clean(db, settings, clock):
    # given: Ann, and Bob whom Ann referred, born on August 15
    till = await open_till(db, settings, clock)
    ann = await new_member(db, settings, clock)
    _, bob = await create_member(
        db, settings, clock, email="bob@example.com", referral_code=ann.referral_code,
        birth_date=dt.date(1990, 8, 15),
    )  # fmt: skip
    admin = StaffActor(till.actor.staff_id, "ADMIN")
    steps = 0

    async def then_clean() -> None:
        nonlocal steps
        clock.advance(days=1)  # the check compares the days before today
        await assert_check_clean(db, clock)
        steps += 1

    await then_clean()  # sign-ups

    # when / then: a purchase with an offer's bonus
    await make_offer(db, clock, "Welcome bonus")
    paid = await buy(db, clock, till, ann, "A-1", 30000)
    assert paid.points_earned > 300
    await then_clean()
    # the referred member's first purchase settles the referral, both sides rewarded
    await buy(db, clock, till, bob, "B-1", 2000)
    await then_clean()
    # adjustments both ways
    await give(db, clock, bob, 500)
    await ledger_service.adjust_points(
        db, admin, clock, member_id=str(ann.id), points=-20, reason="Correction",
        idempotency_key="adjust-ann",
    )  # fmt: skip
    await then_clean()
    # a reward, and its voucher taken at the till
    reward = await new_reward(db, clock)
    issued = await rewards_service.redeem_reward(
        db, as_member(ann), clock, reward_id=str(reward.id), idempotency_key="reward"
    )
    await rewards_service.redeem_voucher(
        db, till.actor, clock, code=issued.voucher.code, store_id=str(till.store.id),
        idempotency_key="voucher",
    )  # fmt: skip
    await then_clean()
    # a donation
    cause = await new_cause(db, clock)
    await rewards_service.donate_points(
        db, as_member(bob), clock, cause_id=str(cause.id), points=100, idempotency_key="donate"
    )
    await then_clean()
    # a refund, and paying with points
    await refund(db, clock, till, paid.purchase_id, 10000, key="refund-a1")
    await buy(db, clock, till, ann, "A-2", 1000, redeem=100)
    await then_clean()
    # pending points released, the birthday bonus
    await jobs.release_pending(db, clock)
    clock.current = dt.datetime(2026, 8, 15, 10, tzinfo=dt.UTC)
    assert (await jobs.birthday_bonuses(db, clock)).points > 0
    await then_clean()
    # a year on: everything expires
    clock.current = dt.datetime(2027, 9, 1, 10, tzinfo=dt.UTC)
    assert (await jobs.expire_points(db, clock)).points > 0
    await then_clean()

    assert steps == 9
    numbers = await stats_of(db, clock)
    assert numbers.points_expired > 0 and numbers.outstanding_points == 0
    await assert_ledger_clean(db)
