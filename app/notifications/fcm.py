"""The FCM HTTP v1 client, authenticated as a service account.

The access token comes from Google's OAuth 2.0 token endpoint (`token_uri` in the service
account's JSON key) by the JWT bearer grant (RFC 7523): a JWT signed RS256 with the account's key,
`iss` = the account's e-mail, `aud` = the token URI, `scope` = firebase.messaging, valid an hour.
The token is kept until a minute before it expires. Sends go to
`{FCM_BASE_URL}/v1/projects/<project_id>/messages:send`.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from app.outbox.channels import Outcome
from app.settings import ConfigurationError, Settings

SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
GRANT_TYPE = "urn:ietf:params:oauth:grant-type:jwt-bearer"
ASSERTION_SECONDS = 3600  # Google's maximum
EXPIRY_MARGIN_SECONDS = 60
TIMEOUT = httpx.Timeout(15.0, connect=10.0)
FCM_ERROR = "type.googleapis.com/google.firebase.fcm.v1.FcmError"
BAD_REQUEST = "type.googleapis.com/google.rpc.BadRequest"
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


@dataclass(frozen=True, slots=True)
class ServiceAccount:
    project_id: str
    client_email: str
    private_key_id: str
    private_key: rsa.RSAPrivateKey
    token_uri: str

    @classmethod
    def from_file(cls, path: Path) -> ServiceAccount:
        try:
            document = json.loads(path.read_text())
        except (OSError, ValueError) as error:
            raise ConfigurationError(
                f"FCM_SERVICE_ACCOUNT_FILE {path}: cannot read it ({error})"
            ) from None
        fields = ("project_id", "client_email", "private_key_id", "private_key", "token_uri")
        missing = [
            name
            for name in fields
            if not isinstance(document, dict) or not isinstance(document.get(name), str)
        ]
        if missing:
            raise ConfigurationError(
                f"FCM_SERVICE_ACCOUNT_FILE {path}: not a service account key "
                f"(missing {', '.join(missing)})"
            )
        try:
            key = load_pem_private_key(document["private_key"].encode(), password=None)
        except ValueError as error:
            raise ConfigurationError(
                f"FCM_SERVICE_ACCOUNT_FILE {path}: unreadable private_key ({error})"
            ) from None
        if not isinstance(key, rsa.RSAPrivateKey):
            raise ConfigurationError(f"FCM_SERVICE_ACCOUNT_FILE {path}: private_key is not RSA")
        return cls(
            project_id=document["project_id"],
            client_email=document["client_email"],
            private_key_id=document["private_key_id"],
            private_key=key,
            token_uri=document["token_uri"],
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> ServiceAccount | None:
        if not settings.fcm_service_account_file:
            return None
        return cls.from_file(Path(settings.fcm_service_account_file))


@dataclass(frozen=True, slots=True)
class Notification:
    title: str
    body: str
    data: Mapping[str, str]  # FCM refuses non-string values
    high_priority: bool = True


class TokenRefused(Exception):
    """The OAuth endpoint refused the grant (a wrong or revoked key, a skewed clock)."""

    def __init__(self, status: int, error: object, description: object) -> None:
        self.status = status
        text = ": ".join(str(part) for part in (error, description) if part) or "(no reason)"
        super().__init__(f"OAuth {status} {text}")

    @property
    def permanent(self) -> bool:
        """Google refused these credentials; trying them again will not help."""
        return self.status in (400, 401, 403)


class FcmClient:
    def __init__(
        self,
        account: ServiceAccount,
        base_url: str,
        *,
        now: Callable[[], float] = time.time,
        timeout: httpx.Timeout = TIMEOUT,
    ) -> None:
        self.account = account
        self.timeout = timeout
        self.base_url = base_url
        self._now = now
        self._access_token: str | None = None
        self._expires_at = 0.0
        self._lock = asyncio.Lock()

    async def access_token(self, http: httpx.AsyncClient) -> str:
        """The cached OAuth token, or a new one; concurrent senders wait for one grant."""
        async with self._lock:
            if self._access_token is None or self._now() >= self._expires_at:
                now = int(self._now())
                assertion = jwt.encode(
                    {
                        "iss": self.account.client_email,
                        "scope": SCOPE,
                        "aud": self.account.token_uri,
                        "iat": now,
                        "exp": now + ASSERTION_SECONDS,
                    },
                    self.account.private_key,
                    algorithm="RS256",
                    headers={"kid": self.account.private_key_id},
                )
                response = await http.post(
                    self.account.token_uri,
                    data={"grant_type": GRANT_TYPE, "assertion": assertion},
                    timeout=self.timeout,
                )
                document = _json(response)
                token = document.get("access_token")
                if response.status_code != 200 or not isinstance(token, str):
                    raise TokenRefused(
                        response.status_code,
                        document.get("error"),
                        document.get("error_description"),
                    )
                expires_in = document.get("expires_in")
                lifetime = expires_in if isinstance(expires_in, int) else ASSERTION_SECONDS
                self._access_token = token
                self._expires_at = now + lifetime - EXPIRY_MARGIN_SECONDS
            return self._access_token

    def _forget(self, token: str) -> None:
        if self._access_token == token:
            self._access_token = None

    async def send(
        self, http: httpx.AsyncClient, device_token: str, notification: Notification
    ) -> Outcome:
        """Send one notification. Never raises for what Google answers or a network failure."""
        message: dict[str, Any] = {
            "token": device_token,
            "notification": {"title": notification.title, "body": notification.body},
            "data": dict(notification.data),
            "android": {"priority": "HIGH" if notification.high_priority else "NORMAL"},
        }
        url = f"{self.base_url}/v1/projects/{self.account.project_id}/messages:send"
        for attempt in (1, 2):
            try:
                access_token = await self.access_token(http)
                response = await http.post(
                    url,
                    json={"message": message},
                    headers={"authorization": f"Bearer {access_token}"},
                    timeout=self.timeout,
                )
            except TokenRefused as error:
                if error.permanent:
                    return Outcome.dead(f"FCM credentials refused: {error}"[:300])
                return Outcome.retry(f"FCM credentials: {error}"[:300])
            except httpx.HTTPError as error:
                return Outcome.retry(f"FCM unreachable: {type(error).__name__}: {error}"[:300])
            if response.status_code == 401 and attempt == 1:
                self._forget(access_token)  # revoked or expired early: one new grant, once
                continue
            return classify(response.status_code, _json(response), response.headers)
        raise AssertionError("unreachable")  # pragma: no cover


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        document = response.json()
    except ValueError:
        return {}
    return document if isinstance(document, dict) else {}


def error_code(document: Mapping[str, Any]) -> tuple[str | None, bool]:
    """The FcmError `errorCode` of an error body, and whether a field violation names the
    token (`message.token`)."""
    error = document.get("error")
    details = error.get("details") if isinstance(error, dict) else None
    code: str | None = None
    about_token = False
    for detail in details if isinstance(details, list) else []:
        if not isinstance(detail, dict):
            continue
        if detail.get("@type") == FCM_ERROR and isinstance(detail.get("errorCode"), str):
            code = detail["errorCode"]
        if detail.get("@type") == BAD_REQUEST:
            violations = detail.get("fieldViolations")
            for violation in violations if isinstance(violations, list) else []:
                if isinstance(violation, dict) and violation.get("field") == "message.token":
                    about_token = True
    return code, about_token


def classify(status: int, document: Mapping[str, Any], headers: Mapping[str, str]) -> Outcome:
    """Google's answer as the outbox understands it (FCM's "ErrorCode" reference)."""
    if status == 200:
        return Outcome.delivered()
    code, about_token = error_code(document)
    error = document.get("error")
    message = error.get("message") if isinstance(error, dict) else None
    described = f"FCM {status} {code or '(no errorCode)'}: {message or ''}".strip()[:300]
    if code == "UNREGISTERED":  # the app was uninstalled, or the token expired
        return Outcome.gone(described)
    if code == "SENDER_ID_MISMATCH":  # the token belongs to another Firebase project
        return Outcome.gone(described)
    if status == 400 and (about_token or _says_token(message)):
        return Outcome.gone(described)
    if status in RETRY_STATUSES or status >= 500:
        return Outcome.retry(described, retry_after=_seconds(headers.get("retry-after")))
    if isinstance(error, dict) and status in (400, 401, 403, 404):
        return Outcome.dead(described)
    return Outcome.retry(described)  # not Google's error shape: a proxy, a hiccup


def _says_token(message: object) -> bool:
    return isinstance(message, str) and "registration token" in message.lower()


def _seconds(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None
