"""The `offer.available` job (app.jobs.announce_offers): each member hears once of each offer, when
it opens for them (created, started, early for their tier, or they enter its audience); batched
by member id, restartable, idempotent, and two runs at once tell nobody twice."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlmodel import col

from app import jobs
from app.members.models import Member
from app.offers import notices
from app.offers.models import OfferNotice
from app.offers.rules import in_rollout
from app.outbox.models import OutboxEvent
from app.program import service as program_service
from app.program.rules import Tier
from tests.conftest import START
from tests.service.checkout.tills import buy, new_member, open_till
from tests.service.helpers import count_rows
from tests.service.offers.helpers import make_offer
from tests.support import SYSTEM, create_member

DAY = dt.timedelta(days=1)
MINUTE = dt.timedelta(minutes=1)


async def announced(db) -> list[tuple[uuid.UUID, str, str]]:
    """(member id, offer title, reason) of every `offer.available` event, in the order written."""
    async with db.read() as session:
        rows = await session.scalars(
            select(OutboxEvent)
            .where(col(OutboxEvent.type) == "offer.available")
            .order_by(col(OutboxEvent.occurred_at), col(OutboxEvent.member_id))
        )
        return [(e.member_id, e.data["title"], e.data["reason"]) for e in rows.all()]


async def member(db, settings, clock, email: str, **fields: Any) -> Any:
    _, row = await create_member(db, settings, clock, email=email, **fields)
    return row


async def test_tells_every_member_of_a_new_offer_once(db, settings, clock):
    # given
    ann = await member(db, settings, clock, "ann@example.com")
    bob = await member(db, settings, clock, "bob@example.com")
    offer = await make_offer(
        db, clock, "Coffee week", description="Double points on coffee", categories=["coffee"],
        requires_activation=True, ends_at=START + 7 * DAY,
    )  # fmt: skip

    # when
    first = await jobs.announce_offers(db, clock)
    clock.advance(days=1)
    second = await jobs.announce_offers(db, clock)

    # then
    assert (first.name, first.members, first.points) == ("announce-offers", 2, 0)
    assert (second.members, second.points) == (0, 0)
    assert sorted(await announced(db)) == sorted(
        [(ann.id, "Coffee week", "On coffee"), (bob.id, "Coffee week", "On coffee")]
    )
    async with db.read() as session:
        event = await session.scalar(
            select(OutboxEvent).where(
                col(OutboxEvent.member_id) == ann.id, col(OutboxEvent.type) == "offer.available"
            )
        )
    assert event is not None
    assert (event.type, event.occurred_at, event.data) == (
        "offer.available",
        START,
        {
            "offerId": str(offer.id),
            "title": "Coffee week",
            "description": "Double points on coffee",
            "reason": "On coffee",
            "validUntil": (START + 7 * DAY).isoformat(),
            "requiresActivation": True,
        },
    )
    assert await count_rows(db, OfferNotice) == 2


async def test_an_offer_is_told_when_it_opens_early_for_a_tier_then_for_everyone(
    db, settings, clock
):
    # given: GOLD sees offers 3 days early; Bob is GOLD, Ann BRONZE; the sale starts in 5 days
    gold = Tier("GOLD", "Gold", 5000, 150, ("Gold-only offers",), early_access_days=3)
    await program_service.set_tier(db, SYSTEM, clock, gold)
    at = await open_till(db, settings, clock)
    ann = await new_member(db, settings, clock, "ann@example.com")
    bob = await new_member(db, settings, clock, "bob@example.com")
    await buy(db, clock, at, bob, "R-1", 500000)
    await make_offer(db, clock, "Summer sale", starts_at=START + 5 * DAY)

    # when
    now = await jobs.announce_offers(db, clock)
    clock.advance(days=2)
    early = await jobs.announce_offers(db, clock)
    clock.advance(days=3)
    opened = await jobs.announce_offers(db, clock)

    # then
    assert (now.members, early.members, opened.members) == (0, 1, 1)
    assert await announced(db) == [
        (bob.id, "Summer sale", "Early access for Gold members"),
        (ann.id, "Summer sale", "For every member"),
    ]


async def test_a_member_is_told_when_their_birthday_month_comes(db, settings, clock):
    # given: Ann's birthday is in July; it is June
    ann = await member(db, settings, clock, "ann@example.com", birth_date=dt.date(1990, 7, 15))
    await member(db, settings, clock, "bob@example.com", birth_date=dt.date(1990, 9, 1))
    await make_offer(db, clock, "Birthday treat", audience="BIRTHDAY")

    # when
    june = await jobs.announce_offers(db, clock)
    clock.advance(days=30)  # July 1st
    july = await jobs.announce_offers(db, clock)

    # then
    assert (june.members, july.members) == (0, 1)
    assert await announced(db) == [
        (ann.id, "Birthday treat", "Happy birthday month! A treat for you")
    ]


async def test_a_member_is_told_of_a_win_back_offer_after_60_days_without_a_purchase(
    db, settings, clock
):
    # given: both joined now; Bob buys on day 30
    at = await open_till(db, settings, clock)
    ann = await new_member(db, settings, clock, "ann@example.com")
    bob = await new_member(db, settings, clock, "bob@example.com")
    await make_offer(db, clock, "Come back", audience="WIN_BACK")
    clock.advance(days=30)
    await buy(db, clock, at, bob, "R-1", 1000)

    # when
    clock.advance(days=29)
    day59 = await jobs.announce_offers(db, clock)
    clock.advance(days=1)
    day60 = await jobs.announce_offers(db, clock)
    clock.advance(days=30)
    day90 = await jobs.announce_offers(db, clock)

    # then: Ann at 60 days as a member without a purchase; Bob 60 days after his
    assert (day59.members, day60.members, day90.members) == (0, 1, 1)
    reason = "We miss you: it has been a while since your last visit"
    assert await announced(db) == [(ann.id, "Come back", reason), (bob.id, "Come back", reason)]


async def test_a_new_member_is_told_of_the_offers_open_to_them(db, settings, clock):
    # given: a welcome offer and an offer for everyone, told to Ann already
    ann = await member(db, settings, clock, "ann@example.com")
    await make_offer(db, clock, "Welcome", audience="NEW_MEMBERS")
    await make_offer(db, clock, "For all")
    await jobs.announce_offers(db, clock)
    clock.advance(days=40)  # Ann is no new member any more
    bob = await member(db, settings, clock, "bob@example.com")

    # when
    report = await jobs.announce_offers(db, clock)

    # then
    told = await announced(db)
    assert report.members == 2
    assert sorted(told[:2]) == sorted(
        [(ann.id, "Welcome", "Welcome! For new members"), (ann.id, "For all", "For every member")]
    )
    assert sorted(told[2:]) == sorted(
        [(bob.id, "Welcome", "Welcome! For new members"), (bob.id, "For all", "For every member")]
    )


async def test_members_the_rules_leave_out_are_not_told(db, settings, clock):
    # given: Ann used up the one-use offer; Bob is not GOLD; Carl is no longer a member
    at = await open_till(db, settings, clock)
    ann = await new_member(db, settings, clock, "ann@example.com")
    bob = await new_member(db, settings, clock, "bob@example.com")
    carl = await new_member(db, settings, clock, "carl@example.com")
    async with db.transaction() as session:
        await session.execute(update(Member).where(col(Member.id) == carl.id).values(active=False))
    await make_offer(db, clock, "Once", uses_per_member=1)
    await buy(db, clock, at, ann, "R-1", 1000)
    await make_offer(db, clock, "Gold only", tier_codes=["GOLD"])
    await make_offer(db, clock, "Ended", ends_at=START + DAY)
    pilot = await make_offer(db, clock, "Pilot", rollout_percent=50)
    clock.advance(days=1)

    # when
    report = await jobs.announce_offers(db, clock)

    # then
    expected = [(bob.id, "Once", "For every member")] + [
        (who.id, "Pilot", "For every member")
        for who in (ann, bob)
        if in_rollout(pilot.id, who.id, 50)
    ]
    assert report.members == len(expected)
    assert sorted(await announced(db)) == sorted(expected)


async def test_runs_in_batches_of_members_and_reports_each(db, settings, clock):
    # given
    people = [await member(db, settings, clock, f"m{i}@example.com") for i in range(5)]
    await make_offer(db, clock, "For all")
    seen: list[int] = []

    # when
    report = await jobs.announce_offers(
        db, clock, batch_size=2, progress=lambda r: seen.append(r.members)
    )

    # then
    assert (report.members, seen) == (5, [2, 4, 5])
    assert sorted(m for m, _, _ in await announced(db)) == sorted(p.id for p in people)


class Stop(Exception):
    pass


def stop_after_the_first_batch(report: jobs.JobReport) -> None:
    raise Stop


async def test_a_stopped_walk_goes_on_where_it_stopped(db, settings, clock):
    # given: a run told the first two members and was stopped
    people = [await member(db, settings, clock, f"m{i}@example.com") for i in range(5)]
    await make_offer(db, clock, "For all")
    with pytest.raises(Stop):
        await jobs.announce_offers(db, clock, batch_size=2, progress=stop_after_the_first_batch)
    clock.advance(minutes=1)

    # when: the walk is not due again, but it has not reached the end
    report = await jobs.announce_offers(db, clock, batch_size=2)
    again = await jobs.announce_offers(db, clock, batch_size=2)

    # then
    assert (report.members, again.members) == (3, 0)
    told = await announced(db)
    assert sorted(m for m, _, _ in told) == sorted(p.id for p in people)
    assert {m for m, _, _ in told[:2]} == set(sorted(p.id for p in people)[:2])


async def test_a_new_walk_starts_when_an_offer_opens_and_otherwise_hourly(db, settings, clock):
    # given: Ann was told of the offer open at START
    ann = await member(db, settings, clock, "ann@example.com")
    await make_offer(db, clock, "First")
    await jobs.announce_offers(db, clock)
    clock.advance(minutes=10)
    bob = await member(db, settings, clock, "bob@example.com")

    # when: ten minutes on, nothing opened; then a new offer; then an hour after that walk
    quiet = await jobs.announce_offers(db, clock)
    await make_offer(db, clock, "Second")
    clock.advance(minutes=1)
    opened = await jobs.announce_offers(db, clock)
    carl = await member(db, settings, clock, "carl@example.com")
    clock.advance(minutes=59)
    within_the_hour = await jobs.announce_offers(db, clock)
    clock.advance(minutes=1)
    hourly = await jobs.announce_offers(db, clock)

    # then: Bob hears of both with the new offer's walk; Carl at the hourly one
    assert (quiet.members, opened.members, within_the_hour.members, hourly.members) == (
        0,
        3,
        0,
        2,
    )
    told = await announced(db)
    assert told[0] == (ann.id, "First", "For every member")
    assert sorted((m, t) for m, t, _ in told[1:4]) == sorted(
        [(ann.id, "Second"), (bob.id, "First"), (bob.id, "Second")]
    )
    assert sorted((m, t) for m, t, _ in told[4:]) == [(carl.id, "First"), (carl.id, "Second")]


async def test_an_offer_opening_early_for_a_tier_starts_a_walk(db, settings, clock):
    # given: GOLD sees offers 2 days early, Bob is GOLD; "Later" opens for him in 30 minutes
    gold = Tier("GOLD", "Gold", 5000, 150, (), early_access_days=2)
    await program_service.set_tier(db, SYSTEM, clock, gold)
    at = await open_till(db, settings, clock)
    bob = await new_member(db, settings, clock, "bob@example.com")
    await buy(db, clock, at, bob, "R-1", 500000)
    await make_offer(db, clock, "Later", starts_at=START + 2 * DAY + 30 * MINUTE)
    await make_offer(db, clock, "Now")
    await jobs.announce_offers(db, clock)
    clock.advance(minutes=31)

    # when
    report = await jobs.announce_offers(db, clock)

    # then
    assert report.members == 1
    assert (await announced(db))[-1] == (bob.id, "Later", "Early access for Gold members")


async def test_two_runs_at_once_tell_each_member_once(db, settings, clock):
    # given
    people = [await member(db, settings, clock, f"m{i}@example.com") for i in range(6)]
    await make_offer(db, clock, "One")
    await make_offer(db, clock, "Two")

    # when
    reports = await asyncio.gather(
        jobs.announce_offers(db, clock, batch_size=2), jobs.announce_offers(db, clock, batch_size=3)
    )

    # then
    told = await announced(db)
    assert sum(r.members for r in reports) == 12
    assert sorted((m, title) for m, title, _ in told) == sorted(
        (p.id, title) for p in people for title in ("One", "Two")
    )
    assert await count_rows(db, OfferNotice) == 12


async def test_without_open_offers_nothing_is_written(db, settings, clock):
    # given: one offer not open yet, one over
    await member(db, settings, clock, "ann@example.com")
    await make_offer(db, clock, "Later", starts_at=START + 10 * DAY)
    await make_offer(db, clock, "Over", ends_at=START + DAY)
    clock.advance(days=2)

    # when
    report = await jobs.announce_offers(db, clock)

    # then
    assert (report.members, await announced(db), await count_rows(db, OfferNotice)) == (0, [], 0)


async def test_a_notice_another_run_wrote_first_is_not_announced_again(
    db, settings, clock, monkeypatch
):
    # given: Ann was told; the next walk reads the notices before that run committed
    ann = await member(db, settings, clock, "ann@example.com")
    bob = await member(db, settings, clock, "bob@example.com")
    offer = await make_offer(db, clock, "For all")
    async with db.transaction() as session:
        session.add(OfferNotice(offer_id=offer.id, member_id=ann.id, created_at=clock.now()))

    async def nothing_told(*args, **kwargs):
        return set()

    monkeypatch.setattr(notices, "_told", nothing_told)

    # when
    report = await jobs.announce_offers(db, clock)

    # then: the insert skipped Ann's notice, so only Bob's event was written
    assert report.members == 1
    assert [m for m, _, _ in await announced(db)] == [bob.id]
    assert await count_rows(db, OfferNotice) == 2
