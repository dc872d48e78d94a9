"""A purchase reaches the member's wallet cards: the outbox worker pushes `{}` to every device
registered for the Apple pass (HTTP/2, pass certificate, topic = pass type id) and the device,
asking the web service as Wallet does, finds the pass listed as updated and downloads it with the
new balance; the Google Wallet object is inserted for the save link and PATCHed after the
purchase. A fake APNs and a fake Google Wallet API on 127.0.0.1 receive what Apple and Google
would.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import jwt
import pytest
from sqlalchemy import func, select

from app.outbox import service as outbox_service
from app.outbox.channels import registered
from app.outbox.models import DeliveryStatus, OutboxDelivery
from app.outbox.worker import OutboxWorker
from app.wallet import service as wallet_service
from app.wallet.channel import WalletChannel
from app.wallet.models import WalletPass, WalletRegistration
from tests.api.test_till_operations import checkout_for, complete, open_till, purchase, scan
from tests.api.test_wallet_web_service import (
    DEVICE,
    PUSH_TOKEN,
    TYPE,
    apple_json,
    apple_pass,
    download,
    registration_path,
)
from tests.fakes.apns import FakeAPNs
from tests.fakes.google_wallet import FakeGoogleWallet
from tests.service.wallet.passes import field, unzip
from tests.support import gql, run_operation


async def deliver(db, settings, clock) -> OutboxWorker:
    """What `loyalty worker` does, once: fan out the new events, deliver what is due."""
    channel = WalletChannel()
    worker = OutboxWorker(db, settings, clock, channels=[channel])
    try:
        await worker.run_once()
    finally:
        await channel.aclose()
        await worker.aclose()
    return worker


async def fake_apns(db, settings, clock, directory: Path) -> FakeAPNs:
    """An APNs that accepts the pass certificate of this development identity (Apple accepts
    the pass type certificate Apple issued)."""
    ca_file = directory / "pass-ca.pem"
    ca_file.write_text((await wallet_service.dev_certificates(db, settings, clock)).ca_pem)
    return FakeAPNs(directory, topic=TYPE, auth="certificate", client_ca=ca_file)


async def buy(client, till, receipt: str, total: int) -> dict[str, Any]:
    checkout_id = await checkout_for(client, till)
    receipt_ = await complete(client, till.cashier_token, purchase(checkout_id, receipt, total))
    assert receipt_["__typename"] == "PurchaseReceipt", receipt_
    return receipt_


async def registered_device(client, till) -> dict[str, Any]:
    document, _ = await download(client, till.member_token)
    response = await client.post(
        registration_path(document["serialNumber"]),
        json={"pushToken": PUSH_TOKEN},
        headers=apple_pass(document["authenticationToken"]),
    )
    assert response.status_code == 201
    return document


async def test_purchase_pushes_and_the_device_downloads_the_new_balance(
    client, db, settings, clock, tmp_path
):
    # given: the member's pass is in Wallet on a registered device, which knows the latest tag
    till = await open_till(client, db, settings, clock)
    document = await registered_device(client, till)
    serial, token = document["serialNumber"], document["authenticationToken"]
    listing = f"/wallet/v1/devices/{DEVICE}/registrations/{TYPE}"
    tag = (await client.get(listing)).json()["lastUpdated"]
    first = await client.get(f"/wallet/v1/passes/{TYPE}/{serial}", headers=apple_pass(token))
    async with await fake_apns(db, settings, clock, tmp_path) as apns:
        worker_settings = settings.model_copy(
            update={"apple_pass_push_url": apns.base_url, "apns_ca_file": str(apns.ca_file)}
        )
        await deliver(db, worker_settings, clock)  # the sign-up's events: nothing on the card

        # when: a purchase of 200.00 earns 200 points, and the worker runs
        await buy(client, till, "R-1", 20000)
        await deliver(db, worker_settings, clock)

    # then: APNs got one empty push for the pass type, with the pass certificate
    assert len(apns.requests) == 1
    push = apns.requests[0]
    assert push.accepted, push.reason
    assert push.device_token == PUSH_TOKEN
    assert push.headers["apns-topic"] == TYPE
    assert push.json == {}
    assert f"userId={TYPE}" in (push.client_subject or "")
    # and the device, woken, finds the pass updated and downloads the new version
    updated = await client.get(listing, params={"passesUpdatedSince": tag})
    assert updated.status_code == 200
    assert updated.json()["serialNumbers"] == [serial]
    assert int(updated.json()["lastUpdated"]) > int(tag)
    latest = await client.get(
        f"/wallet/v1/passes/{TYPE}/{serial}",
        headers={**apple_pass(token), "if-modified-since": first.headers["last-modified"]},
    )
    assert latest.status_code == 200
    assert latest.headers["last-modified"] != first.headers["last-modified"]
    assert field(apple_json(unzip(latest.content)), "balance")["value"] == 200
    assert (
        await client.get(listing, params={"passesUpdatedSince": updated.json()["lastUpdated"]})
    ).status_code == 204


async def test_a_token_apns_calls_unregistered_is_removed(client, db, settings, clock, tmp_path):
    # given
    till = await open_till(client, db, settings, clock)
    await registered_device(client, till)
    async with await fake_apns(db, settings, clock, tmp_path) as apns:
        apns.unregister(PUSH_TOKEN)
        worker_settings = settings.model_copy(
            update={"apple_pass_push_url": apns.base_url, "apns_ca_file": str(apns.ca_file)}
        )

        # when
        await buy(client, till, "R-1", 5000)
        await deliver(db, worker_settings, clock)

    # then
    assert [r.status for r in apns.requests] == [410]
    async with db.read() as session:
        assert await session.scalar(select(func.count()).select_from(WalletRegistration)) == 0
        statuses = (
            await session.scalars(
                select(OutboxDelivery.status).where(OutboxDelivery.channel == "wallet")
            )
        ).all()
    assert statuses == [DeliveryStatus.GONE]
    assert (
        await client.get(f"/wallet/v1/devices/{DEVICE}/registrations/{TYPE}")
    ).status_code == 204


async def test_an_event_that_changes_nothing_on_the_card_pushes_nothing(
    client, db, settings, clock, tmp_path
):
    # given
    till = await open_till(client, db, settings, clock)
    await registered_device(client, till)
    async with db.transaction() as session:
        await outbox_service.record(
            session,
            type="offer.available",
            member_id=uuid.UUID(till.member_id),
            data={"offerId": "x"},
            at=clock.now(),
        )
    async with await fake_apns(db, settings, clock, tmp_path) as apns:
        worker_settings = settings.model_copy(
            update={"apple_pass_push_url": apns.base_url, "apns_ca_file": str(apns.ca_file)}
        )

        # when
        await deliver(db, worker_settings, clock)

    # then
    assert apns.requests == []
    async with db.read() as session:
        wallet_pass = await session.scalar(select(WalletPass))
        assert wallet_pass is not None
        assert wallet_pass.updated_at == clock.now()


def test_the_wallet_channel_is_registered():
    assert "wallet" in [channel.name for channel in registered()]


# -- Google Wallet ---------------------------------------------------------------------------------


@pytest.fixture
async def google_wallet(tmp_path):
    async with FakeGoogleWallet(tmp_path) as fake:
        fake.write_service_account()
        yield fake


def with_google(settings, fake: FakeGoogleWallet):
    return settings.model_copy(
        update={
            "google_wallet_issuer_id": fake.issuer_id,
            "google_wallet_service_account_file": str(fake.account.file),
            "google_wallet_base_url": fake.base_url,
            "public_base_url": "https://loyalty.example.com",
        }
    )


async def test_google_link_is_a_valid_save_jwt_and_purchases_patch_the_object(
    app_client, db, settings, clock, google_wallet
):
    # given
    google_settings = with_google(settings, google_wallet)
    async with app_client(google_settings) as client:
        till = await open_till(client, db, google_settings, clock)

        # when: the app asks for the card, twice
        answer = await run_operation(client, "WalletPass", token=till.member_token)
        again = await run_operation(client, "WalletPass", token=till.member_token)

        # then: a save link under 1 800 characters, RS256 by the service account, that names
        # the object inserted (with the class) over REST before
        url = answer["data"]["me"]["walletPass"]["googleSaveUrl"]
        assert url.startswith("https://pay.google.com/gp/v/save/")
        assert len(url) < 1800
        token = url.removeprefix("https://pay.google.com/gp/v/save/")
        claims = jwt.decode(
            token, google_wallet.account.public_key, algorithms=["RS256"], audience="google"
        )
        async with db.read() as session:
            wallet_pass = await session.scalar(select(WalletPass))
        object_id = f"{google_wallet.issuer_id}.{wallet_pass.serial_number}"
        assert jwt.get_unverified_header(token)["kid"] == google_wallet.account.private_key_id
        assert claims["iss"] == google_wallet.client_email
        assert claims["typ"] == "savetowallet"
        assert claims["origins"] == ["https://loyalty.example.com"]
        assert claims["payload"] == {"loyaltyObjects": [{"id": object_id}]}
        assert again["data"]["me"]["walletPass"]["googleSaveUrl"].startswith(
            "https://pay.google.com/gp/v/save/"
        )
        assert len(google_wallet.calls("POST", "loyaltyClass")) == 1
        assert len(google_wallet.calls("POST", "loyaltyObject")) == 1
        stored = google_wallet.stored.objects[object_id]
        assert stored["classId"] == f"{google_wallet.issuer_id}.loyalty"
        assert stored["loyaltyPoints"] == {"label": "Points", "balance": {"int": 0}}
        assert stored["barcode"]["type"] == "QR_CODE"
        assert stored["barcode"]["value"].startswith("W1.")
        assert stored["accountId"] == till.card_number
        class_logo = google_wallet.stored.classes[stored["classId"]]["programLogo"]
        assert (
            class_logo["sourceUri"]["uri"] == "https://loyalty.example.com/wallet/images/logo.png"
        )

        # when: a purchase, and the worker runs
        await buy(client, till, "R-1", 20000)
        await deliver(db, google_settings, clock)

    # then
    patches = google_wallet.calls("PATCH", "loyaltyObject")
    assert [p.status for p in patches] == [200]
    assert patches[0].headers["authorization"].startswith("Bearer ya29.wallet-")
    assert google_wallet.stored.objects[object_id]["loyaltyPoints"]["balance"] == {"int": 200}
    assert (
        google_wallet.grants[0]["scope"] == "https://www.googleapis.com/auth/wallet_object.issuer"
    )


async def test_an_object_google_no_longer_has_is_forgotten(
    app_client, db, settings, clock, google_wallet
):
    # given
    google_settings = with_google(settings, google_wallet)
    async with app_client(google_settings) as client:
        till = await open_till(client, db, google_settings, clock)
        await run_operation(client, "WalletPass", token=till.member_token)
        google_wallet.stored.objects.clear()

        # when
        await buy(client, till, "R-1", 20000)
        await deliver(db, google_settings, clock)

    # then
    assert [p.status for p in google_wallet.calls("PATCH", "loyaltyObject")] == [404]
    async with db.read() as session:
        wallet_pass = await session.scalar(select(WalletPass))
    assert wallet_pass.google_object_id is None


async def test_google_unreachable_leaves_the_apple_card(app_client, db, settings, clock, tmp_path):
    # given: a Google that answered once and is gone now
    async with FakeGoogleWallet(tmp_path) as gone:
        gone.write_service_account()
    google_settings = with_google(settings, gone)
    async with app_client(google_settings) as client:
        till = await open_till(client, db, google_settings, clock)

        # when
        answer = await run_operation(client, "WalletPass", token=till.member_token)

    # then
    assert answer["data"]["me"]["walletPass"] == {
        "appleUrl": "https://loyalty.example.com/wallet/pass.pkpass",
        "googleSaveUrl": None,
    }
    async with db.read() as session:
        wallet_pass = await session.scalar(select(WalletPass))
    assert wallet_pass.google_object_id is None


async def test_a_revoked_code_on_an_old_pass_is_refused_at_the_till(client, db, settings, clock):
    # given: the member's pass, scanned once at the till
    till = await open_till(client, db, settings, clock)
    old, _ = await download(client, till.member_token)
    old_code = old["barcodes"][0]["message"]
    assert (await scan(client, till, code=old_code))["__typename"] == "Checkout"

    # when: the member revokes the wallet code (a lost phone)
    revoked = await gql(
        client,
        "mutation { revokeWalletCode { __typename } }",
        token=till.member_token,
    )

    # then: the old pass's code is refused with its own code; the pass now carries the new one
    assert revoked["data"]["revokeWalletCode"]["__typename"] == "Member"
    refused = await scan(client, till, code=old_code)
    assert (refused["__typename"], refused["code"]) == ("MemberCodeError", "CODE_REVOKED")
    new, _ = await download(client, till.member_token)
    assert new["serialNumber"] == old["serialNumber"]
    assert new["barcodes"][0]["message"] != old_code
    assert (await scan(client, till, code=new["barcodes"][0]["message"]))["__typename"] == (
        "Checkout"
    )
