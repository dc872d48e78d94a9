"""The back office's FindMember as it sends it: by e-mail, card number, phone or name."""

from __future__ import annotations

import pytest

from tests.service.ledger.scenario import buy, open_till
from tests.support import create_member, create_staff, create_store, gql, login, run_operation

PAGE = """
query Page($search: String!, $after: String) {
  members(search: $search, first: 2, after: $after) {
    edges { cursor node { email } }
    pageInfo { hasNextPage endCursor }
  }
}
"""


async def token_of(db, settings, clock, *, role: str = "ADMIN") -> str:
    email = f"{role.lower()}@staff.example.com"
    stores = [] if role == "ADMIN" else [str((await create_store(db, clock, code="DESK")).id)]
    await create_staff(db, settings, clock, email=email, role=role, store_ids=stores)
    return await login(db, settings, clock, kind="staff", email=email)


async def test_find_member_as_the_back_office_sends_it(client, db, settings, clock):
    # given: Ann with 300 points, Annette, and Bob Annan
    till = await open_till(db, settings, clock)
    _, ann = await create_member(
        db, settings, clock, email="ann@example.com", first_name="Ann", last_name="Smith"
    )
    await create_member(db, settings, clock, email="annette@example.com", first_name="Annette")
    await create_member(
        db, settings, clock, email="bob@example.com", first_name="Bob", last_name="Annan"
    )
    await buy(db, clock, till, ann, "A-1", 30000)
    token = await token_of(db, settings, clock)
    card = ann.card_number

    # when
    by_name = await run_operation(client, "FindMember", {"search": "ann"}, token=token)
    by_card = await run_operation(
        client, "FindMember", {"search": f"{card[:4]} {card[4:8]} {card[8:12]} {card[12:]}"},
        token=token,
    )  # fmt: skip
    by_email = await run_operation(client, "FindMember", {"search": "ANN@"}, token=token)

    # then
    ann_node = {
        "id": str(ann.id),
        "firstName": "Ann",
        "email": "ann@example.com",
        "cardNumber": card,
        "tierName": "Bronze",
        "availablePoints": 300,
    }
    assert [edge["node"]["firstName"] for edge in by_name["data"]["members"]["edges"]] == [
        "Ann",
        "Bob",
        "Annette",
    ]
    assert by_name["data"]["members"]["edges"][0]["node"] == ann_node
    assert by_card["data"]["members"]["edges"] == [{"node": ann_node}]
    assert by_email["data"]["members"]["edges"] == [{"node": ann_node}]


async def test_pages_through_the_matches(client, db, settings, clock):
    # given
    for name in ("ann", "anna", "annie"):
        await create_member(db, settings, clock, email=f"{name}@example.com", first_name=name)
    token = await token_of(db, settings, clock, role="MANAGER")

    # when
    first = await gql(client, PAGE, {"search": "ann"}, token=token)
    after = first["data"]["members"]["pageInfo"]["endCursor"]
    second = await gql(client, PAGE, {"search": "ann", "after": after}, token=token)

    # then
    pages = [
        [edge["node"]["email"] for edge in page["data"]["members"]["edges"]]
        for page in (first, second)
    ]
    assert pages == [["ann@example.com", "anna@example.com"], ["annie@example.com"]]
    assert first["data"]["members"]["pageInfo"]["hasNextPage"] is True
    assert second["data"]["members"]["pageInfo"]["hasNextPage"] is False


@pytest.mark.parametrize("search", ["", " ", "a", "1234 5678 9012 3456", "555-0123"])
async def test_a_bad_search_names_the_search_field(client, db, settings, clock, search):
    # given
    token = await token_of(db, settings, clock)

    # when
    answer = await run_operation(
        client, "FindMember", {"search": search}, token=token, expect_errors=True
    )

    # then
    assert answer["data"] is None
    assert [
        (error["extensions"]["code"], error["extensions"]["field"]) for error in answer["errors"]
    ] == [("INVALID_INPUT", "search")]


async def test_cashiers_and_members_cannot_search(client, db, settings, clock):
    # given
    cashier = await token_of(db, settings, clock, role="CASHIER")
    tokens, _ = await create_member(db, settings, clock)

    # when
    answers = [
        await run_operation(
            client, "FindMember", {"search": "ann"}, token=token, expect_errors=True
        )
        for token in (cashier, tokens.access_token)
    ]

    # then
    assert [[e["extensions"]["code"] for e in answer["errors"]] for answer in answers] == [
        ["FORBIDDEN"],
        ["FORBIDDEN"],
    ]


async def test_a_cursor_from_elsewhere_is_a_bad_request(client, db, settings, clock):
    # given
    token = await token_of(db, settings, clock)

    # when
    answer = await gql(
        client, PAGE, {"search": "ann", "after": "bm90LWEtY3Vyc29y"}, token=token,
        expect_errors=True,
    )  # fmt: skip

    # then
    assert [error["extensions"]["code"] for error in answer["errors"]] == ["BAD_REQUEST"]
