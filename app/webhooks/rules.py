"""Pure rules of webhooks: Standard Webhooks signing, URL shape, which addresses are private."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import ipaddress
from collections.abc import Iterable
from urllib.parse import urlsplit

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32
MAX_URL_LENGTH = 2048
EVERY_EVENT = "*"


def secret_bytes(secret: str) -> bytes:
    """The key of a `whsec_<base64>` secret (Standard Webhooks: the base64 part, decoded)."""
    raw = secret.removeprefix(SECRET_PREFIX)
    try:
        return base64.b64decode(raw + "=" * (-len(raw) % 4), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("not a whsec_<base64> secret") from exc


def encode_secret(key: bytes) -> str:
    return SECRET_PREFIX + base64.b64encode(key).decode("ascii")


def sign(secret: str, msg_id: str, timestamp: int, body: str | bytes) -> str:
    """`v1,<base64 HMAC-SHA256(key, "{id}.{timestamp}.{body}")>`."""
    payload = body.encode() if isinstance(body, str) else body
    to_sign = f"{msg_id}.{timestamp}.".encode() + payload
    digest = hmac.new(secret_bytes(secret), to_sign, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def signature_header(secrets: Iterable[str], msg_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` value: one signature per secret, space-separated (rotation)."""
    return " ".join(sign(secret, msg_id, timestamp, body) for secret in secrets)


def verify(secret: str, msg_id: str, timestamp: int, body: bytes, header: str) -> bool:
    """Whether any `v1` signature of the header was made with `secret` (a receiver's check)."""
    expected = sign(secret, msg_id, timestamp, body)
    return any(
        hmac.compare_digest(expected.encode(), candidate.encode())
        for candidate in header.split(" ")
        if candidate.startswith("v1,")
    )


def url_problem(url: str) -> str | None:
    """Why a URL cannot be an endpoint (shape only; addresses are checked when resolved)."""
    if len(url) > MAX_URL_LENGTH:
        return f"The URL must be at most {MAX_URL_LENGTH} characters."
    if any(ch.isspace() or ord(ch) < 0x20 for ch in url):
        return "The URL must not contain spaces or control characters."
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        return "The URL is not valid."
    if parts.scheme not in ("http", "https"):
        return "The URL must start with http:// or https://."
    if not parts.hostname:
        return "The URL must name a host."
    if parts.username or parts.password:
        return "The URL must not carry credentials."
    return None


def is_private_address(address: str) -> bool:
    """Loopback, private, link-local, unspecified, reserved or multicast: not the internet."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return True
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not ip.is_global or ip.is_multicast


def host_literal(host: str) -> str | None:
    """The address when the host is an IP literal, else None."""
    try:
        return str(ipaddress.ip_address(host.strip("[]").split("%", 1)[0]))
    except ValueError:
        return None
