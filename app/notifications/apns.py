"""The APNs provider API client: HTTP/2, token-based authentication.

One `ApnsClient` per worker process keeps one HTTP/2 connection open (Apple asks providers to
reuse connections rather than open one per notification) and one provider token: an ES256 JWT
`{"iss": team id, "iat": now}` with header `kid` = key id, signed with the `.p8` key. Apple refuses
a token older than an hour (403 ExpiredProviderToken) and a new token more often than once per 20
minutes (429 TooManyProviderTokenUpdates), so the token is renewed after 50 minutes, or at once
when Apple says it expired.
"""

from __future__ import annotations

import json
import logging
import ssl
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from app.outbox.channels import Outcome
from app.settings import ConfigurationError, Settings

log = logging.getLogger("app.notifications")

TOKEN_REFRESH_SECONDS = 50 * 60  # Apple: not older than 60 min, not renewed within 20 min
MAX_PAYLOAD_BYTES = 4096  # Apple's limit for an alert notification
TIMEOUT = httpx.Timeout(15.0, connect=10.0)
# Reasons that say the token will never work for this app: forget the device.
GONE_REASONS = frozenset({"BadDeviceToken", "DeviceTokenNotForTopic", "Unregistered"})
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


@dataclass(frozen=True, slots=True)
class ApnsConfig:
    base_url: str
    key: ec.EllipticCurvePrivateKey
    key_id: str
    team_id: str
    topic: str
    ca_file: str | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> ApnsConfig | None:
        """The configuration, or None when APNs is not set up. A key file that cannot be read
        is a ConfigurationError: half a configuration is a mistake, not a choice."""
        values = (
            settings.apns_key_file,
            settings.apns_key_id,
            settings.apns_team_id,
            settings.apns_topic,
        )
        if not any(values):
            return None
        if not all(values):
            raise ConfigurationError(
                "APNs needs all of APNS_KEY_FILE, APNS_KEY_ID, APNS_TEAM_ID and APNS_TOPIC"
            )
        assert settings.apns_key_file and settings.apns_key_id
        assert settings.apns_team_id and settings.apns_topic
        return cls(
            base_url=settings.apns_base_url,
            key=load_signing_key(Path(settings.apns_key_file)),
            key_id=settings.apns_key_id,
            team_id=settings.apns_team_id,
            topic=settings.apns_topic,
            ca_file=settings.apns_ca_file,
        )


def load_signing_key(path: Path) -> ec.EllipticCurvePrivateKey:
    """The `.p8` file Apple hands out: a PKCS#8 PEM of a P-256 key."""
    try:
        key = load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError) as error:
        raise ConfigurationError(f"APNS_KEY_FILE {path}: cannot read the key ({error})") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
        raise ConfigurationError(f"APNS_KEY_FILE {path}: not an ES256 (P-256) key")
    return key


class ProviderToken:
    """The cached provider JWT, renewed every TOKEN_REFRESH_SECONDS or when Apple rejects it."""

    def __init__(self, config: ApnsConfig, now: Callable[[], float]) -> None:
        self._config = config
        self._now = now
        self._token: str | None = None
        self._issued_at = 0

    def get(self) -> str:
        now = int(self._now())
        if self._token is None or now - self._issued_at >= TOKEN_REFRESH_SECONDS:
            self._token = jwt.encode(
                {"iss": self._config.team_id, "iat": now},
                self._config.key,
                algorithm="ES256",
                headers={"kid": self._config.key_id},
            )
            self._issued_at = now
        return self._token

    def expire(self, token: str) -> None:
        """Apple said `token` expired: the next `get` signs a new one, unless a concurrent
        sender renewed it already."""
        if self._token == token:
            self._token = None


@dataclass(frozen=True, slots=True)
class Alert:
    title: str
    body: str
    priority: int = 10  # 10: at once; 5: when the phone's power allows (marketing)
    ttl_seconds: int = 86400  # APNs keeps it this long for a phone that is offline
    custom: Mapping[str, Any] | None = None  # keys beside "aps", for the app


def payload(alert: Alert) -> bytes:
    """The JSON body, at most MAX_PAYLOAD_BYTES: a long body is cut, with an ellipsis."""
    body = alert.body
    while True:
        document: dict[str, Any] = {
            "aps": {"alert": {"title": alert.title, "body": body}, "sound": "default"},
        }
        document.update(alert.custom or {})
        encoded = json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()
        excess = len(encoded) - MAX_PAYLOAD_BYTES
        if excess <= 0 or not body:
            return encoded
        # cut the excess in UTF-8 bytes (and room for "…"), never inside a character
        kept = body.encode()[: max(0, len(body.encode()) - excess - len("…".encode()))]
        cut = kept.decode(errors="ignore").rstrip()
        body = cut + "…" if cut else ""


class ApnsClient:
    def __init__(
        self,
        config: ApnsConfig,
        *,
        now: Callable[[], float] = time.time,
        timeout: httpx.Timeout = TIMEOUT,
    ) -> None:
        self.config = config
        self._now = now
        self._token = ProviderToken(config, now)
        verify: ssl.SSLContext | bool = True
        if config.ca_file:
            verify = ssl.create_default_context(cafile=config.ca_file)
        # APNs speaks only HTTP/2: over https ALPN offers nothing else, over http:// (a local
        # relay) it is HTTP/2 with prior knowledge.
        self._http = httpx.AsyncClient(
            http1=False, http2=True, verify=verify, timeout=timeout, follow_redirects=False
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def send(self, device_token: str, alert: Alert, *, notification_id: uuid.UUID) -> Outcome:
        """Send one alert. Never raises for what APNs answers or for a network failure."""
        body = payload(alert)
        for attempt in (1, 2):
            provider_token = self._token.get()
            try:
                response = await self._http.post(
                    f"{self.config.base_url}/3/device/{device_token}",
                    content=body,
                    headers={
                        "authorization": f"bearer {provider_token}",
                        "apns-topic": self.config.topic,
                        "apns-push-type": "alert",
                        "apns-priority": str(alert.priority),
                        "apns-expiration": str(int(self._now()) + alert.ttl_seconds),
                        "apns-id": str(notification_id),
                        "content-type": "application/json",
                    },
                )
            except httpx.HTTPError as error:
                return Outcome.retry(f"APNs unreachable: {type(error).__name__}: {error}"[:300])
            reason = _reason(response)
            if response.status_code == 403 and reason == "ExpiredProviderToken" and attempt == 1:
                self._token.expire(provider_token)
                continue
            return classify(response.status_code, reason, response.headers.get("retry-after"))
        raise AssertionError("unreachable")  # pragma: no cover


def _reason(response: httpx.Response) -> str | None:
    if response.status_code == 200:
        return None
    try:
        document = response.json()
    except ValueError:
        return None
    reason = document.get("reason") if isinstance(document, dict) else None
    return reason if isinstance(reason, str) else None


def classify(status: int, reason: str | None, retry_after: str | None = None) -> Outcome:
    """APNs' answer as the outbox understands it (Apple's "Handling notification responses")."""
    if status == 200:
        return Outcome.delivered()
    described = f"APNs {status} {reason or '(no reason)'}"
    if status == 410 or (status == 400 and reason in GONE_REASONS):
        return Outcome.gone(described)
    if status in RETRY_STATUSES or status >= 500 or reason == "ExpiredProviderToken":
        return Outcome.retry(described, retry_after=_seconds(retry_after))
    if reason is not None and status in (400, 403, 404, 405, 413):
        # our request or our credentials are wrong: trying again will not help
        return Outcome.dead(described)
    return Outcome.retry(described)  # an answer that is not APNs': maybe a proxy, maybe later


def _seconds(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None
