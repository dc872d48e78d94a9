"""The birthday bonus, by the worker's job: once a year; a birth date entered 30 days or fewer
before the birthday waits for the next one."""

from __future__ import annotations

import datetime as dt

from app import jobs
from app.members import service as members_service
from tests.service.checkout.tills import account_of, assert_ledger_clean
from tests.service.rewards.support import as_member, events, history
from tests.support import create_member


def on(clock, year: int, month: int, day: int) -> None:
    """Move the fake clock to 10:00 UTC on that day."""
    clock.current = dt.datetime(year, month, day, 10, 0, tzinfo=dt.UTC)


async def born(db, settings, clock, email: str, birth_date: dt.date | None):
    _, member = await create_member(db, settings, clock, email=email, birth_date=birth_date)
    return member


async def test_the_bonus_comes_on_the_birthday_once(db, settings, clock):
    # given: Ann (born 15 August) joined on 1 June
    ann = await born(db, settings, clock, "ann@example.com", dt.date(1990, 8, 15))

    # when: the job runs the day before, on the day, and again on the day
    on(clock, 2026, 8, 14)
    before = await jobs.birthday_bonuses(db, clock)
    on(clock, 2026, 8, 15)
    first = await jobs.birthday_bonuses(db, clock)
    second = await jobs.birthday_bonuses(db, clock)

    # then
    assert [(r.members, r.points) for r in (before, first, second)] == [(0, 0), (1, 200), (0, 0)]
    assert await history(db, ann.id) == [("BIRTHDAY", 200, "Birthday bonus: happy birthday!")]
    [event] = await events(db, "member.birthday")
    assert (event.member_id, event.data["points"], event.data["birthday"]) == (
        ann.id,
        200,
        "2026-08-15",
    )
    await assert_ledger_clean(db)


async def test_the_bonus_comes_again_next_year(db, settings, clock):
    # given
    ann = await born(db, settings, clock, "ann@example.com", dt.date(1990, 8, 15))
    on(clock, 2026, 8, 15)
    await jobs.birthday_bonuses(db, clock)

    # when
    on(clock, 2027, 8, 15)
    report = await jobs.birthday_bonuses(db, clock)

    # then
    assert (report.members, report.points) == (1, 200)
    assert (await account_of(db, ann.id)).available == 400


async def test_a_birth_date_entered_just_before_waits_a_year(db, settings, clock):
    # given: Bob joins on 1 June with a birthday on 20 June
    bob = await born(db, settings, clock, "bob@example.com", dt.date(1990, 6, 20))

    # when
    on(clock, 2026, 6, 20)
    this_year = await jobs.birthday_bonuses(db, clock)
    on(clock, 2027, 6, 20)
    next_year = await jobs.birthday_bonuses(db, clock)

    # then
    assert (this_year.members, next_year.members) == (0, 1)
    assert (await account_of(db, bob.id)).available == 200


async def test_a_birth_date_set_in_the_profile_counts_from_when_it_was_set(db, settings, clock):
    # given: Cat joined without a birth date; on 1 June she gives 25 June, on 2 June 30 July
    cat = await born(db, settings, clock, "cat@example.com", None)
    dan = await born(db, settings, clock, "dan@example.com", None)
    await members_service.update_profile(
        db, as_member(cat), clock, members_service.ProfileChanges(birth_date=dt.date(1985, 6, 25))
    )
    on(clock, 2026, 6, 2)
    await members_service.update_profile(
        db, as_member(dan), clock, members_service.ProfileChanges(birth_date=dt.date(1985, 7, 30))
    )

    # when
    on(clock, 2026, 6, 25)
    cat_report = await jobs.birthday_bonuses(db, clock)
    on(clock, 2026, 7, 30)
    dan_report = await jobs.birthday_bonuses(db, clock)

    # then: 24 days' notice waits; 58 days' is enough
    assert (cat_report.members, dan_report.members) == (0, 1)
    assert (await account_of(db, dan.id)).available == 200


async def test_changing_the_birth_date_does_not_give_a_second_bonus_that_year(db, settings, clock):
    # given: Eve had her bonus on 15 August, then moves her birthday to 30 September
    eve = await born(db, settings, clock, "eve@example.com", dt.date(1990, 8, 15))
    on(clock, 2026, 8, 15)
    await jobs.birthday_bonuses(db, clock)
    on(clock, 2026, 8, 16)
    await members_service.update_profile(
        db, as_member(eve), clock, members_service.ProfileChanges(birth_date=dt.date(1990, 9, 30))
    )

    # when
    on(clock, 2026, 9, 30)
    report = await jobs.birthday_bonuses(db, clock)

    # then
    assert report.members == 0
    assert (await account_of(db, eve.id)).available == 200


async def test_a_late_job_catches_up_within_a_week(db, settings, clock):
    # given: birthdays 3 and 10 days before the job runs
    recent = await born(db, settings, clock, "recent@example.com", dt.date(1990, 8, 12))
    missed = await born(db, settings, clock, "missed@example.com", dt.date(1990, 8, 5))

    # when
    on(clock, 2026, 8, 15)
    report = await jobs.birthday_bonuses(db, clock)

    # then
    assert report.members == 1
    assert (await account_of(db, recent.id)).available == 200
    assert (await account_of(db, missed.id)).available == 0


async def test_the_job_works_in_batches(db, settings, clock):
    # given: three birthdays today, one tomorrow, one member without a birth date
    today = [
        await born(db, settings, clock, f"m{n}@example.com", dt.date(1980 + n, 8, 15))
        for n in range(3)
    ]
    await born(db, settings, clock, "tomorrow@example.com", dt.date(1990, 8, 16))
    await born(db, settings, clock, "none@example.com", None)
    seen = []

    # when
    on(clock, 2026, 8, 15)
    report = await jobs.birthday_bonuses(
        db, clock, batch_size=1, progress=lambda r: seen.append(r.members)
    )

    # then
    assert (report.members, report.points) == (3, 600)
    assert seen == [1, 2, 3]
    for member in today:
        assert (await account_of(db, member.id)).available == 200
    await assert_ledger_clean(db)
