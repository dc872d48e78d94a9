"""RegisterMember with bad input: a UserError with its code and field, never a 500 and never a
half-written row. Also the arguments of connections."""

from __future__ import annotations

import base64

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


ARABIC_INDIC = "\u0664\u0661\u0665\u0665\u0665\u0665\u0660\u0661\u0662\u0663"
FULL_WIDTH = "\uff11\uff14\uff11\uff15\uff15\uff15\uff15\uff10\uff11\uff12\uff13"

# name: (fields over GOOD, code, field). Run in one database: a refusal writes nothing.
REFUSED_REGISTRATIONS = {
    "no @": ({"email": "not-an-email"}, "INVALID_INPUT", "email"),
    "no dot in the domain": ({"email": "ann@example"}, "INVALID_INPUT", "email"),
    "space in the e-mail": ({"email": "ann @example.com"}, "INVALID_INPUT", "email"),
    "two @": ({"email": "ann@@example.com"}, "INVALID_INPUT", "email"),
    "empty e-mail": ({"email": ""}, "INVALID_INPUT", "email"),
    "blank e-mail": ({"email": "   "}, "INVALID_INPUT", "email"),
    "NUL in the e-mail": ({"email": "ann\x00@example.com"}, "INVALID_INPUT", "email"),
    "e-mail over 254": ({"email": "a" * 250 + "@example.com"}, "INVALID_INPUT", "email"),
    "short password": ({"password": "Short-1"}, "WEAK_PASSWORD", "password"),
    "lower case only": ({"password": "alllowercaseletters"}, "WEAK_PASSWORD", "password"),
    "digits only": ({"password": "1234567890123"}, "WEAK_PASSWORD", "password"),
    "spaces only": ({"password": " " * 16}, "WEAK_PASSWORD", "password"),
    "password over 256": ({"password": "Ab1" * 90}, "WEAK_PASSWORD", "password"),
    "empty password": ({"password": ""}, "WEAK_PASSWORD", "password"),
    "empty first name": ({"firstName": ""}, "INVALID_INPUT", "firstName"),
    "blank first name": ({"firstName": "   \t "}, "INVALID_INPUT", "firstName"),
    "NUL in the name": ({"firstName": "Ann\x00"}, "INVALID_INPUT", "firstName"),
    "newline in the name": ({"firstName": "Ann\nDrop"}, "INVALID_INPUT", "firstName"),
    "bidi override in the name": ({"firstName": "Ann\u202eeoD"}, "INVALID_INPUT", "firstName"),
    "name over 100": ({"firstName": "A" * 101}, "INVALID_INPUT", "firstName"),
    "bell in the last name": ({"lastName": "Doe\x07"}, "INVALID_INPUT", "lastName"),
    "phone without +": ({"phone": "415-555-0123"}, "INVALID_INPUT", "phone"),
    "phone with words": ({"phone": "+1 415 555 0123 ext 5"}, "INVALID_INPUT", "phone"),
    "phone country 0": ({"phone": "+0123456789"}, "INVALID_INPUT", "phone"),
    "phone too short": ({"phone": "+12345"}, "INVALID_INPUT", "phone"),
    "phone too long": ({"phone": "+1234567890123456"}, "INVALID_INPUT", "phone"),
    "Arabic-Indic digits": ({"phone": "+1" + ARABIC_INDIC}, "INVALID_INPUT", "phone"),
    "full-width digits": ({"phone": "+" + FULL_WIDTH}, "INVALID_INPUT", "phone"),
    "born tomorrow": ({"birthDate": "2026-06-02"}, "INVALID_INPUT", "birthDate"),
    "born before 1900": ({"birthDate": "1899-12-31"}, "INVALID_INPUT", "birthDate"),
    "locale a word": ({"locale": "english"}, "INVALID_INPUT", "locale"),
    "locale in capitals": ({"locale": "EN"}, "INVALID_INPUT", "locale"),
    "unknown referral code": ({"referralCode": "NOPE2345"}, "INVALID_INPUT", "referralCode"),
}


async def test_register_refuses_bad_input_and_writes_nothing(client, db):
    # when
    answers = {}
    for name, (fields, _, _) in REFUSED_REGISTRATIONS.items():
        result = await register(client, **fields)
        answers[name] = (result["__typename"], result["code"], result["field"], result["message"])

    # then
    assert {name: answer[:3] for name, answer in answers.items()} == {
        name: ("InvalidInputError", code, field)
        for name, (_, code, field) in REFUSED_REGISTRATIONS.items()
    }
    assert all(answer[3] for answer in answers.values())
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


async def test_register_keeps_printable_unicode_names(client):
    # given
    names = [
        ("Анна", "Каренина"),
        ("José", "Müller-Lüdenscheidt"),
        ("明", "李"),
        ("Zoë 🌻", None),
        ("O'Brien", "d'Arc"),
    ]

    # when
    stored = []
    for number, (first_name, last_name) in enumerate(names):
        result = await register(
            client, email=f"n{number}@example.com", firstName=f"  {first_name} ", lastName=last_name
        )
        me = await gql(client, "{ me { firstName lastName } }", token=result["accessToken"])
        stored.append((result["member"]["firstName"], me["data"]["me"]))

    # then
    assert stored == [(first, {"firstName": first, "lastName": last}) for first, last in names]


async def test_register_normalizes_names_to_nfc(client):
    # when: "é" typed as "e" + combining acute accent
    result = await register(client, firstName="Rene\u0301")

    # then
    assert result["member"]["firstName"] == "Ren\u00e9"


async def test_register_normalizes_phone_numbers(client):
    # given
    phones = {
        "+1 (415) 555-0123": "+14155550123",
        "+44 20 7946 0958": "+442079460958",
        "0044 20 7946 0958": "+442079460958",
        "+7.495.123.45.67": "+74951234567",
        "": None,
        "   ": None,
    }

    # when
    stored = {}
    for number, phone in enumerate(phones):
        result = await register(client, email=f"p{number}@example.com", phone=phone)
        me = await gql(client, "{ me { phone } }", token=result["accessToken"])
        stored[phone] = me["data"]["me"]["phone"]

    # then
    assert stored == phones


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


async def test_register_with_ill_typed_variables_is_a_bad_request(client, db):
    # given
    ill_typed = {
        "no such month": GOOD | {"birthDate": "1991-13-01"},
        "not a date": GOOD | {"birthDate": "yesterday"},
        "first name missing": {"email": "new@example.com", "password": PASSWORD},
        "first name null": GOOD | {"firstName": None},
        "consent a string": GOOD | {"marketingConsent": "yes"},
        "unknown field": GOOD | {"unknownField": 1},
    }

    # when
    answers = {}
    for name, member_input in ill_typed.items():
        answer = await run_operation(
            client, "RegisterMember", {"input": member_input}, expect_errors=True
        )
        answers[name] = (answer.get("data"), [e["extensions"]["code"] for e in answer["errors"]])

    # then
    assert answers == {name: (None, ["BAD_REQUEST"]) for name in ill_typed}
    assert await member_count(db) == 0


# -- connection arguments ------------------------------------------------------------------------


def _cursor(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


BAD_PAGES = {
    "first 0": (0, None),
    "first negative": (-1, None),
    "first over 100": (101, None),
    "cursor garbage": (10, "garbage"),
    "cursor not base64": (10, "!!!"),
    "cursor not JSON": (10, _cursor(b"not json")),
    "cursor naive time": (
        10,
        _cursor(b'["2026-06-01T12:00:00", "0190f0e2-7c1a-7b3e-8a4b-123456789abc"]'),
    ),
    "cursor id not a uuid": (10, _cursor(b'["2026-06-01T12:00:00+00:00", "not-a-uuid"]')),
    "cursor an object": (10, _cursor(b'{"a": 1}')),
    "cursor not ASCII": (10, "Ω"),
}


async def test_transactions_with_bad_page_arguments_is_a_bad_request(client, db, settings, clock):
    # given
    tokens, _ = await create_member(db, settings, clock)

    # when
    answers = {}
    for name, (first, after) in BAD_PAGES.items():
        answer = await run_operation(
            client,
            "TransactionHistory",
            {"first": first, "after": after},
            token=tokens.access_token,
            expect_errors=True,
        )
        answers[name] = (
            answer["data"],
            [(e["path"], e["extensions"]) for e in answer["errors"]],
        )

    # then
    assert answers == {
        name: (None, [(["me", "transactions"], {"code": "BAD_REQUEST"})]) for name in BAD_PAGES
    }


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


async def test_offers_with_bad_page_arguments_is_a_bad_request(client, db, settings, clock):
    # given
    tokens, _ = await create_member(db, settings, clock)
    query = (
        "query ($first: Int!, $after: String) "
        "{ me { offers(first: $first, after: $after) { edges { cursor } } } }"
    )

    # when
    answers = []
    for first, after in [(0, None), (101, None), (5, "garbage")]:
        answer = await gql(
            client,
            query,
            {"first": first, "after": after},
            token=tokens.access_token,
            expect_errors=True,
        )
        answers.append((answer["data"], [(e["path"], e["extensions"]) for e in answer["errors"]]))

    # then
    assert answers == [(None, [(["me", "offers"], {"code": "BAD_REQUEST"})])] * 3
