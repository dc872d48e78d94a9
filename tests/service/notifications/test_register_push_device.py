"""registerPushDevice / unregisterPushDevice: token shapes, moving a token, the device cap."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select

from app.auth.actors import MemberActor, SystemActor
from app.errors import DomainError
from app.notifications import service as notifications_service
from app.notifications.models import PushDevice
from tests.service.helpers import count_rows
from tests.support import create_member

APNS_TOKEN = "a1" * 32
FCM_TOKEN = "cX9k2:APA91b" + "Fq_-Z0" * 25


def new(platform: str = "APNS", token: str = APNS_TOKEN, locale: str | None = None):
    return notifications_service.NewPushDevice(platform=platform, token=token, locale=locale)


async def devices(db) -> list[PushDevice]:
    async with db.read() as session:
        return list(await session.scalars(select(PushDevice).order_by(PushDevice.created_at)))


async def member(db, settings, clock, email="ann@example.com", **fields):
    _, row = await create_member(db, settings, clock, email=email, **fields)
    return row, MemberActor(row.id)


async def test_registers_a_phone_in_its_language(db, settings, clock):
    # given
    ann, actor = await member(db, settings, clock)

    # when
    registered = await notifications_service.register_push_device(
        db, actor, clock, new(token=APNS_TOKEN.upper(), locale="ru_RU")
    )

    # then
    assert registered.language == "ru"
    [device] = await devices(db)
    assert (device.id, device.member_id, device.platform) == (registered.device.id, ann.id, "APNS")
    assert device.token == APNS_TOKEN  # hex is stored in lower case
    assert device.locale == "ru-RU"
    assert device.created_at == device.updated_at == clock.now()


async def test_without_a_locale_the_profile_language_is_used(db, settings, clock):
    # given
    _, actor = await member(db, settings, clock, locale="ru")

    # when
    registered = await notifications_service.register_push_device(
        db, actor, clock, new("FCM", FCM_TOKEN)
    )

    # then
    assert registered.language == "ru"
    assert registered.device.locale is None


async def test_another_language_gets_english(db, settings, clock):
    _, actor = await member(db, settings, clock)

    registered = await notifications_service.register_push_device(
        db, actor, clock, new(locale="de-DE")
    )

    assert registered.language == "en"
    assert registered.device.locale == "de-DE"


async def test_registering_again_changes_only_the_language(db, settings, clock):
    # given
    _, actor = await member(db, settings, clock)
    first = await notifications_service.register_push_device(db, actor, clock, new(locale="en"))
    clock.advance(days=1)

    # when
    again = await notifications_service.register_push_device(db, actor, clock, new(locale="ru"))

    # then
    assert again.device.id == first.device.id
    [device] = await devices(db)
    assert (device.locale, device.updated_at) == ("ru", clock.now())
    assert device.created_at == first.device.created_at


async def test_a_phone_that_changed_hands_moves_to_the_new_member(db, settings, clock):
    # given
    ann, ann_actor = await member(db, settings, clock)
    bob, bob_actor = await member(db, settings, clock, email="bob@example.com", first_name="Bob")
    first = await notifications_service.register_push_device(db, ann_actor, clock, new())

    # when
    moved = await notifications_service.register_push_device(db, bob_actor, clock, new())

    # then
    assert moved.device.id == first.device.id
    [device] = await devices(db)
    assert device.member_id == bob.id
    async with db.read() as session:
        assert await notifications_service.list_member_devices(session, ann.id) == []


async def test_the_same_token_on_both_platforms_is_two_devices(db, settings, clock):
    _, actor = await member(db, settings, clock)
    token = "ab" * 60  # 120 hex digits: a valid APNs and a valid FCM token alike

    await notifications_service.register_push_device(db, actor, clock, new("APNS", token))
    await notifications_service.register_push_device(db, actor, clock, new("FCM", token))

    assert sorted(d.platform for d in await devices(db)) == ["APNS", "FCM"]


async def test_concurrent_registrations_of_one_token_keep_one_row(db, settings, clock):
    # given
    _, ann_actor = await member(db, settings, clock)
    _, bob_actor = await member(db, settings, clock, email="bob@example.com")

    # when
    results = await asyncio.gather(
        *(
            notifications_service.register_push_device(db, actor, clock, new())
            for actor in (ann_actor, bob_actor) * 4
        )
    )

    # then
    assert len({r.device.id for r in results}) == 1
    assert await count_rows(db, PushDevice) == 1


async def test_a_member_keeps_the_ten_newest_devices(db, settings, clock):
    # given
    _, actor = await member(db, settings, clock)
    tokens = [f"{n:02x}" * 32 for n in range(12)]
    for token in tokens:
        await notifications_service.register_push_device(db, actor, clock, new(token=token))
        clock.advance(minutes=1)

    # then
    assert sorted(d.token for d in await devices(db)) == sorted(tokens[2:])


@pytest.mark.parametrize(
    ("platform", "token"),
    [
        ("APNS", "a1" * 31),  # 62 hex digits: too short
        ("APNS", "a1" * 101),  # too long
        ("APNS", "a1" * 32 + "a"),  # odd length
        ("APNS", "g1" * 32),  # not hex
        ("APNS", "<a1a1a1a1 " + "a1" * 28 + ">"),  # NSData's description, not the token
        ("APNS", ""),
        ("FCM", "x" * 99),
        ("FCM", "x" * 4097),
        ("FCM", "cX9k2:APA91b" + "Fq/+Z0" * 25),  # not URL-safe
        ("FCM", "cX9k2:APA91b" + "Fq Z0\n" * 25),
        ("FCM", "a1" * 32),  # an APNs token sent as FCM: too short
    ],
)
async def test_refuses_a_token_of_the_wrong_shape(db, settings, clock, platform, token):
    # given
    _, actor = await member(db, settings, clock)

    # when
    with pytest.raises(DomainError) as raised:
        await notifications_service.register_push_device(db, actor, clock, new(platform, token))

    # then
    assert (raised.value.code, raised.value.field) == ("INVALID_PUSH_TOKEN", "token")
    assert await count_rows(db, PushDevice) == 0


async def test_refuses_a_locale_that_is_no_language_tag(db, settings, clock):
    _, actor = await member(db, settings, clock)

    with pytest.raises(DomainError) as raised:
        await notifications_service.register_push_device(
            db, actor, clock, new(locale="русский язык")
        )

    assert (raised.value.code, raised.value.field) == ("INVALID_INPUT", "locale")
    assert await count_rows(db, PushDevice) == 0


async def test_only_a_member_registers_a_device(db, settings, clock):
    with pytest.raises(DomainError) as raised:
        await notifications_service.register_push_device(db, SystemActor(), clock, new())

    assert raised.value.code == "FORBIDDEN"


async def test_unregisters_its_own_device(db, settings, clock):
    # given
    _, actor = await member(db, settings, clock)
    registered = await notifications_service.register_push_device(db, actor, clock, new())

    # when
    removed = await notifications_service.unregister_push_device(
        db, actor, platform="APNS", token=APNS_TOKEN
    )

    # then
    assert removed.device.id == registered.device.id
    assert await count_rows(db, PushDevice) == 0


@pytest.mark.parametrize("token", [APNS_TOKEN, "b2" * 32, "not a token"])
async def test_cannot_unregister_what_is_not_its_own(db, settings, clock, token):
    # given
    _, ann_actor = await member(db, settings, clock)
    _, bob_actor = await member(db, settings, clock, email="bob@example.com")
    await notifications_service.register_push_device(db, ann_actor, clock, new())

    # when
    with pytest.raises(DomainError) as raised:
        await notifications_service.unregister_push_device(
            db, bob_actor, platform="APNS", token=token
        )

    # then
    assert (raised.value.code, raised.value.field) == ("PUSH_DEVICE_NOT_FOUND", "token")
    assert await count_rows(db, PushDevice) == 1
