"""The back office's ProgramOverview as it sends it, `stats { stores }` and `storeStats`."""

from __future__ import annotations

from app.auth.actors import StaffActor
from app.ledger import service as ledger_service
from tests.service.ledger.scenario import Till, buy, join, open_till, refund
from tests.support import create_staff, create_store, gql, login, run_operation

STORE_STATS = """
query StoreNumbers($storeId: ID!) {
  storeStats(storeId: $storeId) {
    store { code }
    activeMembers30d pointsIssued pointsRedeemed redemptionRate purchases
    sales { amount currency } averagePurchase { amount currency }
  }
}
"""
EVERY_STORE = """
query Stores($after: String) {
  stats {
    pointsExpired breakage repeatPurchaseRate90d purchases
    sales { amount currency } averagePurchase { amount currency }
    stores(first: 1, after: $after) {
      edges { node { store { code } purchases pointsIssued activeMembers30d } }
      pageInfo { hasNextPage endCursor }
    }
  }
}
"""


async def token_of(db, settings, clock, *, email: str, role: str, store_ids=()) -> str:
    await create_staff(db, settings, clock, email=email, role=role, store_ids=list(store_ids))
    return await login(db, settings, clock, kind="staff", email=email)


async def two_stores(db, settings, clock):
    """Ann buys at MAIN twice (once paying 100 points), Bob at NORTH; half a refund; Bob's
    points adjusted down by 20."""
    main = await open_till(db, settings, clock)
    store = await create_store(db, clock, code="NORTH", name="North")
    staff = await create_staff(
        db, settings, clock, email="north@example.com", store_ids=[str(store.id)]
    )
    north = Till(
        actor=StaffActor(staff.id, "CASHIER", frozenset({store.id})),
        store_id=store.id,
        secret=main.secret,
    )
    ann = await join(db, settings, clock, "ann@example.com")
    bob = await join(db, settings, clock, "bob@example.com")
    await buy(db, clock, main, ann, "A-1", 30000)
    await buy(db, clock, north, bob, "B-1", 10000)
    clock.advance(days=1)
    paid = await buy(db, clock, main, ann, "A-2", 1000, redeem=100)
    await refund(db, clock, main, paid.purchase_id, 450, "refund-a2")
    await ledger_service.adjust_points(
        db, StaffActor(main.actor.staff_id, "ADMIN"), clock, member_id=str(bob.id), points=-20,
        reason="Correction", idempotency_key="adjust-bob",
    )  # fmt: skip
    return main, north


async def test_program_overview_as_the_back_office_sends_it(client, db, settings, clock):
    # given
    await two_stores(db, settings, clock)
    token = await token_of(db, settings, clock, email="boss@example.com", role="ADMIN")

    # when
    answer = await run_operation(client, "ProgramOverview", token=token)

    # then
    data = answer["data"]
    assert data["program"]["currency"] == "USD"
    assert data["program"]["pointValue"] == {"amount": 1, "currency": "USD"}  # a point's
    assert data["stats"] == {
        "members": 2,
        "activeMembers30d": 2,
        "pointsIssued": 384,
        "pointsRedeemed": 50,
        "redemptionRate": "0.1302",
        "outstandingPoints": 334,
        "outstandingLiability": {"amount": 334, "currency": "USD"},
    }


async def test_every_stores_numbers_page_by_page(client, db, settings, clock):
    # given
    await two_stores(db, settings, clock)
    token = await token_of(db, settings, clock, email="boss@example.com", role="ADMIN")

    # when
    first = await gql(client, EVERY_STORE, token=token)
    after = first["data"]["stats"]["stores"]["pageInfo"]["endCursor"]
    second = await gql(client, EVERY_STORE, {"after": after}, token=token)

    # then
    stats = first["data"]["stats"]
    assert {key: stats[key] for key in stats if key != "stores"} == {
        "pointsExpired": 0,
        "breakage": "0.0000",
        "repeatPurchaseRate90d": "0.5000",
        "purchases": 3,
        "sales": {"amount": 40450, "currency": "USD"},
        "averagePurchase": {"amount": 13483, "currency": "USD"},
    }
    pages = [
        [edge["node"] for edge in page["data"]["stats"]["stores"]["edges"]]
        for page in (first, second)
    ]
    assert pages == [
        [{"store": {"code": "MAIN"}, "purchases": 2, "pointsIssued": 304, "activeMembers30d": 1}],
        [{"store": {"code": "NORTH"}, "purchases": 1, "pointsIssued": 100, "activeMembers30d": 1}],
    ]
    assert second["data"]["stats"]["stores"]["pageInfo"]["hasNextPage"] is False


async def test_a_manager_sees_the_numbers_of_the_store(client, db, settings, clock):
    # given
    main, north = await two_stores(db, settings, clock)
    token = await token_of(
        db,
        settings,
        clock,
        email="lead@example.com",
        role="MANAGER",
        store_ids=[str(main.store_id)],
    )

    # when
    own = await gql(client, STORE_STATS, {"storeId": str(main.store_id)}, token=token)
    other = await gql(
        client, STORE_STATS, {"storeId": str(north.store_id)}, token=token, expect_errors=True
    )
    program = await run_operation(client, "ProgramOverview", token=token, expect_errors=True)

    # then
    assert own["data"]["storeStats"] == {
        "store": {"code": "MAIN"},
        "activeMembers30d": 1,
        "pointsIssued": 304,
        "pointsRedeemed": 50,
        "redemptionRate": "0.1645",
        "purchases": 2,
        "sales": {"amount": 30450, "currency": "USD"},
        "averagePurchase": {"amount": 15225, "currency": "USD"},
    }
    assert [error["extensions"]["code"] for error in other["errors"]] == ["FORBIDDEN"]
    assert [error["extensions"]["code"] for error in program["errors"]] == ["FORBIDDEN"]
    assert program["data"] is None


async def test_a_cashier_sees_no_numbers(client, db, settings, clock):
    # given
    main = await open_till(db, settings, clock)
    token = await token_of(
        db, settings, clock, email="c@example.com", role="CASHIER", store_ids=[str(main.store_id)]
    )

    # when
    program = await run_operation(client, "ProgramOverview", token=token, expect_errors=True)
    store = await gql(
        client, STORE_STATS, {"storeId": str(main.store_id)}, token=token, expect_errors=True
    )

    # then
    assert [error["extensions"]["code"] for error in program["errors"]] == ["FORBIDDEN"]
    assert [error["extensions"]["code"] for error in store["errors"]] == ["FORBIDDEN"]


async def test_an_unknown_store_is_not_found(client, db, settings, clock):
    # given
    token = await token_of(db, settings, clock, email="boss@example.com", role="ADMIN")

    # when
    answer = await gql(
        client, STORE_STATS, {"storeId": "0190f0e2-7c1a-7b3e-8a4b-123456789abc"}, token=token,
        expect_errors=True,
    )  # fmt: skip
    malformed = await gql(client, STORE_STATS, {"storeId": "nope"}, token=token, expect_errors=True)

    # then
    for body in (answer, malformed):
        assert [(e["extensions"]["code"], e["extensions"]["field"]) for e in body["errors"]] == [
            ("NOT_FOUND", "storeId")
        ]
