"""The outbox is kept small: events delivered (or wanted by no target) more than 30 days ago go,
with their deliveries; dead, pending and recent ones stay."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import select, update
from sqlmodel import col

from app import jobs
from app.outbox import service as outbox_service
from app.outbox.models import OutboxDelivery, OutboxEvent
from tests.service.outbox.fakes import record_events

DAY = dt.timedelta(days=1)


async def given_event(db, clock, *, days_ago: int, deliveries: list[str], fanned_out=True):
    """An event of `days_ago` days ago, with a delivery in each status given, finished then."""
    at = clock.now() - days_ago * DAY
    async with db.transaction() as session:
        [event_id] = await record_events_at(session, at)
        await session.execute(
            update(OutboxEvent).where(col(OutboxEvent.id) == event_id).values(fanned_out=fanned_out)
        )
        for n, status in enumerate(deliveries):
            session.add(
                OutboxDelivery(
                    event_id=event_id, channel="webhook", target_id=f"t-{n}", status=status,
                    next_attempt_at=at, created_at=at, updated_at=at,
                )
            )  # fmt: skip
    return event_id


async def record_events_at(session, at: dt.datetime) -> list[uuid.UUID]:
    return await outbox_service.record_all(
        session, [outbox_service.NewEvent("points.earned", None, {"n": 1})], at=at
    )


async def remaining(db) -> tuple[set[uuid.UUID], int]:
    async with db.read() as session:
        events = set((await session.scalars(select(col(OutboxEvent.id)))).all())
        deliveries = len((await session.scalars(select(col(OutboxDelivery.id)))).all())
    return events, deliveries


async def test_finished_events_older_than_30_days_go_the_rest_stay(db, clock):
    # given
    delivered = await given_event(db, clock, days_ago=31, deliveries=["DELIVERED", "GONE"])
    unwanted = await given_event(db, clock, days_ago=31, deliveries=[])
    dead = await given_event(db, clock, days_ago=31, deliveries=["DELIVERED", "DEAD"])
    pending = await given_event(db, clock, days_ago=31, deliveries=["PENDING"])
    recent = await given_event(db, clock, days_ago=29, deliveries=["DELIVERED"])
    not_fanned_out = await given_event(db, clock, days_ago=31, deliveries=[], fanned_out=False)

    # when
    first = await jobs.prune_outbox(db, clock)
    second = await jobs.prune_outbox(db, clock)

    # then: the dead event keeps its dead delivery (its delivered one goes)
    assert (first.name, first.members, first.summary()) == (
        "prune-outbox", 2, "2 outbox events, 0 points"
    )  # fmt: skip
    assert second.members == 0
    events, deliveries = await remaining(db)
    assert events == {dead, pending, recent, not_fanned_out}
    assert delivered not in events and unwanted not in events
    assert deliveries == 3  # DEAD, PENDING, the recent DELIVERED


async def test_prunes_in_batches_until_nothing_is_left(db, clock):
    # given: five events no target wanted, 40 days ago
    clock.advance(days=-40)
    await record_events(db, clock, 5)
    async with db.transaction() as session:
        await session.execute(update(OutboxEvent).values(fanned_out=True))
    clock.advance(days=40)
    seen = []

    # when
    report = await jobs.prune_outbox(
        db, clock, batch_size=2, progress=lambda r: seen.append(r.members)
    )

    # then
    assert report.members == 5
    assert seen == [2, 4]
    assert await remaining(db) == (set(), 0)
