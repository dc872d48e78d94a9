"""The fake APNs and FCM, started per test, and settings that point the push channel at them."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from app.settings import Settings
from tests.fakes.apns import ApnsKey, FakeAPNs
from tests.fakes.fcm import FakeFCM

TOPIC = "com.example.loyalty"


@pytest.fixture
def apns_key(tmp_path) -> ApnsKey:
    return ApnsKey.make(tmp_path)


@pytest_asyncio.fixture
async def fake_apns(tmp_path, apns_key) -> AsyncIterator[FakeAPNs]:
    async with FakeAPNs(
        tmp_path,
        topic=TOPIC,
        team_id=apns_key.team_id,
        key_id=apns_key.key_id,
        public_key=apns_key.public_key,
    ) as server:
        yield server


@pytest_asyncio.fixture
async def fake_fcm(tmp_path) -> AsyncIterator[FakeFCM]:
    async with FakeFCM(tmp_path) as server:
        server.write_service_account()
        yield server


@pytest.fixture
def push_settings(settings, fake_apns, fake_fcm, apns_key) -> Settings:
    """The test's settings with both providers pointed at the fakes."""
    assert fake_fcm.account is not None
    return settings.model_copy(
        update={
            "apns_base_url": fake_apns.base_url,
            "apns_key_file": str(apns_key.key_file),
            "apns_key_id": apns_key.key_id,
            "apns_team_id": apns_key.team_id,
            "apns_topic": TOPIC,
            "apns_ca_file": str(fake_apns.ca_file),
            "fcm_base_url": fake_fcm.base_url,
            "fcm_service_account_file": str(fake_fcm.account.file),
        }
    )
