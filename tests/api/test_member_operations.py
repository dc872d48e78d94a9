"""The customer app's operations, as the app sends them."""

from __future__ import annotations

from tests.support import PASSWORD, run_operation

NEW_MEMBER = {
    "email": "  Jane.Doe@Example.COM ",
    "password": PASSWORD,
    "firstName": "Jane",
    "lastName": "Doe",
    "phone": "+1 (415) 555-0123",
    "birthDate": "1991-04-12",
}


async def test_register_then_home(client):
    # given
    registered = await run_operation(client, "RegisterMember", {"input": NEW_MEMBER})
    session = registered["data"]["registerMember"]
    assert session["__typename"] == "AuthSession"
    card = session["member"]["cardNumber"]

    # when
    home = await run_operation(client, "MemberHome", token=session["accessToken"])

    # then
    me = home["data"]["me"]
    assert me["firstName"] == "Jane"
    assert me["cardNumber"] == card
    assert me["balance"] == {"available": 0, "pending": 0, "lifetimeEarned": 0, "expiringSoon": []}
    assert me["tier"]["current"]["code"] == "BRONZE"
    assert me["tier"]["next"] == {"code": "SILVER", "name": "Silver", "qualifyingThreshold": 1000}
    assert me["tier"]["progress"]["pointsToNext"] == 1000
    assert me["memberCode"]["payload"].startswith(f"L1.{card}.")
    assert me["memberCode"]["svg"].startswith("<svg")
    assert me["offers"] == {"edges": []}


async def test_login_refresh_history(client):
    await run_operation(client, "RegisterMember", {"input": NEW_MEMBER})

    login = await run_operation(
        client, "LoginMember", {"email": "jane.doe@example.com", "password": PASSWORD}
    )
    session = login["data"]["loginMember"]
    assert session["__typename"] == "AuthSession"

    refreshed = await run_operation(
        client, "RefreshSession", {"refreshToken": session["refreshToken"]}
    )
    new = refreshed["data"]["refreshSession"]
    assert new["__typename"] == "AuthSession"
    assert new["refreshToken"] != session["refreshToken"]

    history = await run_operation(
        client, "TransactionHistory", {"first": 10}, token=new["accessToken"]
    )
    assert history["data"]["me"]["transactions"] == {
        "edges": [],
        "pageInfo": {"hasNextPage": False, "endCursor": None},
    }
