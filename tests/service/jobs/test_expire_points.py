"""The expiry job: lots expire 365 days after they became available, one entry per member."""

from __future__ import annotations

import datetime as dt

import pytest

from app import jobs
from app.ledger import service as ledger_service
from tests.conftest import START
from tests.service.ledger.scenario import (
    Lot,
    assert_ledger_clean,
    balance_of,
    buy,
    entries_of,
    join,
    lots_of,
    open_till,
    set_pending_days,
)

DAY = dt.timedelta(days=1)


async def test_expires_a_lot_365_days_after_it_became_available(db, settings, clock):
    # given: 300 points pending for 14 days, then released
    await set_pending_days(db, clock, 14)
    till = await open_till(db, settings, clock)
    member = await join(db, settings, clock)
    await buy(db, clock, till, member, "R-1", 30000)
    clock.advance(days=14)
    await jobs.release_pending(db, clock)
    clock.advance(days=365, seconds=-1)
    too_early = await jobs.expire_points(db, clock)
    clock.advance(seconds=1)

    # when
    report = await jobs.expire_points(db, clock)

    # then
    assert (too_early.members, too_early.points) == (0, 0)
    assert (report.name, report.members, report.points) == ("expire-points", 1, 300)
    assert await balance_of(db, member.id) == ledger_service.Balance(available=0, pending=0)
    assert await lots_of(db, member.id) == [Lot(300, 0, True, START + 14 * DAY, START + 379 * DAY)]
    expired = (await entries_of(db, member.id))[-1]
    assert (
        expired.kind,
        expired.points,
        expired.balance_after,
        expired.description,
        expired.actor_kind,
        expired.actor_id,
        expired.store_id,
        expired.created_at,
    ) == ("EXPIRE", -300, 0, "300 points expired", "system", None, None, START + 379 * DAY)
    await assert_ledger_clean(db)


async def test_writes_one_entry_per_member_with_the_expired_total(db, settings, clock):
    # given: Ann has lots of 100 and 50 from the first day and 200 from day 100;
    # Bob has 300 from the first day, 100 of them spent on day 1
    till = await open_till(db, settings, clock)
    ann = await join(db, settings, clock, "ann@example.com")
    bob = await join(db, settings, clock, "bob@example.com")
    await buy(db, clock, till, ann, "A-1", 10000)
    await buy(db, clock, till, bob, "B-1", 30000)
    clock.advance(hours=1)
    await buy(db, clock, till, ann, "A-2", 5000)
    clock.advance(days=1)
    await buy(db, clock, till, bob, "B-2", 1000, redeem=100)
    clock.advance(days=99)
    await buy(db, clock, till, ann, "A-3", 20000)
    clock.current = START + 366 * DAY

    # when
    report = await jobs.expire_points(db, clock)

    # then
    assert (report.members, report.points) == (2, 350)
    assert [(lot.points, lot.remaining) for lot in await lots_of(db, ann.id)] == [
        (100, 0),
        (50, 0),
        (200, 200),
    ]
    assert [(lot.points, lot.remaining) for lot in await lots_of(db, bob.id)] == [
        (300, 0),
        (9, 9),
    ]
    assert [
        (e.kind, e.points, e.balance_after, e.description) for e in await entries_of(db, ann.id)
    ] == [
        ("EARN", 100, 100, "Purchase at Main st., receipt A-1"),
        ("EARN", 50, 150, "Purchase at Main st., receipt A-2"),
        ("EARN", 200, 350, "Purchase at Main st., receipt A-3"),
        ("EXPIRE", -150, 200, "150 points expired"),
    ]
    assert [(e.kind, e.points, e.balance_after) for e in await entries_of(db, bob.id)] == [
        ("EARN", 300, 300),
        ("REDEEM", -100, 200),
        ("EARN", 9, 209),
        ("EXPIRE", -200, 9),
    ]
    assert await balance_of(db, ann.id) == ledger_service.Balance(available=200, pending=0)
    assert await balance_of(db, bob.id) == ledger_service.Balance(available=9, pending=0)
    await assert_ledger_clean(db)


async def test_a_second_run_expires_nothing(db, settings, clock):
    # given
    till = await open_till(db, settings, clock)
    member = await join(db, settings, clock)
    await buy(db, clock, till, member, "R-1", 10000)
    clock.advance(days=400)
    await jobs.expire_points(db, clock)

    # when
    report = await jobs.expire_points(db, clock)

    # then
    assert (report.members, report.points) == (0, 0)
    assert [(e.kind, e.points) for e in await entries_of(db, member.id)] == [
        ("EARN", 100),
        ("EXPIRE", -100),
    ]
    await assert_ledger_clean(db)


async def test_restarts_after_a_crash_without_expiring_twice(db, settings, clock):
    # given: three members with a lot each; the first run dies after its first batch
    till = await open_till(db, settings, clock)
    members = [await join(db, settings, clock, f"m{n}@example.com") for n in range(3)]
    for n, member in enumerate(members):
        await buy(db, clock, till, member, f"R-{n}", 10000 * (n + 1))
    clock.advance(days=365)

    def crash(report: jobs.JobReport) -> None:
        raise RuntimeError("killed")

    with pytest.raises(RuntimeError, match="killed"):
        await jobs.expire_points(db, clock, batch_size=1, progress=crash)

    # when
    report = await jobs.expire_points(db, clock, batch_size=1)

    # then: the member with the lowest id expired in the first run, the others in the second
    first = min(range(3), key=lambda n: members[n].id)
    assert (report.members, report.points) == (2, 600 - 100 * (first + 1))
    for n, member in enumerate(members):
        assert [(e.kind, e.points) for e in await entries_of(db, member.id)] == [
            ("EARN", 100 * (n + 1)),
            ("EXPIRE", -100 * (n + 1)),
        ]
    await assert_ledger_clean(db)


async def test_run_all_releases_then_expires(db, settings, clock):
    # given: Ann's 100 points are a year old; Bob's 300 were bought with a 14-day hold
    till = await open_till(db, settings, clock)
    ann = await join(db, settings, clock, "ann@example.com")
    bob = await join(db, settings, clock, "bob@example.com")
    await buy(db, clock, till, ann, "A-1", 10000)
    clock.advance(days=351)
    await set_pending_days(db, clock, 14)
    await buy(db, clock, till, bob, "B-1", 30000)
    clock.advance(days=14)

    # when
    reports = await jobs.run_all(db, clock)

    # then
    assert [(r.name, r.members, r.points) for r in reports] == [
        ("release-pending", 1, 300),
        ("expire-points", 1, 100),
        ("birthday-bonuses", 0, 0),
        ("review-tiers", 0, 0),
        ("remind-expiring-points", 0, 0),
        ("announce-offers", 0, 0),
        ("prune-outbox", 0, 0),
    ]
    assert await balance_of(db, ann.id) == ledger_service.Balance(available=0, pending=0)
    assert await balance_of(db, bob.id) == ledger_service.Balance(available=300, pending=0)
    await assert_ledger_clean(db)
