"""The FCM HTTP v1 client against the fake FCM and OAuth token endpoint on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import httpx
import pytest
import pytest_asyncio

from app.notifications import fcm
from app.outbox.channels import Outcome
from app.settings import ConfigurationError, Settings
from tests.fakes.fcm import FakeFCM, Reply

TOKEN = "dGhpcyBpcyBhIHRva2Vu:APA91bH" + "x1_y2-Z3" * 18
NOTIFICATION = fcm.Notification(
    title="Points earned", body="You earned 120 points.", data={"type": "points.earned"}
)


class Time:
    def __init__(self) -> None:
        self.value = 1_780_000_000.0

    def __call__(self) -> float:
        return self.value


@pytest.fixture
def now() -> Time:
    return Time()


@pytest_asyncio.fixture
async def fake(tmp_path, now) -> AsyncIterator[FakeFCM]:
    async with FakeFCM(tmp_path, now=now) as server:
        server.write_service_account()
        yield server


@pytest_asyncio.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


def client_for(fake: FakeFCM, now: Time, **overrides) -> fcm.FcmClient:
    assert fake.account is not None
    values = {
        "FCM_BASE_URL": fake.base_url,
        "FCM_SERVICE_ACCOUNT_FILE": str(fake.account.file),
        **overrides,
    }
    settings = Settings(_env_file=None, **values)
    account = fcm.ServiceAccount.from_settings(settings)
    assert account is not None
    return fcm.FcmClient(account, settings.fcm_base_url, now=now)


async def test_sends_a_notification_as_google_expects(fake, http, now):
    # given
    client = client_for(fake, now)

    # when
    outcome = await client.send(http, TOKEN, NOTIFICATION)

    # then: one OAuth grant, checked by the fake (RS256 with the account's key, aud, scope)
    assert outcome == Outcome.delivered()
    [grant] = fake.grants
    assert grant.error is None
    assert grant.header == {"alg": "RS256", "kid": fake.account.private_key_id, "typ": "JWT"}
    assert grant.claims == {
        "iss": fake.client_email,
        "scope": "https://www.googleapis.com/auth/firebase.messaging",
        "aud": fake.token_uri,
        "iat": int(now()),
        "exp": int(now()) + 3600,
    }
    [request] = fake.requests
    assert request.path == "/v1/projects/loyalty-test/messages:send"
    assert request.status == 200
    assert request.headers["authorization"] == f"Bearer {grant.access_token}"
    assert request.message == {
        "token": TOKEN,
        "notification": {"title": "Points earned", "body": "You earned 120 points."},
        "data": {"type": "points.earned"},
        "android": {"priority": "HIGH"},
    }


async def test_one_access_token_until_it_expires(fake, http, now):
    # given
    client = client_for(fake, now)

    # when: sends at once, then an hour later
    first = await asyncio.gather(*(client.send(http, TOKEN, NOTIFICATION) for _ in range(5)))
    now.value += 3600
    later = await client.send(http, TOKEN, NOTIFICATION)

    # then
    assert [*first, later] == [Outcome.delivered()] * 6
    assert [g.error for g in fake.grants] == [None, None]
    tokens = [r.headers["authorization"] for r in fake.requests]
    assert len(set(tokens[:5])) == 1
    assert tokens[5] != tokens[0]


async def test_a_revoked_access_token_is_replaced_once(fake, http, now):
    # given
    client = client_for(fake, now)
    await client.send(http, TOKEN, NOTIFICATION)
    fake.revoke_access_tokens()

    # when
    outcome = await client.send(http, TOKEN, NOTIFICATION)

    # then
    assert outcome == Outcome.delivered()
    assert [r.status for r in fake.requests] == [200, 401, 200]
    assert len(fake.grants) == 2


async def test_an_unregistered_token_is_gone(fake, http, now):
    # given
    fake.unregister(TOKEN)

    # when
    outcome = await client_for(fake, now).send(http, TOKEN, NOTIFICATION)

    # then
    assert outcome == Outcome.gone("FCM 404 UNREGISTERED: Requested entity was not found.")
    [request] = fake.requests
    assert request.status == 404


@pytest.mark.parametrize(
    ("error_code", "kind"),
    [
        (
            "INVALID_ARGUMENT",
            "GONE",
        ),  # "The registration token is not a valid FCM registration token"
        ("SENDER_ID_MISMATCH", "GONE"),
        ("QUOTA_EXCEEDED", "RETRY"),
        ("UNAVAILABLE", "RETRY"),
        ("INTERNAL", "RETRY"),
    ],
)
async def test_google_errors_are_classified(fake, http, now, error_code, kind):
    fake.reply(TOKEN, error_code)

    outcome = await client_for(fake, now).send(http, TOKEN, NOTIFICATION)

    assert outcome.kind == kind
    assert outcome.reason.startswith(f"FCM {fake.requests[0].status} {error_code}")


async def test_retry_after_is_passed_on(fake, http, now):
    fake.reply(TOKEN, Reply("UNAVAILABLE", retry_after=30), Reply())
    client = client_for(fake, now)

    outcomes = [await client.send(http, TOKEN, NOTIFICATION) for _ in range(2)]

    assert outcomes == [
        Outcome.retry("FCM 503 UNAVAILABLE: The service is currently unavailable.", retry_after=30),
        Outcome.delivered(),
    ]


async def test_a_key_google_does_not_know_is_a_dead_letter(fake, http, now, tmp_path):
    # given: the file holds a key the token endpoint does not know
    assert fake.account is not None
    known = fake.account
    forged = fake.write_service_account("forged.json")
    fake.account = known

    client = client_for(fake, now, FCM_SERVICE_ACCOUNT_FILE=str(forged.file))

    # when
    outcome = await client.send(http, TOKEN, NOTIFICATION)

    # then
    assert outcome == Outcome.dead(
        "FCM credentials refused: OAuth 400 invalid_grant: Invalid JWT Signature."
    )
    assert fake.requests == []


async def test_another_project_is_a_dead_letter(fake, http, now):
    # given: the account's project is not the one the fake serves
    assert fake.account is not None
    document = json.loads(fake.account.file.read_text())
    document["project_id"] = "someone-else"
    fake.account.file.write_text(json.dumps(document))

    # when
    outcome = await client_for(fake, now).send(http, TOKEN, NOTIFICATION)

    # then
    assert outcome.kind == "DEAD"
    assert outcome.reason.startswith("FCM 403 (no errorCode): Permission")


async def test_a_token_endpoint_that_is_down_costs_a_retry(fake, http, now):
    # given
    client = client_for(fake, now)
    await fake.stop()

    # when
    outcome = await client.send(http, TOKEN, NOTIFICATION)

    # then
    assert outcome.kind == "RETRY"
    assert outcome.reason.startswith("FCM unreachable: ConnectError")


def test_without_settings_fcm_is_not_used():
    assert fcm.ServiceAccount.from_settings(Settings(_env_file=None)) is None


def test_a_file_that_is_no_service_account_is_refused(tmp_path):
    path = tmp_path / "key.json"
    path.write_text(json.dumps({"type": "service_account", "project_id": "p"}))

    with pytest.raises(ConfigurationError, match="missing client_email, private_key_id"):
        fcm.ServiceAccount.from_file(path)


@pytest.mark.parametrize(
    ("status", "body", "kind"),
    [
        (400, {"error": {"code": 400, "message": "x", "status": "INVALID_ARGUMENT", "details": [
            {"@type": fcm.BAD_REQUEST, "fieldViolations": [{"field": "message.token"}]}]}}, "GONE"),
        (400, {"error": {"code": 400, "message": "Invalid value at 'message.data[0].value'",
               "status": "INVALID_ARGUMENT", "details": [{"@type": fcm.BAD_REQUEST,
               "fieldViolations": [{"field": "message.data[0].value"}]}]}}, "DEAD"),
        (404, {"error": {"code": 404, "message": "Requested entity was not found.",
               "status": "NOT_FOUND", "details": []}}, "DEAD"),
        (502, "<html>bad gateway</html>", "RETRY"),
        (400, "garbage", "RETRY"),
    ],
)  # fmt: skip
def test_answers_are_classified(status, body, kind):
    document = body if isinstance(body, dict) else {}

    assert fcm.classify(status, document, {}).kind == kind
