"""Many tills, an operator and the expiry job on one member at once: no point is lost, invented
or spent twice, a redemption never makes a balance negative, and `verify-ledger` stays clean
(the directory's autouse fixture runs it after every test).

Every race starts its tasks behind one barrier; on PostgreSQL each task then holds its own pooled
connection (checked by the peak of connections in use), so they really contend for the member's
account row. On SQLite the same tasks queue for the single writer.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, text
from sqlmodel import col

from app.auth.actors import StaffActor
from app.checkout import service as checkout_service
from app.checkout.models import Purchase
from app.db import Database
from app.errors import DomainError
from app.jobs import expire_points
from app.kit.money import Money
from app.ledger import service as ledger_service
from app.ledger.models import EntryKind, LedgerEntry, MemberAccount, PointLot
from app.members import service as members_service
from tests.concurrency.conftest import PeakConnections, assert_ran_concurrently
from tests.support import create_member, create_staff, create_store


@dataclass(frozen=True)
class Till:
    actor: StaffActor
    checkout_id: str


async def at_once(
    db: Database, connections: PeakConnections, calls: list[Callable[[], Awaitable[Any]]]
) -> list[Any]:
    """Run every call in its own task, all released together; a DomainError is returned.

    On PostgreSQL the pool first holds a connection per task (up to its size), so that every
    task checks one out before any statement returns: the tasks overlap by construction, and
    `connections.peak` counts only the race."""
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


def errors_of(results: list[Any]) -> list[tuple[str, str | None]]:
    return [(r.code, r.field) for r in results if isinstance(r, DomainError)]


def successes(results: list[Any]) -> list[Any]:
    return [r for r in results if not isinstance(r, DomainError)]


async def open_tills(db, settings, clock, members, count: int, *, store=None) -> list[list[Till]]:
    """`count` cashiers of one store, each with a checkout open for every member."""
    store = store or await create_store(db, clock)
    secret = settings.member_code_secret.get_secret_value().encode()
    tills: list[list[Till]] = [[] for _ in members]
    for n in range(count):
        staff = await create_staff(
            db, settings, clock, email=f"till-{n}-{uuid.uuid4().hex[:6]}@example.com",
            store_ids=[str(store.id)],
        )  # fmt: skip
        actor = StaffActor(staff.id, "CASHIER", frozenset({store.id}))
        for index, member in enumerate(members):
            code = members_service.rotating_code_for(member, secret, now=clock.now()).payload
            opened = await checkout_service.scan_member_code(
                db, actor, clock, secret, code=code, store_id=str(store.id)
            )
            tills[index].append(Till(actor, str(opened.checkout.id)))
    return tills


async def new_member(db, settings, clock, name: str = "ann"):
    _, member = await create_member(db, settings, clock, email=f"{name}@example.com")
    return member


async def admin(db, settings, clock) -> StaffActor:
    staff = await create_staff(
        db, settings, clock, email=f"admin-{uuid.uuid4().hex[:6]}@example.com", role="ADMIN"
    )
    return StaffActor(staff.id, "ADMIN")


def purchase(db, clock, till: Till, receipt: str, total: int, *, redeem: int = 0, key=None):
    command = checkout_service.PurchaseCommand(
        checkout_id=till.checkout_id,
        receipt_number=receipt,
        total=Money(total, "USD"),
        lines=None,
        redeem_points=redeem,
        idempotency_key=key or f"key-{receipt}",
    )
    return lambda: checkout_service.complete_purchase(db, till.actor, clock, command)


def refund(db, clock, till: Till, purchase_id, amount: int, key: str):
    return lambda: checkout_service.refund_purchase(
        db, till.actor, clock, purchase_id=str(purchase_id), amount=Money(amount, "USD"),
        idempotency_key=key,
    )  # fmt: skip


def adjust(db, clock, actor: StaffActor, member, points: int, key: str):
    return lambda: ledger_service.adjust_points(
        db,
        actor,
        clock,
        member_id=str(member.id),
        points=points,
        reason="race",
        idempotency_key=key,
    )


async def account_of(db, member) -> MemberAccount:
    async with db.read() as session:
        account = await session.get(MemberAccount, member.id)
    assert account is not None
    return account


async def entries_of(db, member) -> list[LedgerEntry]:
    async with db.read() as session:
        rows = await session.scalars(
            select(LedgerEntry)
            .where(col(LedgerEntry.member_id) == member.id)
            .order_by(col(LedgerEntry.seq))
        )
        return list(rows.all())


async def purchase_count(db, member) -> int:
    async with db.read() as session:
        count = await session.scalar(
            select(func.count()).select_from(Purchase).where(col(Purchase.member_id) == member.id)
        )
    return int(count or 0)


def kinds(entries: list[LedgerEntry]) -> dict[str, int]:
    return dict(Counter(entry.kind for entry in entries))


async def test_thirty_purchases_from_several_tills_earn_every_point(
    db, settings, clock, connections
):
    # given: 5 tills of one store, each with 6 receipts of 10.00 to 39.00
    member = await new_member(db, settings, clock)
    [tills] = await open_tills(db, settings, clock, [member], 5)
    calls = [purchase(db, clock, tills[n % 5], f"R-{n}", (10 + n) * 100) for n in range(30)]

    # when
    results = await at_once(db, connections, calls)

    # then
    assert errors_of(results) == []
    assert sorted(r.points_earned for r in results) == [10 + n for n in range(30)]
    account = await account_of(db, member)
    assert (account.available, account.pending, account.debt) == (735, 0, 0)
    entries = await entries_of(db, member)
    assert kinds(entries) == {EntryKind.EARN: 30}
    # every receipt saw the balance its own entry left: no update was lost or seen twice
    assert sorted((r.available, r.points_earned) for r in results) == [
        (e.balance_after, e.points) for e in entries
    ]
    assert await purchase_count(db, member) == 30
    assert_ran_concurrently(db, connections)


async def test_redemptions_beyond_the_balance_fail_without_overdrawing(
    db, settings, clock, connections
):
    # given: 1 000 points; 8 tills each redeem 300 on a 6.00 basket (which earns 3)
    member = await new_member(db, settings, clock)
    await adjust(db, clock, await admin(db, settings, clock), member, 1000, "seed")()
    [tills] = await open_tills(db, settings, clock, [member], 8)
    calls = [purchase(db, clock, till, f"R-{n}", 600, redeem=300) for n, till in enumerate(tills)]

    # when
    results = await at_once(db, connections, calls)

    # then: after k redemptions 1000 - 297 k are left, so the fourth no longer fits
    done = successes(results)
    assert [(r.points_redeemed, r.points_earned, r.amount_due) for r in done] == [(300, 3, 300)] * 3
    assert errors_of(results) == [("INSUFFICIENT_POINTS", "redeemPoints")] * 5
    assert sorted(r.available for r in done) == [109, 406, 703]
    account = await account_of(db, member)
    assert (account.available, account.pending, account.debt) == (109, 0, 0)
    entries = await entries_of(db, member)
    assert kinds(entries) == {EntryKind.ADJUST: 1, EntryKind.REDEEM: 3, EntryKind.EARN: 3}
    assert min(e.balance_after for e in entries) >= 0
    assert await purchase_count(db, member) == 3
    assert_ran_concurrently(db, connections)


async def test_earn_redeem_refund_and_adjust_at_once_add_up(db, settings, clock, connections):
    # given: 600 points from two purchases, 500.00 and 100.00
    member = await new_member(db, settings, clock)
    operator = await admin(db, settings, clock)
    [tills] = await open_tills(db, settings, clock, [member], 6)
    big = await purchase(db, clock, tills[0], "P-1", 50000)()
    small = await purchase(db, clock, tills[0], "P-2", 10000)()
    earns = [purchase(db, clock, tills[n % 6], f"E-{n}", 1000) for n in range(10)]
    redeems = [purchase(db, clock, tills[n], f"X-{n}", 400, redeem=100) for n in range(6)]
    refunds = [
        refund(db, clock, tills[1], big.purchase_id, 25000, "refund-big-1"),
        refund(db, clock, tills[2], big.purchase_id, 10000, "refund-big-2"),
        refund(db, clock, tills[3], small.purchase_id, 10000, "refund-small"),
    ]
    adjustments = [
        adjust(db, clock, operator, member, 50, "plus-50"),
        adjust(db, clock, operator, member, -70, "minus-70"),
        adjust(db, clock, operator, member, -400, "minus-400"),
    ]

    # when
    results = await at_once(db, connections, earns + redeems + refunds + adjustments)

    # then
    earned, redeemed = results[:10], results[10:16]
    refunded, adjusted = results[16:19], results[19:]
    assert [r.points_earned for r in earned] == [10] * 10
    assert sorted((r.points_reversed, r.points_restored) for r in refunded) == [
        (100, 0),
        (100, 0),
        (250, 0),
    ]
    assert adjusted[0].points == 50
    redeemed_ok = successes(redeemed)
    assert [(r.points_redeemed, r.points_earned) for r in redeemed_ok] == [(100, 3)] * len(
        redeemed_ok
    )
    assert errors_of(redeemed) == [("INSUFFICIENT_POINTS", "redeemPoints")] * (6 - len(redeemed_ok))
    minus = [r for r in adjusted[1:] if not isinstance(r, DomainError)]
    assert [r.points for r in minus] in ([-70], [-400], [-70, -400], [])
    assert errors_of(adjusted[1:]) == [("INSUFFICIENT_POINTS", "points")] * (2 - len(minus))
    expected = 600 + 10 * 10 - 97 * len(redeemed_ok) - 450 + 50 + sum(r.points for r in minus)
    account = await account_of(db, member)
    assert account.available + account.pending == expected
    entries = await entries_of(db, member)
    expected_kinds = {
        EntryKind.EARN: 2 + 10 + len(redeemed_ok),
        EntryKind.REDEEM: len(redeemed_ok),
        EntryKind.REVERSAL: 3,
        EntryKind.ADJUST: 1 + len(minus),
    }
    assert kinds(entries) == {kind: n for kind, n in expected_kinds.items() if n}
    # a redemption or a negative adjustment never leaves a negative balance behind
    takers = [e for e in entries if e.kind in (EntryKind.REDEEM, EntryKind.ADJUST) and e.points < 0]
    assert len(takers) == len(redeemed_ok) + len(minus)
    assert [e for e in takers if e.balance_after < 0] == []
    assert await purchase_count(db, member) == 2 + 10 + len(redeemed_ok)
    assert_ran_concurrently(db, connections)


async def test_one_key_from_twenty_tasks_buys_once(db, settings, clock, connections):
    # given: one till retrying one purchase from 20 tasks
    member = await new_member(db, settings, clock)
    [[till]] = await open_tills(db, settings, clock, [member], 1)
    calls = [purchase(db, clock, till, "R-1042", 4250, key="retry-me") for _ in range(20)]

    # when
    results = await at_once(db, connections, calls)

    # then
    assert errors_of(results) == []
    assert results == [results[0]] * 20
    assert (results[0].receipt_number, results[0].points_earned, results[0].available) == (
        "R-1042",
        42,
        42,
    )
    assert await purchase_count(db, member) == 1
    assert kinds(await entries_of(db, member)) == {EntryKind.EARN: 1}
    account = await account_of(db, member)
    assert (account.available, account.entry_count) == (42, 1)
    assert_ran_concurrently(db, connections)


async def test_one_key_with_other_input_is_refused_while_racing(db, settings, clock, connections):
    # given: one key sent with two different baskets, 6 times each, interleaved
    member = await new_member(db, settings, clock)
    [[till]] = await open_tills(db, settings, clock, [member], 1)
    calls = [
        purchase(db, clock, till, "R-7", 2000 if n % 2 else 3000, key="same-key") for n in range(12)
    ]

    # when
    results = await at_once(db, connections, calls)

    # then: the first basket to commit wins; its twins get its receipt, the others are refused
    done = successes(results)
    assert len(done) == 6
    assert done == [done[0]] * 6
    winner = done[0].points_earned
    assert winner in (20, 30)
    assert [isinstance(r, DomainError) for r in results] == [
        (2000 if n % 2 else 3000) != winner * 100 for n in range(12)
    ]
    assert errors_of(results) == [("IDEMPOTENCY_KEY_REUSED", "idempotencyKey")] * 6
    assert await purchase_count(db, member) == 1
    assert kinds(await entries_of(db, member)) == {EntryKind.EARN: 1}
    assert (await account_of(db, member)).available == winner
    assert_ran_concurrently(db, connections)


async def test_one_key_for_several_members_buys_once(db, settings, clock, connections):
    # given: one cashier sends one key with six members' baskets at once (each member's account
    # is a lock of its own: only the key can serialise them)
    members = [await new_member(db, settings, clock, f"m{n}") for n in range(6)]
    tills = [till for [till] in await open_tills(db, settings, clock, members, 1)]
    calls = [
        purchase(db, clock, till, f"R-{n}", 1000, key="one-key") for n, till in enumerate(tills)
    ]

    # when
    results = await at_once(db, connections, calls)

    # then: one purchase; the key is refused for every other member
    [done] = successes(results)
    assert errors_of(results) == [("IDEMPOTENCY_KEY_REUSED", "idempotencyKey")] * 5
    counts = [await purchase_count(db, member) for member in members]
    assert sorted(counts) == [0] * 5 + [1]
    assert [(await account_of(db, member)).available for member in members] == [
        10 * count for count in counts
    ]
    assert done.points_earned == 10
    assert_ran_concurrently(db, connections)


async def test_one_key_for_several_members_refunds_and_adjusts_once(
    db, settings, clock, connections
):
    # given: four members with a 100.00 purchase each; one cashier refunds 10.00 of each with
    # one key, and an admin adjusts each by 5 points with one key, all at once
    members = [await new_member(db, settings, clock, f"r{n}") for n in range(4)]
    tills = [till for [till] in await open_tills(db, settings, clock, members, 1)]
    bought = [await purchase(db, clock, till, f"R-{n}", 10000)() for n, till in enumerate(tills)]
    operator = await admin(db, settings, clock)
    calls = [
        refund(db, clock, till, receipt.purchase_id, 1000, "one-refund-key")
        for till, receipt in zip(tills, bought, strict=True)
    ] + [adjust(db, clock, operator, member, 5, "one-adjust-key") for member in members]

    # when
    results = await at_once(db, connections, calls)

    # then: one refund and one adjustment; the key is refused for the three other members
    refunds, adjustments = results[:4], results[4:]
    assert len(successes(refunds)) == 1 and len(successes(adjustments)) == 1
    assert errors_of(results) == [("IDEMPOTENCY_KEY_REUSED", "idempotencyKey")] * 6
    balances = sorted([(await account_of(db, member)).available for member in members])
    assert sum(balances) == 4 * 100 - 10 + 5
    assert_ran_concurrently(db, connections)


async def test_one_key_for_a_purchase_and_a_refund_never_deadlocks(
    db, settings, clock, connections
):
    # given: one member with a 100.00 purchase; one cashier sends a new purchase and a refund of
    # the old one with one key at once, in ten rounds (both lock the key, then the account: the
    # purchase in one statement, the refund in two; in the other order they would deadlock)
    member = await new_member(db, settings, clock)
    [[till]] = await open_tills(db, settings, clock, [member], 1)
    bought = await purchase(db, clock, till, "R-0", 10000)()
    for n in range(10):
        calls = [
            purchase(db, clock, till, f"R-{n + 1}", 1000, key=f"key-{n}"),
            refund(db, clock, till, bought.purchase_id, 100, f"key-{n}"),
        ]

        # when
        results = await at_once(db, connections, calls)

        # then: one of the two, the other refused
        assert len(successes(results)) == 1
        assert errors_of(results) == [("IDEMPOTENCY_KEY_REUSED", "idempotencyKey")]
    assert_ran_concurrently(db, connections)


async def test_expiry_job_while_tills_take_points_expires_exactly_the_due_points(
    db, settings, clock, connections
):
    # given: 4 members, each with 300 points from a year ago (due now) and 500 from day 200
    members = [await new_member(db, settings, clock, f"m{n}") for n in range(4)]
    store = await create_store(db, clock)
    operator = await admin(db, settings, clock)
    old = []
    for n, member in enumerate(members):
        [[till]] = await open_tills(db, settings, clock, [member], 1, store=store)
        old.append(await purchase(db, clock, till, f"OLD-{n}", 30000)())
    clock.advance(days=200)
    for n, member in enumerate(members):
        [[till]] = await open_tills(db, settings, clock, [member], 1, store=store)
        await purchase(db, clock, till, f"NEW-{n}", 50000)()
    clock.advance(days=165, minutes=1)
    tills = await open_tills(db, settings, clock, members, 3, store=store)
    # the tills redeem 200 and 100, refund 100.00 of the old purchase (100 points back), and
    # an operator takes 50, while the job expires; each member sees them in another order
    calls: list[Callable[[], Awaitable[Any]]] = [lambda: expire_points(db, clock)]
    for n, (member, member_tills) in enumerate(zip(members, tills, strict=True)):
        takers = [
            purchase(db, clock, member_tills[0], f"A-{n}", 400, redeem=200),
            purchase(db, clock, member_tills[1], f"B-{n}", 300, redeem=100),
            refund(db, clock, member_tills[2], old[n].purchase_id, 10000, f"refund-{n}"),
            adjust(db, clock, operator, member, -50, f"minus-{n}"),
        ]
        calls += takers[n:] + takers[:n]

    # when
    results = await at_once(db, connections, calls)

    # then: per member 800 - 300 expired - 200 - 100 - 100 - 50 taken + 2 + 2 earned
    assert errors_of(results) == []
    for member in members:
        account = await account_of(db, member)
        assert (account.available, account.pending, account.debt) == (54, 0, 0)
        entries = await entries_of(db, member)
        assert [e.points for e in entries if e.kind == EntryKind.EXPIRE] == [-300]
        assert kinds(entries) == {
            EntryKind.EARN: 4,
            EntryKind.REDEEM: 2,
            EntryKind.REVERSAL: 1,
            EntryKind.ADJUST: 1,
            EntryKind.EXPIRE: 1,
        }
        async with db.read() as session:
            lots = (
                await session.scalars(
                    select(PointLot)
                    .where(col(PointLot.member_id) == member.id)
                    .order_by(col(PointLot.created_at), col(PointLot.points).desc())
                )
            ).all()
        assert [(lot.points, lot.remaining) for lot in lots] == [
            (300, 0),
            (500, 50),
            (2, 2),
            (2, 2),
        ]
    # a second run finds nothing left to expire
    again = await expire_points(db, clock)
    assert (again.members, again.points) == (0, 0)
    assert_ran_concurrently(db, connections)


async def test_one_receipt_from_two_tills_is_bought_once(db, settings, clock, connections):
    # given: two cashiers of one store ring up the same receipt, each with its own key
    member = await new_member(db, settings, clock)
    [tills] = await open_tills(db, settings, clock, [member], 2)
    calls = [purchase(db, clock, till, "R-9", 1500, key=f"key-{n}") for n, till in enumerate(tills)]

    # when
    results = await at_once(db, connections, calls)

    # then
    [done] = successes(results)
    assert errors_of(results) == [("DUPLICATE_RECEIPT", "receiptNumber")]
    assert (done.points_earned, done.available) == (15, 15)
    assert await purchase_count(db, member) == 1
    assert kinds(await entries_of(db, member)) == {EntryKind.EARN: 1}
    assert_ran_concurrently(db, connections)


async def test_two_refunds_beyond_what_is_left_one_is_refused(db, settings, clock, connections):
    # given: a 100.00 purchase (100 points); two tills refund 60.00 and 50.00 at once
    member = await new_member(db, settings, clock)
    [tills] = await open_tills(db, settings, clock, [member], 2)
    bought = await purchase(db, clock, tills[0], "R-1", 10000)()
    calls = [
        refund(db, clock, tills[0], bought.purchase_id, 6000, "refund-60"),
        refund(db, clock, tills[1], bought.purchase_id, 5000, "refund-50"),
    ]

    # when
    results = await at_once(db, connections, calls)

    # then
    [done] = successes(results)
    assert errors_of(results) == [("REFUND_TOO_LARGE", "amount")]
    amount = 6000 if results[0] is done else 5000
    assert (done.points_reversed, done.points_restored, done.available) == (
        amount // 100,
        0,
        100 - amount // 100,
    )
    async with db.read() as session:
        row = await session.get(Purchase, bought.purchase_id)
    assert row is not None
    assert (row.refunded_amount, row.points_reversed) == (amount, amount // 100)
    assert kinds(await entries_of(db, member)) == {EntryKind.EARN: 1, EntryKind.REVERSAL: 1}
    assert (await account_of(db, member)).available == 100 - amount // 100
    assert_ran_concurrently(db, connections)
