"""Webhook deliveries to a real HTTP receiver on 127.0.0.1: the body, Standard Webhooks
signatures (checked the receiver's way), retries, rotation overlap, timeouts, private addresses."""

from __future__ import annotations

import random

from app.db import Database, make_engine
from app.outbox.models import DeliveryStatus
from app.outbox.worker import OutboxWorker
from app.webhooks import service as webhooks_service
from app.webhooks.channel import WebhookChannel
from tests.conftest import make_settings
from tests.fakes.webhook_receiver import WebhookReceiver, verify
from tests.service.outbox.fakes import deliveries, record_events
from tests.support import SYSTEM


async def endpoint_for(db, settings, clock, receiver, types=("*",)):
    return await webhooks_service.create_endpoint(
        db, SYSTEM, clock, settings,
        webhooks_service.NewEndpoint(url=receiver.url, event_types=list(types)),
    )  # fmt: skip


def worker(db, settings, clock):
    return OutboxWorker(db, settings, clock, channels=[WebhookChannel(clock)], rng=random.Random(3))


async def test_the_body_and_headers_follow_standard_webhooks(db, settings, clock):
    async with WebhookReceiver() as receiver:
        # given
        endpoint = await endpoint_for(db, settings, clock, receiver)
        [event_id] = await record_events(db, clock)

        # when
        await worker(db, settings, clock).run_once()

        # then
        [received] = receiver.requests
        assert (received.method, received.path) == ("POST", "/hooks/loyalty")
        assert received.headers["content-type"] == "application/json"
        assert received.webhook_id == str(event_id)
        assert received.headers["webhook-timestamp"] == str(int(clock.now().timestamp()))
        assert received.headers["webhook-signature"].startswith("v1,")
        assert verify(received, endpoint.secret)
        assert received.json() == {
            "id": str(event_id),
            "type": "points.earned",
            "timestamp": "2026-06-01T12:00:00Z",
            "memberId": None,
            "data": {"n": 0},
        }
        [row] = await deliveries(db)
        assert (row.status, row.attempts, row.channel) == (DeliveryStatus.DELIVERED, 1, "webhook")


async def test_the_filter_decides_which_events_go(db, settings, clock):
    async with WebhookReceiver() as receiver:
        # given
        await endpoint_for(db, settings, clock, receiver, types=["tier.changed"])
        await record_events(db, clock, type="points.earned")
        [wanted] = await record_events(db, clock, type="tier.changed")

        # when
        await worker(db, settings, clock).run_once()

        # then
        assert [r.webhook_id for r in receiver.requests] == [str(wanted)]


async def test_fails_first_then_accepted_with_the_same_id(db, settings, clock):
    async with WebhookReceiver(["fail", "garbage"]) as receiver:
        # given
        endpoint = await endpoint_for(db, settings, clock, receiver)
        [event_id] = await record_events(db, clock)
        w = worker(db, settings, clock)

        # when: a 500, then bytes that are not HTTP, then a 204
        await w.run_once()
        [after_500] = await deliveries(db)
        clock.current = after_500.next_attempt_at
        await w.run_once()
        [after_garbage] = await deliveries(db)
        clock.current = after_garbage.next_attempt_at
        await w.run_once()

        # then
        assert after_500.last_error == "HTTP 500"
        assert after_garbage.last_error.startswith("RemoteProtocolError")
        assert [r.answer for r in receiver.requests] == ["fail", "garbage", "ok"]
        assert {r.webhook_id for r in receiver.requests} == {str(event_id)}
        assert all(verify(r, endpoint.secret) for r in receiver.requests)
        [row] = await deliveries(db)
        assert (row.status, row.attempts) == (DeliveryStatus.DELIVERED, 3)


async def test_a_receiver_that_hangs_costs_a_retry(database_url, clock):
    # given: a receiver that never answers, and a short timeout
    settings = make_settings(database_url, webhook_timeout_seconds=0.2)
    db = Database(make_engine(settings))
    try:
        async with WebhookReceiver(["hold"]) as receiver:
            await endpoint_for(db, settings, clock, receiver)
            await record_events(db, clock)

            # when
            await worker(db, settings, clock).run_once()

            # then
            [row] = await deliveries(db)
            assert (row.status, row.attempts) == (DeliveryStatus.PENDING, 1)
            assert row.last_error == "no answer within 0.2 s"
    finally:
        await db.dispose()


async def test_during_the_overlap_both_secrets_sign(db, settings, clock):
    async with WebhookReceiver() as receiver:
        # given
        old = await endpoint_for(db, settings, clock, receiver)
        new = await webhooks_service.rotate_secret(
            db, SYSTEM, clock, endpoint_id=str(old.id), overlap_hours=1
        )
        await record_events(db, clock)
        w = worker(db, settings, clock)

        # when: one event during the overlap, one after
        await w.run_once()
        clock.advance(hours=1, seconds=1)
        await record_events(db, clock)
        await w.run_once()

        # then
        during, after = receiver.requests
        assert len(during.headers["webhook-signature"].split(" ")) == 2
        assert verify(during, old.secret) and verify(during, new.secret)
        assert len(after.headers["webhook-signature"].split(" ")) == 1
        assert verify(after, new.secret) and not verify(after, old.secret)


async def test_production_refuses_a_private_address_at_delivery_time(database_url, clock):
    # given: an endpoint accepted earlier (the name resolved elsewhere then, say)
    dev = make_settings(database_url)
    prod = make_settings(database_url, env="production")
    db = Database(make_engine(dev))
    try:
        async with WebhookReceiver() as receiver:
            await endpoint_for(db, dev, clock, receiver)
            await record_events(db, clock)

            # when
            await worker(db, prod, clock).run_once()

            # then
            [row] = await deliveries(db)
            assert receiver.requests == []
            assert (row.status, row.attempts) == (DeliveryStatus.PENDING, 1)
            assert row.last_error == "127.0.0.1 is a private address (127.0.0.1)"
    finally:
        await db.dispose()


async def test_a_deleted_endpoint_gets_nothing_more(db, settings, clock):
    async with WebhookReceiver(["fail"]) as receiver:
        # given: a delivery waiting for its retry
        endpoint = await endpoint_for(db, settings, clock, receiver)
        await record_events(db, clock)
        w = worker(db, settings, clock)
        await w.run_once()

        # when
        await webhooks_service.delete_endpoint(db, SYSTEM, clock, endpoint_id=str(endpoint.id))
        clock.advance(hours=1)
        await record_events(db, clock)
        await w.run_once()

        # then
        [row] = await deliveries(db)
        assert (row.status, row.last_error) == (DeliveryStatus.GONE, "the target no longer exists")
        assert len(receiver.requests) == 1
