"""The member's own account through the API: updateProfile, revokeWalletCode, logout and the
rotation of refresh tokens."""

from __future__ import annotations

import datetime as dt

from tests.support import (
    PASSWORD,
    create_member,
    create_staff,
    create_store,
    gql,
    login,
    run_operation,
)

UPDATE_PROFILE = """
mutation UpdateProfile($input: UpdateProfileInput!) {
  updateProfile(input: $input) {
    __typename
    ... on Member { firstName lastName phone birthDate locale marketingConsent email }
    ... on UserError { code message field }
  }
}
"""

PROFILE = "{ me { firstName lastName phone birthDate locale marketingConsent email } }"

REVOKE_WALLET_CODE = """
mutation {
  revokeWalletCode {
    __typename
    ... on Member { walletCode { payload svg } }
    ... on UserError { code message field }
  }
}
"""

LOGOUT = """
mutation Logout($refreshToken: String!) {
  logout(refreshToken: $refreshToken) {
    __typename
    ... on LogoutSuccess { ok }
    ... on UserError { code message field }
  }
}
"""

ANN = {
    "firstName": "Ann",
    "lastName": "Lee",
    "phone": "+14155550123",
    "birthDate": "1990-02-03",
    "locale": "en",
    "marketingConsent": False,
    "email": "ann@example.com",
}


async def member_token(db, settings, clock) -> str:
    tokens, _ = await create_member(
        db,
        settings,
        clock,
        email="ann@example.com",
        first_name="Ann",
        last_name="Lee",
        phone="+1 415 555 0123",
        birth_date=dt.date(1990, 2, 3),
    )
    return tokens.access_token


# -- updateProfile -------------------------------------------------------------------------------


async def test_update_profile_changes_only_the_fields_given(client, db, settings, clock):
    # given
    token = await member_token(db, settings, clock)

    # when
    updated = await gql(
        client,
        UPDATE_PROFILE,
        {"input": {"firstName": " Анна ", "phone": "+44 20 7946 0958", "locale": "ru"}},
        token=token,
    )
    me = await gql(client, PROFILE, token=token)

    # then
    expected = ANN | {"firstName": "Анна", "phone": "+442079460958", "locale": "ru"}
    assert updated["data"]["updateProfile"] == {"__typename": "Member"} | expected
    assert me["data"]["me"] == expected


async def test_update_profile_clears_optional_fields(client, db, settings, clock):
    # given
    token = await member_token(db, settings, clock)

    # when
    updated = await gql(
        client,
        UPDATE_PROFILE,
        {"input": {"clear": ["lastName", "phone", "birthDate"], "marketingConsent": True}},
        token=token,
    )

    # then
    assert updated["data"]["updateProfile"] == {"__typename": "Member"} | ANN | {
        "lastName": None,
        "phone": None,
        "birthDate": None,
        "marketingConsent": True,
    }


REFUSED_CHANGES = {
    "clear the first name": ({"clear": ["firstName"]}, "clear"),
    "clear the e-mail": ({"clear": ["email"]}, "clear"),
    "blank first name": ({"firstName": "  "}, "firstName"),
    "escape sequence": ({"firstName": "Ann\x1b[31m"}, "firstName"),
    "last name over 100": ({"lastName": "L" * 101}, "lastName"),
    "phone without +": ({"phone": "555-0123"}, "phone"),
    "born in 2030": ({"birthDate": "2030-01-01"}, "birthDate"),
    "locale with _": ({"locale": "en_US"}, "locale"),
    "good name, bad phone": ({"firstName": "Bob", "phone": "nope"}, "phone"),
}


async def test_update_profile_refuses_bad_input_and_changes_nothing(client, db, settings, clock):
    # given
    token = await member_token(db, settings, clock)

    # when
    answers = {}
    for name, (profile_input, _) in REFUSED_CHANGES.items():
        updated = await gql(client, UPDATE_PROFILE, {"input": profile_input}, token=token)
        result = updated["data"]["updateProfile"]
        answers[name] = (result["__typename"], result["code"], result["field"])
    me = await gql(client, PROFILE, token=token)

    # then
    assert answers == {
        name: ("InvalidInputError", "INVALID_INPUT", field)
        for name, (_, field) in REFUSED_CHANGES.items()
    }
    assert me["data"]["me"] == ANN


async def test_update_profile_needs_a_member(client, db, settings, clock):
    # given
    store = await create_store(db, clock)
    await create_staff(db, settings, clock, email="till@example.com", store_ids=[str(store.id)])
    staff = await login(db, settings, clock, kind="staff", email="till@example.com")

    # when
    as_staff = await gql(
        client, UPDATE_PROFILE, {"input": {"firstName": "X"}}, token=staff, expect_errors=True
    )
    anonymous = await gql(client, UPDATE_PROFILE, {"input": {"firstName": "X"}}, expect_errors=True)

    # then
    assert as_staff["data"] is None
    assert [e["extensions"]["code"] for e in as_staff["errors"]] == ["FORBIDDEN"]
    assert anonymous["data"] is None
    assert [e["extensions"]["code"] for e in anonymous["errors"]] == ["UNAUTHENTICATED"]


# -- wallet code ---------------------------------------------------------------------------------


async def test_revoke_wallet_code_replaces_the_payload(client, db, settings, clock):
    # given
    tokens, member = await create_member(db, settings, clock)
    token = tokens.access_token
    before = await gql(client, "{ me { walletCode { payload svg } } }", token=token)
    old = before["data"]["me"]["walletCode"]["payload"]

    # when
    revoked = await gql(client, REVOKE_WALLET_CODE, token=token)
    after = await gql(client, "{ me { walletCode { payload svg } } }", token=token)

    # then
    new = after["data"]["me"]["walletCode"]["payload"]
    assert old.startswith(f"W1.{member.card_number}.1.")
    assert new.startswith(f"W1.{member.card_number}.2.")
    assert revoked["data"]["revokeWalletCode"]["__typename"] == "Member"
    assert revoked["data"]["revokeWalletCode"]["walletCode"] == after["data"]["me"]["walletCode"]
    assert after["data"]["me"]["walletCode"]["svg"].startswith("<svg")
    assert after["data"]["me"]["walletCode"]["svg"] != before["data"]["me"]["walletCode"]["svg"]


async def test_wallet_code_is_stable_until_revoked(client, db, settings, clock):
    # given
    tokens, _ = await create_member(db, settings, clock)
    first = await gql(client, "{ me { walletCode { payload } } }", token=tokens.access_token)

    # when
    clock.advance(minutes=10)
    second = await gql(client, "{ me { walletCode { payload } } }", token=tokens.access_token)

    # then
    assert second == first


async def test_revoke_wallet_code_needs_a_member(client):
    # when
    answer = await gql(client, REVOKE_WALLET_CODE, expect_errors=True)

    # then
    assert answer["data"] is None
    assert [e["extensions"]["code"] for e in answer["errors"]] == ["UNAUTHENTICATED"]


# -- sessions ------------------------------------------------------------------------------------


async def sign_in(client, email: str = "ann@example.com") -> dict:
    answer = await run_operation(client, "LoginMember", {"email": email, "password": PASSWORD})
    return answer["data"]["loginMember"]


async def refresh(client, token: str) -> dict:
    answer = await run_operation(client, "RefreshSession", {"refreshToken": token})
    return answer["data"]["refreshSession"]


async def test_logout_closes_the_session(client, db, settings, clock):
    # given
    await create_member(db, settings, clock)
    session = await sign_in(client)

    # when
    out = await gql(client, LOGOUT, {"refreshToken": session["refreshToken"]})
    refreshed = await refresh(client, session["refreshToken"])

    # then
    assert out["data"]["logout"] == {"__typename": "LogoutSuccess", "ok": True}
    assert refreshed == {
        "__typename": "AuthenticationError",
        "code": "SESSION_REVOKED",
        "message": "This session has been closed. Sign in again.",
    }


async def test_logout_leaves_other_sessions_open(client, db, settings, clock):
    # given: the member signed in on two phones
    await create_member(db, settings, clock)
    phone = await sign_in(client)
    tablet = await sign_in(client)

    # when
    await gql(client, LOGOUT, {"refreshToken": phone["refreshToken"]})
    refreshed = await refresh(client, tablet["refreshToken"])

    # then
    assert refreshed["__typename"] == "AuthSession"


async def test_logout_with_an_unknown_token_is_a_no_op(client):
    # when
    out = await gql(client, LOGOUT, {"refreshToken": "rt_never-issued"})

    # then
    assert out["data"]["logout"] == {"__typename": "LogoutSuccess", "ok": True}


async def test_spent_refresh_token_reused_closes_the_family(client, db, settings, clock):
    # given
    await create_member(db, settings, clock)
    first = await sign_in(client)
    second = await refresh(client, first["refreshToken"])

    # when
    reused = await refresh(client, first["refreshToken"])
    newer = await refresh(client, second["refreshToken"])

    # then
    assert second["__typename"] == "AuthSession"
    assert reused == {
        "__typename": "AuthenticationError",
        "code": "REFRESH_TOKEN_REUSED",
        "message": "This session was already refreshed; it has been closed. Sign in again.",
    }
    assert newer["__typename"] == "AuthenticationError"
    assert newer["code"] == "SESSION_REVOKED"


async def test_refresh_rotates_the_token_each_time(client, db, settings, clock):
    # given
    await create_member(db, settings, clock)
    session = await sign_in(client)

    # when
    tokens = [session["refreshToken"]]
    for _ in range(3):
        clock.advance(minutes=5)
        tokens.append((await refresh(client, tokens[-1]))["refreshToken"])
    me = await gql(
        client, "{ me { email } }", token=(await refresh(client, tokens[-1]))["accessToken"]
    )

    # then
    assert len(set(tokens)) == 4
    assert me["data"]["me"]["email"] == "ann@example.com"


async def test_refresh_with_an_unknown_token_is_invalid(client):
    # when
    refreshed = await refresh(client, "rt_never-issued")

    # then
    assert refreshed == {
        "__typename": "AuthenticationError",
        "code": "REFRESH_TOKEN_INVALID",
        "message": "The session is not valid. Sign in again.",
    }


async def test_refresh_after_thirty_days_is_expired(client, db, settings, clock):
    # given
    await create_member(db, settings, clock)
    session = await sign_in(client)
    clock.advance(days=30, seconds=1)

    # when
    refreshed = await refresh(client, session["refreshToken"])

    # then
    assert refreshed["__typename"] == "AuthenticationError"
    assert refreshed["code"] == "REFRESH_TOKEN_EXPIRED"


async def test_login_member_with_wrong_password_is_refused(client, db, settings, clock):
    # given
    await create_member(db, settings, clock)

    # when
    wrong = await run_operation(
        client, "LoginMember", {"email": "ann@example.com", "password": "Wrong-password-1"}
    )
    unknown = await run_operation(
        client, "LoginMember", {"email": "nobody@example.com", "password": PASSWORD}
    )

    # then
    refused = {
        "__typename": "AuthenticationError",
        "code": "INVALID_CREDENTIALS",
        "message": "The e-mail or the password is wrong.",
    }
    assert wrong["data"]["loginMember"] == refused
    assert unknown["data"]["loginMember"] == refused
