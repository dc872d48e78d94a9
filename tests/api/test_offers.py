"""Offers through POST /graphql as the clients send them: the back office's CreateOffer, the
app's ActivateOffer and MemberHome (tier progress and ranked offers), the till's PurchaseQuote
and CompletePurchase naming the offers they apply."""

from __future__ import annotations

from typing import Any

from app.offers.models import Offer, OfferActivation
from tests.service.helpers import count_rows
from tests.support import PASSWORD, create_staff, create_store, run_operation

USD = "USD"


def money(amount: int) -> dict[str, Any]:
    return {"amount": amount, "currency": USD}


async def admin_token(client, db, settings, clock) -> str:
    await create_staff(db, settings, clock, email="boss@example.com", role="ADMIN")
    answer = await run_operation(
        client, "LoginStaff", {"email": "boss@example.com", "password": PASSWORD}
    )
    return answer["data"]["loginStaff"]["accessToken"]


async def member_token(client, email: str = "ann@example.com") -> str:
    answer = await run_operation(
        client,
        "RegisterMember",
        {"input": {"email": email, "password": PASSWORD, "firstName": "Ann"}},
    )
    return answer["data"]["registerMember"]["accessToken"]


async def create_offer(client, token: str, **fields: Any) -> dict[str, Any]:
    data = {
        "title": "Coffee week",
        "description": "Double points on coffee",
        "kind": "BONUS_POINTS",
    }
    data.update({"value": 100, **fields})
    answer = await run_operation(client, "CreateOffer", {"input": data}, token=token)
    return answer["data"]["createOffer"]


async def test_create_offer_as_the_back_office_sends_it(client, db, settings, clock):
    # given
    token = await admin_token(client, db, settings, clock)

    # when
    created = await create_offer(
        client, token, kind="POINTS_MULTIPLIER", value=200, categories=["coffee"],
        minSpend=money(500), tierCodes=["SILVER", "GOLD"], startsAt="2026-06-01T00:00:00+02:00",
        endsAt="2026-06-08T00:00:00Z", requiresActivation=True, rolloutPercent=50,
    )  # fmt: skip

    # then
    assert created["__typename"] == "Offer"
    assert (created["title"], created["activated"], created["validUntil"]) == (
        "Coffee week",
        False,
        "2026-06-08T00:00:00+00:00",
    )
    assert await count_rows(db, Offer) == 1


async def test_create_offer_refuses_bad_input_with_its_field(client, db, settings, clock):
    # given
    token = await admin_token(client, db, settings, clock)
    cases = [
        ({"rolloutPercent": 0}, "rolloutPercent"),
        ({"kind": "PERCENT_DISCOUNT", "value": 150}, "value"),
        ({"tierCodes": ["DIAMOND"]}, "tierCodes"),
        ({"minSpend": {"amount": 500, "currency": "EUR"}}, "minSpend"),
        ({"endsAt": "2020-01-01T00:00:00Z"}, "endsAt"),
        ({"storeIds": ["not-an-id"]}, "storeIds"),
        ({"title": "   "}, "title"),
    ]

    # when
    answers = [await create_offer(client, token, **fields) for fields, _ in cases]

    # then
    assert [(a["__typename"], a["field"]) for a in answers] == [
        ("InvalidInputError", field) for _, field in cases
    ]
    assert await count_rows(db, Offer) == 0


async def test_a_member_may_not_create_an_offer(client, db, settings, clock):
    # given
    token = await member_token(client)

    # when
    answer = await run_operation(
        client,
        "CreateOffer",
        {"input": {"title": "T", "description": "D", "kind": "BONUS_POINTS", "value": 1}},
        token=token,
        expect_errors=True,
    )

    # then
    assert [e["extensions"]["code"] for e in answer["errors"]] == ["FORBIDDEN"]


async def test_activate_offer_and_member_home_show_it_activated(client, db, settings, clock):
    # given
    admin = await admin_token(client, db, settings, clock)
    offer = await create_offer(client, admin, requiresActivation=True, categories=["coffee"])
    token = await member_token(client)

    # when
    before = await run_operation(client, "MemberHome", token=token)
    activated = await run_operation(client, "ActivateOffer", {"offerId": offer["id"]}, token=token)
    after = await run_operation(client, "MemberHome", token=token)

    # then
    assert before["data"]["me"]["offers"]["edges"] == [
        {
            "node": {
                "id": offer["id"],
                "title": "Coffee week",
                "description": "Double points on coffee",
                "reason": "On coffee",
                "activated": False,
                "validUntil": None,
            }
        }
    ]
    assert activated["data"]["activateOffer"] == {
        "__typename": "Offer",
        "id": offer["id"],
        "activated": True,
    }
    assert after["data"]["me"]["offers"]["edges"][0]["node"]["activated"] is True
    assert await count_rows(db, OfferActivation) == 1


async def test_activate_offer_refuses_unknown_and_ineligible_offers(client, db, settings, clock):
    # given
    admin = await admin_token(client, db, settings, clock)
    gold = await create_offer(client, admin, tierCodes=["GOLD"], requiresActivation=True)
    token = await member_token(client)

    # when
    answers = [
        (await run_operation(client, "ActivateOffer", {"offerId": raw}, token=token))["data"][
            "activateOffer"
        ]
        for raw in ("nope", "0190f0e2-7c1a-7b3e-8a4b-123456789abc", gold["id"])
    ]

    # then
    assert [(a["__typename"], a["code"]) for a in answers] == [
        ("NotFoundError", "OFFER_NOT_FOUND"),
        ("NotFoundError", "OFFER_NOT_FOUND"),
        ("ForbiddenError", "OFFER_NOT_ELIGIBLE"),
    ]
    assert all(a["message"] for a in answers)
    assert await count_rows(db, OfferActivation) == 0


async def test_the_till_names_the_offers_it_applies(client, db, settings, clock):
    # given
    admin = await admin_token(client, db, settings, clock)
    await create_offer(client, admin, title="Bonus 50", value=50)
    store = await create_store(db, clock)
    await create_staff(db, settings, clock, email="till@example.com", store_ids=[str(store.id)])
    cashier = (
        await run_operation(
            client, "LoginStaff", {"email": "till@example.com", "password": PASSWORD}
        )
    )["data"]["loginStaff"]["accessToken"]
    token = await member_token(client)
    home = await run_operation(client, "MemberHome", token=token)
    scanned = await run_operation(
        client,
        "ScanMemberCode",
        {"code": home["data"]["me"]["memberCode"]["payload"], "storeId": str(store.id)},
        token=cashier,
    )
    checkout = scanned["data"]["scanMemberCode"]
    purchase = {
        "checkoutId": checkout["id"], "receiptNumber": "R-1", "total": money(1000),
        "idempotencyKey": "key-1",
    }  # fmt: skip

    # when
    quoted = await run_operation(client, "PurchaseQuote", {"input": purchase}, token=cashier)
    done = await run_operation(client, "CompletePurchase", {"input": purchase}, token=cashier)
    after = await run_operation(client, "MemberHome", token=token)

    # then
    assert [o["title"] for o in checkout["offers"]] == ["Bonus 50"]
    quote = quoted["data"]["purchaseQuote"]
    assert (quote["pointsToEarn"], [o["title"] for o in quote["appliedOffers"]]) == (
        60,
        ["Bonus 50"],
    )
    assert done["data"]["completePurchase"]["pointsEarned"] == 60
    tier = after["data"]["me"]["tier"]
    assert tier["current"] == {
        "code": "BRONZE",
        "name": "Bronze",
        "earnMultiplier": "1",
        "benefits": ["Earn 1 point per 1.00"],
    }
    assert tier["progress"]["qualifyingPoints"] == 10
    assert (tier["progress"]["pointsToNext"], tier["progress"]["percent"]) == (990, 1)
