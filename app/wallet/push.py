"""Pass update pushes: APNs over HTTP/2, authenticated with the pass type certificate.

Apple's Wallet documentation has the server wake a device by sending a notification whose topic
(`apns-topic`) is the pass type identifier and whose payload is an empty JSON dictionary; the
provider connection authenticates with the pass type certificate (TLS client authentication),
not with the app's `.p8` provider token that `app/notifications/apns.py` uses for app pushes, so
a pass push needs a connection of its own. Everything else is the push helper's: HTTP/2 only,
one connection kept open, and APNs' answers classified by `app.notifications.apns.classify`
(410 and BadDeviceToken: GONE, the registration is removed; 429/5xx: retry).

The push is sent with `apns-push-type: background` and priority 5: it carries no alert (Wallet
shows the fields' `changeMessage` itself), and a push type is required by current iOS versions.
"""

from __future__ import annotations

import os
import ssl
import tempfile
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from app.notifications.apns import classify
from app.outbox.channels import Outcome

TIMEOUT = httpx.Timeout(15.0, connect=10.0)
TTL_SECONDS = 86400  # APNs keeps the wake-up this long for a phone that is offline
PAYLOAD = b"{}"


@dataclass(frozen=True, slots=True)
class ClientCertificate:
    """The pass type certificate and key for TLS client authentication: files (production) or
    PEM text (the development identity kept in the database)."""

    cert_file: str | None = None
    key_file: str | None = None
    password: str | None = None
    cert_pem: str | None = None
    key_pem: str | None = None


def tls_context(certificate: ClientCertificate, *, ca_file: str | None) -> ssl.SSLContext:
    """A client TLS context that presents the pass certificate and trusts the system's CAs (or
    `ca_file`, for a test server or a TLS-inspecting proxy)."""
    context = (
        ssl.create_default_context(cafile=ca_file) if ca_file else ssl.create_default_context()
    )
    if certificate.cert_file and certificate.key_file:
        context.load_cert_chain(
            certificate.cert_file, certificate.key_file, password=certificate.password
        )
        return context
    if not (certificate.cert_pem and certificate.key_pem):
        raise ValueError("a client certificate needs its certificate and key")
    # ssl loads a certificate chain only from files: write the PEMs to a private temporary file
    # for the moment of loading (the development identity only; production uses its files).
    handle, path = tempfile.mkstemp(suffix=".pem")
    try:
        with os.fdopen(handle, "w") as pem:
            pem.write(certificate.key_pem + "\n" + certificate.cert_pem)
        context.load_cert_chain(path)
    finally:
        os.unlink(path)
    return context


class PassPusher:
    """One HTTP/2 connection to APNs with one pass certificate."""

    def __init__(
        self,
        base_url: str,
        certificate: ClientCertificate,
        *,
        ca_file: str | None = None,
        now: Callable[[], float],
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._now = now
        self._http = httpx.AsyncClient(
            http1=False,
            http2=True,
            verify=tls_context(certificate, ca_file=ca_file),
            timeout=TIMEOUT,
            follow_redirects=False,
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def push(self, push_token: str, *, topic: str, notification_id: uuid.UUID) -> Outcome:
        """Wake the device that holds `push_token`: Wallet then asks our web service which of
        its passes changed. Never raises for APNs' answer or a network failure."""
        try:
            response = await self._http.post(
                f"{self.base_url}/3/device/{push_token}",
                content=PAYLOAD,
                headers={
                    "apns-topic": topic,
                    "apns-push-type": "background",
                    "apns-priority": "5",
                    "apns-expiration": str(int(self._now()) + TTL_SECONDS),
                    "apns-id": str(notification_id),
                    "content-type": "application/json",
                },
            )
        except httpx.HTTPError as error:
            return Outcome.retry(f"APNs unreachable: {type(error).__name__}: {error}"[:300])
        return classify(
            response.status_code, _reason(response), response.headers.get("retry-after")
        )


def _reason(response: httpx.Response) -> str | None:
    if response.status_code == 200:
        return None
    try:
        document = response.json()
    except ValueError:
        return None
    reason = document.get("reason") if isinstance(document, dict) else None
    return reason if isinstance(reason, str) else None
