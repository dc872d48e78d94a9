"""Races on rewards, vouchers, donations and referrals: 50 members for the last 3 units, one
voucher at two tills, donations from one member in parallel, two friends settling referrals
against one referrer's cap. `verify-ledger` runs after each (the directory's autouse fixture).

Every race starts its tasks behind one barrier; on PostgreSQL they hold separate pooled
connections (checked by the peak of connections in use) and contend for the rows; on SQLite they
queue for the single writer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import func, select, text
from sqlmodel import col

from app.auth.actors import MemberActor, StaffActor
from app.checkout import service as checkout_service
from app.db import Database
from app.errors import DomainError
from app.kit.money import Money
from app.ledger import service as ledger_service
from app.members import service as members_service
from app.program import service as program_service
from app.referrals.models import Referral
from app.rewards import service as rewards_service
from app.rewards.models import Donation, Voucher
from tests.concurrency.conftest import PeakConnections, assert_ran_concurrently
from tests.service.rewards.support import cause_row, give, new_cause, new_reward, reward_row
from tests.support import SYSTEM, create_member, create_staff, create_store


async def at_once(
    db: Database, connections: PeakConnections, calls: list[Callable[[], Awaitable[Any]]]
) -> list[Any]:
    """Run every call in its own task, all released together; a DomainError is returned."""
    if not db.is_sqlite:
        await _fill_pool(db, min(len(calls), db.engine.pool.size()))  # type: ignore[attr-defined]
    connections.peak = 0
    barrier = asyncio.Barrier(len(calls))

    async def run(call: Callable[[], Awaitable[Any]]) -> Any:
        await barrier.wait()
        try:
            return await call()
        except DomainError as error:
            return error

    return await asyncio.gather(*(run(call) for call in calls))


async def _fill_pool(db: Database, count: int) -> None:
    opened = asyncio.Barrier(count)

    async def hold() -> None:
        async with db.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
            await opened.wait()

    await asyncio.gather(*(hold() for _ in range(count)))


def codes_of(results: list[Any]) -> list[str]:
    return sorted(r.code for r in results if isinstance(r, DomainError))


def wins(results: list[Any]) -> list[Any]:
    return [r for r in results if not isinstance(r, DomainError)]


async def available(db: Database, member_id: Any) -> int:
    accounts = await _accounts(db, [member_id])
    return accounts[member_id]


async def _accounts(db: Database, member_ids: list[Any]) -> dict[Any, int]:
    async with db.read() as session:
        found = await ledger_service.accounts_by_member(session, member_ids)
    return {member_id: account.available for member_id, account in found.items()}


async def count(db: Database, model: Any, *where: Any) -> int:
    async with db.read() as session:
        return int(await session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


async def test_fifty_members_race_for_the_last_three_units(db, settings, clock, connections):
    # given: 50 members with 200 points each; a reward of 150 with 3 units left
    members = []
    for n in range(50):
        _, member = await create_member(db, settings, clock, email=f"m{n}@example.com")
        await give(db, clock, member, 200)
        members.append(member)
    reward = await new_reward(db, clock, stock=3)
    calls = [
        lambda m=m: rewards_service.redeem_reward(
            db, MemberActor(m.id), clock, reward_id=str(reward.id), idempotency_key="last"
        )
        for m in members
    ]

    # when
    results = await at_once(db, connections, calls)

    # then: exactly 3 vouchers; the 47 others are out of stock with their points untouched
    won = wins(results)
    assert len(won) == 3
    assert codes_of(results) == ["OUT_OF_STOCK"] * 47
    assert (await reward_row(db, reward.id)).stock == 0
    assert await count(db, Voucher) == 3
    balances = await _accounts(db, [m.id for m in members])
    winners = {w.voucher.member_id for w in won}
    assert sorted(balances[m.id] for m in members if m.id in winners) == [50] * 3
    assert sorted(balances[m.id] for m in members if m.id not in winners) == [200] * 47
    assert_ran_concurrently(db, connections)


async def test_one_key_replayed_at_once_issues_one_voucher(db, settings, clock, connections):
    # given: the app retries one redemption eight times at once
    _, member = await create_member(db, settings, clock, email="ann@example.com")
    await give(db, clock, member, 1000)
    reward = await new_reward(db, clock, stock=10)
    calls = [
        lambda: rewards_service.redeem_reward(
            db, MemberActor(member.id), clock, reward_id=str(reward.id), idempotency_key="same"
        )
    ] * 8

    # when
    results = await at_once(db, connections, calls)

    # then
    assert codes_of(results) == []
    assert len({r.voucher.id for r in results}) == 1
    assert (await reward_row(db, reward.id)).stock == 9
    assert await available(db, member.id) == 850
    assert_ran_concurrently(db, connections)


async def test_one_voucher_at_two_tills(db, settings, clock, connections):
    # given: two cashiers of one store, one voucher
    store = await create_store(db, clock)
    tills = []
    for n in range(2):
        staff = await create_staff(
            db, settings, clock, email=f"till{n}@example.com", store_ids=[str(store.id)]
        )
        tills.append(StaffActor(staff.id, "CASHIER", frozenset({store.id})))
    _, member = await create_member(db, settings, clock, email="ann@example.com")
    await give(db, clock, member, 200)
    reward = await new_reward(db, clock)
    issued = await rewards_service.redeem_reward(
        db, MemberActor(member.id), clock, reward_id=str(reward.id), idempotency_key="k"
    )
    calls = [
        lambda till=till, n=n: rewards_service.redeem_voucher(
            db,
            till,
            clock,
            code=issued.voucher.code,
            store_id=str(store.id),
            idempotency_key=f"till-{n}",
        )
        for n, till in enumerate(tills)
    ]

    # when
    results = await at_once(db, connections, calls)

    # then: exactly one till took it
    assert len(wins(results)) == 1
    assert codes_of(results) == ["VOUCHER_ALREADY_USED"]
    assert await count(db, Voucher, col(Voucher.used_at).is_not(None)) == 1
    assert await available(db, member.id) == 50
    assert_ran_concurrently(db, connections)


async def test_one_key_for_three_members_vouchers_takes_one(db, settings, clock, connections):
    # given: one cashier sends one key with three members' vouchers at once
    store = await create_store(db, clock)
    staff = await create_staff(
        db, settings, clock, email="till@example.com", store_ids=[str(store.id)]
    )
    till = StaffActor(staff.id, "CASHIER", frozenset({store.id}))
    reward = await new_reward(db, clock)
    codes = []
    for n in range(3):
        _, member = await create_member(db, settings, clock, email=f"m{n}@example.com")
        await give(db, clock, member, 200)
        issued = await rewards_service.redeem_reward(
            db, MemberActor(member.id), clock, reward_id=str(reward.id), idempotency_key="k"
        )
        codes.append(issued.voucher.code)
    calls = [
        lambda code=code: rewards_service.redeem_voucher(
            db, till, clock, code=code, store_id=str(store.id), idempotency_key="one-key"
        )
        for code in codes
    ]

    # when
    results = await at_once(db, connections, calls)

    # then: one voucher taken; the key is refused for the two other members
    assert len(wins(results)) == 1
    assert codes_of(results) == ["IDEMPOTENCY_KEY_REUSED"] * 2
    assert await count(db, Voucher, col(Voucher.used_at).is_not(None)) == 1
    assert_ran_concurrently(db, connections)


async def test_parallel_donations_from_one_member(db, settings, clock, connections):
    # given: 1 000 points; 20 donations of 70 at once (14 fit)
    _, member = await create_member(db, settings, clock, email="ann@example.com")
    await give(db, clock, member, 1000)
    cause = await new_cause(db, clock)
    calls = [
        lambda n=n: rewards_service.donate_points(
            db,
            MemberActor(member.id),
            clock,
            cause_id=str(cause.id),
            points=70,
            idempotency_key=f"d-{n}",
        )
        for n in range(20)
    ]

    # when
    results = await at_once(db, connections, calls)

    # then: the exact balance, and the cause's total is the sum of the donations
    assert len(wins(results)) == 14
    assert codes_of(results) == ["INSUFFICIENT_POINTS"] * 6
    assert await available(db, member.id) == 20
    stored = await cause_row(db, cause.id)
    assert (stored.total_points, stored.donations) == (980, 14)
    assert await count(db, Donation) == 14
    assert_ran_concurrently(db, connections)


async def test_donations_from_many_members_to_one_cause_add_up(db, settings, clock, connections):
    # given: 12 members give 25 points each to one cause at once
    members = []
    for n in range(12):
        _, member = await create_member(db, settings, clock, email=f"m{n}@example.com")
        await give(db, clock, member, 100)
        members.append(member)
    cause = await new_cause(db, clock)
    calls = [
        lambda m=m: rewards_service.donate_points(
            db, MemberActor(m.id), clock, cause_id=str(cause.id), points=25, idempotency_key="d"
        )
        for m in members
    ]

    # when
    results = await at_once(db, connections, calls)

    # then
    assert codes_of(results) == []
    stored = await cause_row(db, cause.id)
    assert (stored.total_points, stored.donations) == (300, 12)
    assert_ran_concurrently(db, connections)


async def test_friends_settling_at_once_respect_the_referrer_s_cap(
    db, settings, clock, connections
):
    # given: a cap of 2 referrals a month; Ann referred 5 friends who all buy at once
    await program_service.update_program(db, SYSTEM, clock, {"referral_monthly_cap": 2})
    _, ann = await create_member(db, settings, clock, email="ann@example.com")
    friends = []
    for n in range(5):
        _, friend = await create_member(
            db, settings, clock, email=f"f{n}@example.com", referral_code=ann.referral_code
        )
        friends.append(friend)
    store = await create_store(db, clock)
    staff = await create_staff(
        db, settings, clock, email="till@example.com", store_ids=[str(store.id)]
    )
    till = StaffActor(staff.id, "CASHIER", frozenset({store.id}))
    secret = settings.member_code_secret.get_secret_value().encode()
    checkouts = []
    for friend in friends:
        code = members_service.rotating_code_for(friend, secret, now=clock.now()).payload
        opened = await checkout_service.scan_member_code(
            db, till, clock, secret, code=code, store_id=str(store.id)
        )
        checkouts.append(opened.checkout.id)
    calls = [
        lambda n=n, checkout_id=checkout_id: checkout_service.complete_purchase(
            db,
            till,
            clock,
            checkout_service.PurchaseCommand(
                checkout_id=str(checkout_id),
                receipt_number=f"R-{n}",
                total=Money(2000, "USD"),
                lines=None,
                redeem_points=0,
                idempotency_key=f"k-{n}",
            ),
        )
        for n, checkout_id in enumerate(checkouts)
    ]

    # when
    results = await at_once(db, connections, calls)

    # then: every friend got the welcome bonus; Ann exactly two referral bonuses
    assert codes_of(results) == []
    assert sorted(r.available for r in results) == [520] * 5
    assert await available(db, ann.id) == 1000
    assert await count(db, Referral, col(Referral.referrer_points) > 0) == 2
    assert await count(db, Referral) == 5
    assert_ran_concurrently(db, connections)
