"""A fake FCM HTTP v1 endpoint and Google OAuth 2.0 token endpoint on 127.0.0.1 (HTTP/1.1).

The token endpoint (`POST /token`, the service account's `token_uri`) checks the JWT bearer grant
as Google does: form-encoded `grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer` and an
`assertion` signed RS256 with the service account's key (header `kid` = `private_key_id`), `iss` =
the account's e-mail, `aud` = the token URI, a `scope` with firebase.messaging, `exp` at most an
hour after `iat`. It answers `{"access_token", "expires_in": 3599, "token_type": "Bearer"}` or
Google's `{"error": "invalid_grant", "error_description": ...}`.

The send endpoint (`POST /v1/projects/<id>/messages:send`) wants `Authorization: Bearer` with a
token the fake issued and has not revoked (else 401 UNAUTHENTICATED), the right project (else 403
PERMISSION_DENIED), and a message with one `token`, `notification.title/body` strings and `data`
values that are all strings (else 400 INVALID_ARGUMENT with a google.rpc.BadRequest). Answers are
Google's JSON, e.g. 404 `{"error": {"code": 404, "status": "NOT_FOUND", "details": [{"@type":
"type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": "UNREGISTERED"}]}}`.
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fakes.local_server import LocalServer

SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
GRANT_TYPE = "urn:ietf:params:oauth:grant-type:jwt-bearer"
FCM_ERROR = "type.googleapis.com/google.firebase.fcm.v1.FcmError"
BAD_REQUEST = "type.googleapis.com/google.rpc.BadRequest"
_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}
_MESSAGES = {
    "UNREGISTERED": "Requested entity was not found.",
    "INVALID_ARGUMENT": "The registration token is not a valid FCM registration token",
    "SENDER_ID_MISMATCH": "SenderId mismatch",
    "QUOTA_EXCEEDED": "Quota exceeded for quota metric 'Send requests'.",
    "UNAVAILABLE": "The service is currently unavailable.",
    "INTERNAL": "Internal error encountered.",
}
_ERROR_STATUS = {
    "UNREGISTERED": 404,
    "INVALID_ARGUMENT": 400,
    "SENDER_ID_MISMATCH": 403,
    "QUOTA_EXCEEDED": 429,
    "UNAVAILABLE": 503,
    "INTERNAL": 500,
}


@dataclass(frozen=True)
class Reply:
    """An answer for a registration token: "OK" or an FcmError errorCode (UNREGISTERED...)."""

    error_code: str | None = None
    retry_after: int | None = None


@dataclass
class FcmRequest:
    path: str
    headers: dict[str, str]
    body: bytes
    status: int = 0
    error_code: str | None = None

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def message(self) -> dict[str, Any]:
        return self.json["message"]


@dataclass
class TokenGrant:
    claims: dict[str, Any]
    header: dict[str, Any]
    access_token: str | None  # None when refused
    error: str | None = None


@dataclass(frozen=True)
class ServiceAccountKey:
    """A service account JSON key file as the Firebase console hands it out."""

    file: Path
    public_key: rsa.RSAPublicKey
    project_id: str
    client_email: str
    private_key_id: str


def google_error(status: int, message: str, details: list[dict[str, Any]]) -> JSONResponse:
    return JSONResponse(
        {
            "error": {
                "code": status,
                "message": message,
                "status": _STATUS.get(status, "UNKNOWN"),
                "details": details,
            }
        },
        status_code=status,
    )


class FakeFCM:
    def __init__(
        self,
        directory: Path,
        *,
        project_id: str = "loyalty-test",
        client_email: str = "push@loyalty-test.iam.gserviceaccount.com",
        now: Callable[[], float] = time.time,
    ) -> None:
        self.directory = directory
        self.project_id = project_id
        self.client_email = client_email
        self.now = now
        self.requests: list[FcmRequest] = []  # sends, accepted or refused
        self.grants: list[TokenGrant] = []  # token endpoint calls
        self.account: ServiceAccountKey | None = None
        self._replies: dict[str, list[Reply]] = {}
        self._issued: dict[str, float] = {}  # access token → expiry
        self._counter = itertools.count(1)
        self._local = LocalServer()

    # -- configuration ---------------------------------------------------------------------------

    def reply(self, registration_token: str, *replies: Reply | str | None) -> None:
        """Answer this token with these replies in turn (an errorCode or None for OK); the last
        one sticks."""
        self._replies[registration_token] = [
            r if isinstance(r, Reply) else Reply(r) for r in replies
        ]

    def unregister(self, registration_token: str) -> None:
        self.reply(registration_token, "UNREGISTERED")

    def revoke_access_tokens(self) -> None:
        """Every access token issued so far is refused from now on (401)."""
        self._issued.clear()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._local.port}"

    @property
    def token_uri(self) -> str:
        return f"{self.base_url}/token"

    def to(self, registration_token: str) -> list[FcmRequest]:
        return [
            r for r in self.requests if r.json.get("message", {}).get("token") == registration_token
        ]

    def write_service_account(self, name: str = "service-account.json") -> ServiceAccountKey:
        """A service account key file naming this fake's token endpoint; call after start()."""
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        private_key_id = f"{next(self._counter):040x}"
        document = {
            "type": "service_account",
            "project_id": self.project_id,
            "private_key_id": private_key_id,
            "private_key": key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ).decode(),
            "client_email": self.client_email,
            "client_id": "100000000000000000000",
            "auth_uri": "https://accounts.google.com/o/oauth2/auth",
            "token_uri": self.token_uri,
            "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
            "universe_domain": "googleapis.com",
        }
        path = self.directory / name
        path.write_text(json.dumps(document, indent=2))
        self.account = ServiceAccountKey(
            path, key.public_key(), self.project_id, self.client_email, private_key_id
        )
        return self.account

    # -- lifecycle -------------------------------------------------------------------------------

    async def start(self) -> None:
        app = Starlette(
            routes=[
                Route("/token", self._token, methods=["POST"]),
                Route("/v1/projects/{project}/messages:send", self._send, methods=["POST"]),
            ]
        )
        await self._local.start(app)

    async def stop(self) -> None:
        await self._local.stop()

    async def __aenter__(self) -> FakeFCM:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    # -- OAuth -----------------------------------------------------------------------------------

    async def _token(self, request: Request) -> Response:
        body = (await request.body()).decode()
        if request.headers.get("content-type", "").split(";")[0] != (
            "application/x-www-form-urlencoded"
        ):
            return JSONResponse({"error": "invalid_request"}, status_code=400)
        form = {name: values[0] for name, values in parse_qs(body).items()}
        if form.get("grant_type") != GRANT_TYPE:
            return JSONResponse(
                {"error": "unsupported_grant_type", "error_description": "Invalid grant_type: "},
                status_code=400,
            )
        assertion = form.get("assertion", "")
        grant = TokenGrant(claims={}, header={}, access_token=None)
        self.grants.append(grant)
        account = self.account
        try:
            grant.header = jwt.get_unverified_header(assertion)
            assert account is not None, "write_service_account() first"
            grant.claims = jwt.decode(
                assertion,
                account.public_key,
                algorithms=["RS256"],
                audience=self.token_uri,
                issuer=account.client_email,
                options={"require": ["iss", "aud", "iat", "exp"], "verify_exp": False},
            )
        except jwt.PyJWTError as error:
            grant.error = f"invalid_grant: {error}"
            return JSONResponse(
                {"error": "invalid_grant", "error_description": "Invalid JWT Signature."},
                status_code=400,
            )
        now = int(self.now())
        claims = grant.claims
        problem = None
        if grant.header.get("kid") != account.private_key_id:
            problem = "Invalid JWT Signature."
        elif SCOPE not in str(claims.get("scope", "")).split():
            problem = "Invalid OAuth scope or ID token audience provided."
        elif not isinstance(claims["iat"], int) or not isinstance(claims["exp"], int):
            problem = (
                "Invalid JWT: Token must be a short-lived token and in a reasonable timeframe."
            )
        elif (
            claims["exp"] - claims["iat"] > 3600
            or claims["exp"] <= now
            or claims["iat"] > now + 300
        ):
            problem = "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim."
        if problem is not None:
            grant.error = f"invalid_grant: {problem}"
            return JSONResponse(
                {"error": "invalid_grant", "error_description": problem}, status_code=400
            )
        token = f"ya29.fake-{next(self._counter)}"
        self._issued[token] = now + 3599
        grant.access_token = token
        return JSONResponse({"access_token": token, "expires_in": 3599, "token_type": "Bearer"})

    # -- send ------------------------------------------------------------------------------------

    async def _send(self, request: Request) -> Response:
        record = FcmRequest(
            path=request.url.path,
            headers={k.lower(): v for k, v in request.headers.items()},
            body=await request.body(),
        )
        self.requests.append(record)
        response = self._answer(request.path_params["project"], record)
        record.status = response.status_code
        return response

    def _answer(self, project: str, record: FcmRequest) -> Response:
        scheme, _, token = record.headers.get("authorization", "").partition(" ")
        expiry = self._issued.get(token)
        if scheme != "Bearer" or expiry is None or expiry <= self.now():
            return google_error(
                401,
                "Request had invalid authentication credentials. Expected OAuth 2 access token, "
                "login cookie or other valid authentication credential.",
                [],
            )
        if project != self.project_id:
            return google_error(
                403,
                f"Permission 'cloudmessaging.messages.create' denied on resource '//cloudresourcemanager.googleapis.com/projects/{project}' (or it may not exist).",
                [],
            )
        try:
            document = json.loads(record.body)
            message = document["message"]
            assert isinstance(message, dict)
        except (ValueError, KeyError, AssertionError):
            return self._bad_request("message", "Invalid JSON payload received.")
        targets = [key for key in ("token", "topic", "condition") if key in message]
        if len(targets) != 1:
            return self._bad_request("message", "Exactly one of token, topic or condition.")
        notification = message.get("notification", {})
        for key in ("title", "body"):
            if key in notification and not isinstance(notification[key], str):
                return self._bad_request(f"message.notification.{key}", "Expected a string.")
        for index, (key, value) in enumerate(message.get("data", {}).items()):
            if not isinstance(value, str):
                return self._bad_request(
                    f"message.data[{index}].value",
                    f"Invalid value at 'message.data[{index}].value' (TYPE_STRING), {value}",
                )
            if key.startswith(("google", "gcm")) or key in ("from", "message_type"):
                return self._bad_request(f"message.data[{index}].key", f"Invalid data key {key}")
        registration_token = message.get("token")
        queue = self._replies.get(registration_token or "")
        reply = Reply()
        if queue:
            reply = queue.pop(0) if len(queue) > 1 else queue[0]
        record.error_code = reply.error_code
        if reply.error_code is None:
            return JSONResponse(
                {"name": f"projects/{project}/messages/0:{next(self._counter)}%fake"}
            )
        status = _ERROR_STATUS.get(reply.error_code, 500)
        response = google_error(
            status,
            _MESSAGES.get(reply.error_code, reply.error_code),
            [{"@type": FCM_ERROR, "errorCode": reply.error_code}],
        )
        if reply.retry_after is not None:
            response.headers["retry-after"] = str(reply.retry_after)
        return response

    def _bad_request(self, field: str, description: str) -> JSONResponse:
        return google_error(
            400,
            description,
            [
                {
                    "@type": BAD_REQUEST,
                    "fieldViolations": [{"field": field, "description": description}],
                }
            ],
        )
