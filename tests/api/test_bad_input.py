"""RegisterMember with bad input: a UserError with its code and field, never a 500 and never a
half-written row. Also the arguments of connections."""

from __future__ import annotations

import base64

import pytest
from sqlalchemy import func, select

from app.members import models as members_models
from app.members import service as members_service
from tests.support import PASSWORD, create_member, gql, run_operation

GOOD = {"email": "new@example.com", "password": PASSWORD, "firstName": "Ann"}


async def member_count(db) -> int:
    async with db.read() as session:
        return await session.scalar(select(func.count()).select_from(members_models.Member))


async def register(client, **fields):
    answer = await run_operation(client, "RegisterMember", {"input": GOOD | fields})
    return answer["data"]["registerMember"]


@pytest.mark.parametrize(
    ("fields", "code", "field"),
    [
        ({"email": "not-an-email"}, "INVALID_INPUT", "email"),
        ({"email": "ann@example"}, "INVALID_INPUT", "email"),
        ({"email": "ann @example.com"}, "INVALID_INPUT", "email"),
        ({"email": "ann@@example.com"}, "INVALID_INPUT", "email"),
        ({"email": ""}, "INVALID_INPUT", "email"),
        ({"email": "   "}, "INVALID_INPUT", "email"),
        ({"email": "ann\x00@example.com"}, "INVALID_INPUT", "email"),
        ({"email": "a" * 250 + "@example.com"}, "INVALID_INPUT", "email"),
        ({"password": "Short-1"}, "WEAK_PASSWORD", "password"),
        ({"password": "alllowercaseletters"}, "WEAK_PASSWORD", "password"),
        ({"password": "1234567890123"}, "WEAK_PASSWORD", "password"),
        ({"password": " " * 16}, "WEAK_PASSWORD", "password"),
        ({"password": "Ab1" * 90}, "WEAK_PASSWORD", "password"),
        ({"password": ""}, "WEAK_PASSWORD", "password"),
        ({"firstName": ""}, "INVALID_INPUT", "firstName"),
        ({"firstName": "   \t "}, "INVALID_INPUT", "firstName"),
        ({"firstName": "Ann\x00"}, "INVALID_INPUT", "firstName"),
        ({"firstName": "Ann\nDrop"}, "INVALID_INPUT", "firstName"),
        ({"firstName": "Ann\u202eeoD"}, "INVALID_INPUT", "firstName"),
        ({"firstName": "A" * 101}, "INVALID_INPUT", "firstName"),
        ({"lastName": "Doe\x07"}, "INVALID_INPUT", "lastName"),
        ({"phone": "415-555-0123"}, "INVALID_INPUT", "phone"),
        ({"phone": "+1 415 555 0123 ext 5"}, "INVALID_INPUT", "phone"),
        ({"phone": "+0123456789"}, "INVALID_INPUT", "phone"),
        ({"phone": "+12345"}, "INVALID_INPUT", "phone"),
        ({"phone": "+1234567890123456"}, "INVALID_INPUT", "phone"),
        ({"phone": "+1\u0664\u0661\u0665\u0665\u0665\u0665\u0660\u0661\u0662\u0663"}, "INVALID_INPUT", "phone"),
        ({"phone": "+\uff11\uff14\uff11\uff15\uff15\uff15\uff15\uff10\uff11\uff12\uff13"}, "INVALID_INPUT", "phone"),
        ({"birthDate": "2026-06-02"}, "INVALID_INPUT", "birthDate"),
        ({"birthDate": "1899-12-31"}, "INVALID_INPUT", "birthDate"),
        ({"locale": "english"}, "INVALID_INPUT", "locale"),
        ({"locale": "EN"}, "INVALID_INPUT", "locale"),
        ({"referralCode": "NOPE2345"}, "INVALID_INPUT", "referralCode"),
    ],
)
async def test_register_refuses_bad_input_and_writes_nothing(client, db, fields, code, field):
    # when
    result = await register(client, **fields)

    # then
    assert result["__typename"] == "InvalidInputError"
    assert (result["code"], result["field"]) == (code, field)
    assert result["message"]
    assert await member_count(db) == 0


async def test_refused_registration_cannot_sign_in(client):
    # given
    refused = await register(client, firstName=" ")

    # when
    login = await run_operation(
        client, "LoginMember", {"email": GOOD["email"], "password": PASSWORD}
    )

    # then
    assert refused["code"] == "INVALID_INPUT"
    assert login["data"]["loginMember"]["code"] == "INVALID_CREDENTIALS"


async def test_register_refuses_an_email_taken_in_another_case(client, db, settings, clock):
    # given
    _, existing = await create_member(db, settings, clock, email="ann@example.com")

    # when
    result = await register(client, email="  ANN@Example.com ", firstName="Impostor")

    # then
    assert result == {
        "__typename": "ConflictError",
        "code": "EMAIL_TAKEN",
        "message": "An account with this e-mail already exists.",
        "field": "email",
    }
    async with db.read() as session:
        member = await members_service.find_member_by_email(session, "ann@example.com")
        assert (member.id, member.first_name) == (existing.id, "Ann")


@pytest.mark.parametrize(
    ("first_name", "last_name"),
    [
        ("Анна", "Каренина"),
        ("José", "Müller-Lüdenscheidt"),
        ("明", "李"),
        ("Zoë 🌻", None),
        ("O'Brien", "d'Arc"),
    ],
)
async def test_register_keeps_printable_unicode_names(client, first_name, last_name):
    # when
    result = await register(client, firstName=f"  {first_name} ", lastName=last_name)
    me = await gql(client, "{ me { firstName lastName } }", token=result["accessToken"])

    # then
    assert result["member"]["firstName"] == first_name
    assert me["data"]["me"] == {"firstName": first_name, "lastName": last_name}


async def test_register_normalizes_names_to_nfc(client):
    # when: "é" typed as "e" + combining acute accent
    result = await register(client, firstName="Rene\u0301")

    # then
    assert result["member"]["firstName"] == "Ren\u00e9"


@pytest.mark.parametrize(
    ("phone", "stored"),
    [
        ("+1 (415) 555-0123", "+14155550123"),
        ("+44 20 7946 0958", "+442079460958"),
        ("0044 20 7946 0958", "+442079460958"),
        ("+7.495.123.45.67", "+74951234567"),
        ("", None),
        ("   ", None),
    ],
)
async def test_register_normalizes_phone_numbers(client, phone, stored):
    # when
    result = await register(client, phone=phone)
    me = await gql(client, "{ me { phone } }", token=result["accessToken"])

    # then
    assert me["data"]["me"]["phone"] == stored


async def test_register_accepts_a_birth_date_of_today(client):
    # when: the clock stands at 2026-06-01
    result = await register(client, birthDate="2026-06-01")
    me = await gql(client, "{ me { birthDate } }", token=result["accessToken"])

    # then
    assert me["data"]["me"]["birthDate"] == "2026-06-01"


async def test_register_with_a_referral_code_in_any_case(client, db, settings, clock):
    # given
    _, referrer = await create_member(db, settings, clock, email="ann@example.com")

    # when
    result = await register(
        client, email="bob@example.com", referralCode=f" {referrer.referral_code.lower()} "
    )

    # then
    assert result["__typename"] == "AuthSession"
    async with db.read() as session:
        bob = await members_service.find_member_by_email(session, "bob@example.com")
        assert bob.referred_by_id == referrer.id


@pytest.mark.parametrize(
    "variables",
    [
        {"input": GOOD | {"birthDate": "1991-13-01"}},
        {"input": GOOD | {"birthDate": "yesterday"}},
        {"input": {"email": "new@example.com", "password": PASSWORD}},
        {"input": GOOD | {"firstName": None}},
        {"input": GOOD | {"marketingConsent": "yes"}},
        {"input": GOOD | {"unknownField": 1}},
    ],
)
async def test_register_with_ill_typed_variables_is_a_bad_request(client, db, variables):
    # when
    answer = await run_operation(client, "RegisterMember", variables, expect_errors=True)

    # then
    assert "data" not in answer or answer["data"] is None
    assert len(answer["errors"]) == 1
    assert answer["errors"][0]["extensions"]["code"] == "BAD_REQUEST"
    assert await member_count(db) == 0


# -- connection arguments ------------------------------------------------------------------------


def _cursor(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.mark.parametrize(
    ("first", "after"),
    [
        (0, None),
        (-1, None),
        (101, None),
        (10, "garbage"),
        (10, "!!!"),
        (10, _cursor(b"not json")),
        (10, _cursor(b'["2026-06-01T12:00:00", "0190f0e2-7c1a-7b3e-8a4b-123456789abc"]')),
        (10, _cursor(b'["2026-06-01T12:00:00+00:00", "not-a-uuid"]')),
        (10, _cursor(b'{"a": 1}')),
        (10, "Ω"),
    ],
)
async def test_transactions_with_bad_page_arguments_is_a_bad_request(
    client, db, settings, clock, first, after
):
    # given
    tokens, _ = await create_member(db, settings, clock)

    # when
    answer = await run_operation(
        client,
        "TransactionHistory",
        {"first": first, "after": after},
        token=tokens.access_token,
        expect_errors=True,
    )

    # then
    assert answer["data"] is None
    assert len(answer["errors"]) == 1
    assert answer["errors"][0]["path"] == ["me", "transactions"]
    assert answer["errors"][0]["extensions"] == {"code": "BAD_REQUEST"}


async def test_transactions_page_size_bounds_are_accepted(client, db, settings, clock):
    # given
    tokens, _ = await create_member(db, settings, clock)

    # when
    smallest = await run_operation(
        client, "TransactionHistory", {"first": 1}, token=tokens.access_token
    )
    largest = await run_operation(
        client, "TransactionHistory", {"first": 100}, token=tokens.access_token
    )

    # then
    empty = {"edges": [], "pageInfo": {"hasNextPage": False, "endCursor": None}}
    assert smallest["data"]["me"]["transactions"] == empty
    assert largest["data"]["me"]["transactions"] == empty


@pytest.mark.parametrize(("first", "after"), [(0, None), (101, None), (5, "garbage")])
async def test_offers_with_bad_page_arguments_is_a_bad_request(
    client, db, settings, clock, first, after
):
    # given
    tokens, _ = await create_member(db, settings, clock)

    # when
    answer = await gql(
        client,
        "query ($first: Int!, $after: String) "
        "{ me { offers(first: $first, after: $after) { edges { cursor } } } }",
        {"first": first, "after": after},
        token=tokens.access_token,
        expect_errors=True,
    )

    # then
    assert answer["data"] is None
    assert len(answer["errors"]) == 1
    assert answer["errors"][0]["path"] == ["me", "offers"]
    assert answer["errors"][0]["extensions"] == {"code": "BAD_REQUEST"}
