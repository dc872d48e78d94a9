"""Who may call what: members only `me`, staff only `staffMe`; a bad bearer token is
UNAUTHENTICATED (a top-level error with `extensions.code`), never a 500."""

from __future__ import annotations

import base64
import datetime as dt
import json
import uuid

import jwt
import pytest
from pydantic import SecretStr

from tests.support import create_member, create_staff, create_store, gql, login

ME = "{ me { email } }"
STAFF_ME = "{ staffMe { email } }"
INVALID_TOKEN = "The access token is invalid or has expired. Refresh the session."


async def member_token(db, settings, clock) -> str:
    tokens, _ = await create_member(db, settings, clock, email="ann@example.com")
    return tokens.access_token


async def cashier_token(db, settings, clock) -> str:
    store = await create_store(db, clock)
    await create_staff(db, settings, clock, email="till@example.com", store_ids=[str(store.id)])
    return await login(db, settings, clock, kind="staff", email="till@example.com")


def claims(settings, **overrides) -> dict:
    now = int(dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC).timestamp())
    return {
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "sub": f"member:{uuid.uuid4()}",
        "sid": str(uuid.uuid4()),
        "iat": now,
        "exp": now + 900,
    } | overrides


def sign(settings, payload: dict, *, key: str | None = None, kid: str | None = None) -> str:
    kid = kid or settings.jwt_active_kid
    secret = key or settings.jwt_keys[settings.jwt_active_kid].get_secret_value()
    return jwt.encode(payload, secret, algorithm="HS256", headers={"kid": kid})


def b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def assert_refused(answer: dict, code: str, message: str | None = None) -> None:
    assert answer["data"] is None
    assert len(answer["errors"]) == 1
    assert answer["errors"][0]["extensions"] == {"code": code}
    if message is not None:
        assert answer["errors"][0]["message"] == message


async def test_member_reads_me(client, db, settings, clock):
    # given
    token = await member_token(db, settings, clock)

    # when
    answer = await gql(client, ME, token=token)

    # then
    assert answer["data"] == {"me": {"email": "ann@example.com"}}


async def test_member_cannot_call_staff_me(client, db, settings, clock):
    # given
    token = await member_token(db, settings, clock)

    # when
    answer = await gql(client, STAFF_ME, token=token, expect_errors=True)

    # then
    assert_refused(answer, "FORBIDDEN", "Only staff may do this.")
    assert answer["errors"][0]["path"] == ["staffMe"]


async def test_staff_cannot_call_me(client, db, settings, clock):
    # given
    token = await cashier_token(db, settings, clock)

    # when
    answer = await gql(client, ME, token=token, expect_errors=True)

    # then
    assert_refused(answer, "FORBIDDEN", "Only a member may do this.")
    assert answer["errors"][0]["path"] == ["me"]


@pytest.mark.parametrize("query", [ME, STAFF_ME])
async def test_no_token_is_unauthenticated(client, query):
    # when
    answer = await gql(client, query, expect_errors=True)

    # then
    assert_refused(
        answer, "UNAUTHENTICATED", "Sign in first: send `Authorization: Bearer <accessToken>`."
    )


async def test_access_token_expires_after_fifteen_minutes(client, db, settings, clock):
    # given
    token = await member_token(db, settings, clock)
    clock.advance(minutes=14, seconds=59)
    still_valid = await gql(client, ME, token=token)

    # when
    clock.advance(seconds=1)
    answer = await gql(client, ME, token=token, expect_errors=True)

    # then
    assert still_valid["data"] == {"me": {"email": "ann@example.com"}}
    assert_refused(answer, "UNAUTHENTICATED", INVALID_TOKEN)


async def test_expired_staff_token_is_unauthenticated(client, db, settings, clock):
    # given
    token = await cashier_token(db, settings, clock)
    clock.advance(minutes=16)

    # when
    answer = await gql(client, STAFF_ME, token=token, expect_errors=True)

    # then
    assert_refused(answer, "UNAUTHENTICATED", INVALID_TOKEN)


def forged_tokens(settings, real: str) -> dict[str, str]:
    """Variations of a real member token that must all be refused."""
    header_b64, payload_b64, signature = real.split(".")
    payload = json.loads(base64.urlsafe_b64decode(payload_b64 + "=" * (-len(payload_b64) % 4)))
    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]
    return {
        "forged signature": sign(settings, payload, key="not-the-server-key-0123456789abcdef"),
        "tampered payload": ".".join(
            [header_b64, b64(payload | {"sub": f"member:{uuid.uuid4()}"}), signature]
        ),
        "flipped signature": f"{header_b64}.{payload_b64}.{flipped}",
        "alg none": jwt.encode(
            payload, None, algorithm="none", headers={"kid": settings.jwt_active_kid}
        ),
        "alg none by hand": f"{b64({'alg': 'none', 'typ': 'JWT', 'kid': settings.jwt_active_kid})}."
        f"{payload_b64}.",
        "alg HS512": jwt.encode(
            payload,
            settings.jwt_keys[settings.jwt_active_kid].get_secret_value(),
            algorithm="HS512",
            headers={"kid": settings.jwt_active_kid},
        ),
        "wrong audience": sign(settings, payload | {"aud": "someone-else"}),
        "wrong issuer": sign(settings, payload | {"iss": "evil"}),
        "no expiry": sign(settings, {k: v for k, v in payload.items() if k != "exp"}),
        "no session id": sign(settings, {k: v for k, v in payload.items() if k != "sid"}),
        "unknown kid": sign(settings, payload, kid="other-kid"),
        "no kid": jwt.encode(
            payload, settings.jwt_keys[settings.jwt_active_kid].get_secret_value(), "HS256"
        ),
        "unknown subject kind": sign(settings, payload | {"sub": f"robot:{uuid.uuid4()}"}),
        "subject not a uuid": sign(settings, payload | {"sub": "member:42"}),
        "session id not a uuid": sign(settings, payload | {"sid": "x"}),
        "expiry not a number": sign(settings, payload | {"exp": "soon"}),
        "garbage": "garbage",
        "three dots": "a.b.c",
        "empty segments": "..",
        "unicode": "токен",
        "huge": "x" * 10_000,
    }


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")  # the HS512 one
async def test_bad_bearer_token_is_unauthenticated(client, db, settings, clock):
    # given
    real = await member_token(db, settings, clock)
    forgeries = forged_tokens(settings, real)

    # when
    answers = {}
    for name, token in forgeries.items():
        response = await client.post(
            "/graphql",
            json={"query": ME},
            headers={"authorization": f"Bearer {token}".encode()},
        )
        body = response.json()
        answers[name] = (
            response.status_code,
            body["data"],
            [(e["message"], e["extensions"]) for e in body["errors"]],
        )

    # then
    refused = (200, None, [(INVALID_TOKEN, {"code": "UNAUTHENTICATED"})])
    assert answers == dict.fromkeys(forgeries, refused)
    assert len(answers) == 21
    assert (await gql(client, ME, token=real))["data"] == {"me": {"email": "ann@example.com"}}


async def test_malformed_authorization_header_is_unauthenticated(client):
    # given
    headers = ["Basic YW5uOnB3", "Bearer", "Bearer    ", "Token abc", "bearer"]

    # when
    answers = {}
    for header in headers:
        response = await client.post(
            "/graphql", json={"query": ME}, headers={"authorization": header}
        )
        body = response.json()
        answers[header] = (
            response.status_code,
            body["data"],
            [(e["message"], e["extensions"]) for e in body["errors"]],
        )

    # then
    refused = (
        200,
        None,
        [("Use `Authorization: Bearer <accessToken>`.", {"code": "UNAUTHENTICATED"})],
    )
    assert answers == dict.fromkeys(headers, refused)


async def test_scheme_is_case_insensitive(client, db, settings, clock):
    # given
    token = await member_token(db, settings, clock)

    # when
    response = await client.post(
        "/graphql", json={"query": ME}, headers={"authorization": f"bEaReR {token}"}
    )

    # then
    assert response.json() == {"data": {"me": {"email": "ann@example.com"}}}


async def test_token_of_a_member_that_does_not_exist_is_unauthenticated(client, settings):
    # given: a genuine signature over an unknown member
    token = sign(settings, claims(settings))

    # when
    answer = await gql(client, ME, token=token, expect_errors=True)

    # then
    assert_refused(answer, "UNAUTHENTICATED", "This account no longer exists. Sign in again.")


async def test_token_of_a_staff_account_that_does_not_exist_is_unauthenticated(client, settings):
    # given
    token = sign(settings, claims(settings, sub=f"staff:{uuid.uuid4()}"))

    # when
    answer = await gql(client, STAFF_ME, token=token, expect_errors=True)

    # then
    assert_refused(answer, "UNAUTHENTICATED", INVALID_TOKEN)


async def test_tokens_of_a_retired_signing_key_still_verify(app_client, db, settings, clock):
    # given: the key "dev-1" signed the token; then "next" became the active key
    _, member = await create_member(db, settings, clock, email="ann@example.com")
    old_token = sign(settings, claims(settings, sub=f"member:{member.id}"))
    rotated = settings.model_copy(
        update={
            "jwt_keys": settings.jwt_keys | {"next": SecretStr("n" * 40)},
            "jwt_active_kid": "next",
        }
    )

    # when
    async with app_client(rotated) as client:
        old = await gql(client, ME, token=old_token)
        login_answer = await gql(
            client,
            'mutation { loginMember(email: "ann@example.com", password: "correct-Horse-9") '
            "{ ... on AuthSession { accessToken } } }",
        )

    # then
    new_token = login_answer["data"]["loginMember"]["accessToken"]
    assert old["data"] == {"me": {"email": "ann@example.com"}}
    assert jwt.get_unverified_header(new_token)["kid"] == "next"


async def test_tokens_of_a_removed_key_are_refused(app_client, db, settings, clock):
    # given
    _, member = await create_member(db, settings, clock, email="ann@example.com")
    old_token = sign(settings, claims(settings, sub=f"member:{member.id}"))
    removed = settings.model_copy(
        update={"jwt_keys": {"next": SecretStr("n" * 40)}, "jwt_active_kid": "next"}
    )

    # when
    async with app_client(removed) as client:
        answer = await gql(client, ME, token=old_token, expect_errors=True)

    # then
    assert_refused(answer, "UNAUTHENTICATED", INVALID_TOKEN)


async def test_public_program_answers_even_with_a_bad_token(client):
    # when
    answer = await gql(client, "{ program { currency } }", token="garbage")

    # then
    assert answer == {"data": {"program": {"currency": "USD"}}}
