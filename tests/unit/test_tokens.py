from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import re
import uuid
from typing import Any

import jwt
import pytest

from app.auth import tokens
from app.auth.tokens import AccessClaims, TokenInvalid
from app.settings import Settings

KEY_1 = "first-signing-key-" + "1" * 46
KEY_2 = "second-signing-key-" + "2" * 45
NOW = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)
MEMBER_ID = uuid.UUID("0197a1b2-0000-7000-8000-000000000001")
SESSION_ID = uuid.UUID("0197a1b2-0000-7000-8000-0000000000aa")


def _settings(keys: dict[str, str], active: str) -> Settings:
    return Settings(jwt_keys=keys, jwt_active_kid=active, _env_file=None)  # type: ignore[call-arg]


SETTINGS = _settings({"k1": KEY_1}, "k1")


def _issue(settings: Settings = SETTINGS, *, now: dt.datetime = NOW) -> str:
    token, _ = tokens.issue_access_token(
        settings, subject_kind="member", subject_id=MEMBER_ID, session_id=SESSION_ID, now=now
    )
    return token


def _claims(**changes: Any) -> dict[str, Any]:
    claims: dict[str, Any] = {
        "iss": "loyalty",
        "aud": "loyalty-api",
        "sub": f"member:{MEMBER_ID}",
        "sid": str(SESSION_ID),
        "iat": int(NOW.timestamp()),
        "exp": int(NOW.timestamp()) + 900,
    }
    claims.update(changes)
    return {name: value for name, value in claims.items() if value is not None}


def _b64(data: dict[str, Any]) -> str:
    raw = json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _hand_made(header: dict[str, Any], claims: dict[str, Any], key: str | None) -> str:
    """A JWT built by hand, signed with HMAC-SHA256 under `key` (or unsigned)."""
    signing_input = f"{_b64(header)}.{_b64(claims)}"
    if key is None:
        return signing_input + "."
    mac = hmac.new(key.encode(), signing_input.encode(), hashlib.sha256).digest()
    return signing_input + "." + base64.urlsafe_b64encode(mac).decode().rstrip("=")


def _refused(token: str, settings: Settings = SETTINGS, *, now: dt.datetime = NOW) -> None:
    with pytest.raises(TokenInvalid):
        tokens.decode_access_token(settings, token, now=now)


def test_access_token_round_trips() -> None:
    # given
    token, expires_at = tokens.issue_access_token(
        SETTINGS, subject_kind="member", subject_id=MEMBER_ID, session_id=SESSION_ID, now=NOW
    )

    # when
    claims = tokens.decode_access_token(SETTINGS, token, now=NOW)

    # then
    assert expires_at == NOW + dt.timedelta(seconds=900)
    assert claims == AccessClaims("member", MEMBER_ID, SESSION_ID, expires_at)


def test_access_token_carries_the_pinned_header_and_claims() -> None:
    # given
    token = _issue()

    # when
    header = jwt.get_unverified_header(token)
    payload = jwt.decode(token, options={"verify_signature": False})

    # then
    assert header == {"alg": "HS256", "typ": "JWT", "kid": "k1"}
    assert payload == _claims()


def test_staff_token_round_trips() -> None:
    # given
    staff_id = uuid.uuid4()
    token, expires_at = tokens.issue_access_token(
        SETTINGS, subject_kind="staff", subject_id=staff_id, session_id=SESSION_ID, now=NOW
    )

    # when
    claims = tokens.decode_access_token(SETTINGS, token, now=NOW)

    # then
    assert claims == AccessClaims("staff", staff_id, SESSION_ID, expires_at)


def test_expiry_drops_microseconds_and_follows_the_ttl_setting() -> None:
    # given
    settings = Settings(  # type: ignore[call-arg]
        jwt_keys={"k1": KEY_1}, jwt_active_kid="k1", access_token_ttl_seconds=60, _env_file=None
    )

    # when
    _, expires_at = tokens.issue_access_token(
        settings,
        subject_kind="member",
        subject_id=MEMBER_ID,
        session_id=SESSION_ID,
        now=NOW.replace(microsecond=999_999),
    )

    # then
    assert expires_at == dt.datetime(2026, 6, 1, 12, 1, tzinfo=dt.UTC)


def test_token_is_valid_until_the_second_before_expiry() -> None:
    # given
    token = _issue()

    # when
    claims = tokens.decode_access_token(SETTINGS, token, now=NOW + dt.timedelta(seconds=899))

    # then
    assert claims.subject_id == MEMBER_ID


def test_refuses_an_expired_token() -> None:
    # given
    token = _issue()

    # when / then
    _refused(token, now=NOW + dt.timedelta(seconds=900))
    _refused(token, now=NOW + dt.timedelta(days=1))


def test_checks_time_with_the_injected_clock_not_the_system_clock() -> None:
    # given
    far_future = dt.datetime(2031, 1, 1, tzinfo=dt.UTC)
    token = _issue(now=far_future)

    # when
    claims = tokens.decode_access_token(SETTINGS, token, now=far_future + dt.timedelta(minutes=1))

    # then
    assert claims.expires_at == far_future + dt.timedelta(seconds=900)


def test_refuses_a_token_issued_in_the_future() -> None:
    # given
    token = _issue()

    # when / then
    _refused(token, now=NOW - dt.timedelta(seconds=61))


def test_tolerates_a_minute_of_clock_skew_on_issue_time() -> None:
    # given
    token = _issue()

    # when
    claims = tokens.decode_access_token(SETTINGS, token, now=NOW - dt.timedelta(seconds=60))

    # then
    assert claims.session_id == SESSION_ID


def test_refuses_a_forged_signature() -> None:
    # given
    forged = jwt.encode(
        _claims(), "not-our-key-" + "x" * 52, algorithm="HS256", headers={"kid": "k1"}
    )

    # when / then
    _refused(forged)


def test_refuses_a_changed_payload() -> None:
    # given
    header, _, signature = _issue().split(".")
    other = f"{header}.{_b64(_claims(sub=f'member:{uuid.uuid4()}'))}.{signature}"

    # when / then
    _refused(other)


def test_refuses_an_unsigned_alg_none_token() -> None:
    # given
    unsigned = _hand_made({"alg": "none", "typ": "JWT", "kid": "k1"}, _claims(), None)

    # when / then
    _refused(unsigned)


@pytest.mark.parametrize("alg", ["None", "NONE", "HS512", "HS384", "RS256", "ES256", "PS256"])
def test_refuses_any_other_algorithm_header(alg: str) -> None:
    # given: signed with our key as HS256, to rule out the signature as the reason
    token = _hand_made({"alg": alg, "typ": "JWT", "kid": "k1"}, _claims(), KEY_1)

    # when / then
    _refused(token)


def test_refuses_an_hs512_token_under_our_key() -> None:
    # given
    token = jwt.encode(_claims(), KEY_1, algorithm="HS512", headers={"kid": "k1"})

    # when / then
    _refused(token)


def test_hand_made_hs256_token_is_accepted_so_the_refusals_above_are_meaningful() -> None:
    # given
    token = _hand_made({"alg": "HS256", "typ": "JWT", "kid": "k1"}, _claims(), KEY_1)

    # when
    claims = tokens.decode_access_token(SETTINGS, token, now=NOW)

    # then
    assert claims.subject_id == MEMBER_ID


@pytest.mark.parametrize(
    "changes",
    [
        {"aud": "other-api"},
        {"aud": None},
        {"iss": "someone-else"},
        {"iss": None},
        {"sid": None},
        {"sid": "not-a-uuid"},
        {"sub": None},
        {"sub": f"admin:{MEMBER_ID}"},
        {"sub": "member:not-a-uuid"},
        {"sub": str(MEMBER_ID)},
        {"exp": None},
        {"exp": "tomorrow"},
        {"exp": 10**20},
        {"iat": None},
        {"iat": "now"},
    ],
)
def test_refuses_wrong_or_missing_claims(changes: dict[str, Any]) -> None:
    # given
    token = _hand_made({"alg": "HS256", "typ": "JWT", "kid": "k1"}, _claims(**changes), KEY_1)

    # when / then
    _refused(token)


@pytest.mark.parametrize(
    "header",
    [
        {"alg": "HS256", "typ": "JWT", "kid": "k9"},
        {"alg": "HS256", "typ": "JWT"},
        {"alg": "HS256", "typ": "JWT", "kid": 1},
        {"alg": "HS256", "typ": "JWT", "kid": ["k1"]},
        {"typ": "JWT", "kid": "k1"},
    ],
)
def test_refuses_an_unknown_or_missing_kid_or_alg(header: dict[str, Any]) -> None:
    # given
    token = _hand_made(header, _claims(), KEY_1)

    # when / then
    _refused(token)


@pytest.mark.parametrize(
    "token",
    ["", "garbage", "a.b.c", "a.b", "....", "é.é.é", "Bearer x.y.z", "eyJhbGciOiJIUzI1NiJ9.."],
)
def test_refuses_garbage(token: str) -> None:
    # when / then
    _refused(token)


def test_rotation_keeps_old_tokens_valid_while_the_old_key_is_listed() -> None:
    # given
    old_token = _issue(_settings({"k1": KEY_1}, "k1"))
    rotated = _settings({"k1": KEY_1, "k2": KEY_2}, "k2")

    # when
    old_claims = tokens.decode_access_token(rotated, old_token, now=NOW)
    new_token = _issue(rotated)

    # then
    assert old_claims.subject_id == MEMBER_ID
    assert jwt.get_unverified_header(new_token)["kid"] == "k2"
    assert tokens.decode_access_token(rotated, new_token, now=NOW).subject_id == MEMBER_ID


def test_rotation_refuses_old_tokens_once_the_old_key_is_removed() -> None:
    # given
    old_token = _issue(_settings({"k1": KEY_1}, "k1"))
    retired = _settings({"k2": KEY_2}, "k2")

    # when / then
    _refused(old_token, retired)


def test_refuses_a_token_whose_kid_was_swapped_to_another_listed_key() -> None:
    # given
    rotated = _settings({"k1": KEY_1, "k2": KEY_2}, "k2")
    _, payload, signature = _issue(rotated).split(".")
    swapped = f"{_b64({'alg': 'HS256', 'typ': 'JWT', 'kid': 'k1'})}.{payload}.{signature}"

    # when / then
    _refused(swapped, rotated)


def test_refresh_tokens_are_random_and_url_safe() -> None:
    # when
    issued = [tokens.new_refresh_token() for _ in range(50)]

    # then
    assert len(set(issued)) == 50
    assert all(re.fullmatch(r"rt_[A-Za-z0-9_\-]{43}", token) for token in issued)


def test_refresh_tokens_are_stored_as_sha256_hex() -> None:
    # given
    token = tokens.new_refresh_token()

    # when
    hashed = tokens.hash_refresh_token(token)

    # then
    assert hashed == hashlib.sha256(token.encode()).hexdigest()
    assert re.fullmatch(r"[0-9a-f]{64}", hashed)
    assert tokens.hash_refresh_token("abc") == (
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    )
