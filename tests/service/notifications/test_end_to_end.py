"""A purchase at the till reaches the member's phones: the member app registers its phones
(RegisterPushDevice), the cashier app completes a purchase (CompletePurchase), the outbox worker
delivers to the fake APNs (HTTP/2, TLS) and the fake FCM, in the phones' languages; the phone whose
app was removed is forgotten."""

from __future__ import annotations

import random

from sqlalchemy import select

from app.notifications.channel import PushChannel
from app.notifications.models import PushDevice
from app.outbox.models import DeliveryStatus
from app.outbox.worker import OutboxWorker
from tests.api.test_till_operations import checkout_for, complete, open_till, purchase
from tests.service.outbox.fakes import deliveries
from tests.support import run_operation

IPHONE = "9e" * 32
OLD_IPHONE = "4d" * 32
ANDROID = "c7Vb0Tq1RkE:APA91bG" + "Zx_9-Lm4" * 18
NBSP = "\u00a0"


async def register_phone(client, access_token: str, **fields) -> None:
    answer = await run_operation(
        client, "RegisterPushDevice", {"input": fields}, token=access_token
    )
    assert answer["data"]["registerPushDevice"]["__typename"] == "PushDevice"


async def test_a_purchase_at_the_till_reaches_the_member_s_phones(
    client, db, settings, clock, push_settings, fake_apns, fake_fcm
):
    # given: Ann's iPhone in Russian, her Android phone in English, and an old iPhone whose
    # app she deleted
    till = await open_till(client, db, settings, clock)
    await register_phone(client, till.member_token, platform="APNS", token=IPHONE, locale="ru")
    await register_phone(client, till.member_token, platform="FCM", token=ANDROID, locale="en")
    await register_phone(client, till.member_token, platform="APNS", token=OLD_IPHONE)
    fake_apns.unregister(OLD_IPHONE)

    # when: she pays 120.00 at Main st., and the worker runs
    receipt = await complete(
        client, till.cashier_token, purchase(await checkout_for(client, till), "R-1", 12000)
    )
    assert receipt["__typename"] == "PurchaseReceipt", receipt
    channel = PushChannel()
    worker = OutboxWorker(db, push_settings, clock, channels=[channel], rng=random.Random(1))
    try:
        stats = await worker.run_once()
    finally:
        await worker.aclose()
        await channel.aclose()

    # then
    assert (stats.delivered, stats.gone, stats.retried, stats.dead) == (2, 1, 0, 0)
    [to_iphone] = fake_apns.to(IPHONE)
    assert to_iphone.json["aps"]["alert"] == {
        "title": "Баллы начислены",
        "body": f"Вы получили 120{NBSP}баллов за покупку в «Main st.». Баланс: 120.",
    }
    assert to_iphone.json["type"] == "points.earned"
    [to_android] = fake_fcm.requests
    assert to_android.message["token"] == ANDROID
    assert to_android.message["notification"] == {
        "title": "Points earned",
        "body": "You earned 120 points at Main st. Balance: 120.",
    }
    assert to_android.message["data"]["event_id"] == to_iphone.json["eventId"]
    assert to_iphone.headers["apns-id"] == to_iphone.json["eventId"]
    async with db.read() as session:
        tokens = sorted((await session.scalars(select(PushDevice.token))).all())
    assert tokens == sorted([IPHONE, ANDROID])
    statuses = sorted(r.status for r in await deliveries(db) if r.channel == "push")
    assert statuses == [DeliveryStatus.DELIVERED, DeliveryStatus.DELIVERED, DeliveryStatus.GONE]
