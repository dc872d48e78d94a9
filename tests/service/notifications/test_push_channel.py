"""The push channel in the outbox worker, against the fake APNs and FCM: who gets which event,
in which language, retries with the same id, dead tokens removed, consent, phones changing hands."""

from __future__ import annotations

import logging
import random
import uuid
from collections.abc import AsyncIterator

import pytest_asyncio
from sqlalchemy import select

from app.auth.actors import MemberActor
from app.members import service as members_service
from app.notifications import service as notifications_service
from app.notifications.channel import PushChannel
from app.notifications.models import PushDevice
from app.outbox import service as outbox_service
from app.outbox.models import DeliveryStatus
from app.outbox.worker import OutboxWorker
from tests.fakes.apns import Reply
from tests.service.outbox.fakes import deliveries
from tests.support import create_member

IPHONE = "1a2b3c4d" * 8
ANDROID = "fMEP0vJqS0:APA91bH" + "Ab_Cd-Ef" * 18
EARNED = {"points": 120, "storeName": "Main st.", "available": 1540, "pending": 0}


@pytest_asyncio.fixture
async def channel() -> AsyncIterator[PushChannel]:
    push = PushChannel()
    yield push
    await push.aclose()


def worker(db, settings, clock, channel):
    return OutboxWorker(db, settings, clock, channels=[channel], rng=random.Random(5))


async def member(db, settings, clock, email="ann@example.com", **fields):
    _, row = await create_member(db, settings, clock, email=email, **fields)
    return row


async def phone(db, clock, member_row, platform, token, locale=None):
    registered = await notifications_service.register_push_device(
        db,
        MemberActor(member_row.id),
        clock,
        notifications_service.NewPushDevice(platform=platform, token=token, locale=locale),
    )
    return registered.device


async def record(db, clock, member_row, type="points.earned", data=None) -> uuid.UUID:
    async with db.transaction() as session:
        return await outbox_service.record(
            session,
            type=type,
            member_id=member_row.id if member_row else None,
            data=EARNED if data is None else data,
            at=clock.now(),
        )


async def device_tokens(db) -> list[str]:
    async with db.read() as session:
        return sorted((await session.scalars(select(PushDevice.token))).all())


async def test_each_phone_of_the_member_gets_it_in_its_language(
    db, settings, clock, push_settings, fake_apns, fake_fcm, channel
):
    # given: Ann reads Russian on her iPhone (her profile's language) and English on Android
    ann = await member(db, settings, clock, locale="ru")
    bob = await member(db, settings, clock, email="bob@example.com")
    await phone(db, clock, ann, "APNS", IPHONE)
    await phone(db, clock, ann, "FCM", ANDROID, locale="en-GB")
    await phone(db, clock, bob, "APNS", "ff" * 32)
    event_id = await record(db, clock, ann)

    # when
    stats = await worker(db, push_settings, clock, channel).run_once()

    # then
    assert (stats.delivered, stats.retried, stats.dead, stats.gone) == (2, 0, 0, 0)
    [to_iphone] = fake_apns.requests
    assert to_iphone.device_token == IPHONE
    assert to_iphone.headers["apns-id"] == str(event_id)
    assert to_iphone.headers["apns-priority"] == "10"
    assert to_iphone.json == {
        "aps": {
            "alert": {
                "title": "Баллы начислены",
                "body": "Вы получили 120\u00a0баллов за покупку в «Main st.». Баланс: 1\u00a0540.",
            },
            "sound": "default",
        },
        "type": "points.earned",
        "eventId": str(event_id),
    }
    [to_android] = fake_fcm.requests
    assert to_android.message == {
        "token": ANDROID,
        "notification": {
            "title": "Points earned",
            "body": "You earned 120 points at Main st. Balance: 1,540.",
        },
        "data": {"type": "points.earned", "event_id": str(event_id)},
        "android": {"priority": "HIGH"},
    }
    rows = await deliveries(db)
    assert [(r.channel, r.status, r.attempts) for r in rows] == [
        ("push", DeliveryStatus.DELIVERED, 1),
        ("push", DeliveryStatus.DELIVERED, 1),
    ]


async def test_dead_tokens_are_removed_and_the_others_kept(
    db, settings, clock, push_settings, fake_apns, fake_fcm, channel
):
    # given: the app was removed from one iPhone and one Android phone
    ann = await member(db, settings, clock)
    await phone(db, clock, ann, "APNS", IPHONE)
    await phone(db, clock, ann, "APNS", "dead" * 16)
    await phone(db, clock, ann, "FCM", ANDROID)
    await phone(db, clock, ann, "FCM", "dead:" + "x" * 150)
    fake_apns.unregister("dead" * 16)
    fake_fcm.unregister("dead:" + "x" * 150)
    await record(db, clock, ann)

    # when
    stats = await worker(db, push_settings, clock, channel).run_once()

    # then
    assert (stats.delivered, stats.gone) == (2, 2)
    assert await device_tokens(db) == sorted([IPHONE, ANDROID])
    errors = sorted(r.last_error or "" for r in await deliveries(db) if r.status == "GONE")
    assert errors == [
        "APNs 410 Unregistered",
        "FCM 404 UNREGISTERED: Requested entity was not found.",
    ]


async def test_a_busy_provider_gets_the_same_notification_again_later(
    db, settings, clock, push_settings, fake_apns, fake_fcm, channel
):
    # given
    ann = await member(db, settings, clock)
    await phone(db, clock, ann, "APNS", IPHONE)
    fake_apns.reply(IPHONE, Reply(503, "ServiceUnavailable"), Reply(200))
    event_id = await record(db, clock, ann)
    w = worker(db, push_settings, clock, channel)

    # when
    first = await w.run_once()
    [row] = await deliveries(db)
    clock.current = row.next_attempt_at
    second = await w.run_once()

    # then
    assert (first.retried, second.delivered) == (1, 1)
    assert [r.status for r in fake_apns.requests] == [503, 200]
    assert {r.headers["apns-id"] for r in fake_apns.requests} == {str(event_id)}
    [row] = await deliveries(db)
    assert (row.status, row.attempts) == (DeliveryStatus.DELIVERED, 2)


async def test_marketing_goes_only_to_members_who_consented(
    db, settings, clock, push_settings, fake_apns, fake_fcm, channel
):
    # given
    ann = await member(db, settings, clock, marketing_consent=True)
    bob = await member(db, settings, clock, email="bob@example.com")
    await phone(db, clock, ann, "APNS", IPHONE)
    await phone(db, clock, bob, "FCM", ANDROID)
    offer = {"title": "Double points on coffee", "validUntil": "2026-06-30T23:59:59+00:00"}
    await record(db, clock, ann, "offer.available", offer)
    await record(db, clock, bob, "offer.available", offer)
    await record(db, clock, bob, "member.birthday", {"points": 200, "balance": 200})

    # when
    stats = await worker(db, push_settings, clock, channel).run_once()

    # then
    assert stats.delivered == 1
    assert len(await deliveries(db)) == 1
    [request] = fake_apns.requests
    assert request.headers["apns-priority"] == "5"
    assert request.json["aps"]["alert"]["title"] == "New offer"
    assert fake_fcm.requests == []


async def test_consent_withdrawn_before_sending_stops_a_marketing_push(
    db, settings, clock, push_settings, fake_apns, fake_fcm, channel
):
    # given: fanned out while Ann consented
    ann = await member(db, settings, clock, marketing_consent=True)
    await phone(db, clock, ann, "APNS", IPHONE)
    await record(db, clock, ann, "member.birthday", {"points": 200})
    w = worker(db, push_settings, clock, channel)
    await w.fan_out()

    # when: she withdraws it, then the worker delivers
    await members_service.update_profile(
        db, MemberActor(ann.id), clock, members_service.ProfileChanges(marketing_consent=False)
    )
    await w.run_once()

    # then
    assert fake_apns.requests == []
    [row] = await deliveries(db)
    assert (row.status, row.last_error) == ("DEAD", "the member withdrew marketing consent")


async def test_a_phone_that_changed_hands_does_not_get_the_old_owner_s_news(
    db, settings, clock, push_settings, fake_apns, fake_fcm, channel
):
    # given: an event for Ann fanned out to her phone, which then Bob signs in on
    ann = await member(db, settings, clock)
    bob = await member(db, settings, clock, email="bob@example.com")
    await phone(db, clock, ann, "APNS", IPHONE)
    await record(db, clock, ann)
    w = worker(db, push_settings, clock, channel)
    await w.fan_out()
    await phone(db, clock, bob, "APNS", IPHONE)

    # when
    await w.run_once()

    # then
    assert fake_apns.requests == []
    [row] = await deliveries(db)
    assert (row.status, row.last_error) == ("DEAD", "the device now belongs to another member")
    assert await device_tokens(db) == [IPHONE]


async def test_an_unregistered_device_drops_its_pending_delivery(
    db, settings, clock, push_settings, fake_apns, fake_fcm, channel
):
    # given
    ann = await member(db, settings, clock)
    await phone(db, clock, ann, "APNS", IPHONE)
    await record(db, clock, ann)
    w = worker(db, push_settings, clock, channel)
    await w.fan_out()
    await notifications_service.unregister_push_device(
        db, MemberActor(ann.id), platform="APNS", token=IPHONE
    )

    # when
    await w.run_once()

    # then
    assert fake_apns.requests == []
    [row] = await deliveries(db)
    assert row.status == DeliveryStatus.GONE


async def test_events_without_a_member_or_a_message_go_nowhere(
    db, settings, clock, push_settings, fake_apns, fake_fcm, channel
):
    # given
    ann = await member(db, settings, clock)
    await phone(db, clock, ann, "APNS", IPHONE)
    await record(db, clock, None)
    await record(db, clock, ann, "member.registered", {"memberId": str(ann.id)})

    # when
    stats = await worker(db, push_settings, clock, channel).run_once()

    # then
    assert stats.delivered == 0
    assert await deliveries(db) == []


async def test_a_provider_without_settings_is_a_dead_letter_that_says_so(
    db, settings, clock, fake_apns, channel, caplog
):
    # given: nothing configured
    ann = await member(db, settings, clock)
    await phone(db, clock, ann, "APNS", IPHONE)
    await phone(db, clock, ann, "FCM", ANDROID)
    await record(db, clock, ann)
    await record(db, clock, ann, "points.expired", {"points": 3, "available": 0})

    # when
    with caplog.at_level(logging.WARNING, logger="app.notifications"):
        stats = await worker(db, settings, clock, channel).run_once()

    # then
    assert stats.dead == 4
    assert sorted({r.last_error or "" for r in await deliveries(db)}) == [
        "APNs is not configured (APNS_KEY_FILE, APNS_KEY_ID, APNS_TEAM_ID, APNS_TOPIC)",
        "FCM is not configured (FCM_SERVICE_ACCOUNT_FILE)",
    ]
    warnings = [r.getMessage() for r in caplog.records if r.name == "app.notifications"]
    assert len(warnings) == 2  # once per provider, not once per delivery
    assert fake_apns.requests == []
