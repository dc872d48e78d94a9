"""A fake APNs on 127.0.0.1: HTTP/2 over TLS (ALPN h2), built on the `h2` library.

It checks what Apple checks and answers what Apple answers ("Handling notification responses
from APNs"): the method and `:path` (`/3/device/<hex token>`), the headers (`apns-topic`,
`apns-push-type`, `apns-priority`, `apns-expiration`, `apns-id`, no duplicates), the payload
(JSON, at most 4096 bytes, an `aps.alert` for alert pushes), and the provider's credentials:

- `auth="token"`: `authorization: bearer <JWT>` signed ES256 with the key whose public half the
  fake holds, header `kid` = key id, claim `iss` = team id, `iat` at most an hour old
  (ExpiredProviderToken), a new token at most every 20 minutes (TooManyProviderTokenUpdates);
- `auth="certificate"` (Wallet pass updates): a TLS client certificate issued by `client_ca`.

Error bodies are Apple's: `{"reason": "BadDeviceToken"}`, 410
`{"reason": "Unregistered", "timestamp": <ms>}`. Answers per device token are set with `reply()`
(or `unregister()`), and every request is kept in `requests`.

Why TLS and not h2c: Apple's endpoint is TLS with ALPN, and the client must negotiate h2 there;
the fake refuses a connection that did not. `FakeAPNs(tls=False)` serves h2c with prior knowledge
for a client that wants no certificates.

Usage:

    async with FakeAPNs(tmp_path, topic="com.example.loyalty", team_id=..., key_id=...,
                        public_key=...) as apns:
        settings = Settings(APNS_BASE_URL=apns.base_url, APNS_CA_FILE=str(apns.ca_file), ...)
        apns.unregister("ab" * 32)
        ...
        assert apns.requests[0].json["aps"]["alert"]["title"] == "Points earned"
"""

from __future__ import annotations

import asyncio
import json
import re
import ssl
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tests.fakes.tls import FakeCA

MAX_PAYLOAD = 4096
TOKEN_LIFETIME = 3600
TOKEN_MIN_REFRESH = 20 * 60
_DEVICE_TOKEN = re.compile(r"^[0-9a-f]{64,200}$")
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
PUSH_TYPES = {"alert", "background", "location", "voip", "complication", "fileprovider", "mdm",
              "liveactivity", "pushtotalk"}  # fmt: skip


@dataclass(frozen=True)
class Reply:
    """An answer the fake gives a device token: status and Apple's reason string."""

    status: int = 200
    reason: str | None = None


@dataclass
class ApnsRequest:
    method: str
    path: str
    headers: dict[str, str]  # lower-case names, pseudo-headers included
    body: bytes
    device_token: str | None
    status: int = 0
    reason: str | None = None
    jwt_claims: dict[str, Any] | None = None
    client_subject: str | None = None  # the TLS client certificate's subject, if one was sent

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def accepted(self) -> bool:
        return self.status == 200


def make_signing_key(
    directory: Path, key_id: str = "ABC123DEFG"
) -> tuple[Path, ec.EllipticCurvePublicKey]:
    """A `.p8` file as Apple hands it out (PKCS#8 PEM, P-256), and its public key."""
    key = ec.generate_private_key(ec.SECP256R1())
    path = directory / f"AuthKey_{key_id}.p8"
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return path, key.public_key()


class FakeAPNs:
    def __init__(
        self,
        directory: Path,
        *,
        topic: str,
        auth: Literal["token", "certificate"] = "token",
        team_id: str | None = None,
        key_id: str | None = None,
        public_key: ec.EllipticCurvePublicKey | None = None,
        client_ca: Path | None = None,
        tls: bool = True,
        now: Callable[[], float] = time.time,
    ) -> None:
        if auth == "token" and not (team_id and key_id and public_key):
            raise ValueError("token auth needs team_id, key_id and public_key")
        if auth == "certificate" and (client_ca is None or not tls):
            raise ValueError("certificate auth needs TLS and client_ca")
        self.directory = directory
        self.topic = topic
        self.auth = auth
        self.team_id = team_id
        self.key_id = key_id
        self.public_key = public_key
        self.client_ca = client_ca
        self.tls = tls
        self.now = now
        self.requests: list[ApnsRequest] = []
        self.connections = 0  # accepted HTTP/2 connections
        self.refused_connections = 0  # TLS connections that did not negotiate h2
        self.ca_file: Path | None = None
        self._replies: dict[str, list[Reply]] = {}
        self._token_iat: dict[str, int] = {}  # key id → iat of the token in use
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._port = 0

    # -- configuration ---------------------------------------------------------------------------

    def reply(self, device_token: str, *replies: Reply | int) -> None:
        """Answer this token with these replies in turn; the last one sticks."""
        self._replies[device_token] = [r if isinstance(r, Reply) else Reply(r) for r in replies]

    def unregister(self, device_token: str) -> None:
        """The app was removed from the phone: 410 Unregistered from now on."""
        self.reply(device_token, Reply(410, "Unregistered"))

    @property
    def base_url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self._port}"

    def to(self, device_token: str) -> list[ApnsRequest]:
        return [r for r in self.requests if r.device_token == device_token]

    # -- lifecycle -------------------------------------------------------------------------------

    async def start(self) -> None:
        context: ssl.SSLContext | None = None
        if self.tls:
            ca = FakeCA(self.directory / "apns-ca")
            issued = ca.issue("apns-server")
            self.ca_file = ca.cert_file
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(issued.cert_file, issued.key_file)
            context.set_alpn_protocols(["h2"])
            context.minimum_version = ssl.TLSVersion.TLSv1_2
            if self.client_ca is not None:
                context.verify_mode = ssl.CERT_REQUIRED
                context.load_verify_locations(cafile=self.client_ca)
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=context)
        self._port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is None:
            return
        self._server.close()
        for writer in list(self._writers):
            writer.close()
        await self._server.wait_closed()
        self._server = None

    async def __aenter__(self) -> FakeAPNs:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    # -- the connection --------------------------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        client_subject: str | None = None
        if self.tls:
            ssl_object = writer.get_extra_info("ssl_object")
            if ssl_object is None or ssl_object.selected_alpn_protocol() != "h2":
                self.refused_connections += 1
                writer.close()
                return
            peer = ssl_object.getpeercert()
            if peer:
                client_subject = ", ".join(
                    f"{name}={value}" for rdn in peer.get("subject", ()) for name, value in rdn
                )
        self.connections += 1
        self._writers.add(writer)
        connection = h2.connection.H2Connection(
            config=h2.config.H2Configuration(client_side=False, header_encoding="utf-8")
        )
        connection.initiate_connection()
        writer.write(connection.data_to_send())
        streams: dict[int, tuple[list[tuple[str, str]], bytearray]] = {}
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    break
                try:
                    events = connection.receive_data(data)
                except h2.exceptions.ProtocolError:
                    break
                for event in events:
                    if isinstance(event, h2.events.RequestReceived):
                        streams[event.stream_id] = (list(event.headers), bytearray())  # type: ignore[arg-type]
                    elif isinstance(event, h2.events.DataReceived):
                        streams[event.stream_id][1].extend(event.data)
                        connection.acknowledge_received_data(
                            event.flow_controlled_length, event.stream_id
                        )
                    elif isinstance(event, h2.events.StreamEnded):
                        headers, body = streams.pop(event.stream_id)
                        status, response_headers, response_body = self._handle(
                            headers, bytes(body), client_subject
                        )
                        connection.send_headers(
                            event.stream_id,
                            [(":status", str(status)), *response_headers],
                            end_stream=not response_body,
                        )
                        if response_body:
                            connection.send_data(event.stream_id, response_body, end_stream=True)
                    elif isinstance(event, h2.events.ConnectionTerminated):
                        break
                writer.write(connection.data_to_send())
                await writer.drain()
        except (ConnectionError, ssl.SSLError):
            pass
        finally:
            self._writers.discard(writer)
            writer.close()

    # -- one request -----------------------------------------------------------------------------

    def _handle(
        self, raw_headers: list[tuple[str, str]], body: bytes, client_subject: str | None
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        headers: dict[str, str] = {}
        duplicated = False
        for name, value in raw_headers:
            duplicated = duplicated or name in headers
            headers[name] = value
        path = headers.get(":path", "")
        match = re.fullmatch(r"/3/device/([^/]*)", path)
        request = ApnsRequest(
            method=headers.get(":method", ""),
            path=path,
            headers=headers,
            body=body,
            device_token=match.group(1) if match else None,
            client_subject=client_subject,
        )
        self.requests.append(request)
        apns_id = headers.get("apns-id") or str(uuid.uuid4())
        status, reason = self._check(request, duplicated)
        if status == 200 and request.device_token in self._replies:
            queue = self._replies[request.device_token]
            answer = queue.pop(0) if len(queue) > 1 else queue[0]
            status, reason = answer.status, answer.reason
        request.status, request.reason = status, reason
        response_headers = [("apns-id", apns_id)]
        if status == 200:
            return status, response_headers, b""
        document: dict[str, Any] = {"reason": reason}
        if status == 410:
            document["timestamp"] = int(self.now() * 1000)
        body_out = json.dumps(document).encode()
        response_headers += [
            ("content-type", "application/json"),
            ("content-length", str(len(body_out))),
        ]
        return status, response_headers, body_out

    def _check(self, request: ApnsRequest, duplicated: bool) -> tuple[int, str | None]:
        headers = request.headers
        if request.method != "POST":
            return 405, "MethodNotAllowed"
        if request.device_token is None:
            return 404, "BadPath"
        if duplicated:
            return 400, "DuplicateHeaders"
        if not request.device_token:
            return 400, "MissingDeviceToken"
        problem = self._check_credentials(request)
        if problem is not None:
            return problem
        topic = headers.get("apns-topic")
        if not topic:
            return 400, "MissingTopic"
        if topic != self.topic:
            return (
                400,
                "DeviceTokenNotForTopic" if self.auth == "certificate" else "TopicDisallowed",
            )
        if not _DEVICE_TOKEN.match(request.device_token):
            return 400, "BadDeviceToken"
        push_type = headers.get("apns-push-type", "alert")
        if push_type not in PUSH_TYPES:
            return 400, "InvalidPushType"
        if headers.get("apns-priority", "10") not in ("1", "5", "10"):
            return 400, "BadPriority"
        if not headers.get("apns-expiration", "0").isdigit():
            return 400, "BadExpirationDate"
        if "apns-id" in headers and not _UUID.match(headers["apns-id"]):
            return 400, "BadMessageId"
        if not request.body:
            return 400, "PayloadEmpty"
        if len(request.body) > MAX_PAYLOAD:
            return 413, "PayloadTooLarge"
        try:
            document = json.loads(request.body)
        except ValueError:
            return (
                400,
                "BadPayload",
            )  # Apple names no reason for it; the fake refuses it all the same
        if not isinstance(document, dict):
            return 400, "BadPayload"
        if push_type == "alert":
            aps = document.get("aps")
            alert = aps.get("alert") if isinstance(aps, dict) else None
            if not (
                isinstance(alert, str)
                or (
                    isinstance(alert, dict)
                    and any(isinstance(alert.get(k), str) for k in ("title", "body"))
                )
            ):
                return 400, "BadPayload"
        return 200, None

    def _check_credentials(self, request: ApnsRequest) -> tuple[int, str] | None:
        if self.auth == "certificate":
            return None if request.client_subject else (403, "BadCertificate")
        authorization = request.headers.get("authorization")
        if not authorization:
            return 403, "MissingProviderToken"
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token:
            return 403, "InvalidProviderToken"
        try:
            header = jwt.get_unverified_header(token)
            claims = jwt.decode(
                token,
                self.public_key,  # type: ignore[arg-type]
                algorithms=["ES256"],
                options={"require": ["iss", "iat"], "verify_iat": False},
            )
        except jwt.PyJWTError:
            return 403, "InvalidProviderToken"
        request.jwt_claims = claims
        if header.get("alg") != "ES256" or header.get("kid") != self.key_id:
            return 403, "InvalidProviderToken"
        if claims.get("iss") != self.team_id or not isinstance(claims.get("iat"), int):
            return 403, "InvalidProviderToken"
        now = int(self.now())
        iat = claims["iat"]
        if iat > now + 60:
            return 403, "InvalidProviderToken"
        if now - iat > TOKEN_LIFETIME:
            return 403, "ExpiredProviderToken"
        previous = self._token_iat.get(self.key_id or "")
        if previous is not None and iat > previous and iat - previous < TOKEN_MIN_REFRESH:
            return 429, "TooManyProviderTokenUpdates"
        self._token_iat[self.key_id or ""] = max(iat, previous or 0)
        return None


@dataclass
class ApnsKey:
    """A provider key for tests: the `.p8` file and the identifiers around it."""

    key_file: Path
    public_key: ec.EllipticCurvePublicKey
    key_id: str = "ABC123DEFG"
    team_id: str = "DEF123GHIJ"

    @classmethod
    def make(
        cls, directory: Path, *, key_id: str = "ABC123DEFG", team_id: str = "DEF123GHIJ"
    ) -> ApnsKey:
        key_file, public_key = make_signing_key(directory, key_id)
        return cls(key_file, public_key, key_id, team_id)
