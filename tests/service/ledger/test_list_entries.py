"""The points history: newest first, keyset-paginated, in words a person understands."""

from __future__ import annotations

import pytest

from app import jobs
from app.auth.actors import StaffActor
from app.kit.pagination import InvalidCursor, InvalidPageSize
from app.ledger import service as ledger_service
from app.program import service as program_service
from tests.service.ledger.scenario import buy, join, open_till, refund


async def _adjust(db, clock, admin, member, points, reason="Goodwill", key=None):
    return await ledger_service.adjust_points(
        db, admin, clock, member_id=str(member.id), points=points, reason=reason,
        idempotency_key=key or f"adjust-{points}",
    )  # fmt: skip


async def _pages(db, member_id, first):
    """Every page of the member's history: (points of its entries, has_next)."""
    pages = []
    after = None
    while True:
        async with db.read() as session:
            page = await ledger_service.list_entries(session, member_id, first=first, after=after)
        pages.append(([entry.points for entry in page.items], page.has_next))
        if not page.has_next:
            return pages
        after = page.end_cursor


async def test_pages_through_many_entries_newest_first(db, settings, clock):
    # given: 25 adjustments of 1 to 25 points, a minute apart
    till = await open_till(db, settings, clock)
    member = await join(db, settings, clock)
    admin = StaffActor(till.actor.staff_id, "ADMIN")
    for points in range(1, 26):
        await _adjust(db, clock, admin, member, points)
        clock.advance(minutes=1)

    # when
    pages = await _pages(db, member.id, 10)

    # then
    assert pages == [
        (list(range(25, 15, -1)), True),
        (list(range(15, 5, -1)), True),
        (list(range(5, 0, -1)), False),
    ]


async def test_entries_of_one_moment_page_in_the_order_they_were_written(db, settings, clock):
    # given: 25 adjustments at the same instant of the clock
    till = await open_till(db, settings, clock)
    member = await join(db, settings, clock)
    admin = StaffActor(till.actor.staff_id, "ADMIN")
    for points in range(1, 26):
        await _adjust(db, clock, admin, member, points)

    # when
    pages = await _pages(db, member.id, 10)

    # then
    assert pages == [
        (list(range(25, 15, -1)), True),
        (list(range(15, 5, -1)), True),
        (list(range(5, 0, -1)), False),
    ]


async def test_a_page_that_ends_exactly_at_the_last_entry_has_no_next(db, settings, clock):
    # given
    till = await open_till(db, settings, clock)
    member = await join(db, settings, clock)
    admin = StaffActor(till.actor.staff_id, "ADMIN")
    for points in range(1, 21):
        await _adjust(db, clock, admin, member, points)
        clock.advance(seconds=1)

    # when
    pages = await _pages(db, member.id, 10)

    # then
    assert pages == [(list(range(20, 10, -1)), True), (list(range(10, 0, -1)), False)]


async def test_a_member_sees_only_their_own_entries(db, settings, clock):
    # given
    till = await open_till(db, settings, clock)
    ann = await join(db, settings, clock, "ann@example.com")
    bob = await join(db, settings, clock, "bob@example.com")
    await buy(db, clock, till, ann, "R-1", 10000)
    await buy(db, clock, till, bob, "R-2", 20000)

    # when
    async with db.read() as session:
        page = await ledger_service.list_entries(session, ann.id, first=10, after=None)

    # then
    assert [(e.member_id, e.points) for e in page.items] == [(ann.id, 100)]
    assert page.has_next is False


async def test_an_empty_history(db, settings, clock):
    # given
    member = await join(db, settings, clock)

    # when
    async with db.read() as session:
        page = await ledger_service.list_entries(session, member.id, first=10, after=None)

    # then
    assert (list(page.items), page.has_next, page.end_cursor) == ([], False, None)


async def test_descriptions_say_what_happened(db, settings, clock):
    # given: a purchase, one paid partly with points, a refund of it, an adjustment, an expiry
    till = await open_till(db, settings, clock)
    member = await join(db, settings, clock)
    admin = StaffActor(till.actor.staff_id, "ADMIN")
    await buy(db, clock, till, member, "R-1042", 30000)
    clock.advance(days=1)
    paid = await buy(db, clock, till, member, "R-1043", 1000, redeem=200)
    clock.advance(days=1)
    await refund(db, clock, till, paid.purchase_id, 400, "refund-1")
    clock.advance(days=1)
    await _adjust(db, clock, admin, member, 25, reason="Goodwill for a late parcel")
    clock.advance(days=400)
    await jobs.expire_points(db, clock)

    # when
    async with db.read() as session:
        page = await ledger_service.list_entries(session, member.id, first=20, after=None)

    # then: 2.00 of 10.00 paid with points; 8.00 earn 8; 4.00 of 8.00 refunded
    assert [(e.kind, e.points, e.balance_after, e.description) for e in page.items] == [
        ("EXPIRE", -229, 0, "229 points expired"),
        ("ADJUST", 25, 229, "Adjustment: Goodwill for a late parcel"),
        ("RESTORE", 100, 204, "Refund at Main st., receipt R-1043: points given back"),
        ("REVERSAL", -4, 104, "Refund at Main st., receipt R-1043: points taken back"),
        ("EARN", 8, 108, "Purchase at Main st., receipt R-1043"),
        ("REDEEM", -200, 100, "Paid with points at Main st., receipt R-1043"),
        ("EARN", 300, 300, "Purchase at Main st., receipt R-1042"),
    ]


async def test_a_page_size_out_of_range_or_a_foreign_cursor_is_refused(db, settings, clock):
    # given
    member = await join(db, settings, clock)

    # when
    refused = []
    async with db.read() as session:
        for first, after in [(0, None), (-1, None), (101, None)]:
            with pytest.raises(InvalidPageSize):
                await ledger_service.list_entries(session, member.id, first=first, after=after)
            refused.append(first)
        for cursor in ["", "not-a-cursor", "WyIyMDI2Il0"]:
            with pytest.raises(InvalidCursor):
                await ledger_service.list_entries(session, member.id, first=10, after=cursor)
            refused.append(cursor)

    # then
    assert refused == [0, -1, 101, "", "not-a-cursor", "WyIyMDI2Il0"]


async def test_entries_written_in_one_transaction_list_last_written_first(db, settings, clock):
    # given: ten lots earned in one transaction, all at the same instant
    member = await join(db, settings, clock)
    async with db.transaction() as session:
        account = await ledger_service.lock_account(session, member.id)
        rules = await program_service.current_rules(session)
        posting = ledger_service.Posting(
            actor_kind="system",
            actor_id=None,
            store_id=None,
            rules_version=rules.version,
            now=clock.now(),
        )
        for points in range(1, 11):
            await ledger_service.earn(
                session, account, posting, points=points, kind="ADJUST",
                description=f"Bonus {points}", pending_days=0, expiry_days=365,
            )  # fmt: skip
        session.add(account)

    # when
    pages = await _pages(db, member.id, 4)

    # then
    assert pages == [([10, 9, 8, 7], True), ([6, 5, 4, 3], True), ([2, 1], False)]
