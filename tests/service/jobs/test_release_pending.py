"""The release job: pending points become available after the program's pending days."""

from __future__ import annotations

import datetime as dt

import pytest

from app import jobs
from app.ledger import service as ledger_service
from tests.conftest import START
from tests.service.ledger.scenario import (
    Lot,
    account_of,
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


async def test_releases_nothing_before_the_pending_days_are_over(db, settings, clock):
    # given
    await set_pending_days(db, clock, 14)
    till = await open_till(db, settings, clock)
    member = await join(db, settings, clock)
    await buy(db, clock, till, member, "R-1", 30000)
    clock.advance(days=14, seconds=-1)

    # when
    report = await jobs.release_pending(db, clock)

    # then
    assert (report.name, report.members, report.points) == ("release-pending", 0, 0)
    assert await balance_of(db, member.id) == ledger_service.Balance(available=0, pending=300)


async def test_releases_pending_points_after_the_pending_days(db, settings, clock):
    # given
    await set_pending_days(db, clock, 14)
    till = await open_till(db, settings, clock)
    member = await join(db, settings, clock)
    await buy(db, clock, till, member, "R-1", 30000)
    clock.advance(days=14)

    # when
    report = await jobs.release_pending(db, clock)

    # then: the lot is available, and no entry is written (the total did not change)
    assert (report.members, report.points) == (1, 300)
    assert await balance_of(db, member.id) == ledger_service.Balance(available=300, pending=0)
    assert await lots_of(db, member.id) == [
        Lot(300, 300, True, START + 14 * DAY, START + 379 * DAY)
    ]
    assert [(e.kind, e.points) for e in await entries_of(db, member.id)] == [("EARN", 300)]
    await assert_ledger_clean(db)


async def test_a_second_run_changes_nothing(db, settings, clock):
    # given
    await set_pending_days(db, clock, 14)
    till = await open_till(db, settings, clock)
    member = await join(db, settings, clock)
    await buy(db, clock, till, member, "R-1", 30000)
    clock.advance(days=14)
    await jobs.release_pending(db, clock)
    before = await account_of(db, member.id)

    # when
    report = await jobs.release_pending(db, clock)

    # then
    assert (report.members, report.points) == (0, 0)
    after = await account_of(db, member.id)
    assert (after.available, after.pending, after.version) == (300, 0, before.version)
    await assert_ledger_clean(db)


async def test_releases_only_the_lots_whose_date_has_come(db, settings, clock):
    # given: lots of 300 and 200 points, a week apart, and one of 100 bought without a hold
    await set_pending_days(db, clock, 14)
    till = await open_till(db, settings, clock)
    member = await join(db, settings, clock)
    await buy(db, clock, till, member, "R-1", 30000)
    clock.advance(days=7)
    await buy(db, clock, till, member, "R-2", 20000)
    clock.advance(days=7)

    # when
    report = await jobs.release_pending(db, clock)

    # then
    assert (report.members, report.points) == (1, 300)
    assert await balance_of(db, member.id) == ledger_service.Balance(available=300, pending=200)
    assert [lot.released for lot in await lots_of(db, member.id)] == [True, False]
    await assert_ledger_clean(db)


async def test_works_through_members_in_batches_and_restarts_after_a_crash(db, settings, clock):
    # given: three members with pending points; the first run dies after its first batch
    await set_pending_days(db, clock, 14)
    till = await open_till(db, settings, clock)
    members = [await join(db, settings, clock, f"m{n}@example.com") for n in range(3)]
    for n, member in enumerate(members):
        await buy(db, clock, till, member, f"R-{n}", 10000 * (n + 1))
    clock.advance(days=14)

    def crash(report: jobs.JobReport) -> None:
        raise RuntimeError("killed")

    with pytest.raises(RuntimeError, match="killed"):
        await jobs.release_pending(db, clock, batch_size=1, progress=crash)
    after_the_crash = [await balance_of(db, member.id) for member in members]

    # when
    report = await jobs.release_pending(db, clock, batch_size=1)

    # then: the first run released the member with the lowest id; the restart the other two
    first = min(range(3), key=lambda n: members[n].id)
    assert [balance.available for balance in after_the_crash] == [
        100 * (n + 1) if n == first else 0 for n in range(3)
    ]
    assert (report.members, report.points) == (2, 600 - 100 * (first + 1))
    assert [await balance_of(db, member.id) for member in members] == [
        ledger_service.Balance(available=100, pending=0),
        ledger_service.Balance(available=200, pending=0),
        ledger_service.Balance(available=300, pending=0),
    ]
    await assert_ledger_clean(db)
