"""The member's history and balance through POST /graphql, as the customer app reads them after
the till and the back office moved points: TransactionHistory and MemberHome."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from app.ledger.models import LedgerEntry
from app.ledger.verify import verify_ledger
from tests.support import PASSWORD, create_staff, create_store, run_operation

# 2 x coffee 19.99, a 50.00 gift card (earns nothing), a cake 130.01: 200.00, earning 150
FIRST_LINES = [
    {"sku": "COFFEE", "category": "coffee", "quantity": 2, "amount": {"amount": 1999, "currency": "USD"}},
    {"sku": "GIFT-50", "category": "gift-cards", "quantity": 1, "amount": {"amount": 5000, "currency": "USD"}},
    {"sku": "CAKE", "category": None, "quantity": 1, "amount": {"amount": 13001, "currency": "USD"}},
]  # fmt: skip


def money(amount: int) -> dict[str, Any]:
    return {"amount": amount, "currency": "USD"}


async def sign_in(client, email: str) -> str:
    answer = await run_operation(client, "LoginStaff", {"email": email, "password": PASSWORD})
    return answer["data"]["loginStaff"]["accessToken"]


async def member_token(client) -> tuple[str, str]:
    answer = await run_operation(
        client,
        "RegisterMember",
        {"input": {"email": "ann@example.com", "password": PASSWORD, "firstName": "Ann"}},
    )
    session = answer["data"]["registerMember"]
    return session["accessToken"], session["member"]["id"]


async def refresh_member(client) -> str:
    answer = await run_operation(
        client, "LoginMember", {"email": "ann@example.com", "password": PASSWORD}
    )
    return answer["data"]["loginMember"]["accessToken"]


async def scan(client, cashier: str, member: str, store_id: str) -> str:
    home = await run_operation(client, "MemberHome", token=member)
    opened = await run_operation(
        client,
        "ScanMemberCode",
        {"code": home["data"]["me"]["memberCode"]["payload"], "storeId": store_id},
        token=cashier,
    )
    return opened["data"]["scanMemberCode"]["id"]


async def complete(client, cashier: str, checkout: str, receipt: str, total: int, **extra: Any):
    answer = await run_operation(
        client,
        "CompletePurchase",
        {"input": {"checkoutId": checkout, "receiptNumber": receipt, "total": money(total),
                   "idempotencyKey": f"key-{receipt}", **extra}},
        token=cashier,
    )  # fmt: skip
    receipt_data = answer["data"]["completePurchase"]
    assert receipt_data["__typename"] == "PurchaseReceipt", receipt_data
    return receipt_data


async def history(client, token: str, first: int, after: str | None = None) -> dict[str, Any]:
    answer = await run_operation(
        client, "TransactionHistory", {"first": first, "after": after}, token=token
    )
    return answer["data"]["me"]["transactions"]


async def a_month_of_points(client, db, settings, clock) -> str:
    """Every kind of entry, a minute apart: two purchases (the second paying with points), a
    partial refund, an admin's and a manager's adjustment. Returns the member's token."""
    member, member_id = await member_token(client)
    store = await create_store(db, clock, code="MAIN", name="Main st.")
    await create_staff(db, settings, clock, email="till@example.com", store_ids=[str(store.id)])
    await create_staff(db, settings, clock, email="admin@example.com", role="ADMIN")
    await create_staff(
        db, settings, clock, email="manager@example.com", role="MANAGER", store_ids=[str(store.id)]
    )
    cashier = await sign_in(client, "till@example.com")
    checkout = await scan(client, cashier, member, str(store.id))
    await complete(client, cashier, checkout, "R-1041", 20000, lines=FIRST_LINES)
    clock.advance(minutes=1)
    paid = await complete(client, cashier, checkout, "R-1042", 40000, redeemPoints=100)
    clock.advance(minutes=1)
    await run_operation(
        client,
        "RefundPurchase",
        {"input": {"purchaseId": paid["purchase"]["id"], "amount": money(13300),
                   "idempotencyKey": "refund-1"}},
        token=cashier,
    )  # fmt: skip
    clock.advance(minutes=1)
    await run_operation(
        client,
        "AdjustPoints",
        {"memberId": member_id, "points": 50, "reason": "Late delivery", "idempotencyKey": "a-1"},
        token=await sign_in(client, "admin@example.com"),
    )
    clock.advance(minutes=1)
    await run_operation(
        client,
        "AdjustPoints",
        {"memberId": member_id, "points": -30, "reason": "Scanned twice", "idempotencyKey": "a-2"},
        token=await sign_in(client, "manager@example.com"),
    )
    return member


async def entry_ids(db) -> dict[tuple[str, int], str]:
    async with db.read() as session:
        rows = (await session.scalars(select(LedgerEntry))).all()
    return {(row.kind, row.points): str(row.id) for row in rows}


# 400.00 paying 1.00 with points earns 399; a third of 399.00 refunded takes back 133 of them and
# gives back 33 of the 100 points paid.
NEWEST_FIRST = [
    ("ADJUST", -30, 369, "Adjustment: Scanned twice", "2026-06-01T12:04:00+00:00"),
    ("ADJUST", 50, 399, "Adjustment: Late delivery", "2026-06-01T12:03:00+00:00"),
    ("RESTORE", 33, 349, "Refund at Main st., receipt R-1042: points given back",
     "2026-06-01T12:02:00+00:00"),
    ("REVERSAL", -133, 316, "Refund at Main st., receipt R-1042: points taken back",
     "2026-06-01T12:02:00+00:00"),
    ("EARN", 399, 449, "Purchase at Main st., receipt R-1042", "2026-06-01T12:01:00+00:00"),
    ("REDEEM", -100, 50, "Paid with points at Main st., receipt R-1042",
     "2026-06-01T12:01:00+00:00"),
    ("EARN", 150, 150, "Purchase at Main st., receipt R-1041", "2026-06-01T12:00:00+00:00"),
]  # fmt: skip


def nodes(page: dict[str, Any]) -> list[tuple[Any, ...]]:
    return [
        (n["kind"], n["points"], n["balanceAfter"], n["description"], n["createdAt"])
        for n in (edge["node"] for edge in page["edges"])
    ]


async def test_history_lists_every_entry_newest_first(client, db, settings, clock):
    # given
    member = await a_month_of_points(client, db, settings, clock)

    # when
    page = await history(client, member, 20)

    # then
    assert nodes(page) == NEWEST_FIRST
    ids = await entry_ids(db)
    assert [edge["node"]["id"] for edge in page["edges"]] == [
        ids[(kind, points)] for kind, points, *_ in NEWEST_FIRST
    ]
    assert page["pageInfo"] == {"hasNextPage": False, "endCursor": page["edges"][-1]["cursor"]}
    assert (await verify_ledger(db)).violations == []


async def test_history_pages_with_after(client, db, settings, clock):
    # given
    member = await a_month_of_points(client, db, settings, clock)

    # when
    pages = [await history(client, member, 3)]
    while pages[-1]["pageInfo"]["hasNextPage"]:
        pages.append(await history(client, member, 3, pages[-1]["pageInfo"]["endCursor"]))

    # then
    assert [nodes(page) for page in pages] == [
        NEWEST_FIRST[0:3],
        NEWEST_FIRST[3:6],
        NEWEST_FIRST[6:7],
    ]
    assert [page["pageInfo"]["hasNextPage"] for page in pages] == [True, True, False]
    assert [page["pageInfo"]["endCursor"] for page in pages] == [
        page["edges"][-1]["cursor"] for page in pages
    ]


async def test_history_pages_through_entries_of_the_same_moment(client, db, settings, clock):
    # given: the redemption and the earning of one purchase share their time
    member = await a_month_of_points(client, db, settings, clock)

    # when
    pages = [await history(client, member, 1)]
    while pages[-1]["pageInfo"]["hasNextPage"]:
        pages.append(await history(client, member, 1, pages[-1]["pageInfo"]["endCursor"]))

    # then
    assert [entry for page in pages for entry in nodes(page)] == NEWEST_FIRST


async def test_member_home_balance_matches_the_history(client, db, settings, clock):
    # given
    await a_month_of_points(client, db, settings, clock)
    member = await refresh_member(client)

    # when
    home = await run_operation(client, "MemberHome", token=member)
    page = await history(client, member, 1)

    # then
    balance = home["data"]["me"]["balance"]
    assert balance == {
        "available": 369,
        "pending": 0,
        "lifetimeEarned": 599,
        "expiringSoon": [],
    }
    assert page["edges"][0]["node"]["balanceAfter"] == balance["available"] + balance["pending"]
    assert (await verify_ledger(db)).violations == []


async def test_history_of_a_new_member_is_empty(client, db, settings, clock):
    # given
    member, _ = await member_token(client)

    # when
    page = await history(client, member, 10)

    # then
    assert page == {"edges": [], "pageInfo": {"hasNextPage": False, "endCursor": None}}


async def test_history_shows_only_the_members_own_entries(client, db, settings, clock):
    # given: Ann's month, then Bob joins
    await a_month_of_points(client, db, settings, clock)
    answer = await run_operation(
        client,
        "RegisterMember",
        {"input": {"email": "bob@example.com", "password": PASSWORD, "firstName": "Bob"}},
    )
    bob = answer["data"]["registerMember"]["accessToken"]

    # when
    page = await history(client, bob, 10)

    # then
    assert page["edges"] == []
