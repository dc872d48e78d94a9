"""The outbox worker: fan-out, delivery at least once, backoff, dead letters, leases."""

from __future__ import annotations

import asyncio
import datetime as dt
import random
import uuid

import pytest

from app.auth.actors import StaffActor
from app.db import Database, make_engine
from app.errors import DomainError
from app.outbox import service as outbox_service
from app.outbox.channels import Outcome
from app.outbox.models import DeliveryStatus
from app.outbox.worker import OutboxWorker
from tests.conftest import make_settings
from tests.service.outbox.fakes import ScriptedChannel, deliveries, events, record_events
from tests.support import SYSTEM

SOMEONE = uuid.UUID("0190f0e2-7c1a-7b3e-8a4b-123456789abc")
WAIT = 60.0  # seconds: only a guard against a hung test, never an assertion


def worker(db, settings, clock, *channels, **kwargs):
    return OutboxWorker(
        db, settings, clock, channels=list(channels), rng=random.Random(7), **kwargs
    )


async def test_record_writes_in_the_callers_transaction_only(db, clock):
    # given: a transaction that records an event, then fails
    with pytest.raises(RuntimeError):
        async with db.transaction() as session:
            await outbox_service.record(
                session, type="points.earned", member_id=None, data={}, at=clock.now()
            )
            raise RuntimeError("the use case failed")

    # when
    kept = await record_events(db, clock, 1, type="member.birthday")

    # then
    assert [(e.id, e.type, e.data, e.fanned_out) for e in await events(db)] == [
        (kept[0], "member.birthday", {"n": 0}, False)
    ]


async def test_record_refuses_a_type_outside_the_catalogue(db, clock):
    async with db.transaction() as session:
        with pytest.raises(ValueError, match="unknown event type"):
            await outbox_service.record(
                session, type="points.stolen", member_id=None, data={}, at=clock.now()
            )


async def test_fan_out_writes_a_delivery_per_target_once(db, settings, clock):
    # given
    ids = await record_events(db, clock, 3)
    channel = ScriptedChannel(targets=["a", "b"])
    other = ScriptedChannel(name="other", targets=[])
    w = worker(db, settings, clock, channel, other)

    # when
    fanned = await w.fan_out()
    again = await w.fan_out()

    # then
    assert (fanned, again) == (3, 0)
    rows = await deliveries(db)
    assert sorted((r.event_id, r.channel, r.target_id) for r in rows) == sorted(
        (event_id, "fake", target) for event_id in ids for target in ("a", "b")
    )
    assert {(r.status, r.attempts, r.next_attempt_at) for r in rows} == {
        (DeliveryStatus.PENDING, 0, clock.now())
    }
    assert all(e.fanned_out for e in await events(db))


async def test_a_failed_attempt_is_retried_after_the_backoff(db, settings, clock):
    # given: the first attempt fails
    [event_id] = await record_events(db, clock)
    channel = ScriptedChannel(script=[Outcome.retry("HTTP 500")])
    w = worker(db, settings, clock, channel)

    # when: the first round fails; a round before the backoff does nothing
    await w.run_once()
    [failed] = await deliveries(db)
    await w.run_once()
    attempts_before_due = len(channel.attempts)
    clock.current = failed.next_attempt_at
    await w.run_once()

    # then
    assert failed.status == DeliveryStatus.PENDING
    assert (failed.attempts, failed.last_error, failed.lease_id) == (1, "HTTP 500", None)
    # full jitter: anywhere up to base * 2^0 after the attempt
    base = dt.timedelta(seconds=settings.outbox_backoff_base_seconds)
    assert failed.created_at <= failed.next_attempt_at <= failed.created_at + base
    assert attempts_before_due == 1
    [done] = await deliveries(db)
    assert (done.status, done.attempts, done.last_error) == (DeliveryStatus.DELIVERED, 2, None)
    assert done.delivered_at == clock.now()
    assert channel.attempts == [("t1", event_id), ("t1", event_id)]
    assert (w.stats.delivered, w.stats.retried) == (1, 1)


async def test_after_the_last_attempt_it_is_dead_and_retried_on_demand(database_url, clock):
    # given: three attempts at most, all failing
    settings = make_settings(database_url, outbox_max_attempts=3)
    db = Database(make_engine(settings))
    try:
        await record_events(db, clock)
        channel = ScriptedChannel(script=[Outcome.retry(f"HTTP 50{n}") for n in range(3)])
        w = worker(db, settings, clock, channel)
        for _ in range(3):
            await w.run_once()
            clock.advance(hours=2)

        # when
        [dead] = await deliveries(db)
        page = await _dead_letters(db)
        retried = await outbox_service.retry_dead_letters(db, SYSTEM, clock, ids=None)
        await w.run_once()

        # then
        assert (dead.status, dead.attempts, dead.last_error) == (DeliveryStatus.DEAD, 3, "HTTP 502")
        assert [item.delivery.id for item in page.items] == [dead.id]
        assert retried == 1
        [done] = await deliveries(db)
        assert (done.status, done.attempts) == (DeliveryStatus.DELIVERED, 1)
        assert len(channel.attempts) == 4
    finally:
        await db.dispose()


async def _dead_letters(db, actor=SYSTEM, first=10, after=None):
    async with db.read() as session:
        return await outbox_service.list_dead_letters(session, actor, first=first, after=after)


async def test_dead_letters_page_newest_first_and_retry_by_id(db, settings, clock):
    # given: three dead deliveries, failed one minute apart
    await record_events(db, clock, 3)
    channel = ScriptedChannel(script=[Outcome.dead("410 refused")] * 3)
    w = worker(db, settings, clock, channel)
    await w.fan_out()
    for _ in range(3):
        claimed = await w.claim(1)
        await w.settle([(claimed[0], await w.attempt(claimed[0]))])
        clock.advance(minutes=1)

    # when
    first = await _dead_letters(db, first=2)
    second = await _dead_letters(db, first=2, after=first.end_cursor)
    newest = first.items[0].delivery.id
    retried = await outbox_service.retry_dead_letters(db, SYSTEM, clock, ids=[str(newest)])
    again = await outbox_service.retry_dead_letters(db, SYSTEM, clock, ids=[str(newest)])
    left = await _dead_letters(db)

    # then
    assert (len(first.items), first.has_next, len(second.items), second.has_next) == (
        2,
        True,
        1,
        False,
    )
    stamps = [i.delivery.updated_at for i in [*first.items, *second.items]]
    assert stamps == sorted(stamps, reverse=True)
    assert (retried, again) == (1, 0)
    assert newest not in {i.delivery.id for i in left.items}
    assert len(left.items) == 2


async def test_only_admins_see_and_retry_dead_letters(db, settings, clock):
    cashier = StaffActor(SOMEONE, "CASHIER", frozenset())
    with pytest.raises(DomainError) as listing:
        await _dead_letters(db, actor=cashier)
    with pytest.raises(DomainError) as retrying:
        await outbox_service.retry_dead_letters(db, cashier, clock, ids=None)
    with pytest.raises(DomainError) as bad_id:
        await outbox_service.retry_dead_letters(db, SYSTEM, clock, ids=["not-an-id"])
    assert (listing.value.code, retrying.value.code) == ("FORBIDDEN", "FORBIDDEN")
    assert (bad_id.value.code, bad_id.value.field) == ("INVALID_INPUT", "ids")


async def test_a_gone_target_is_removed_and_not_tried_again(db, settings, clock):
    # given: the provider says the token is dead; the second target no longer exists
    await record_events(db, clock)
    channel = ScriptedChannel(targets=["dead-token", "deleted"], script=[Outcome.gone("410")])
    channel.missing.add("deleted")
    w = worker(db, settings, clock, channel)

    # when
    await w.run_once()
    clock.advance(days=1)
    await w.run_once()

    # then
    rows = {r.target_id: r for r in await deliveries(db)}
    assert (rows["dead-token"].status, rows["dead-token"].last_error) == (
        DeliveryStatus.GONE,
        "410",
    )
    assert rows["deleted"].status == DeliveryStatus.GONE
    assert channel.removed == ["dead-token"]
    assert [target for target, _ in channel.attempts] == ["dead-token"]


async def test_a_channel_that_raises_costs_a_retry(db, settings, clock):
    # given
    await record_events(db, clock)
    channel = ScriptedChannel(script=["raise"])
    w = worker(db, settings, clock, channel)

    # when
    await w.run_once()

    # then
    [row] = await deliveries(db)
    assert (row.status, row.attempts) == (DeliveryStatus.PENDING, 1)
    assert row.last_error == "RuntimeError: the channel broke"


async def test_a_claim_whose_lease_ran_out_writes_nothing(db, settings, clock):
    # given: worker A claims, then stalls past its lease; worker B claims and delivers
    await record_events(db, clock)
    a = worker(db, settings, clock, ScriptedChannel(script=[Outcome.retry("late")]))
    b = worker(db, settings, clock, ScriptedChannel())
    await a.fan_out()
    [stale] = await a.claim(10)
    clock.advance(seconds=settings.outbox_lease_seconds + 1)
    [fresh] = await b.claim(10)
    await b.settle([(fresh, await b.attempt(fresh))])

    # when: A's outcome arrives
    await a.settle([(stale, await a.attempt(stale))])

    # then
    [row] = await deliveries(db)
    assert (row.status, row.attempts) == (DeliveryStatus.DELIVERED, 2)
    assert stale.delivery_id == fresh.delivery_id
    assert stale.lease_id != fresh.lease_id


async def test_a_worker_lost_on_the_last_attempt_leaves_a_dead_letter(database_url, clock):
    # given: one attempt allowed; its worker vanished after claiming
    settings = make_settings(database_url, outbox_max_attempts=1)
    db = Database(make_engine(settings))
    try:
        await record_events(db, clock)
        lost = worker(db, settings, clock, ScriptedChannel())
        await lost.fan_out()
        await lost.claim(10)
        clock.advance(seconds=settings.outbox_lease_seconds + 1)

        # when
        claimed = await worker(db, settings, clock, ScriptedChannel()).claim(10)

        # then
        [row] = await deliveries(db)
        assert claimed == []
        assert (row.status, row.attempts) == (DeliveryStatus.DEAD, 1)
        assert row.last_error == "the worker was lost during the last attempt"
    finally:
        await db.dispose()


async def test_nothing_due_before_the_lease_ends(db, settings, clock):
    # given
    await record_events(db, clock)
    first = worker(db, settings, clock, ScriptedChannel())
    await first.fan_out()
    claimed = await first.claim(10)

    # when
    clock.advance(seconds=settings.outbox_lease_seconds - 1)
    second = await worker(db, settings, clock, ScriptedChannel()).claim(10)

    # then
    assert (len(claimed), second) == (1, [])


async def test_status_counts(db, settings, clock):
    # given
    await record_events(db, clock, 3)
    w = worker(db, settings, clock, ScriptedChannel(script=[Outcome.dead("no")]))
    await w.fan_out()
    await record_events(db, clock, 1)
    claimed = await w.claim(1)
    await w.settle([(claimed[0], await w.attempt(claimed[0]))])

    # when
    async with db.read() as session:
        status = await outbox_service.outbox_status(session, now=clock.now())

    # then
    assert status.events_waiting == 1
    assert status.deliveries == {"PENDING": 2, "DEAD": 1}
    assert (status.due_now, status.oldest_due_at) == (2, clock.now())


async def test_fan_out_asks_each_channel_once_per_batch(database_url, clock):
    # given: five events, batches of two
    settings = make_settings(database_url, outbox_batch_size=2)
    db = Database(make_engine(settings))
    try:
        # one moment: the fan-out's order is the ids' (UUIDv7 within one millisecond: random)
        ids = sorted(await record_events(db, clock, 5))
        channel = ScriptedChannel(targets=["a"])
        other = ScriptedChannel(name="other", targets=["b", "c"])
        w = worker(db, settings, clock, channel, other)

        # when
        fanned = [await w.fan_out() for _ in range(4)]

        # then
        assert fanned == [2, 2, 1, 0]
        assert channel.fan_outs == other.fan_outs == [ids[0:2], ids[2:4], ids[4:5]]
        rows = await deliveries(db)
        assert sorted((r.event_id, r.channel, r.target_id) for r in rows) == sorted(
            [(i, "fake", "a") for i in ids] + [(i, "other", t) for i in ids for t in ("b", "c")]
        )
    finally:
        await db.dispose()


async def test_one_settle_writes_every_kind_of_outcome(db, settings, clock):
    # given: four deliveries claimed together, answered four different ways
    await record_events(db, clock, 4)
    channel = ScriptedChannel(
        script=[Outcome.delivered(), Outcome.retry("HTTP 503"), Outcome.dead("refused")]
    )
    w = worker(db, settings, clock, channel)
    await w.fan_out()
    claimed = await w.claim(10)

    # when
    await w.settle([(c, await w.attempt(c)) for c in claimed])

    # then
    rows = await deliveries(db)
    assert sorted((r.status, r.attempts, r.last_error, r.lease_id) for r in rows) == [
        (DeliveryStatus.DEAD, 1, "refused", None),
        (DeliveryStatus.DELIVERED, 1, None, None),
        (DeliveryStatus.DELIVERED, 1, None, None),
        (DeliveryStatus.PENDING, 1, "HTTP 503", None),
    ]
    [retry] = [r for r in rows if r.status == DeliveryStatus.PENDING]
    assert clock.now() <= retry.next_attempt_at
    assert (w.stats.delivered, w.stats.retried, w.stats.dead) == (2, 1, 1)


class GatedChannel(ScriptedChannel):
    """Every attempt waits for `gate`; counts the attempts in flight."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = asyncio.Event()
        self.active = 0
        self.peak = 0

    async def deliver(self, target, event, settings, http):
        self.active += 1
        self.peak = max(self.peak, self.active)
        try:
            await self.gate.wait()
            return await super().deliver(target, event, settings, http)
        finally:
            self.active -= 1


async def _until(condition, what: str) -> None:
    for _ in range(int(WAIT / 0.01)):  # a guard against a hung test, not an assertion
        if await condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"never: {what}")


async def test_run_keeps_at_most_the_concurrency_in_flight(database_url, clock):
    # given: five deliveries due, two attempts at a time, each held until the test lets go
    settings = make_settings(database_url, outbox_concurrency=2, outbox_poll_seconds=0.05)
    db = Database(make_engine(settings))
    try:
        await record_events(db, clock, 5)
        channel = GatedChannel()
        w = worker(db, settings, clock, channel)
        stop = asyncio.Event()
        running = asyncio.create_task(w.run(stop))

        async def two_in_flight() -> bool:
            return channel.active == 2

        async def all_delivered() -> bool:
            rows = await deliveries(db)
            return len(rows) == 5 and all(r.status == DeliveryStatus.DELIVERED for r in rows)

        # when: two are in flight
        await _until(two_in_flight, "two attempts in flight")
        leased = [r for r in await deliveries(db) if r.lease_id is not None]
        channel.gate.set()
        await _until(all_delivered, "every delivery made")
        stop.set()
        await running

        # then: only what could be attempted was claimed; never more than two at once
        assert len(leased) == 2
        assert channel.peak == 2
        assert sorted(r.attempts for r in await deliveries(db)) == [1] * 5
    finally:
        await db.dispose()


class ClosingChannel(ScriptedChannel):
    def __init__(self, name: str, *, fails: bool = False) -> None:
        super().__init__(name=name)
        self.closed = 0
        self.fails = fails

    async def aclose(self) -> None:
        self.closed += 1
        if self.fails:
            raise RuntimeError("the connection was already broken")


async def test_a_stopped_worker_closes_its_channels(db, settings, clock):
    # given: two channels with connections, one of which fails to close; one without
    broken = ClosingChannel("broken", fails=True)
    apns_like = ClosingChannel("apns-like")
    w = worker(db, settings, clock, broken, apns_like, ScriptedChannel(name="plain"))
    stop = asyncio.Event()
    stop.set()

    # when
    await w.run(stop)

    # then
    assert (broken.closed, apns_like.closed) == (1, 1)


async def test_delivery_slots_share_a_client_five_at_a_time_until_the_worker_stops(
    database_url, clock
):
    # given
    settings = make_settings(database_url, outbox_concurrency=12)
    db = Database(make_engine(settings))
    try:
        w = worker(db, settings, clock, ScriptedChannel())

        # when
        clients = [w.client_for(slot) for slot in range(12)]
        await w.aclose()

        # then
        assert [len({id(c) for c in clients[n : n + 5]}) for n in (0, 5, 10)] == [1, 1, 1]
        assert len({id(c) for c in clients}) == 3
        assert all(c.is_closed for c in clients)
        assert w.http is not clients[0]  # a new one, were the worker used again
        await w.aclose()
    finally:
        await db.dispose()
