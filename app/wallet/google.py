"""Google Wallet: the loyalty class and a member's loyalty object, the REST client that inserts
and patches them with a service-account OAuth token, and the "Save to Google Wallet" JWT.

The REST base URL is a setting (GOOGLE_WALLET_BASE_URL); the OAuth token endpoint is the service
account's own `token_uri`, as Google's client libraries do. Tests point both at a fake on
127.0.0.1.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import jwt

SCOPE = "https://www.googleapis.com/auth/wallet_object.issuer"
SAVE_URL = "https://pay.google.com/gp/v/save/"
MAX_SAVE_URL = 1800  # Google: a save link longer than this may be cut by browsers
TIMEOUT = httpx.Timeout(15.0, connect=10.0)
TOKEN_MARGIN_SECONDS = 300  # renew a token this long before Google says it expires
BACKGROUND = "#124a5e"  # the Apple card's rgb(18, 74, 94)


class GoogleWalletError(Exception):
    """Google answered something else than success; `status` is its HTTP status (0: no answer)."""

    def __init__(self, message: str, *, status: int = 0, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


@dataclass(frozen=True, slots=True)
class ServiceAccount:
    client_email: str
    private_key: str  # PEM
    private_key_id: str | None
    token_uri: str


@lru_cache(maxsize=4)
def load_service_account(path: str) -> ServiceAccount:
    """The service account's JSON key file, as the Cloud console downloads it. Raises ValueError
    when it is not one."""
    try:
        document = json.loads(Path(path).read_text())
        return ServiceAccount(
            client_email=document["client_email"],
            private_key=document["private_key"],
            private_key_id=document.get("private_key_id"),
            token_uri=document["token_uri"],
        )
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ValueError(f"{path}: not a service-account key file ({error})") from None


# -- what Google stores ----------------------------------------------------------------------------


def class_id(issuer_id: str, suffix: str) -> str:
    return f"{issuer_id}.{suffix}"


def object_id(issuer_id: str, serial_number: str) -> str:
    return f"{issuer_id}.{serial_number}"


def loyalty_class(*, class_id: str, program_name: str, logo_url: str) -> dict[str, Any]:
    return {
        "id": class_id,
        "issuerName": program_name,
        "programName": program_name,
        "programLogo": {
            "sourceUri": {"uri": logo_url},
            "contentDescription": {
                "defaultValue": {"language": "en-US", "value": f"{program_name} logo"}
            },
        },
        "hexBackgroundColor": BACKGROUND,
        "reviewStatus": "UNDER_REVIEW",
    }


def object_fields(
    *, member_name: str, card_number: str, balance: int, tier_name: str, static_code: str
) -> dict[str, Any]:
    """The fields of a loyalty object that follow the member: what a PATCH sends."""
    return {
        "state": "ACTIVE",
        "accountId": card_number,
        "accountName": member_name,
        "loyaltyPoints": {"label": "Points", "balance": {"int": balance}},
        "secondaryLoyaltyPoints": {"label": "Tier", "balance": {"string": tier_name}},
        "barcode": {"type": "QR_CODE", "value": static_code, "alternateText": card_number},
    }


def loyalty_object(*, object_id: str, class_id: str, fields: dict[str, Any]) -> dict[str, Any]:
    return {"id": object_id, "classId": class_id, **fields}


def save_url(
    account: ServiceAccount, object_id: str, *, origins: list[str], now: dt.datetime
) -> str:
    """The "Save to Google Wallet" link: a JWT signed RS256 with the service account's key that
    names an object inserted over REST before (so the JWT stays short)."""
    claims = {
        "iss": account.client_email,
        "aud": "google",
        "typ": "savetowallet",
        "iat": int(now.timestamp()),
        "origins": origins,
        "payload": {"loyaltyObjects": [{"id": object_id}]},
    }
    headers = {"kid": account.private_key_id} if account.private_key_id else None
    token = jwt.encode(claims, account.private_key, algorithm="RS256", headers=headers)
    url = SAVE_URL + token
    if len(url) >= MAX_SAVE_URL:
        raise ValueError(
            f"the save link is {len(url)} characters, Google's limit is {MAX_SAVE_URL}"
        )
    return url


# -- the REST client --------------------------------------------------------------------------------


class _TokenCache:
    """Access tokens by (token endpoint, account), shared by the process: a token lives an hour,
    and fetching one per request would cost a round trip each."""

    def __init__(self) -> None:
        self._tokens: dict[tuple[str, str], tuple[str, float]] = {}
        self._lock = asyncio.Lock()

    def get(self, key: tuple[str, str], now: float) -> str | None:
        cached = self._tokens.get(key)
        return cached[0] if cached and cached[1] > now else None

    def put(self, key: tuple[str, str], token: str, expires_at: float) -> None:
        self._tokens[key] = (token, expires_at)

    def drop(self, key: tuple[str, str], token: str) -> None:
        if self._tokens.get(key, ("", 0))[0] == token:
            del self._tokens[key]


TOKENS = _TokenCache()


class WalletClient:
    def __init__(
        self,
        base_url: str,
        account: ServiceAccount,
        http: httpx.AsyncClient,
        *,
        now: Callable[[], float] = time.time,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.account = account
        self.http = http
        self._now = now
        self._key = (account.token_uri, account.client_email)

    async def access_token(self) -> str:
        cached = TOKENS.get(self._key, self._now())
        if cached:
            return cached
        issued = int(self._now())
        assertion = jwt.encode(
            {
                "iss": self.account.client_email,
                "scope": SCOPE,
                "aud": self.account.token_uri,
                "iat": issued,
                "exp": issued + 3600,
            },
            self.account.private_key,
            algorithm="RS256",
            headers={"kid": self.account.private_key_id} if self.account.private_key_id else None,
        )
        response = await self._send(
            "POST",
            self.account.token_uri,
            data={
                "grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
                "assertion": assertion,
            },
        )
        try:
            document = response.json()
            token = document["access_token"]
            lifetime = float(document.get("expires_in", 3600))
        except (ValueError, KeyError, TypeError):
            raise GoogleWalletError(
                f"OAuth token endpoint answered {response.status_code} without a token",
                status=response.status_code,
            ) from None
        if not isinstance(token, str) or not token:
            raise GoogleWalletError("OAuth token endpoint answered an empty token")
        TOKENS.put(self._key, token, issued + lifetime - TOKEN_MARGIN_SECONDS)
        return token

    async def _send(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        try:
            response = await self.http.request(method, url, timeout=TIMEOUT, **kwargs)
        except httpx.HTTPError as error:
            raise GoogleWalletError(
                f"Google unreachable: {type(error).__name__}: {error}"
            ) from None
        if response.status_code >= 400 and url == self.account.token_uri:
            raise GoogleWalletError(
                f"OAuth token endpoint answered {response.status_code}: {response.text[:200]}",
                status=response.status_code,
            )
        return response

    async def _call(self, method: str, path: str, body: dict[str, Any]) -> httpx.Response:
        """One REST call with the access token; a token Google refuses (401) is renewed once."""
        for attempt in (1, 2):
            token = await self.access_token()
            response = await self._send(
                method,
                f"{self.base_url}/walletobjects/v1/{path}",
                json=body,
                headers={"authorization": f"Bearer {token}"},
            )
            if response.status_code == 401 and attempt == 1:
                TOKENS.drop(self._key, token)
                continue
            return response
        raise AssertionError("unreachable")  # pragma: no cover

    async def insert(self, kind: str, body: dict[str, Any]) -> bool:
        """Insert a `loyaltyClass` or `loyaltyObject`; False when it exists already (409)."""
        response = await self._call("POST", kind, body)
        if response.status_code == 409:
            return False
        _raise_for(response, f"insert {kind}")
        return True

    async def patch_object(self, object_id: str, fields: dict[str, Any]) -> None:
        response = await self._call("PATCH", f"loyaltyObject/{quote(object_id, safe='')}", fields)
        _raise_for(response, "patch loyaltyObject")


def _raise_for(response: httpx.Response, what: str) -> None:
    if response.status_code < 300:
        return
    retry_after: float | None = None
    try:
        retry_after = float(response.headers.get("retry-after", ""))
    except ValueError:
        retry_after = None
    raise GoogleWalletError(
        f"Google Wallet {what}: {response.status_code} {response.text[:200]}",
        status=response.status_code,
        retry_after=retry_after,
    )
