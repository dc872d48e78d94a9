"""The member's wallet pass through HTTP, as the app and then Wallet on the phone use it: the
`WalletPass` operation, the `.pkpass` download with the bearer token, and Apple's PassKit web
service (register, list updated serials, latest pass, unregister, log), with its refusals."""

from __future__ import annotations

import datetime as dt
import email.utils
import json
from typing import Any

import pytest
from sqlalchemy import func, select

from app.wallet import apple
from app.wallet import service as wallet_service
from app.wallet.models import WalletRegistration
from tests.service.wallet.passes import manifest_problems, pass_problems, unzip
from tests.support import PASSWORD, create_staff, login, run_operation

DEVICE = "a1b2c3d4e5f60718293a4b5c6d7e8f90"
PUSH_TOKEN = "ab" * 32
TYPE = wallet_service.DEV_PASS_TYPE_ID


async def register(client, email: str = "ann@example.com") -> dict[str, Any]:
    answer = await run_operation(
        client,
        "RegisterMember",
        {"input": {"email": email, "password": PASSWORD, "firstName": "Ann"}},
    )
    return answer["data"]["registerMember"]


async def download(client, token: str) -> tuple[dict[str, Any], Any]:
    """What the app does with `walletPass.appleUrl`: GET it with the bearer token."""
    answer = await run_operation(client, "WalletPass", token=token)
    url = answer["data"]["me"]["walletPass"]["appleUrl"]
    assert url == "http://127.0.0.1:8000/wallet/pass.pkpass"
    response = await client.get(
        url.removeprefix("http://127.0.0.1:8000"), headers={"authorization": f"Bearer {token}"}
    )
    assert response.status_code == 200, response.text
    files = unzip(response.content)
    return apple_json(files), response


def apple_json(files: dict[str, bytes]) -> dict[str, Any]:
    return json.loads(files["pass.json"])


def apple_pass(token: str) -> dict[str, str]:
    return {"authorization": f"ApplePass {token}"}


def registration_path(serial: str, device: str = DEVICE, type_id: str = TYPE) -> str:
    return f"/wallet/v1/devices/{device}/registrations/{type_id}/{serial}"


async def test_wallet_pass_operation_gives_the_download_and_no_google_link(client):
    # given
    session = await register(client)

    # when
    answer = await run_operation(client, "WalletPass", token=session["accessToken"])

    # then
    assert answer["data"]["me"]["walletPass"] == {
        "appleUrl": "http://127.0.0.1:8000/wallet/pass.pkpass",
        "googleSaveUrl": None,
    }


async def test_download_is_a_pkpass_with_a_true_last_modified(client, clock):
    # given
    session = await register(client)

    # when
    document, response = await download(client, session["accessToken"])

    # then
    assert response.headers["content-type"] == "application/vnd.apple.pkpass"
    assert response.headers["last-modified"] == "Mon, 01 Jun 2026 12:00:00 GMT"
    assert manifest_problems(unzip(response.content)) == []
    assert pass_problems(document) == []
    assert document["webServiceURL"] == "http://127.0.0.1:8000/wallet"


@pytest.mark.parametrize(
    ("header", "status"),
    [(None, 401), ("Bearer not-a-token", 401), ("Basic YTpi", 401)],
)
async def test_download_needs_the_members_token(client, header, status):
    # when
    response = await client.get(
        "/wallet/pass.pkpass", headers={"authorization": header} if header else {}
    )

    # then
    assert response.status_code == status
    assert response.headers["www-authenticate"].startswith("Bearer")


async def test_device_registers_lists_downloads_and_unregisters(client):
    # given: the member added the pass; Wallet reads its web service URL and token
    session = await register(client)
    document, first = await download(client, session["accessToken"])
    serial, token = document["serialNumber"], document["authenticationToken"]

    # when: Wallet registers the device, twice (it does after a restore)
    created = await client.post(
        registration_path(serial), json={"pushToken": PUSH_TOKEN}, headers=apple_pass(token)
    )
    known = await client.post(
        registration_path(serial), json={"pushToken": PUSH_TOKEN}, headers=apple_pass(token)
    )

    # then
    assert (created.status_code, known.status_code) == (201, 200)

    # when: it asks which passes changed, first with no tag, then with the tag it got
    listed = await client.get(f"/wallet/v1/devices/{DEVICE}/registrations/{TYPE}")
    tag = listed.json()["lastUpdated"]
    unchanged = await client.get(
        f"/wallet/v1/devices/{DEVICE}/registrations/{TYPE}",
        params={"passesUpdatedSince": tag},
    )

    # then
    assert listed.status_code == 200
    assert listed.json() == {"serialNumbers": [serial], "lastUpdated": tag}
    assert tag.isdigit()
    assert unchanged.status_code == 204

    # when: it fetches the pass, then again with If-Modified-Since, and with HEAD
    latest = await client.get(f"/wallet/v1/passes/{TYPE}/{serial}", headers=apple_pass(token))
    conditional = await client.get(
        f"/wallet/v1/passes/{TYPE}/{serial}",
        headers={**apple_pass(token), "if-modified-since": latest.headers["last-modified"]},
    )
    head = await client.head(f"/wallet/v1/passes/{TYPE}/{serial}", headers=apple_pass(token))

    # then
    assert latest.status_code == 200
    assert latest.headers["content-type"] == apple.MEDIA_TYPE
    assert latest.headers["last-modified"] == first.headers["last-modified"]
    assert apple_json(unzip(latest.content))["serialNumber"] == serial
    assert conditional.status_code == 304
    assert conditional.content == b""
    assert (head.status_code, head.headers["last-modified"], head.content) == (
        200,
        latest.headers["last-modified"],
        b"",
    )

    # when: the pass is removed from Wallet
    removed = await client.delete(registration_path(serial), headers=apple_pass(token))
    after = await client.get(f"/wallet/v1/devices/{DEVICE}/registrations/{TYPE}")

    # then
    assert removed.status_code == 200
    assert after.status_code == 204


async def test_an_older_if_modified_since_gets_the_pass(client):
    # given
    session = await register(client)
    document, first = await download(client, session["accessToken"])
    modified = email.utils.parsedate_to_datetime(first.headers["last-modified"])
    earlier = email.utils.format_datetime(modified - dt.timedelta(seconds=1), usegmt=True)

    # when
    response = await client.get(
        f"/wallet/v1/passes/{TYPE}/{document['serialNumber']}",
        headers={**apple_pass(document["authenticationToken"]), "if-modified-since": earlier},
    )

    # then
    assert response.status_code == 200


async def test_a_new_push_token_replaces_the_old(client, db):
    # given
    session = await register(client)
    document, _ = await download(client, session["accessToken"])
    path, headers = (
        registration_path(document["serialNumber"]),
        apple_pass(document["authenticationToken"]),
    )
    await client.post(path, json={"pushToken": PUSH_TOKEN}, headers=headers)

    # when
    again = await client.post(path, json={"pushToken": "CD" * 32}, headers=headers)

    # then
    assert again.status_code == 200
    async with db.read() as session_:
        tokens = (await session_.scalars(select(WalletRegistration.push_token))).all()
    assert tokens == ["cd" * 32]


@pytest.mark.parametrize(
    ("case", "status"),
    [
        ("no token", 401),
        ("wrong token", 401),
        ("other scheme", 401),
        ("unknown serial", 404),
        ("unknown pass type", 404),
        ("device id of the wrong shape", 400),
        ("push token of the wrong shape", 400),
        ("no push token", 400),
        ("not JSON", 400),
    ],
)
async def test_registration_refusals(client, db, case, status):
    # given
    session = await register(client)
    document, _ = await download(client, session["accessToken"])
    serial, token = document["serialNumber"], document["authenticationToken"]
    path, headers, body = registration_path(serial), apple_pass(token), {"pushToken": PUSH_TOKEN}
    content = None
    if case == "no token":
        headers = {}
    elif case == "wrong token":
        headers = apple_pass(token[:-1] + ("A" if token[-1] != "A" else "B"))
    elif case == "other scheme":
        headers = {"authorization": f"Bearer {token}"}
    elif case == "unknown serial":
        path = registration_path("A" * 26)
    elif case == "unknown pass type":
        path = registration_path(serial, type_id="pass.com.example.other")
    elif case == "device id of the wrong shape":
        path = registration_path(serial, device="not-a-device!")
    elif case == "push token of the wrong shape":
        body = {"pushToken": "xyz"}
    elif case == "no push token":
        body = {}
    elif case == "not JSON":
        content = b"{pushToken"

    # when
    if content is not None:
        response = await client.post(path, content=content, headers=headers)
    else:
        response = await client.post(path, json=body, headers=headers)

    # then
    assert response.status_code == status, response.text
    async with db.read() as session_:
        assert await session_.scalar(select(func.count()).select_from(WalletRegistration)) == 0


@pytest.mark.parametrize(
    ("case", "status"),
    [("no token", 401), ("wrong token", 401), ("unknown serial", 404), ("unknown type", 404)],
)
async def test_latest_pass_refusals(client, case, status):
    # given
    session = await register(client)
    document, _ = await download(client, session["accessToken"])
    serial, token = document["serialNumber"], document["authenticationToken"]
    path, headers = f"/wallet/v1/passes/{TYPE}/{serial}", apple_pass(token)
    if case == "no token":
        headers = {}
    elif case == "wrong token":
        headers = apple_pass("x" * 43)
    elif case == "unknown serial":
        path = f"/wallet/v1/passes/{TYPE}/{'B' * 26}"
    elif case == "unknown type":
        path = f"/wallet/v1/passes/pass.com.example.other/{serial}"

    # when
    response = await client.get(path, headers=headers)

    # then
    assert response.status_code == status


async def test_unregister_needs_the_token(client, db):
    # given
    session = await register(client)
    document, _ = await download(client, session["accessToken"])
    path = registration_path(document["serialNumber"])
    await client.post(
        path, json={"pushToken": PUSH_TOKEN}, headers=apple_pass(document["authenticationToken"])
    )

    # when
    refused = await client.delete(path, headers=apple_pass("y" * 43))

    # then
    assert refused.status_code == 401
    async with db.read() as session_:
        assert await session_.scalar(select(func.count()).select_from(WalletRegistration)) == 1


@pytest.mark.parametrize(
    ("query", "status"),
    [("", 204), ("?passesUpdatedSince=", 204), ("?passesUpdatedSince=yesterday", 204)],
)
async def test_listing_for_a_device_without_passes(client, query, status):
    # when
    response = await client.get(f"/wallet/v1/devices/{DEVICE}/registrations/{TYPE}{query}")

    # then
    assert response.status_code == status


async def test_malformed_passes_updated_since_is_treated_as_none(client):
    # given
    session = await register(client)
    document, _ = await download(client, session["accessToken"])
    await client.post(
        registration_path(document["serialNumber"]),
        json={"pushToken": PUSH_TOKEN},
        headers=apple_pass(document["authenticationToken"]),
    )

    # when
    response = await client.get(
        f"/wallet/v1/devices/{DEVICE}/registrations/{TYPE}",
        params={"passesUpdatedSince": "2026-06-01T12:00:00Z"},
    )

    # then
    assert response.status_code == 200
    assert response.json()["serialNumbers"] == [document["serialNumber"]]


@pytest.mark.parametrize(
    ("path", "status"),
    [
        (f"/wallet/v1/devices/bad$device/registrations/{TYPE}", 400),
        (f"/wallet/v1/devices/{DEVICE}/registrations/pass.com.example.other", 404),
    ],
)
async def test_listing_refusals(client, path, status):
    # when
    response = await client.get(path)

    # then
    assert response.status_code == status


@pytest.mark.parametrize(
    ("body", "status"),
    [({"logs": ["Pass download failed: 500"]}, 200), ({"logs": "x"}, 400), (None, 400)],
)
async def test_log(client, body, status):
    # when
    if body is None:
        response = await client.post("/wallet/v1/log", content=b"not json")
    else:
        response = await client.post("/wallet/v1/log", json=body)

    # then
    assert response.status_code == status


async def test_the_logo_is_served_for_google(client):
    # when
    response = await client.get("/wallet/images/logo.png")
    missing = await client.get("/wallet/images/secret.txt")

    # then
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/png"
    assert response.content == apple.images()["logo.png"]
    assert missing.status_code == 404


async def test_staff_have_no_pass(client, db, settings, clock):
    # given
    await create_staff(db, settings, clock, email="till@example.com", role="ADMIN")
    token = await login(db, settings, clock, kind="staff", email="till@example.com")

    # when
    response = await client.get("/wallet/pass.pkpass", headers={"authorization": f"Bearer {token}"})

    # then
    assert response.status_code == 403
