"""A fake Google Wallet API and Google OAuth 2.0 token endpoint on 127.0.0.1 (HTTP/1.1).

The token endpoint (`POST /token`, the service account's `token_uri`) checks the JWT bearer grant
as Google does: form-encoded `grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer` and an
`assertion` signed RS256 with the service account's key (header `kid` = `private_key_id`), `iss`
= the account's e-mail, `aud` = the token URI, the `wallet_object.issuer` scope, `exp` at most an
hour after `iat`; it answers `{"access_token", "expires_in": 3599, "token_type": "Bearer"}`.

The Wallet API (`/walletobjects/v1/...`) wants a bearer token the fake issued (else 401) and keeps
what it is given, as Google's REST resources do:
- `POST loyaltyClass`: `id` = `<issuerId>.<suffix>` of this issuer (else 403), `issuerName`,
  `programName`, `programLogo.sourceUri.uri` and `reviewStatus` (else 400); 409 when it exists.
- `POST loyaltyObject`: `id` of this issuer, a `classId` that exists (else 404), a `state`; a
  barcode's type is one of Google's; 409 when it exists.
- `PATCH loyaltyObject/{id}`: 404 when unknown; the fields given replace those stored.
Errors are Google's JSON: `{"error": {"code", "message", "status"}}`.
"""

from __future__ import annotations

import itertools
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
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

SCOPE = "https://www.googleapis.com/auth/wallet_object.issuer"
GRANT_TYPE = "urn:ietf:params:oauth:grant-type:jwt-bearer"
BARCODE_TYPES = {"QR_CODE", "AZTEC", "PDF_417", "CODE_128", "DATA_MATRIX", "EAN_13", "TEXT_ONLY"}
_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ALREADY_EXISTS",
}
_IDENTIFIER = re.compile(r"[\w.-]+", re.ASCII)


@dataclass
class WalletRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    status: int = 0

    @property
    def json(self) -> Any:
        return json.loads(self.body)


@dataclass(frozen=True)
class ServiceAccountKey:
    file: Path
    public_key: rsa.RSAPublicKey
    client_email: str
    private_key_id: str


@dataclass
class Stored:
    classes: dict[str, dict[str, Any]] = field(default_factory=dict)
    objects: dict[str, dict[str, Any]] = field(default_factory=dict)


def google_error(status: int, message: str) -> JSONResponse:
    return JSONResponse(
        {"error": {"code": status, "message": message, "status": _STATUS.get(status, "UNKNOWN")}},
        status_code=status,
    )


class FakeGoogleWallet:
    def __init__(
        self,
        directory: Path,
        *,
        issuer_id: str = "3388000000022222222",
        client_email: str = "wallet@loyalty-test.iam.gserviceaccount.com",
        now: Callable[[], float] = time.time,
    ) -> None:
        self.directory = directory
        self.issuer_id = issuer_id
        self.client_email = client_email
        self.now = now
        self.requests: list[WalletRequest] = []  # Wallet API calls, accepted or refused
        self.grants: list[dict[str, Any]] = []  # the claims of accepted token grants
        self.stored = Stored()
        self.account: ServiceAccountKey | None = None
        self._issued: dict[str, float] = {}
        self._counter = itertools.count(1)
        self._local = LocalServer()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._local.port}"

    @property
    def token_uri(self) -> str:
        return f"{self.base_url}/token"

    def revoke_access_tokens(self) -> None:
        self._issued.clear()

    def calls(self, method: str, prefix: str) -> list[WalletRequest]:
        return [
            r
            for r in self.requests
            if r.method == method and r.path.startswith(f"/walletobjects/v1/{prefix}")
        ]

    def write_service_account(self, name: str = "wallet-service-account.json") -> ServiceAccountKey:
        """A service account key file naming this fake's token endpoint; call after start()."""
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        private_key_id = f"{next(self._counter):040x}"
        document = {
            "type": "service_account",
            "project_id": "loyalty-test",
            "private_key_id": private_key_id,
            "private_key": key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ).decode(),
            "client_email": self.client_email,
            "client_id": "100000000000000000001",
            "auth_uri": "https://accounts.google.com/o/oauth2/auth",
            "token_uri": self.token_uri,
        }
        path = self.directory / name
        path.write_text(json.dumps(document, indent=2))
        self.account = ServiceAccountKey(path, key.public_key(), self.client_email, private_key_id)
        return self.account

    # -- lifecycle -------------------------------------------------------------------------------

    async def start(self) -> None:
        prefix = "/walletobjects/v1"
        app = Starlette(
            routes=[
                Route("/token", self._token, methods=["POST"]),
                Route(f"{prefix}/loyaltyClass", self._insert_class, methods=["POST"]),
                Route(f"{prefix}/loyaltyObject", self._insert_object, methods=["POST"]),
                Route(
                    f"{prefix}/loyaltyObject/{{object_id}}", self._patch_object, methods=["PATCH"]
                ),
            ]
        )
        await self._local.start(app)

    async def stop(self) -> None:
        await self._local.stop()

    async def __aenter__(self) -> FakeGoogleWallet:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    # -- OAuth -----------------------------------------------------------------------------------

    async def _token(self, request: Request) -> Response:
        if request.headers.get("content-type", "").split(";")[0] != (
            "application/x-www-form-urlencoded"
        ):
            return JSONResponse({"error": "invalid_request"}, status_code=400)
        form = {k: v[0] for k, v in parse_qs((await request.body()).decode()).items()}
        if form.get("grant_type") != GRANT_TYPE:
            return JSONResponse({"error": "unsupported_grant_type"}, status_code=400)
        account = self.account
        assert account is not None, "write_service_account() first"
        assertion = form.get("assertion", "")
        try:
            header = jwt.get_unverified_header(assertion)
            claims = jwt.decode(
                assertion,
                account.public_key,
                algorithms=["RS256"],
                audience=self.token_uri,
                issuer=account.client_email,
                options={"require": ["iss", "aud", "iat", "exp"]},
            )
        except jwt.PyJWTError:
            return JSONResponse(
                {"error": "invalid_grant", "error_description": "Invalid JWT Signature."},
                status_code=400,
            )
        if header.get("kid") != account.private_key_id:
            return JSONResponse({"error": "invalid_grant"}, status_code=400)
        if SCOPE not in str(claims.get("scope", "")).split():
            return JSONResponse(
                {"error": "invalid_scope", "error_description": "Invalid OAuth scope."},
                status_code=400,
            )
        if claims["exp"] - claims["iat"] > 3600:
            return JSONResponse({"error": "invalid_grant"}, status_code=400)
        self.grants.append(claims)
        token = f"ya29.wallet-{next(self._counter)}"
        self._issued[token] = self.now() + 3599
        return JSONResponse({"access_token": token, "expires_in": 3599, "token_type": "Bearer"})

    # -- the Wallet API --------------------------------------------------------------------------

    async def _record(self, request: Request) -> tuple[WalletRequest, Response | None, Any]:
        record = WalletRequest(
            method=request.method,
            path=request.url.path,
            headers={k.lower(): v for k, v in request.headers.items()},
            body=await request.body(),
        )
        self.requests.append(record)
        scheme, _, token = record.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or self._issued.get(token, 0) <= self.now():
            return (
                record,
                google_error(401, "Request had invalid authentication credentials."),
                None,
            )
        try:
            body = json.loads(record.body)
        except ValueError:
            return record, google_error(400, "Invalid JSON payload received."), None
        if not isinstance(body, dict):
            return record, google_error(400, "Invalid JSON payload received."), None
        return record, None, body

    def _own_id(self, value: object) -> str | None:
        """Why an id is refused, or None: `<issuerId>.<identifier>` of this issuer."""
        if not isinstance(value, str) or "." not in value:
            return "The resource id must be of the form <issuerId>.<identifier>."
        issuer, _, identifier = value.partition(".")
        if not _IDENTIFIER.fullmatch(identifier):
            return "The identifier may contain only letters, digits, '.', '_' and '-'."
        if issuer != self.issuer_id:
            return "The issuer of this resource is not the caller's."
        return None

    async def _insert_class(self, request: Request) -> Response:
        record, refused, body = await self._record(request)
        response = refused or self._class_answer(body)
        record.status = response.status_code
        return response

    def _class_answer(self, body: dict[str, Any]) -> Response:
        problem = self._own_id(body.get("id"))
        if problem:
            return google_error(403 if "issuer" in problem else 400, problem)
        for name in ("issuerName", "programName", "reviewStatus"):
            if not isinstance(body.get(name), str) or not body[name]:
                return google_error(400, f"Missing required field: {name}")
        logo = body.get("programLogo") or {}
        if not isinstance(logo.get("sourceUri", {}).get("uri"), str):
            return google_error(400, "Missing required field: programLogo.sourceUri.uri")
        if body["id"] in self.stored.classes:
            return google_error(409, f"Resource already exists: {body['id']}")
        self.stored.classes[body["id"]] = body
        return JSONResponse(body)

    async def _insert_object(self, request: Request) -> Response:
        record, refused, body = await self._record(request)
        response = refused or self._object_answer(body)
        record.status = response.status_code
        return response

    def _object_answer(self, body: dict[str, Any]) -> Response:
        problem = self._own_id(body.get("id"))
        if problem:
            return google_error(403 if "issuer" in problem else 400, problem)
        if body.get("classId") not in self.stored.classes:
            return google_error(404, f"Class not found: {body.get('classId')}")
        if body.get("state") not in ("ACTIVE", "COMPLETED", "EXPIRED", "INACTIVE"):
            return google_error(400, "Invalid state.")
        problem = self._fields_problem(body)
        if problem:
            return google_error(400, problem)
        if body["id"] in self.stored.objects:
            return google_error(409, f"Resource already exists: {body['id']}")
        self.stored.objects[body["id"]] = body
        return JSONResponse(body)

    def _fields_problem(self, body: dict[str, Any]) -> str | None:
        barcode = body.get("barcode")
        if barcode is not None and barcode.get("type") not in BARCODE_TYPES:
            return "Invalid barcode type."
        points = body.get("loyaltyPoints")
        if points is not None:
            balance = points.get("balance") or {}
            if len([k for k in ("string", "int", "double", "money") if k in balance]) != 1:
                return "loyaltyPoints.balance needs exactly one of string, int, double, money."
        return None

    async def _patch_object(self, request: Request) -> Response:
        record, refused, body = await self._record(request)
        response = refused
        if response is None:
            object_id = request.path_params["object_id"]
            stored = self.stored.objects.get(object_id)
            if stored is None:
                response = google_error(404, f"Object not found: {object_id}")
            elif (problem := self._fields_problem(body)) is not None:
                response = google_error(400, problem)
            else:
                stored.update(body)
                response = JSONResponse(stored)
        record.status = response.status_code
        return response
