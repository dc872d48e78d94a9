"""The till through POST /graphql, as the cashier app sends it: ScanMemberCode, PurchaseQuote,
CompletePurchase, RefundPurchase; and the back office's AdjustPoints.

A member registers and shows the rotating code of MemberHome; a cashier signs in with LoginStaff
and scans it. Every bad input comes back as a `UserError` member of the union with its code (and
field where the document selects it), and nothing is written.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select

from app.checkout.models import Checkout, Purchase, Refund
from app.idempotency.models import IdempotencyRecord
from app.ledger.models import LedgerEntry
from app.ledger.verify import verify_ledger
from app.program import service as program_service
from tests.support import PASSWORD, SYSTEM, create_staff, create_store, gql, run_operation

USD = "USD"
MISSING_ID = "0190f0e2-7c1a-7b3e-8a4b-123456789abc"
INT_BEYOND_32_BITS = 2**31


def money(amount: int, currency: str = USD) -> dict[str, Any]:
    return {"amount": amount, "currency": currency}


# 2 x coffee 19.99, a 50.00 gift card (earns nothing), a cake 130.01: 200.00
THREE_LINES = [
    {"sku": "COFFEE", "category": "coffee", "quantity": 2, "amount": money(1999)},
    {"sku": "GIFT-50", "category": "gift-cards", "quantity": 1, "amount": money(5000)},
    {"sku": "CAKE", "category": None, "quantity": 1, "amount": money(13001)},
]
# 100.00 of coffee, a 100.00 gift card, 200.00 of cake: 400.00
SECOND_LINES = [
    {"sku": "BEANS", "category": "coffee", "quantity": 1, "amount": money(10000)},
    {"sku": "GIFT-100", "category": "gift-cards", "quantity": 1, "amount": money(10000)},
    {"sku": "CAKE", "category": None, "quantity": 4, "amount": money(20000)},
]


@dataclass(frozen=True, slots=True)
class Till:
    member_token: str
    member_id: str
    card_number: str
    store_id: str
    cashier_token: str


async def register(client, *, email: str = "ann@example.com") -> dict[str, Any]:
    answer = await run_operation(
        client,
        "RegisterMember",
        {"input": {"email": email, "password": PASSWORD, "firstName": "Ann"}},
    )
    session = answer["data"]["registerMember"]
    assert session["__typename"] == "AuthSession"
    return session


async def code_of(client, member_token: str) -> str:
    home = await run_operation(client, "MemberHome", token=member_token)
    return home["data"]["me"]["memberCode"]["payload"]


async def balance_of(client, member_token: str) -> dict[str, Any]:
    home = await run_operation(client, "MemberHome", token=member_token)
    return home["data"]["me"]["balance"]


async def staff_login(
    client, db, settings, clock, *, email: str, role: str = "CASHIER", store_ids: list[str]
) -> str:
    await create_staff(db, settings, clock, email=email, role=role, store_ids=store_ids)
    answer = await run_operation(client, "LoginStaff", {"email": email, "password": PASSWORD})
    session = answer["data"]["loginStaff"]
    assert session["__typename"] == "AuthSession"
    return session["accessToken"]


async def sign_in_again(client, email: str = "till@example.com") -> str:
    answer = await run_operation(client, "LoginStaff", {"email": email, "password": PASSWORD})
    return answer["data"]["loginStaff"]["accessToken"]


async def open_till(client, db, settings, clock) -> Till:
    session = await register(client)
    store = await create_store(db, clock, code="MAIN", name="Main st.")
    cashier = await staff_login(
        client, db, settings, clock, email="till@example.com", store_ids=[str(store.id)]
    )
    return Till(
        member_token=session["accessToken"],
        member_id=session["member"]["id"],
        card_number=session["member"]["cardNumber"],
        store_id=str(store.id),
        cashier_token=cashier,
    )


async def scan(
    client, till: Till, *, code: str | None = None, store_id: str | None = None, token=None
) -> dict[str, Any]:
    answer = await run_operation(
        client,
        "ScanMemberCode",
        {
            "code": code if code is not None else await code_of(client, till.member_token),
            "storeId": store_id or till.store_id,
        },
        token=token or till.cashier_token,
    )
    return answer["data"]["scanMemberCode"]


async def checkout_for(client, till: Till, *, token: str | None = None) -> str:
    opened = await scan(client, till, token=token)
    assert opened["__typename"] == "Checkout", opened
    return opened["id"]


def purchase(
    checkout_id: str,
    receipt: str,
    total: int,
    *,
    lines: list[dict[str, Any]] | None = None,
    redeem: int | None = None,
    key: str | None = None,
    currency: str = USD,
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "checkoutId": checkout_id,
        "receiptNumber": receipt,
        "total": money(total, currency),
        "idempotencyKey": key if key is not None else f"key-{receipt}",
    }
    if lines is not None:
        data["lines"] = lines
    if redeem is not None:
        data["redeemPoints"] = redeem
    return data


async def quote(client, token: str, data: dict[str, Any]) -> dict[str, Any]:
    answer = await run_operation(client, "PurchaseQuote", {"input": data}, token=token)
    return answer["data"]["purchaseQuote"]


async def complete(client, token: str, data: dict[str, Any]) -> dict[str, Any]:
    answer = await run_operation(client, "CompletePurchase", {"input": data}, token=token)
    return answer["data"]["completePurchase"]


async def refund(
    client, token: str, purchase_id: str, amount: int, *, key: str, currency: str = USD
) -> dict[str, Any]:
    answer = await run_operation(
        client,
        "RefundPurchase",
        {"input": {"purchaseId": purchase_id, "amount": money(amount, currency), "idempotencyKey": key}},
        token=token,
    )  # fmt: skip
    return answer["data"]["refundPurchase"]


async def adjust(
    client, token: str, member_id: str, points: int, *, reason: str = "Goodwill", key: str
) -> dict[str, Any]:
    answer = await run_operation(
        client,
        "AdjustPoints",
        {"memberId": member_id, "points": points, "reason": reason, "idempotencyKey": key},
        token=token,
    )
    return answer["data"]["adjustPoints"]


async def count(db, model: Any) -> int:
    async with db.read() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def written(db) -> dict[str, int]:
    return {
        model.__tablename__: await count(db, model)
        for model in (LedgerEntry, Purchase, Refund, IdempotencyRecord)
    }


async def first_purchase(client, till: Till) -> dict[str, Any]:
    checkout = await checkout_for(client, till)
    receipt = await complete(
        client, till.cashier_token, purchase(checkout, "R-1001", 20000, lines=THREE_LINES)
    )
    assert receipt["__typename"] == "PurchaseReceipt", receipt
    return receipt


def user_error(code: str, message: str, field: str | None, typename: str) -> dict[str, Any]:
    return {"__typename": typename, "code": code, "message": message, "field": field}


# -- scan -------------------------------------------------------------------------------------------


async def test_scan_opens_a_checkout_for_fifteen_minutes(client, db, settings, clock):
    # given
    till = await open_till(client, db, settings, clock)

    # when
    opened = await scan(client, till)

    # then
    async with db.read() as session:
        row = (await session.scalars(select(Checkout))).one()
    assert opened == {
        "__typename": "Checkout",
        "id": str(row.id),
        "expiresAt": "2026-06-01T12:15:00+00:00",
        "member": {"firstName": "Ann", "tierName": "Bronze", "availablePoints": 0},
        "maxRedeemablePoints": 0,
        "pointValue": {"amount": 1, "currency": USD},  # a point's: 100 points = 1.00
        "offers": [],
    }
    assert (str(row.member_id), str(row.store_id), row.code_kind) == (
        till.member_id,
        till.store_id,
        "rotating",
    )


async def test_scan_accepts_the_code_of_the_previous_step(client, db, settings, clock):
    # given
    till = await open_till(client, db, settings, clock)
    code = await code_of(client, till.member_token)
    clock.advance(seconds=119)

    # when
    opened = await scan(client, till, code=code)

    # then
    assert opened["__typename"] == "Checkout"
    assert opened["expiresAt"] == "2026-06-01T12:16:59+00:00"


async def test_scan_accepts_the_wallet_code_and_the_typed_card_number(client, db, settings, clock):
    # given
    till = await open_till(client, db, settings, clock)
    wallet = await gql(client, "{ me { walletCode { payload } } }", token=till.member_token)
    typed = " ".join(till.card_number[i : i + 4] for i in range(0, 16, 4))

    # when
    by_wallet = await scan(client, till, code=wallet["data"]["me"]["walletCode"]["payload"])
    by_card = await scan(client, till, code=typed)

    # then
    assert (by_wallet["__typename"], by_card["__typename"]) == ("Checkout", "Checkout")
    async with db.read() as session:
        kinds = {row.code_kind for row in (await session.scalars(select(Checkout))).all()}
    assert kinds == {"static", "typed"}


async def test_scan_shows_the_balance_and_what_can_be_redeemed(client, db, settings, clock):
    # given
    till = await open_till(client, db, settings, clock)
    await first_purchase(client, till)

    # when
    opened = await scan(client, till)

    # then
    assert opened["member"] == {"firstName": "Ann", "tierName": "Bronze", "availablePoints": 150}
    assert opened["maxRedeemablePoints"] == 150


async def test_scan_refuses_expired_forged_and_revoked_codes(client, db, settings, clock):
    # given
    till = await open_till(client, db, settings, clock)
    old = await code_of(client, till.member_token)
    wallet = await gql(client, "{ me { walletCode { payload } } }", token=till.member_token)
    revoked = wallet["data"]["me"]["walletCode"]["payload"]
    await gql(
        client,
        "mutation { revokeWalletCode { __typename } }",
        token=till.member_token,
    )
    clock.advance(seconds=120)
    current = await code_of(client, till.member_token)
    prefix, card, step, mac = current.split(".")
    forged_mac = ("A" if mac[0] != "A" else "B") + mac[1:]
    future = f"{prefix}.{card}.{int(step) + 5}.{mac}"

    # when
    answers = [
        await scan(client, till, code=code)
        for code in (old, f"{prefix}.{card}.{step}.{forged_mac}", future, revoked, "hello")
    ]

    # then
    assert answers == [
        {"__typename": "MemberCodeError", "code": "CODE_EXPIRED",
         "message": "This member code has expired. Ask the member to refresh the app."},
        {"__typename": "MemberCodeError", "code": "CODE_INVALID",
         "message": "This member code is not genuine."},
        {"__typename": "MemberCodeError", "code": "CODE_INVALID",
         "message": "This member code is not genuine."},
        {"__typename": "MemberCodeError", "code": "CODE_REVOKED",
         "message": "This card has been replaced. Ask the member for the new one."},
        {"__typename": "MemberCodeError", "code": "CODE_MALFORMED",
         "message": "This is not a member code or card number."},
    ]  # fmt: skip
    assert await count(db, Checkout) == 0


async def test_scan_by_a_cashier_of_another_store_is_refused(client, db, settings, clock):
    # given
    till = await open_till(client, db, settings, clock)
    other = await create_store(db, clock, code="AIRPORT", name="Airport")

    # when
    answer = await scan(client, till, store_id=str(other.id))

    # then
    assert answer == {
        "__typename": "ForbiddenError",
        "code": "FORBIDDEN",
        "message": "You are not assigned to this store.",
    }
    assert await count(db, Checkout) == 0


async def test_scan_in_an_unknown_store_is_refused(client, db, settings, clock):
    # given
    till = await open_till(client, db, settings, clock)

    # when
    unknown = await scan(client, till, store_id=MISSING_ID)
    malformed = await scan(client, till, store_id="store-1")

    # then
    assert unknown["__typename"] == "ForbiddenError"
    assert unknown["code"] == "FORBIDDEN"
    assert malformed == {
        "__typename": "InvalidInputError",
        "code": "INVALID_INPUT",
        "message": "This is not an id this API returned.",
    }
    assert await count(db, Checkout) == 0


# -- quote and purchase ----------------------------------------------------------------------------


async def test_quote_then_purchase_of_three_lines_earns_exactly(client, db, settings, clock):
    # given
    till = await open_till(client, db, settings, clock)
    checkout = await checkout_for(client, till)
    data = purchase(checkout, "R-1001", 20000, lines=THREE_LINES)

    # when
    quoted = await quote(client, till.cashier_token, data)
    after_quote = await written(db)
    receipt = await complete(client, till.cashier_token, data)

    # then: the gift card earns nothing; 150.00 of coffee and cake earn 150
    assert quoted == {
        "__typename": "PurchaseQuote",
        "pointsToEarn": 150,
        "pointsToRedeem": 0,
        "discount": money(0),
        "amountDue": money(20000),
        "appliedOffers": [],
    }
    assert after_quote == {
        "ledger_entries": 0, "purchases": 0, "refunds": 0, "idempotency_records": 0
    }  # fmt: skip
    async with db.read() as session:
        row = (await session.scalars(select(Purchase))).one()
    assert receipt == {
        "__typename": "PurchaseReceipt",
        "purchase": {"id": str(row.id), "receiptNumber": "R-1001"},
        "pointsEarned": 150,
        "pointsRedeemed": 0,
        "discount": money(0),
        "amountDue": money(20000),
        "balance": {"available": 150, "pending": 0},
        "tierChanged": False,
    }
    assert (await balance_of(client, till.member_token))["available"] == 150
    assert (await verify_ledger(db)).violations == []


async def test_purchase_without_lines_is_one_line(client, db, settings, clock):
    # given
    till = await open_till(client, db, settings, clock)
    checkout = await checkout_for(client, till)

    # when
    receipt = await complete(client, till.cashier_token, purchase(checkout, "R-1", 1999))

    # then
    assert (receipt["pointsEarned"], receipt["amountDue"], receipt["balance"]) == (
        19,
        money(1999),
        {"available": 19, "pending": 0},
    )
    assert (await verify_ledger(db)).violations == []


async def test_second_purchase_pays_with_points(client, db, settings, clock):
    # given
    till = await open_till(client, db, settings, clock)
    await first_purchase(client, till)
    checkout = await checkout_for(client, till)
    data = purchase(checkout, "R-1002", 40000, lines=SECOND_LINES, redeem=100)

    # when
    quoted = await quote(client, till.cashier_token, data)
    receipt = await complete(client, till.cashier_token, data)

    # then: 1.00 paid with points, spread over the lines: 99.75 + 0 + 199.50 = 299.25 -> 299
    assert quoted == {
        "__typename": "PurchaseQuote",
        "pointsToEarn": 299,
        "pointsToRedeem": 100,
        "discount": money(100),
        "amountDue": money(39900),
        "appliedOffers": [],
    }
    assert {k: v for k, v in receipt.items() if k != "purchase"} == {
        "__typename": "PurchaseReceipt",
        "pointsEarned": 299,
        "pointsRedeemed": 100,
        "discount": money(100),
        "amountDue": money(39900),
        "balance": {"available": 349, "pending": 0},
        "tierChanged": False,
    }
    assert receipt["purchase"]["receiptNumber"] == "R-1002"
    assert await balance_of(client, till.member_token) == {
        "available": 349,
        "pending": 0,
        "lifetimeEarned": 449,
        "expiringSoon": [],
    }
    assert (await verify_ledger(db)).violations == []


async def test_crossing_a_threshold_upgrades_from_the_next_purchase(client, db, settings, clock):
    # given: 1 000.00 brings 1 000 qualifying points, Silver's threshold
    till = await open_till(client, db, settings, clock)
    checkout = await checkout_for(client, till)
    upgrading = await complete(client, till.cashier_token, purchase(checkout, "R-1", 100000))

    # when
    scanned = await scan(client, till)
    next_one = await complete(client, till.cashier_token, purchase(scanned["id"], "R-2", 10000))
    refunded = await refund(
        client, till.cashier_token, upgrading["purchase"]["id"], 100000, key="refund-1"
    )

    # then: Silver earns x1.25 from the next purchase; refunding the upgrade takes it back
    assert (upgrading["pointsEarned"], upgrading["tierChanged"]) == (1000, True)
    assert scanned["member"] == {"firstName": "Ann", "tierName": "Silver", "availablePoints": 1000}
    assert (next_one["pointsEarned"], next_one["tierChanged"]) == (125, False)
    assert refunded["balance"] == {"available": 125, "pending": 0}
    home = await run_operation(client, "MemberHome", token=till.member_token)
    assert home["data"]["me"]["tier"]["current"]["code"] == "BRONZE"
    assert (await verify_ledger(db)).violations == []


async def test_pending_points_show_as_pending(client, db, settings, clock):
    # given
    till = await open_till(client, db, settings, clock)
    await program_service.update_program(db, SYSTEM, clock, {"pending_days": 14})
    checkout = await checkout_for(client, till)

    # when
    receipt = await complete(client, till.cashier_token, purchase(checkout, "R-1", 20000))

    # then
    assert receipt["balance"] == {"available": 0, "pending": 200}
    home = await balance_of(client, till.member_token)
    assert (home["available"], home["pending"], home["lifetimeEarned"]) == (0, 200, 200)
    assert (await verify_ledger(db)).violations == []


async def test_replayed_purchase_returns_the_identical_response(client, db, settings, clock):
    # given
    till = await open_till(client, db, settings, clock)
    await first_purchase(client, till)
    checkout = await checkout_for(client, till)
    data = purchase(checkout, "R-1002", 40000, lines=SECOND_LINES, redeem=100, key="till-7-42")
    first = await complete(client, till.cashier_token, data)
    before = await written(db)
    clock.advance(minutes=20)  # past the checkout's 15 minutes: a retry still gets its receipt
    token = await sign_in_again(client)

    # when
    replay = await complete(client, token, data)

    # then
    assert replay == first
    assert await written(db) == before
    assert (await verify_ledger(db)).violations == []


async def test_reused_key_with_other_input_is_refused(client, db, settings, clock):
    # given
    till = await open_till(client, db, settings, clock)
    checkout = await checkout_for(client, till)
    await complete(client, till.cashier_token, purchase(checkout, "R-1", 20000, key="k-1"))
    before = await written(db)

    # when
    other_total = await complete(
        client, till.cashier_token, purchase(checkout, "R-1", 20001, key="k-1")
    )
    other_receipt = await complete(
        client, till.cashier_token, purchase(checkout, "R-2", 20000, key="k-1")
    )

    # then
    expected = user_error(
        "IDEMPOTENCY_KEY_REUSED",
        "This idempotency key was used with other input. Use a new key.",
        "idempotencyKey",
        "IdempotencyKeyReusedError",
    )
    assert (other_total, other_receipt) == (expected, expected)
    assert await written(db) == before


async def test_same_receipt_twice_with_a_new_key_is_a_duplicate(client, db, settings, clock):
    # given
    till = await open_till(client, db, settings, clock)
    checkout = await checkout_for(client, till)
    await complete(client, till.cashier_token, purchase(checkout, "R-1", 20000, key="k-1"))
    before = await written(db)

    # when
    answer = await complete(client, till.cashier_token, purchase(checkout, "R-1", 20000, key="k-2"))

    # then
    assert answer == user_error(
        "DUPLICATE_RECEIPT",
        "This receipt already earned points for this member.",
        "receiptNumber",
        "ConflictError",
    )
    assert await written(db) == before


# -- bad purchases ---------------------------------------------------------------------------------


LINES_SHORT = [dict(THREE_LINES[0]), dict(THREE_LINES[1])]


BAD_PURCHASES = [
        ({"total": money(0)}, "INVALID_INPUT", "The total must be more than zero.", "total",
         "InvalidInputError"),
        ({"total": money(-2000)}, "INVALID_INPUT", "The total must be more than zero.", "total",
         "InvalidInputError"),
        ({"total": money(2_000_000_000), "lines": None}, "INVALID_INPUT",
         "The total is too large.", "total", "InvalidInputError"),
        ({"lines": LINES_SHORT}, "LINES_MISMATCH",
         "The lines add up to 6999, the total is 20000.", "lines", "InvalidInputError"),
        ({"lines": [THREE_LINES[0], THREE_LINES[1], {**THREE_LINES[2], "amount": money(-1)}]},
         "INVALID_INPUT", "A line's amount is 0 to 1000000000.", "lines", "InvalidInputError"),
        ({"lines": [THREE_LINES[0], THREE_LINES[1], {**THREE_LINES[2], "quantity": 0}]},
         "INVALID_INPUT", "A line's quantity is 1 to 1000000.", "lines", "InvalidInputError"),
        ({"lines": [THREE_LINES[0], THREE_LINES[1], {**THREE_LINES[2], "quantity": 1_000_001}]},
         "INVALID_INPUT", "A line's quantity is 1 to 1000000.", "lines", "InvalidInputError"),
        ({"lines": [THREE_LINES[0], THREE_LINES[1], {**THREE_LINES[2], "amount": money(10**9 + 1)}]},
         "INVALID_INPUT", "A line's amount is 0 to 1000000000.", "lines", "InvalidInputError"),
        ({"lines": [THREE_LINES[0], THREE_LINES[1], {**THREE_LINES[2], "sku": " "}]},
         "INVALID_INPUT", "A line needs a SKU of at most 64 characters.", "lines",
         "InvalidInputError"),
        ({"total": money(20000, "EUR")}, "CURRENCY_MISMATCH", "The program's currency is USD.",
         "total", "InvalidInputError"),
        ({"lines": [THREE_LINES[0], THREE_LINES[1], {**THREE_LINES[2], "amount": money(13001, "EUR")}]},
         "CURRENCY_MISMATCH", "The program's currency is USD.", "lines", "InvalidInputError"),
        ({"receiptNumber": "  "}, "INVALID_INPUT",
         "A receipt number is 1 to 64 printable characters.", "receiptNumber",
         "InvalidInputError"),
        ({"checkoutId": MISSING_ID}, "CHECKOUT_NOT_FOUND",
         "No such checkout. Scan the member's code again.", "checkoutId", "NotFoundError"),
        ({"checkoutId": "checkout-1"}, "INVALID_INPUT", "This is not an id this API returned.",
         "checkoutId", "InvalidInputError"),
        ({"redeemPoints": 200}, "INSUFFICIENT_POINTS", "Only 150 points are available.",
         "redeemPoints", "InsufficientPointsError"),
        ({"redeemPoints": 99}, "REDEMPTION_NOT_ALLOWED", "Redeem at least 100 points at a time.",
         "redeemPoints", "InvalidInputError"),
        ({"total": money(299), "lines": None, "redeemPoints": 150}, "REDEMPTION_NOT_ALLOWED",
         "At most 149 points can pay for this purchase (50 % of the total).",
         "redeemPoints", "InvalidInputError"),
        ({"redeemPoints": -100}, "INVALID_INPUT", "Points to redeem cannot be negative.",
         "redeemPoints", "InvalidInputError"),
]  # fmt: skip


async def test_bad_purchases_are_user_errors_and_write_nothing(client, db, settings, clock):
    # given: a member with 150 points
    till = await open_till(client, db, settings, clock)
    await first_purchase(client, till)
    checkout = await checkout_for(client, till)
    before = await written(db)

    # when
    answers = []
    for change, *_ in BAD_PURCHASES:
        data = purchase(checkout, "R-2", 20000, lines=THREE_LINES) | change
        answers.append(
            (await quote(client, till.cashier_token, data),
             await complete(client, till.cashier_token, data))
        )  # fmt: skip

    # then: the quote and the purchase refuse alike
    assert answers == [
        (user_error(code, message, field, typename),) * 2
        for _, code, message, field, typename in BAD_PURCHASES
    ]
    assert await written(db) == before
    assert (await verify_ledger(db)).violations == []


async def test_purchase_with_a_bad_idempotency_key_is_refused(client, db, settings, clock):
    # given
    till = await open_till(client, db, settings, clock)
    checkout = await checkout_for(client, till)
    keys = ["", "   ", "k" * 201, "key\x00"]

    # when
    answers = [
        await complete(client, till.cashier_token, purchase(checkout, "R-1", 20000, key=key))
        for key in keys
    ]

    # then
    assert answers == [
        user_error(
            "INVALID_INPUT",
            "An idempotency key is 1 to 200 printable characters.",
            "idempotencyKey",
            "InvalidInputError",
        )
    ] * len(keys)
    assert await written(db) == {
        "ledger_entries": 0, "purchases": 0, "refunds": 0, "idempotency_records": 0
    }  # fmt: skip


async def test_expired_checkout_is_refused(client, db, settings, clock):
    # given
    till = await open_till(client, db, settings, clock)
    checkout = await checkout_for(client, till)
    clock.advance(minutes=15)
    token = await sign_in_again(client)
    data = purchase(checkout, "R-1", 20000)

    # when
    quoted = await quote(client, token, data)
    completed = await complete(client, token, data)

    # then
    expected = user_error(
        "CHECKOUT_EXPIRED",
        "This checkout has expired. Scan the member's code again.",
        "checkoutId",
        "ConflictError",
    )
    assert (quoted, completed) == (expected, expected)
    assert await count(db, Purchase) == 0


async def test_checkout_of_another_cashier_is_refused(client, db, settings, clock):
    # given: a colleague in the same store and a cashier of another store
    till = await open_till(client, db, settings, clock)
    checkout = await checkout_for(client, till)
    colleague = await staff_login(
        client, db, settings, clock, email="colleague@example.com", store_ids=[till.store_id]
    )
    airport = await create_store(db, clock, code="AIRPORT", name="Airport")
    stranger = await staff_login(
        client, db, settings, clock, email="airport@example.com", store_ids=[str(airport.id)]
    )
    data = purchase(checkout, "R-1", 20000)

    # when
    answers = [
        await call(client, token, data)
        for token in (colleague, stranger)
        for call in (quote, complete)
    ]

    # then
    expected = user_error(
        "CHECKOUT_NOT_YOURS",
        "Another till opened this checkout. Scan the member's code here.",
        "checkoutId",
        "ForbiddenError",
    )
    assert answers == [expected] * 4
    assert await count(db, Purchase) == 0


async def test_int_beyond_32_bits_is_a_bad_request(client, db, settings, clock):
    # given
    till = await open_till(client, db, settings, clock)
    checkout = await checkout_for(client, till)
    admin = await staff_login(client, db, settings, clock, email="admin@example.com", role="ADMIN",
                              store_ids=[])  # fmt: skip
    variables = [
        ("PurchaseQuote", {"input": purchase(checkout, "R-1", INT_BEYOND_32_BITS)}),
        ("CompletePurchase", {"input": purchase(checkout, "R-1", INT_BEYOND_32_BITS)}),
        ("CompletePurchase", {"input": purchase(checkout, "R-1", 20000, redeem=-INT_BEYOND_32_BITS - 1)}),
        ("RefundPurchase", {"input": {"purchaseId": MISSING_ID, "amount": money(INT_BEYOND_32_BITS), "idempotencyKey": "r"}}),
    ]  # fmt: skip

    # when
    answers = [
        await run_operation(client, name, values, token=till.cashier_token, expect_errors=True)
        for name, values in variables
    ]
    adjusted = await run_operation(
        client,
        "AdjustPoints",
        {"memberId": till.member_id, "points": INT_BEYOND_32_BITS, "reason": "x", "idempotencyKey": "a"},
        token=admin,
        expect_errors=True,
    )  # fmt: skip

    # then
    for answer in [*answers, adjusted]:
        assert answer.get("data") is None
        assert len(answer["errors"]) == 1
        assert answer["errors"][0]["extensions"]["code"] == "BAD_REQUEST"
    assert await written(db) == {
        "ledger_entries": 0, "purchases": 0, "refunds": 0, "idempotency_records": 0
    }  # fmt: skip


# -- refunds ---------------------------------------------------------------------------------------


async def redeeming_purchase(client, till: Till) -> dict[str, Any]:
    """150 points from a first purchase, then R-1002: 400.00 paying 100 points, earning 299."""
    await first_purchase(client, till)
    checkout = await checkout_for(client, till)
    receipt = await complete(
        client,
        till.cashier_token,
        purchase(checkout, "R-1002", 40000, lines=SECOND_LINES, redeem=100),
    )
    assert receipt["balance"] == {"available": 349, "pending": 0}
    return receipt


async def test_partial_refunds_take_back_and_give_back_in_proportion(client, db, settings, clock):
    # given
    till = await open_till(client, db, settings, clock)
    paid = await redeeming_purchase(client, till)
    purchase_id = paid["purchase"]["id"]

    # when: a third of the 399.00 paid, then the rest
    third = await refund(client, till.cashier_token, purchase_id, 13300, key="refund-1")
    rest = await refund(client, till.cashier_token, purchase_id, 26600, key="refund-2")
    more = await refund(client, till.cashier_token, purchase_id, 1, key="refund-3")

    # then: taken back rounded up (99.67 -> 100), given back rounded down (33.33 -> 33)
    assert third == {
        "__typename": "RefundReceipt",
        "pointsReversed": 100,
        "pointsRestored": 33,
        "balance": {"available": 282, "pending": 0},
    }
    assert rest == {
        "__typename": "RefundReceipt",
        "pointsReversed": 199,
        "pointsRestored": 67,
        "balance": {"available": 150, "pending": 0},
    }
    assert more == user_error(
        "REFUND_TOO_LARGE",
        "At most 0 can still be refunded on this purchase.",
        "amount",
        "InvalidInputError",
    )
    assert (await balance_of(client, till.member_token))["available"] == 150
    assert await count(db, Refund) == 2
    assert (await verify_ledger(db)).violations == []


async def test_replayed_refund_returns_the_identical_response(client, db, settings, clock):
    # given
    till = await open_till(client, db, settings, clock)
    paid = await redeeming_purchase(client, till)
    purchase_id = paid["purchase"]["id"]
    first = await refund(client, till.cashier_token, purchase_id, 13300, key="refund-1")
    before = await written(db)

    # when
    replay = await refund(client, till.cashier_token, purchase_id, 13300, key="refund-1")
    other = await refund(client, till.cashier_token, purchase_id, 13301, key="refund-1")

    # then
    assert replay == first
    assert other == user_error(
        "IDEMPOTENCY_KEY_REUSED",
        "This idempotency key was used with other input. Use a new key.",
        "idempotencyKey",
        "IdempotencyKeyReusedError",
    )
    assert await written(db) == before
    assert (await verify_ledger(db)).violations == []


BAD_REFUNDS = [
        (None, money(39901), "REFUND_TOO_LARGE",
         "At most 39900 can still be refunded on this purchase.", "amount", "InvalidInputError"),
        (None, money(0), "INVALID_INPUT", "A refund is more than zero.", "amount",
         "InvalidInputError"),
        (None, money(-100), "INVALID_INPUT", "A refund is more than zero.", "amount",
         "InvalidInputError"),
        (None, money(100, "EUR"), "CURRENCY_MISMATCH", "The purchase was paid in USD.", "amount",
         "InvalidInputError"),
        (MISSING_ID, money(100), "PURCHASE_NOT_FOUND", "No such purchase.", "purchaseId",
         "NotFoundError"),
        ("purchase-1", money(100), "INVALID_INPUT", "This is not an id this API returned.",
         "purchaseId", "InvalidInputError"),
]  # fmt: skip


async def test_bad_refunds_are_user_errors_and_write_nothing(client, db, settings, clock):
    # given: R-1002, 399.00 paid
    till = await open_till(client, db, settings, clock)
    paid = await redeeming_purchase(client, till)
    before = await written(db)

    # when
    answers = [
        await run_operation(
            client,
            "RefundPurchase",
            {
                "input": {
                    "purchaseId": purchase_id or paid["purchase"]["id"],
                    "amount": amount,
                    "idempotencyKey": f"refund-{n}",
                }
            },
            token=till.cashier_token,
        )
        for n, (purchase_id, amount, *_) in enumerate(BAD_REFUNDS)
    ]

    # then
    assert [answer["data"]["refundPurchase"] for answer in answers] == [
        user_error(code, message, field, typename)
        for _, _, code, message, field, typename in BAD_REFUNDS
    ]
    assert await written(db) == before
    assert (await verify_ledger(db)).violations == []


async def test_refund_by_a_cashier_of_another_store_is_refused(client, db, settings, clock):
    # given
    till = await open_till(client, db, settings, clock)
    paid = await redeeming_purchase(client, till)
    airport = await create_store(db, clock, code="AIRPORT", name="Airport")
    stranger = await staff_login(
        client, db, settings, clock, email="airport@example.com", store_ids=[str(airport.id)]
    )
    before = await written(db)

    # when
    answer = await refund(client, stranger, paid["purchase"]["id"], 100, key="refund-1")

    # then
    assert answer == user_error(
        "FORBIDDEN",
        "You are not assigned to the store of this purchase.",
        "purchaseId",
        "ForbiddenError",
    )
    assert await written(db) == before


async def test_a_colleague_in_the_same_store_may_refund(client, db, settings, clock):
    # given
    till = await open_till(client, db, settings, clock)
    paid = await redeeming_purchase(client, till)
    colleague = await staff_login(
        client, db, settings, clock, email="colleague@example.com", store_ids=[till.store_id]
    )

    # when
    answer = await refund(client, colleague, paid["purchase"]["id"], 39900, key="refund-1")

    # then
    assert answer == {
        "__typename": "RefundReceipt",
        "pointsReversed": 299,
        "pointsRestored": 100,
        "balance": {"available": 150, "pending": 0},
    }
    assert (await verify_ledger(db)).violations == []


async def test_refund_of_spent_points_leaves_a_debt_repaid_by_the_next_purchase(
    client, db, settings, clock
):
    # given: 200 points earned, 200 spent on the next purchase
    till = await open_till(client, db, settings, clock)
    checkout = await checkout_for(client, till)
    earned = await complete(client, till.cashier_token, purchase(checkout, "R-1", 20000))
    spent = await complete(
        client, till.cashier_token, purchase(checkout, "R-2", 1000, redeem=200, key="k-2")
    )
    assert spent["balance"] == {"available": 8, "pending": 0}

    # when: the first purchase is refunded in full, then the member buys again
    refunded = await refund(
        client, till.cashier_token, earned["purchase"]["id"], 20000, key="refund-1"
    )
    again = await complete(client, till.cashier_token, purchase(checkout, "R-3", 50000))

    # then
    assert refunded["balance"] == {"available": -192, "pending": 0}
    assert again["balance"] == {"available": 308, "pending": 0}
    assert (await verify_ledger(db)).violations == []


# -- adjustments -----------------------------------------------------------------------------------


async def test_admin_and_manager_adjust_points(client, db, settings, clock):
    # given
    till = await open_till(client, db, settings, clock)
    await first_purchase(client, till)
    admin = await staff_login(
        client, db, settings, clock, email="admin@example.com", role="ADMIN", store_ids=[]
    )
    manager = await staff_login(
        client, db, settings, clock, email="manager@example.com", role="MANAGER",
        store_ids=[till.store_id],
    )  # fmt: skip

    # when
    given = await adjust(client, admin, till.member_id, 50, reason="Goodwill", key="adj-1")
    taken = await adjust(client, manager, till.member_id, -30, reason="Double scan", key="adj-2")

    # then
    async with db.read() as session:
        rows = (
            await session.scalars(select(LedgerEntry).where(LedgerEntry.kind == "ADJUST"))
        ).all()
    ids = {row.points: str(row.id) for row in rows}
    assert given == {
        "__typename": "LedgerEntry",
        "id": ids[50],
        "kind": "ADJUST",
        "points": 50,
        "balanceAfter": 200,
    }
    assert taken == {
        "__typename": "LedgerEntry",
        "id": ids[-30],
        "kind": "ADJUST",
        "points": -30,
        "balanceAfter": 170,
    }
    assert {row.points: row.actor_kind for row in rows} == {50: "staff", -30: "staff"}
    assert (await balance_of(client, till.member_token))["available"] == 170
    assert (await verify_ledger(db)).violations == []


async def test_replayed_adjustment_returns_the_identical_response(client, db, settings, clock):
    # given
    till = await open_till(client, db, settings, clock)
    admin = await staff_login(
        client, db, settings, clock, email="admin@example.com", role="ADMIN", store_ids=[]
    )
    first = await adjust(client, admin, till.member_id, 50, key="adj-1")

    # when
    replay = await adjust(client, admin, till.member_id, 50, key="adj-1")
    other = await adjust(client, admin, till.member_id, 51, key="adj-1")

    # then
    assert replay == first
    assert other == {
        "__typename": "IdempotencyKeyReusedError",
        "code": "IDEMPOTENCY_KEY_REUSED",
        "message": "This idempotency key was used with other input. Use a new key.",
    }
    assert (await balance_of(client, till.member_token))["available"] == 50
    assert (await verify_ledger(db)).violations == []


async def test_cashier_may_not_adjust_points(client, db, settings, clock):
    # given
    till = await open_till(client, db, settings, clock)

    # when
    answer = await adjust(client, till.cashier_token, till.member_id, 1000, key="adj-1")

    # then
    assert answer == {
        "__typename": "ForbiddenError",
        "code": "FORBIDDEN",
        "message": "Only administrators and managers adjust points.",
    }
    assert await written(db) == {
        "ledger_entries": 0, "purchases": 0, "refunds": 0, "idempotency_records": 0
    }  # fmt: skip


BAD_ADJUSTMENTS = [
    (None, -200, "Too much", "INSUFFICIENT_POINTS", "InsufficientPointsError"),
    (None, 0, "Nothing", "INVALID_INPUT", "InvalidInputError"),
    (None, 10_000_001, "Everything", "INVALID_INPUT", "InvalidInputError"),
    (None, 10, "   ", "INVALID_INPUT", "InvalidInputError"),
    (MISSING_ID, 10, "Nobody", "NOT_FOUND", "NotFoundError"),
    ("member-1", 10, "Nobody", "INVALID_INPUT", "InvalidInputError"),
]


async def test_bad_adjustments_are_user_errors_and_write_nothing(client, db, settings, clock):
    # given: 150 points
    till = await open_till(client, db, settings, clock)
    await first_purchase(client, till)
    admin = await staff_login(
        client, db, settings, clock, email="admin@example.com", role="ADMIN", store_ids=[]
    )
    before = await written(db)

    # when
    answers = [
        await adjust(
            client, admin, member_id or till.member_id, points, reason=reason, key=f"adj-{n}"
        )
        for n, (member_id, points, reason, *_) in enumerate(BAD_ADJUSTMENTS)
    ]

    # then
    assert [(answer["__typename"], answer["code"]) for answer in answers] == [
        (typename, code) for *_, code, typename in BAD_ADJUSTMENTS
    ]
    assert await written(db) == before
    assert (await verify_ledger(db)).violations == []
