"""The worker's tier review (app.jobs.review_tiers): at the end of a member's tier year the
member moves down to the tier their qualifying points reach; batched, restartable, idempotent."""

from __future__ import annotations

import datetime as dt

from app import jobs
from app.program import service as program_service
from app.program.rules import Tier
from tests.conftest import START
from tests.service.checkout.tills import account_of, assert_ledger_clean, buy, new_member, open_till
from tests.support import SYSTEM

YEAR = dt.timedelta(days=365)


async def test_a_member_keeps_the_tier_until_the_tier_year_ends(db, settings, clock):
    # given: SILVER from a 1000.00 purchase at START; nothing more bought
    at = await open_till(db, settings, clock)
    member = await new_member(db, settings, clock)
    await buy(db, clock, at, member, "R-1", 100000)
    clock.advance(days=364)

    # when
    report = await jobs.review_tiers(db, clock)

    # then
    assert (report.members, (await account_of(db, member.id)).tier_code) == (0, "SILVER")


async def test_at_the_year_end_the_member_moves_down_and_a_new_year_starts(db, settings, clock):
    # given: SILVER at START; 300 qualifying points bought in the last year
    at = await open_till(db, settings, clock)
    member = await new_member(db, settings, clock)
    await buy(db, clock, at, member, "R-1", 100000)
    clock.advance(days=200)
    await buy(db, clock, at, member, "R-2", 30000)
    clock.advance(days=166)  # a day after the tier year's end

    # when
    first = await jobs.review_tiers(db, clock)
    second = await jobs.review_tiers(db, clock)

    # then: BRONZE (300 < 1000) for a new year from the old end; the second run does nothing
    account = await account_of(db, member.id)
    assert (first.members, second.members) == (1, 0)
    assert (account.tier_code, account.tier_year_ends_at) == ("BRONZE", START + 2 * YEAR)
    await assert_ledger_clean(db)


async def test_a_member_who_requalified_keeps_the_tier_for_another_year(db, settings, clock):
    # given: SILVER at START, 1000 more qualifying points half a year later
    at = await open_till(db, settings, clock)
    member = await new_member(db, settings, clock)
    await buy(db, clock, at, member, "R-1", 100000)
    clock.advance(days=180)
    await buy(db, clock, at, member, "R-2", 100000)
    clock.advance(days=200)

    # when
    report = await jobs.review_tiers(db, clock)

    # then
    account = await account_of(db, member.id)
    assert (report.members, account.tier_code, account.tier_year_ends_at) == (
        0,
        "SILVER",
        START + 2 * YEAR,
    )


async def test_moves_down_one_or_more_tiers_in_batches(db, settings, clock):
    # given: three GOLD members, a tier year ago; one bought 1200 points' worth since
    at = await open_till(db, settings, clock)
    members = [await new_member(db, settings, clock, email=f"m{n}@example.com") for n in range(3)]
    for n, member in enumerate(members):
        await buy(db, clock, at, member, f"G-{n}", 500000)
    clock.advance(days=300)
    await buy(db, clock, at, members[0], "S-0", 120000)
    clock.advance(days=66)

    # when
    report = await jobs.review_tiers(db, clock, batch_size=2)

    # then
    tiers = [(await account_of(db, m.id)).tier_code for m in members]
    assert (report.members, tiers) == (3, ["SILVER", "BRONZE", "BRONZE"])
    await assert_ledger_clean(db)


async def test_a_raised_threshold_moves_the_member_down(db, settings, clock):
    # given: SILVER, then its threshold raised to 2000
    at = await open_till(db, settings, clock)
    member = await new_member(db, settings, clock)
    await buy(db, clock, at, member, "R-1", 100000)
    await program_service.set_tier(db, SYSTEM, clock, Tier("SILVER", "Silver", 2000, 125))
    clock.advance(days=364)
    await buy(db, clock, at, member, "R-2", 100000)
    clock.advance(days=2)

    # when: 1000 qualifying points in the window (the first purchase left it)
    report = await jobs.review_tiers(db, clock)

    # then
    assert (report.members, (await account_of(db, member.id)).tier_code) == (1, "BRONZE")
