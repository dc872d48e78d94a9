"""Access tokens (JWT, HS256 pinned, kid-selected keys) and opaque refresh tokens."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import uuid
from dataclasses import dataclass

import jwt

from app.settings import Settings

ALGORITHM = "HS256"
REFRESH_PREFIX = "rt_"
_IAT_LEEWAY_SECONDS = 60


class TokenInvalid(Exception):
    """The bearer token is missing, malformed, forged, expired or not for us."""


@dataclass(frozen=True, slots=True)
class AccessClaims:
    subject_kind: str  # member | staff
    subject_id: uuid.UUID
    session_id: uuid.UUID
    expires_at: dt.datetime


def issue_access_token(
    settings: Settings,
    *,
    subject_kind: str,
    subject_id: uuid.UUID,
    session_id: uuid.UUID,
    now: dt.datetime,
) -> tuple[str, dt.datetime]:
    expires_at = now + dt.timedelta(seconds=settings.access_token_ttl_seconds)
    kid = settings.jwt_active_kid
    payload = {
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "sub": f"{subject_kind}:{subject_id}",
        "sid": str(session_id),
        "iat": int(now.timestamp()),
        "exp": int(expires_at.timestamp()),
    }
    token = jwt.encode(
        payload,
        settings.jwt_keys[kid].get_secret_value(),
        algorithm=ALGORITHM,
        headers={"kid": kid},
    )
    return token, expires_at.replace(microsecond=0)


def decode_access_token(settings: Settings, token: str, *, now: dt.datetime) -> AccessClaims:
    try:
        header = jwt.get_unverified_header(token)
        kid = header.get("kid")
        if (
            header.get("alg") != ALGORITHM
            or not isinstance(kid, str)
            or kid not in settings.jwt_keys
        ):
            raise TokenInvalid("unknown key or algorithm")
        claims = jwt.decode(
            token,
            settings.jwt_keys[kid].get_secret_value(),
            algorithms=[ALGORITHM],
            audience=settings.jwt_audience,
            issuer=settings.jwt_issuer,
            # Times are checked below against the injected clock, not the system's.
            options={
                "require": ["exp", "iat", "sub", "iss", "aud", "sid"],
                "verify_exp": False,
                "verify_iat": False,
            },
        )
        expires_at = dt.datetime.fromtimestamp(int(claims["exp"]), dt.UTC)
        if expires_at <= now:
            raise TokenInvalid("expired")
        if int(claims["iat"]) > now.timestamp() + _IAT_LEEWAY_SECONDS:
            raise TokenInvalid("issued in the future")
        kind, _, raw_id = str(claims["sub"]).partition(":")
        if kind not in ("member", "staff"):
            raise TokenInvalid("unknown subject")
        return AccessClaims(kind, uuid.UUID(raw_id), uuid.UUID(str(claims["sid"])), expires_at)
    except (jwt.PyJWTError, ValueError, TypeError, OverflowError) as exc:
        raise TokenInvalid(str(exc)) from exc


def new_refresh_token() -> str:
    return REFRESH_PREFIX + secrets.token_urlsafe(32)


def hash_refresh_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()
