"""The program's rules through the API: `program` (public), `updateProgram`, `setTier`,
`removeTier` (admins only)."""

from __future__ import annotations

import pytest

from tests.support import create_member, create_staff, create_store, gql, login

PROGRAM = """
{
  program {
    version name currency
    earnRate { points per { amount currency } }
    pointValue { amount currency }
    pointValuePoints
    redemption { minPoints maxPercentOfTotal }
    pendingDays expiryDays tierWindowDays
    tiers { code name qualifyingThreshold earnMultiplier benefits }
    categoryRules { category multiplierPercent }
    referralPoints
    referralMinPurchase { amount currency }
    referralMonthlyCap
    birthdayPoints
  }
}
"""

PROGRAM_FIELDS = PROGRAM.strip()[1:-1].strip().removeprefix("program {").removesuffix("}")

UPDATE_PROGRAM = f"""
mutation UpdateProgram($input: UpdateProgramInput!) {{
  updateProgram(input: $input) {{
    __typename
    ... on Program {{ {PROGRAM_FIELDS} }}
    ... on UserError {{ code message field }}
  }}
}}
"""

SET_TIER = """
mutation SetTier($input: SetTierInput!) {
  setTier(input: $input) {
    __typename
    ... on Program { version tiers { code name qualifyingThreshold earnMultiplier benefits } }
    ... on UserError { code message field }
  }
}
"""

REMOVE_TIER = """
mutation RemoveTier($code: String!) {
  removeTier(code: $code) {
    __typename
    ... on Program { version tiers { code } }
    ... on UserError { code message field }
  }
}
"""

DEFAULT_TIERS = [
    {
        "code": "BRONZE",
        "name": "Bronze",
        "qualifyingThreshold": 0,
        "earnMultiplier": "1",
        "benefits": ["Earn 1 point per 1.00"],
    },
    {
        "code": "SILVER",
        "name": "Silver",
        "qualifyingThreshold": 1000,
        "earnMultiplier": "1.25",
        "benefits": ["Earn 25 % more points"],
    },
    {
        "code": "GOLD",
        "name": "Gold",
        "qualifyingThreshold": 5000,
        "earnMultiplier": "1.5",
        "benefits": ["Earn 50 % more points", "Gold-only offers"],
    },
    {
        "code": "PLATINUM",
        "name": "Platinum",
        "qualifyingThreshold": 15000,
        "earnMultiplier": "2",
        "benefits": ["Earn double points", "Platinum-only rewards", "Early access to sales"],
    },
]

DEFAULTS = {
    "version": 1,
    "name": "Loyalty",
    "currency": "USD",
    "earnRate": {"points": 1, "per": {"amount": 100, "currency": "USD"}},
    "pointValue": {"amount": 1, "currency": "USD"},  # 100 points = 1.00: a point is a cent
    "pointValuePoints": 1,
    "redemption": {"minPoints": 100, "maxPercentOfTotal": 50},
    "pendingDays": 0,
    "expiryDays": 365,
    "tierWindowDays": 365,
    "tiers": DEFAULT_TIERS,
    "categoryRules": [{"category": "gift-cards", "multiplierPercent": 0}],
    "referralPoints": 500,
    "referralMinPurchase": {"amount": 1000, "currency": "USD"},
    "referralMonthlyCap": 10,
    "birthdayPoints": 200,
}


async def admin_token(db, settings, clock) -> str:
    await create_staff(db, settings, clock, email="boss@example.com", role="ADMIN")
    return await login(db, settings, clock, kind="staff", email="boss@example.com")


async def test_program_is_public_and_holds_the_defaults(client):
    # when
    answer = await gql(client, PROGRAM)

    # then
    assert answer["data"]["program"] == DEFAULTS


async def test_update_program_changes_only_the_fields_given(client, db, settings, clock):
    # given
    token = await admin_token(db, settings, clock)

    # when
    updated = await gql(
        client,
        UPDATE_PROGRAM,
        {
            "input": {
                "name": "Coffee Club",
                "earnPer": {"amount": 200, "currency": "USD"},
                "pendingDays": 14,
                "categoryRules": [
                    {"category": " Gift-Cards ", "multiplierPercent": 0},
                    {"category": "coffee", "multiplierPercent": 200},
                ],
            }
        },
        token=token,
    )
    public = await gql(client, PROGRAM)

    # then
    expected = DEFAULTS | {
        "version": 2,
        "name": "Coffee Club",
        "earnRate": {"points": 1, "per": {"amount": 200, "currency": "USD"}},
        "pendingDays": 14,
        "categoryRules": [
            {"category": "coffee", "multiplierPercent": 200},
            {"category": "gift-cards", "multiplierPercent": 0},
        ],
    }
    assert updated["data"]["updateProgram"] == {"__typename": "Program"} | expected
    assert public["data"]["program"] == expected


@pytest.mark.parametrize(
    ("given", "shown"),
    [
        # "a point is worth 2 cents", next to the point's value shown (1 point = 1 cent)
        ({"pointValue": {"amount": 2, "currency": "USD"}}, (1, 2)),
        # "250 points are worth 1 cent"
        ({"pointValuePoints": 250}, (250, 1)),
        # both: shown in the fewest points worth whole cents
        ({"pointValuePoints": 1000, "pointValue": {"amount": 500, "currency": "USD"}}, (2, 1)),
    ],
    ids=["value alone", "points alone", "both"],
)
async def test_a_points_value_is_set_and_shown_per_the_fewest_points_worth_whole_cents(
    client, db, settings, clock, given, shown
):
    # given
    token = await admin_token(db, settings, clock)

    # when
    updated = await gql(client, UPDATE_PROGRAM, {"input": given}, token=token)

    # then
    program = updated["data"]["updateProgram"]
    assert (program["pointValuePoints"], program["pointValue"]["amount"]) == shown


async def test_each_update_is_a_new_version(client, db, settings, clock):
    # given
    token = await admin_token(db, settings, clock)

    # when
    first = await gql(client, UPDATE_PROGRAM, {"input": {"birthdayPoints": 300}}, token=token)
    second = await gql(client, UPDATE_PROGRAM, {"input": {"referralPoints": 250}}, token=token)

    # then
    assert first["data"]["updateProgram"]["version"] == 2
    assert second["data"]["updateProgram"]["version"] == 3
    assert second["data"]["updateProgram"]["birthdayPoints"] == 300
    assert second["data"]["updateProgram"]["referralPoints"] == 250


REFUSED_UPDATES = {
    "earnPer in euros": ({"earnPer": {"amount": 100, "currency": "EUR"}}, "earnPer"),
    "currency in lower case": ({"pointValue": {"amount": 100, "currency": "usd"}}, "pointValue"),
    "referral minimum in pounds": (
        {"referralMinPurchase": {"amount": 1000, "currency": "GBP"}},
        "referralMinPurchase",
    ),
    "earn per nothing": ({"earnPer": {"amount": 0, "currency": "USD"}}, "earnPerAmount"),
    "redeem over 100 %": ({"redeemMaxPercent": 101}, "redeemMaxPercent"),
    "negative pending days": ({"pendingDays": -1}, "pendingDays"),
    "points that never last": ({"expiryDays": 0}, "expiryDays"),
    "blank name": ({"name": "  "}, "name"),
    "bad category": (
        {"categoryRules": [{"category": "bad category!", "multiplierPercent": 100}]},
        "categoryRules",
    ),
    "negative multiplier": (
        {"categoryRules": [{"category": "coffee", "multiplierPercent": -5}]},
        "categoryRules",
    ),
}


async def test_update_program_refuses_bad_input(client, db, settings, clock):
    # given
    token = await admin_token(db, settings, clock)

    # when
    answers = {}
    for name, (program_input, _) in REFUSED_UPDATES.items():
        updated = await gql(client, UPDATE_PROGRAM, {"input": program_input}, token=token)
        result = updated["data"]["updateProgram"]
        answers[name] = (result["__typename"], result["code"], result["field"])
    public = await gql(client, PROGRAM)

    # then
    assert answers == {
        name: ("InvalidInputError", "INVALID_INPUT", field)
        for name, (_, field) in REFUSED_UPDATES.items()
    }
    assert public["data"]["program"] == DEFAULTS


async def test_set_tier_adds_a_tier_in_threshold_order(client, db, settings, clock):
    # given
    token = await admin_token(db, settings, clock)

    # when
    added = await gql(
        client,
        SET_TIER,
        {
            "input": {
                "code": "diamond",
                "name": " Diamond ",
                "qualifyingThreshold": 50000,
                "earnMultiplier": "3.5",
                "benefits": ["Concierge"],
            }
        },
        token=token,
    )

    # then
    program = added["data"]["setTier"]
    assert program["__typename"] == "Program"
    assert program["version"] == 2
    assert program["tiers"] == [
        *DEFAULT_TIERS,
        {
            "code": "DIAMOND",
            "name": "Diamond",
            "qualifyingThreshold": 50000,
            "earnMultiplier": "3.5",
            "benefits": ["Concierge"],
        },
    ]


async def test_set_tier_changes_a_tier_by_code(client, db, settings, clock):
    # given
    token = await admin_token(db, settings, clock)

    # when
    changed = await gql(
        client,
        SET_TIER,
        {
            "input": {
                "code": "SILVER",
                "name": "Silver",
                "qualifyingThreshold": 800,
                "earnMultiplier": "1.3",
            }
        },
        token=token,
    )

    # then
    tiers = changed["data"]["setTier"]["tiers"]
    assert tiers[1] == {
        "code": "SILVER",
        "name": "Silver",
        "qualifyingThreshold": 800,
        "earnMultiplier": "1.3",
        "benefits": [],
    }
    assert [t["code"] for t in tiers] == ["BRONZE", "SILVER", "GOLD", "PLATINUM"]


REFUSED_TIERS = {
    "three decimals": ({"earnMultiplier": "1.255"}, "earnMultiplier"),
    "multiplier under 1": ({"earnMultiplier": "0.5"}, "earnMultiplier"),
    "multiplier over 10": ({"earnMultiplier": "11"}, "earnMultiplier"),
    "threshold of GOLD": ({"qualifyingThreshold": 5000}, "threshold"),
    "negative threshold": ({"qualifyingThreshold": -1}, "threshold"),
    "code starts with a digit": ({"code": "1ST"}, "code"),
    "Cyrillic code": ({"code": "ЗОЛОТО"}, "code"),
    "blank name": ({"name": " "}, "name"),
    "empty benefit": ({"benefits": [""]}, "benefits"),
    "early access of 91 days": ({"earlyAccessDays": 91}, "earlyAccessDays"),
    "negative early access": ({"earlyAccessDays": -1}, "earlyAccessDays"),
}


async def test_set_tier_refuses_bad_input(client, db, settings, clock):
    # given
    token = await admin_token(db, settings, clock)
    good = {
        "code": "DIAMOND",
        "name": "Diamond",
        "qualifyingThreshold": 50000,
        "earnMultiplier": "3",
    }

    # when
    answers = {}
    for name, (change, _) in REFUSED_TIERS.items():
        answer = await gql(client, SET_TIER, {"input": good | change}, token=token)
        result = answer["data"]["setTier"]
        answers[name] = (result["__typename"], result["code"], result["field"])
    public = await gql(client, PROGRAM)

    # then
    assert answers == {
        name: ("InvalidInputError", "INVALID_INPUT", field)
        for name, (_, field) in REFUSED_TIERS.items()
    }
    assert public["data"]["program"] == DEFAULTS


async def test_set_tier_gives_a_tier_early_access_and_a_change_without_it_takes_it_away(
    client, db, settings, clock
):
    # given
    token = await admin_token(db, settings, clock)
    query = """
    mutation SetTier($input: SetTierInput!) {
      setTier(input: $input) {
        __typename
        ... on Program { tiers { code earlyAccessDays } }
        ... on UserError { code message field }
      }
    }
    """
    gold = {"code": "GOLD", "name": "Gold", "qualifyingThreshold": 5000, "earnMultiplier": "1.5"}

    # when
    early = await gql(client, query, {"input": gold | {"earlyAccessDays": 3}}, token=token)
    public = await gql(client, "{ program { tiers { code earlyAccessDays } } }")
    plain = await gql(client, query, {"input": gold}, token=token)

    # then: the input describes the whole tier: left out, early access is 0
    assert early["data"]["setTier"]["tiers"][2] == {"code": "GOLD", "earlyAccessDays": 3}
    assert public["data"]["program"]["tiers"] == [
        {"code": "BRONZE", "earlyAccessDays": 0},
        {"code": "SILVER", "earlyAccessDays": 0},
        {"code": "GOLD", "earlyAccessDays": 3},
        {"code": "PLATINUM", "earlyAccessDays": 0},
    ]
    assert plain["data"]["setTier"]["tiers"][2] == {"code": "GOLD", "earlyAccessDays": 0}


async def test_remove_tier_nobody_holds(client, db, settings, clock):
    # given
    token = await admin_token(db, settings, clock)

    # when
    removed = await gql(client, REMOVE_TIER, {"code": "platinum"}, token=token)

    # then
    assert removed["data"]["removeTier"] == {
        "__typename": "Program",
        "version": 2,
        "tiers": [{"code": "BRONZE"}, {"code": "SILVER"}, {"code": "GOLD"}],
    }


async def test_remove_tier_members_hold_is_a_conflict(client, db, settings, clock):
    # given
    token = await admin_token(db, settings, clock)
    await create_member(db, settings, clock)

    # when
    removed = await gql(client, REMOVE_TIER, {"code": "BRONZE"}, token=token)
    public = await gql(client, PROGRAM)

    # then
    assert removed["data"]["removeTier"] == {
        "__typename": "ConflictError",
        "code": "CONFLICT",
        "message": "Members hold this tier; it cannot be removed.",
        "field": "code",
    }
    assert public["data"]["program"]["version"] == 1


async def test_remove_unknown_tier_is_not_found(client, db, settings, clock):
    # given
    token = await admin_token(db, settings, clock)

    # when
    removed = await gql(client, REMOVE_TIER, {"code": "WOOD"}, token=token)

    # then
    assert removed["data"]["removeTier"] == {
        "__typename": "NotFoundError",
        "code": "NOT_FOUND",
        "message": "No tier has this code.",
        "field": "code",
    }


async def test_remove_the_lowest_tier_nobody_holds_is_invalid(client, db, settings, clock):
    # given: no member yet, but the next tier does not start at 0
    token = await admin_token(db, settings, clock)

    # when
    removed = await gql(client, REMOVE_TIER, {"code": "BRONZE"}, token=token)

    # then
    result = removed["data"]["removeTier"]
    assert result["__typename"] == "InvalidInputError"
    assert (result["code"], result["field"]) == ("INVALID_INPUT", "threshold")


async def non_admin_tokens(db, settings, clock) -> dict[str, str]:
    store = await create_store(db, clock)
    tokens = {}
    for role in ("CASHIER", "MANAGER"):
        email = f"{role.lower()}@example.com"
        await create_staff(db, settings, clock, email=email, role=role, store_ids=[str(store.id)])
        tokens[role] = await login(db, settings, clock, kind="staff", email=email)
    member, _ = await create_member(db, settings, clock)
    tokens["MEMBER"] = member.access_token
    return tokens


async def test_only_admins_change_the_program(client, db, settings, clock):
    # given
    tokens = await non_admin_tokens(db, settings, clock)
    calls = {
        "updateProgram": (UPDATE_PROGRAM, {"input": {"birthdayPoints": 1}}),
        "setTier": (
            SET_TIER,
            {
                "input": {
                    "code": "X",
                    "name": "X",
                    "qualifyingThreshold": 99999,
                    "earnMultiplier": "2",
                }
            },
        ),
        "removeTier": (REMOVE_TIER, {"code": "PLATINUM"}),
    }

    # when
    answers = {}
    for role, token in tokens.items():
        for field, (document, variables) in calls.items():
            answer = await gql(client, document, variables, token=token, expect_errors=True)
            answers[role, field] = (
                answer["data"],
                [(e["path"], e["extensions"]) for e in answer["errors"]],
            )
    public = await gql(client, PROGRAM)

    # then
    assert answers == {
        (role, field): (None, [([field], {"code": "FORBIDDEN"})])
        for role in tokens
        for field in calls
    }
    assert public["data"]["program"] == DEFAULTS
