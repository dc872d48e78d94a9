"""RegisterPushDevice as the member app sends it, and unregisterPushDevice."""

from __future__ import annotations

from sqlalchemy import select

from app.notifications.models import PushDevice
from tests.support import PASSWORD, gql, run_operation

IPHONE = "0f" * 32
ANDROID = "eTqR8xYzQ0u:APA91bF" + "k7_m2-Q9" * 18

UNREGISTER = """
mutation Unregister($input: UnregisterPushDeviceInput!) {
  unregisterPushDevice(input: $input) {
    __typename
    ... on PushDevice { id platform language }
    ... on UserError { code message field }
  }
}
"""


async def sign_up(client, email: str = "ann@example.com") -> dict:
    answer = await run_operation(
        client,
        "RegisterMember",
        {"input": {"email": email, "password": PASSWORD, "firstName": "Ann"}},
    )
    session = answer["data"]["registerMember"]
    assert session["__typename"] == "AuthSession"
    return session


async def register_device(client, access_token: str, **input_fields) -> dict:
    answer = await run_operation(
        client, "RegisterPushDevice", {"input": input_fields}, token=access_token
    )
    return answer["data"]["registerPushDevice"]


async def stored(db) -> list[PushDevice]:
    async with db.read() as session:
        return list(await session.scalars(select(PushDevice).order_by(PushDevice.platform)))


async def test_the_app_registers_its_phone(client, db):
    # given
    session = await sign_up(client)

    # when
    iphone = await register_device(
        client, session["accessToken"], platform="APNS", token=IPHONE, locale="ru-RU"
    )
    android = await register_device(client, session["accessToken"], platform="FCM", token=ANDROID)

    # then
    assert iphone == {"__typename": "PushDevice", "id": iphone["id"], "platform": "APNS"}
    assert android == {"__typename": "PushDevice", "id": android["id"], "platform": "FCM"}
    rows = await stored(db)
    assert [(str(r.id), r.platform, r.token, r.locale) for r in rows] == [
        (iphone["id"], "APNS", IPHONE, "ru-RU"),
        (android["id"], "FCM", ANDROID, None),
    ]
    assert {str(r.member_id) for r in rows} == {session["member"]["id"]}


async def test_registering_twice_is_one_device(client, db):
    session = await sign_up(client)

    first = await register_device(client, session["accessToken"], platform="APNS", token=IPHONE)
    again = await register_device(client, session["accessToken"], platform="APNS", token=IPHONE)

    assert again == first
    assert len(await stored(db)) == 1


async def test_a_token_of_the_wrong_shape_is_a_user_error(client, db):
    # given
    session = await sign_up(client)

    # when
    answer = await register_device(client, session["accessToken"], platform="APNS", token=ANDROID)

    # then
    assert answer == {
        "__typename": "InvalidInputError",
        "code": "INVALID_PUSH_TOKEN",
        "message": "An APNs device token is 64 to 200 hexadecimal digits.",
    }
    assert await stored(db) == []


async def test_an_unknown_platform_is_refused_by_the_schema(client, db):
    session = await sign_up(client)

    answer = await run_operation(
        client,
        "RegisterPushDevice",
        {"input": {"platform": "WNS", "token": IPHONE}},
        token=session["accessToken"],
        expect_errors=True,
    )

    assert len(answer["errors"]) == 1
    assert "WNS" in answer["errors"][0]["message"]
    assert await stored(db) == []


async def test_signing_in_is_required(client, db):
    answer = await run_operation(
        client,
        "RegisterPushDevice",
        {"input": {"platform": "APNS", "token": IPHONE}},
        expect_errors=True,
    )

    assert answer["data"] is None
    [error] = answer["errors"]
    assert error["extensions"]["code"] == "UNAUTHENTICATED"
    assert await stored(db) == []


async def test_the_app_unregisters_on_sign_out(client, db):
    # given
    session = await sign_up(client)
    device = await register_device(
        client, session["accessToken"], platform="APNS", token=IPHONE, locale="ru"
    )

    # when
    answer = await gql(
        client,
        UNREGISTER,
        {"input": {"platform": "APNS", "token": IPHONE}},
        token=session["accessToken"],
    )

    # then
    assert answer["data"]["unregisterPushDevice"] == {
        "__typename": "PushDevice",
        "id": device["id"],
        "platform": "APNS",
        "language": "ru",
    }
    assert await stored(db) == []


async def test_another_member_s_phone_cannot_be_unregistered(client, db):
    # given
    ann = await sign_up(client)
    bob = await sign_up(client, "bob@example.com")
    await register_device(client, ann["accessToken"], platform="APNS", token=IPHONE)

    # when
    answer = await gql(
        client,
        UNREGISTER,
        {"input": {"platform": "APNS", "token": IPHONE}},
        token=bob["accessToken"],
    )

    # then
    assert answer["data"]["unregisterPushDevice"] == {
        "__typename": "NotFoundError",
        "code": "PUSH_DEVICE_NOT_FOUND",
        "message": "No device of yours has this push token.",
        "field": "token",
    }
    assert len(await stored(db)) == 1
