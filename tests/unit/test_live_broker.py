"""The in-process fan-out of live updates, and the wire format of a balance update."""

from __future__ import annotations

import uuid

from sqlalchemy.engine import make_url

from app.live import service as live_service
from app.live.broker import Hub, Subscription
from app.live.service import BalanceUpdate, Reason

ANN = uuid.UUID("0190f0e2-7c1a-7b3e-8a4b-000000000001")
BOB = uuid.UUID("0190f0e2-7c1a-7b3e-8a4b-000000000002")


def update(available: int, member: uuid.UUID = ANN, reason: Reason = Reason.PURCHASE):
    return BalanceUpdate(
        member_id=member, available=available, pending=0, tier_code="BRONZE", reason=reason
    )


def drain(subscription: Subscription[BalanceUpdate]) -> list[int]:
    items = []
    while len(subscription):
        items.append(subscription._queue.get_nowait().available)
    return items


async def test_publish_reaches_every_subscriber_of_the_member_and_no_other():
    # given
    hub: Hub[BalanceUpdate] = Hub()
    with hub.subscribe(ANN) as phone, hub.subscribe(ANN) as tablet, hub.subscribe(BOB) as bob:
        # when
        reached = hub.publish(ANN, update(100))

        # then
        assert reached == 2
        assert (await phone.get(), await tablet.get()) == (update(100), update(100))
        assert len(bob) == 0


async def test_updates_arrive_in_the_order_published():
    # given
    hub: Hub[BalanceUpdate] = Hub()
    with hub.subscribe(ANN) as updates:
        # when
        for available in (10, 20, 30):
            hub.publish(ANN, update(available))

        # then
        assert [(await updates.get()).available for _ in range(3)] == [10, 20, 30]


async def test_a_slow_subscriber_loses_the_oldest_updates_not_the_newest():
    # given
    hub: Hub[BalanceUpdate] = Hub(queue_size=4)
    with hub.subscribe(ANN) as slow, hub.subscribe(ANN) as quick:
        hub.publish(ANN, update(0))
        assert (await quick.get()).available == 0

        # when
        for available in range(1, 8):
            hub.publish(ANN, update(available))

        # then
        assert drain(slow) == [4, 5, 6, 7]
        assert drain(quick) == [4, 5, 6, 7]
        assert (slow.dropped, quick.dropped, hub.dropped) == (4, 3, 7)


async def test_leaving_the_block_unsubscribes():
    # given
    hub: Hub[BalanceUpdate] = Hub()
    with hub.subscribe(ANN), hub.subscribe(BOB):
        assert (hub.subscriber_count(), hub.subscriber_count(ANN)) == (2, 1)

    # when
    reached = hub.publish(ANN, update(100))

    # then
    assert reached == 0
    assert hub.subscriber_count() == 0
    assert hub._subscribers == {}


async def test_a_subscription_is_iterable():
    # given
    hub: Hub[BalanceUpdate] = Hub()
    with hub.subscribe(ANN) as updates:
        hub.publish(ANN, update(1))
        hub.publish(ANN, update(2))

        # when
        seen = []
        async for item in updates:
            seen.append(item.available)
            if len(seen) == 2:
                break

    # then
    assert seen == [1, 2]


def test_an_update_survives_its_json():
    # given
    sent = BalanceUpdate(
        member_id=ANN, available=-20, pending=150, tier_code="SILVER", reason=Reason.REFUND
    )

    # when
    payload = sent.to_json()

    # then
    assert BalanceUpdate.from_json(payload) == sent
    assert payload == (
        '{"member":"0190f0e2-7c1a-7b3e-8a4b-000000000001","available":-20,"pending":150,'
        '"tier":"SILVER","reason":"REFUND"}'
    )
    assert len(payload.encode()) < 8000  # NOTIFY's payload limit


def test_reasons_are_stable():
    assert [reason.value for reason in Reason] == [
        "PURCHASE",
        "REFUND",
        "REDEMPTION",
        "ADJUSTMENT",
        "EXPIRY",
        "RELEASE",
        "TIER",
        "BONUS",
    ]


def test_the_listener_connects_where_the_engine_does():
    # given
    url = make_url("postgresql+asyncpg://loyalty:s3cret@db.internal:6432/loyalty?ssl=require")

    # when
    kwargs = live_service.connect_kwargs(url)

    # then
    assert kwargs == {
        "host": "db.internal",
        "port": 6432,
        "user": "loyalty",
        "password": "s3cret",
        "database": "loyalty",
        "ssl": "require",
        "server_settings": {"application_name": "loyalty live listener"},
    }
