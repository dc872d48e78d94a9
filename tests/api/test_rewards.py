"""Rewards, vouchers, causes and donations through POST /graphql, as the clients send them:
the back office's CreateReward and CreateCause, the app's RewardsCatalog, RedeemReward and
DonatePoints, the till's RedeemVoucher. Every refusal is a `UserError` with its code, and
writes nothing."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import pytest

from app.ledger.verify import verify_ledger
from tests.service.rewards.support import snapshot
from tests.support import PASSWORD, create_staff, create_store, gql, login, run_operation

USD = "USD"


@dataclass(frozen=True)
class Program:
    admin: str
    member: str
    member_id: str
    cashier: str
    store_id: str


async def register(client, email: str, **fields: Any) -> dict[str, Any]:
    answer = await run_operation(
        client,
        "RegisterMember",
        {"input": {"email": email, "password": PASSWORD, "firstName": "Ann", **fields}},
    )
    return answer["data"]["registerMember"]


async def start(client, db, settings, clock) -> Program:
    store = await create_store(db, clock, code="MAIN", name="Main st.")
    await create_staff(db, settings, clock, email="boss@example.com", role="ADMIN")
    await create_staff(db, settings, clock, email="till@example.com", store_ids=[str(store.id)])
    member = await register(client, "ann@example.com")
    return Program(
        admin=await login(db, settings, clock, kind="staff", email="boss@example.com"),
        member=member["accessToken"],
        member_id=member["member"]["id"],
        cashier=await login(db, settings, clock, kind="staff", email="till@example.com"),
        store_id=str(store.id),
    )


async def give(client, program: Program, points: int, key: str = "give-1") -> None:
    answer = await run_operation(
        client,
        "AdjustPoints",
        {"memberId": program.member_id, "points": points, "reason": "gift", "idempotencyKey": key},
        token=program.admin,
    )
    assert answer["data"]["adjustPoints"]["__typename"] == "LedgerEntry"


async def create_reward(client, program: Program, **fields: Any) -> dict[str, Any]:
    values = {"title": "Free coffee", "kind": "FREE_PRODUCT", "pointsCost": 150, **fields}
    answer = await run_operation(client, "CreateReward", {"input": values}, token=program.admin)
    return answer["data"]["createReward"]


async def redeem(client, program: Program, reward_id: str, key: str = "r-1") -> dict[str, Any]:
    answer = await run_operation(
        client,
        "RedeemReward",
        {"rewardId": reward_id, "idempotencyKey": key},
        token=program.member,
    )
    return answer["data"]["redeemReward"]


async def take(
    client, program: Program, code: str, *, key: str = "t-1", store_id: str | None = None
) -> dict[str, Any]:
    answer = await run_operation(
        client,
        "RedeemVoucher",
        {"code": code, "storeId": store_id or program.store_id, "idempotencyKey": key},
        token=program.cashier,
    )
    return answer["data"]["redeemVoucher"]


async def donate(client, program: Program, cause_id: str, points: int, key: str = "d-1"):
    answer = await run_operation(
        client,
        "DonatePoints",
        {"causeId": cause_id, "points": points, "idempotencyKey": key},
        token=program.member,
    )
    return answer["data"]["donatePoints"]


async def available_points(client, program: Program) -> int:
    home = await run_operation(client, "MemberHome", token=program.member)
    return home["data"]["me"]["balance"]["available"]


# -- the contract's operations --------------------------------------------------------------------


async def test_create_reward_as_the_back_office_sends_it(client, db, settings, clock):
    # given
    program = await start(client, db, settings, clock)

    # when
    created = await create_reward(
        client,
        program,
        description="Any size",
        value={"amount": 450, "currency": USD},
        stock=10,
        tierCodes=["SILVER", "GOLD"],
    )

    # then
    assert created == {
        "__typename": "Reward",
        "id": created["id"],
        "title": "Free coffee",
        "kind": "FREE_PRODUCT",
        "pointsCost": 150,
        "available": True,
    }


async def test_create_reward_names_the_bad_field(client, db, settings, clock):
    # given
    program = await start(client, db, settings, clock)

    # when
    refused = await create_reward(client, program, pointsCost=0, tierCodes=["DIAMOND"])

    # then
    assert (refused["__typename"], refused["code"], refused["field"]) == (
        "InvalidInputError",
        "INVALID_INPUT",
        "pointsCost",
    )


async def test_only_an_admin_creates_rewards(client, db, settings, clock):
    # given
    program = await start(client, db, settings, clock)

    # when
    answer = await run_operation(
        client,
        "CreateReward",
        {"input": {"title": "X", "kind": "GIFT_CARD", "pointsCost": 1}},
        token=program.cashier,
        expect_errors=True,
    )

    # then
    assert [e["extensions"]["code"] for e in answer["errors"]] == ["FORBIDDEN"]


async def test_the_catalog_shows_what_the_member_may_take(client, db, settings, clock):
    # given: a Bronze member; a reward for everyone and one for Gold
    program = await start(client, db, settings, clock)
    coffee = await create_reward(client, program)
    clock.advance(seconds=1)
    lounge = await create_reward(
        client, program, title="Lounge", kind="EXPERIENCE", tierCodes=["GOLD"]
    )

    # when
    answer = await run_operation(client, "RewardsCatalog", {"first": 10}, token=program.member)

    # then
    assert answer["data"]["rewards"]["edges"] == [
        {
            "node": {
                "id": lounge["id"],
                "title": "Lounge",
                "kind": "EXPERIENCE",
                "pointsCost": 150,
                "available": False,
            }
        },
        {
            "node": {
                "id": coffee["id"],
                "title": "Free coffee",
                "kind": "FREE_PRODUCT",
                "pointsCost": 150,
                "available": True,
            }
        },
    ]


async def test_redeem_reward_then_the_till_takes_the_voucher(client, db, settings, clock):
    # given
    program = await start(client, db, settings, clock)
    await give(client, program, 200)
    reward = await create_reward(client, program, stock=5)

    # when
    voucher = await redeem(client, program, reward["id"])
    clock.advance(minutes=5)
    taken = await take(client, program, voucher["code"])

    # then
    assert voucher["__typename"] == "Voucher"
    assert voucher["reward"] == {"id": reward["id"], "title": "Free coffee"}
    assert voucher["expiresAt"] == "2026-07-01T12:00:00+00:00"
    assert voucher["qr"]["payload"] == voucher["code"]
    assert voucher["qr"]["svg"].startswith("<svg")
    assert len(voucher["code"]) == 14 and voucher["code"][4] == voucher["code"][9] == "-"
    assert taken == {
        "__typename": "Voucher",
        "id": voucher["id"],
        "code": voucher["code"],
        "redeemedAt": "2026-06-01T12:05:00+00:00",
        "reward": {"title": "Free coffee", "kind": "FREE_PRODUCT"},
    }
    assert await available_points(client, program) == 50
    assert (await verify_ledger(db)).violations == []


async def test_the_member_lists_its_vouchers(client, db, settings, clock):
    # given
    program = await start(client, db, settings, clock)
    await give(client, program, 200)
    reward = await create_reward(client, program)
    voucher = await redeem(client, program, reward["id"])

    # when
    answer = await gql(
        client,
        "{ vouchers(first: 5) { edges { node { id code pointsSpent redeemedAt } } } }",
        token=program.member,
    )

    # then
    assert answer["data"]["vouchers"]["edges"] == [
        {
            "node": {
                "id": voucher["id"],
                "code": voucher["code"],
                "pointsSpent": 150,
                "redeemedAt": None,
            }
        }
    ]


async def test_create_cause_and_donate_points(client, db, settings, clock):
    # given
    program = await start(client, db, settings, clock)
    await give(client, program, 300)

    # when
    created = await run_operation(
        client,
        "CreateCause",
        {"input": {"name": "Trees for the city", "description": "One tree per 500 points"}},
        token=program.admin,
    )
    cause = created["data"]["createCause"]
    donation = await donate(client, program, cause["id"], 120)
    history = await run_operation(client, "TransactionHistory", {"first": 1}, token=program.member)
    causes = await gql(
        client, "{ causes(first: 5) { edges { node { name totalPoints donationCount } } } }",
        token=program.admin,
    )  # fmt: skip

    # then
    assert cause == {"__typename": "Cause", "id": cause["id"], "name": "Trees for the city"}
    assert donation == {
        "__typename": "Donation",
        "id": donation["id"],
        "points": 120,
        "cause": {"id": cause["id"], "name": "Trees for the city"},
    }
    [entry] = history["data"]["me"]["transactions"]["edges"]
    assert (entry["node"]["kind"], entry["node"]["points"], entry["node"]["description"]) == (
        "DONATION",
        -120,
        "Donation to Trees for the city",
    )
    assert causes["data"]["causes"]["edges"] == [
        {"node": {"name": "Trees for the city", "totalPoints": 120, "donationCount": 1}}
    ]
    assert await available_points(client, program) == 180


# -- bad input and replays ------------------------------------------------------------------------


async def test_a_reward_the_member_s_tier_may_not_take(client, db, settings, clock):
    # given
    program = await start(client, db, settings, clock)
    await give(client, program, 500)
    reward = await create_reward(client, program, tierCodes=["PLATINUM"])
    before = await snapshot(db)

    # when
    refused = await redeem(client, program, reward["id"])

    # then
    assert (refused["__typename"], refused["code"]) == ("ForbiddenError", "TIER_NOT_ELIGIBLE")
    assert refused["message"] == "This reward is for Platinum members."
    assert await snapshot(db) == before


async def test_not_enough_points(client, db, settings, clock):
    # given
    program = await start(client, db, settings, clock)
    await give(client, program, 100)
    reward = await create_reward(client, program, stock=1)
    before = await snapshot(db)

    # when
    refused = await redeem(client, program, reward["id"])

    # then
    assert (refused["__typename"], refused["code"]) == (
        "InsufficientPointsError",
        "INSUFFICIENT_POINTS",
    )
    assert await snapshot(db) == before


async def test_out_of_stock(client, db, settings, clock):
    # given
    program = await start(client, db, settings, clock)
    await give(client, program, 500)
    reward = await create_reward(client, program, stock=0)

    # when
    refused = await redeem(client, program, reward["id"])

    # then
    assert (refused["__typename"], refused["code"]) == ("ConflictError", "OUT_OF_STOCK")
    assert await available_points(client, program) == 500


async def test_a_voucher_used_twice(client, db, settings, clock):
    # given
    program = await start(client, db, settings, clock)
    await give(client, program, 200)
    reward = await create_reward(client, program)
    voucher = await redeem(client, program, reward["id"])
    await take(client, program, voucher["code"])
    before = await snapshot(db)

    # when
    refused = await take(client, program, voucher["code"], key="t-2")

    # then
    assert (refused["__typename"], refused["code"]) == ("ConflictError", "VOUCHER_ALREADY_USED")
    assert await snapshot(db) == before


async def test_a_voucher_at_a_store_it_is_not_valid_in(client, db, settings, clock):
    # given: the reward is for the north store; the cashier works in the main store
    program = await start(client, db, settings, clock)
    north = await create_store(db, clock, code="NORTH", name="North")
    await give(client, program, 200)
    reward = await create_reward(client, program, storeIds=[str(north.id)])
    voucher = await redeem(client, program, reward["id"])
    before = await snapshot(db)

    # when
    refused = await take(client, program, voucher["code"])

    # then
    assert (refused["__typename"], refused["code"]) == ("ForbiddenError", "VOUCHER_NOT_VALID_HERE")
    assert await snapshot(db) == before


async def test_an_expired_voucher(client, db, settings, clock):
    # given
    program = await start(client, db, settings, clock)
    await give(client, program, 200)
    reward = await create_reward(client, program, voucherValidDays=1)
    voucher = await redeem(client, program, reward["id"])
    clock.advance(days=1)
    cashier = await login(db, settings, clock, kind="staff", email="till@example.com")

    # when
    refused = await take(client, replace(program, cashier=cashier), voucher["code"])

    # then
    assert (refused["__typename"], refused["code"]) == ("ConflictError", "VOUCHER_EXPIRED")


async def test_an_unknown_referral_code(client, db, settings, clock):
    # when
    refused = await register(client, "bob@example.com", referralCode="NOPE2345")

    # then
    assert (refused["__typename"], refused["code"], refused["field"]) == (
        "InvalidInputError",
        "INVALID_INPUT",
        "referralCode",
    )


@pytest.mark.parametrize(
    ("points", "typename", "code"),
    [
        (0, "InvalidInputError", "INVALID_INPUT"),
        (-10, "InvalidInputError", "INVALID_INPUT"),
        (301, "InsufficientPointsError", "INSUFFICIENT_POINTS"),
    ],
)
async def test_a_donation_of_zero_negative_or_too_much(
    client, db, settings, clock, points, typename, code
):
    # given
    program = await start(client, db, settings, clock)
    await give(client, program, 300)
    created = await run_operation(
        client, "CreateCause", {"input": {"name": "Trees"}}, token=program.admin
    )
    before = await snapshot(db)

    # when
    refused = await donate(client, program, created["data"]["createCause"]["id"], points)

    # then
    assert (refused["__typename"], refused["code"]) == (typename, code)
    assert await snapshot(db) == before


async def test_replayed_keys_with_other_input(client, db, settings, clock):
    # given: a redemption, a donation and a voucher taken, each with its key
    program = await start(client, db, settings, clock)
    await give(client, program, 1000)
    coffee = await create_reward(client, program)
    cake = await create_reward(client, program, title="Free cake")
    cause = (
        await run_operation(
            client, "CreateCause", {"input": {"name": "Trees"}}, token=program.admin
        )
    )["data"]["createCause"]
    first = await redeem(client, program, coffee["id"], key="r-1")
    second = await redeem(client, program, coffee["id"], key="r-2")
    await donate(client, program, cause["id"], 10, key="d-1")
    await take(client, program, first["code"], key="t-1")
    before = await snapshot(db)

    # when: each key again with other input, and each again with the same input
    answers = [
        await redeem(client, program, cake["id"], key="r-1"),
        await donate(client, program, cause["id"], 11, key="d-1"),
        await take(client, program, second["code"], key="t-1"),
    ]
    replays = [
        await redeem(client, program, coffee["id"], key="r-1"),
        await donate(client, program, cause["id"], 10, key="d-1"),
        await take(client, program, first["code"], key="t-1"),
    ]

    # then
    assert [(a["__typename"], a["code"]) for a in answers] == [
        ("IdempotencyKeyReusedError", "IDEMPOTENCY_KEY_REUSED")
    ] * 3
    assert [r["__typename"] for r in replays] == ["Voucher", "Donation", "Voucher"]
    assert replays[0]["id"] == first["id"]
    assert await snapshot(db) == before
