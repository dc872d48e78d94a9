"""The APNs client against the fake APNs: HTTP/2 over TLS on 127.0.0.1, token authentication."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator

import httpx
import jwt
import pytest
import pytest_asyncio

from app.notifications import apns
from app.outbox.channels import Outcome
from app.settings import ConfigurationError, Settings
from tests.fakes.apns import ApnsKey, FakeAPNs, Reply

TOPIC = "com.example.loyalty"
TOKEN = "c0ffee" * 10 + "abcd"  # 64 hex digits
ALERT = apns.Alert(title="Points earned", body="You earned 120 points.", custom={"type": "t"})


class Time:
    """One clock for the client and the fake, moved by hand."""

    def __init__(self) -> None:
        self.value = 1_780_000_000.0

    def __call__(self) -> float:
        return self.value


@pytest.fixture
def now() -> Time:
    return Time()


@pytest.fixture
def key(tmp_path) -> ApnsKey:
    return ApnsKey.make(tmp_path)


@pytest_asyncio.fixture
async def fake(tmp_path, key, now) -> AsyncIterator[FakeAPNs]:
    async with FakeAPNs(
        tmp_path,
        topic=TOPIC,
        team_id=key.team_id,
        key_id=key.key_id,
        public_key=key.public_key,
        now=now,
    ) as server:
        yield server


def config_for(fake: FakeAPNs, key: ApnsKey, **overrides) -> apns.ApnsConfig:
    values = {
        "APNS_BASE_URL": fake.base_url,
        "APNS_KEY_FILE": str(key.key_file),
        "APNS_KEY_ID": key.key_id,
        "APNS_TEAM_ID": key.team_id,
        "APNS_TOPIC": TOPIC,
        "APNS_CA_FILE": str(fake.ca_file) if fake.ca_file else None,
        **overrides,
    }
    config = apns.ApnsConfig.from_settings(Settings(_env_file=None, **values))
    assert config is not None
    return config


@pytest_asyncio.fixture
async def client(fake, key, now) -> AsyncIterator[apns.ApnsClient]:
    client = apns.ApnsClient(config_for(fake, key), now=now)
    yield client
    await client.aclose()


async def test_sends_an_alert_as_apple_expects(fake, client, key, now):
    # given
    notification_id = uuid.uuid4()

    # when
    outcome = await client.send(TOKEN, ALERT, notification_id=notification_id)

    # then
    assert outcome == Outcome.delivered()
    assert (fake.connections, fake.refused_connections) == (1, 0)  # TLS, ALPN h2
    [request] = fake.requests
    assert (request.method, request.path, request.status) == ("POST", f"/3/device/{TOKEN}", 200)
    headers = request.headers
    assert headers[":scheme"] == "https"
    assert headers["apns-topic"] == TOPIC
    assert headers["apns-push-type"] == "alert"
    assert headers["apns-priority"] == "10"
    assert headers["apns-expiration"] == str(int(now()) + 86400)
    assert headers["apns-id"] == str(notification_id)
    assert request.jwt_claims == {"iss": key.team_id, "iat": int(now())}
    provider_token = headers["authorization"].removeprefix("bearer ")
    assert jwt.get_unverified_header(provider_token) == {
        "alg": "ES256",
        "kid": key.key_id,
        "typ": "JWT",
    }
    assert request.json == {
        "aps": {
            "alert": {"title": "Points earned", "body": "You earned 120 points."},
            "sound": "default",
        },
        "type": "t",
    }


async def test_one_connection_and_one_provider_token_for_many_pushes(fake, client, now):
    # when: ten pushes at once, then more 19 minutes later
    outcomes = await asyncio.gather(
        *(client.send(TOKEN, ALERT, notification_id=uuid.uuid4()) for _ in range(10))
    )
    now.value += 19 * 60
    outcomes.append(await client.send(TOKEN, ALERT, notification_id=uuid.uuid4()))

    # then: Apple refuses a new token within 20 minutes of the last (TooManyProviderTokenUpdates)
    assert outcomes == [Outcome.delivered()] * 11
    assert fake.connections == 1
    assert len({r.headers["authorization"] for r in fake.requests}) == 1


async def test_the_provider_token_is_renewed_before_the_hour(fake, client, now):
    # given
    await client.send(TOKEN, ALERT, notification_id=uuid.uuid4())

    # when: 50 minutes on
    now.value += 50 * 60
    outcome = await client.send(TOKEN, ALERT, notification_id=uuid.uuid4())

    # then
    assert outcome == Outcome.delivered()
    first, second = fake.requests
    assert first.headers["authorization"] != second.headers["authorization"]
    assert second.jwt_claims is not None
    assert second.jwt_claims["iat"] == int(now())


async def test_an_expired_provider_token_is_renewed_and_the_push_sent_again(fake, client):
    # given: Apple says the token expired (its clock and ours disagree)
    fake.reply(TOKEN, Reply(403, "ExpiredProviderToken"), Reply(200))

    # when
    outcome = await client.send(TOKEN, ALERT, notification_id=uuid.uuid4())

    # then
    assert outcome == Outcome.delivered()
    assert [r.status for r in fake.requests] == [403, 200]
    refused, accepted = fake.requests
    assert refused.headers["authorization"] != accepted.headers["authorization"]


async def test_a_provider_token_older_than_an_hour_is_refused(fake, key, now):
    # given: a client whose clock runs 61 minutes behind Apple's
    behind = Time()
    behind.value = now.value - 61 * 60
    client = apns.ApnsClient(config_for(fake, key), now=behind)

    # when
    try:
        outcome = await client.send(TOKEN, ALERT, notification_id=uuid.uuid4())
    finally:
        await client.aclose()

    # then: renewed once, still expired: a retry for later, not a dead letter
    assert outcome == Outcome.retry("APNs 403 ExpiredProviderToken")
    assert [(r.status, r.reason) for r in fake.requests] == [
        (403, "ExpiredProviderToken"),
        (403, "ExpiredProviderToken"),
    ]


async def test_a_removed_app_is_gone(fake, client):
    # given
    fake.unregister(TOKEN)

    # when
    outcome = await client.send(TOKEN, ALERT, notification_id=uuid.uuid4())

    # then
    assert outcome == Outcome.gone("APNs 410 Unregistered")
    [request] = fake.requests
    assert request.status == 410


async def test_a_bad_device_token_is_gone(fake, client):
    fake.reply(TOKEN, Reply(400, "BadDeviceToken"))

    outcome = await client.send(TOKEN, ALERT, notification_id=uuid.uuid4())

    assert outcome == Outcome.gone("APNs 400 BadDeviceToken")


async def test_busy_apns_is_a_retry(fake, client):
    # given
    fake.reply(TOKEN, Reply(503, "ServiceUnavailable"), Reply(429, "TooManyRequests"), Reply(200))

    # when
    outcomes = [await client.send(TOKEN, ALERT, notification_id=uuid.uuid4()) for _ in range(3)]

    # then
    assert outcomes == [
        Outcome.retry("APNs 503 ServiceUnavailable"),
        Outcome.retry("APNs 429 TooManyRequests"),
        Outcome.delivered(),
    ]


async def test_a_wrong_topic_is_a_dead_letter(fake, key, now):
    client = apns.ApnsClient(config_for(fake, key, APNS_TOPIC="com.example.other"), now=now)
    try:
        outcome = await client.send(TOKEN, ALERT, notification_id=uuid.uuid4())
    finally:
        await client.aclose()

    assert outcome == Outcome.dead("APNs 400 TopicDisallowed")


async def test_a_key_apple_does_not_know_is_a_dead_letter(fake, tmp_path, now):
    # given: another key under the same key id
    (tmp_path / "other").mkdir()
    stranger = ApnsKey.make(tmp_path / "other", key_id="ABC123DEFG")
    client = apns.ApnsClient(config_for(fake, stranger), now=now)

    # when
    try:
        outcome = await client.send(TOKEN, ALERT, notification_id=uuid.uuid4())
    finally:
        await client.aclose()

    # then
    assert outcome == Outcome.dead("APNs 403 InvalidProviderToken")


async def test_a_long_body_is_shortened_to_fit_4_kib(fake, client):
    # given
    alert = apns.Alert(title="Новое предложение", body="Очень длинный текст. " * 300)

    # when
    outcome = await client.send(TOKEN, alert, notification_id=uuid.uuid4())

    # then
    assert outcome == Outcome.delivered()
    [request] = fake.requests
    assert 4000 < len(request.body) <= 4096
    assert request.json["aps"]["alert"]["body"].endswith("…")


async def test_an_untrusted_certificate_is_not_apns(fake, key, now):
    # given: no APNS_CA_FILE, so the fake's certificate is not trusted
    client = apns.ApnsClient(config_for(fake, key, APNS_CA_FILE=None), now=now)

    # when
    try:
        outcome = await client.send(TOKEN, ALERT, notification_id=uuid.uuid4())
    finally:
        await client.aclose()

    # then
    assert outcome.kind == "RETRY"
    assert outcome.reason.startswith("APNs unreachable: ConnectError")
    assert "CERTIFICATE_VERIFY_FAILED" in outcome.reason
    assert fake.requests == []


async def test_speaks_h2c_to_a_plain_relay(tmp_path, key, now):
    async with FakeAPNs(
        tmp_path,
        topic=TOPIC,
        team_id=key.team_id,
        key_id=key.key_id,
        public_key=key.public_key,
        tls=False,
        now=now,
    ) as relay:
        client = apns.ApnsClient(config_for(relay, key), now=now)
        try:
            outcome = await client.send(TOKEN, ALERT, notification_id=uuid.uuid4())
        finally:
            await client.aclose()

    assert outcome == Outcome.delivered()
    assert relay.requests[0].headers[":scheme"] == "http"


async def test_a_provider_that_never_answers_costs_a_retry(key, now):
    # given: a server that accepts connections and says nothing
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(-1)
        writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    settings = Settings(
        _env_file=None,
        APNS_BASE_URL=f"http://127.0.0.1:{port}",
        APNS_KEY_FILE=str(key.key_file),
        APNS_KEY_ID=key.key_id,
        APNS_TEAM_ID=key.team_id,
        APNS_TOPIC=TOPIC,
    )
    config = apns.ApnsConfig.from_settings(settings)
    assert config is not None
    client = apns.ApnsClient(config, now=now, timeout=httpx.Timeout(0.5))

    # when
    try:
        outcome = await client.send(TOKEN, ALERT, notification_id=uuid.uuid4())
    finally:
        await client.aclose()
        server.close()

    # then
    assert outcome.kind == "RETRY"
    assert outcome.reason.startswith("APNs unreachable: ReadTimeout")


def test_without_settings_apns_is_not_used():
    assert apns.ApnsConfig.from_settings(Settings(_env_file=None)) is None


def test_half_a_configuration_is_refused(key):
    with pytest.raises(ConfigurationError, match="APNS_KEY_FILE, APNS_KEY_ID"):
        apns.ApnsConfig.from_settings(
            Settings(_env_file=None, APNS_KEY_FILE=str(key.key_file), APNS_TOPIC=TOPIC)
        )


def test_a_key_that_is_not_p256_is_refused(tmp_path):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    path = tmp_path / "AuthKey.p8"
    path.write_bytes(
        ec.generate_private_key(ec.SECP384R1()).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )

    with pytest.raises(ConfigurationError, match="not an ES256"):
        apns.load_signing_key(path)


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (200, None, Outcome.delivered()),
        (410, {"reason": "Unregistered", "timestamp": 1}, Outcome.gone("APNs 410 Unregistered")),
        (400, {"reason": "BadDeviceToken"}, Outcome.gone("APNs 400 BadDeviceToken")),
        (
            400,
            {"reason": "DeviceTokenNotForTopic"},
            Outcome.gone("APNs 400 DeviceTokenNotForTopic"),
        ),
        (400, {"reason": "BadPriority"}, Outcome.dead("APNs 400 BadPriority")),
        (413, {"reason": "PayloadTooLarge"}, Outcome.dead("APNs 413 PayloadTooLarge")),
        (500, {"reason": "InternalServerError"}, Outcome.retry("APNs 500 InternalServerError")),
        (502, "<html>Bad gateway</html>", Outcome.retry("APNs 502 (no reason)")),
        (400, "garbage", Outcome.retry("APNs 400 (no reason)")),
        (418, {"reason": "Teapot"}, Outcome.retry("APNs 418 Teapot")),
    ],
)
def test_answers_are_classified(status, body, expected):
    content = body if isinstance(body, str) else json.dumps(body) if body else ""
    response = httpx.Response(status, content=content.encode())

    assert apns.classify(status, apns._reason(response)) == expected


def test_production_wants_https_providers():
    settings = Settings(
        _env_file=None,
        LOYALTY_ENV="production",
        APNS_BASE_URL="http://127.0.0.1:2197",
        FCM_BASE_URL="http://fcm.internal",
    )

    problems = settings.production_problems()

    assert "APNS_BASE_URL must be an https:// address in production" in problems
    assert "FCM_BASE_URL must be an https:// address in production" in problems
