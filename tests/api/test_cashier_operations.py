"""The cashier app's operations that exist so far: LoginStaff and StaffHome."""

from __future__ import annotations

from tests.support import PASSWORD, create_staff, create_store, run_operation


async def test_login_then_home_lists_role_and_stores(client, db, settings, clock):
    # given
    main = await create_store(db, clock, code="MAIN", name="Main st.")
    await create_store(db, clock, code="AIRPORT", name="Airport")
    harbour = await create_store(db, clock, code="HARBOUR", name="Harbour")
    staff = await create_staff(
        db,
        settings,
        clock,
        email="till@example.com",
        role="CASHIER",
        store_ids=[str(main.id), str(harbour.id)],
    )

    # when
    login = await run_operation(
        client, "LoginStaff", {"email": " Till@Example.com", "password": PASSWORD}
    )
    session = login["data"]["loginStaff"]
    home = await run_operation(client, "StaffHome", token=session["accessToken"])

    # then
    assert session["__typename"] == "AuthSession"
    assert session["refreshToken"].startswith("rt_")
    assert session["accessTokenExpiresAt"] == "2026-06-01T12:15:00+00:00"
    assert home["data"] == {
        "staffMe": {
            "id": str(staff.id),
            "email": "till@example.com",
            "role": "CASHIER",
            "stores": [
                {"id": str(harbour.id), "code": "HARBOUR", "name": "Harbour"},
                {"id": str(main.id), "code": "MAIN", "name": "Main st."},
            ],
        }
    }


async def test_login_with_wrong_password_is_refused(client, db, settings, clock):
    # given
    store = await create_store(db, clock)
    await create_staff(db, settings, clock, email="till@example.com", store_ids=[str(store.id)])

    # when
    login = await run_operation(
        client, "LoginStaff", {"email": "till@example.com", "password": PASSWORD + "x"}
    )

    # then
    assert login["data"]["loginStaff"] == {
        "__typename": "AuthenticationError",
        "code": "INVALID_CREDENTIALS",
        "message": "The e-mail or the password is wrong.",
    }


async def test_member_credentials_do_not_open_a_staff_session(client):
    # given
    await run_operation(
        client,
        "RegisterMember",
        {"input": {"email": "ann@example.com", "password": PASSWORD, "firstName": "Ann"}},
    )

    # when
    login = await run_operation(
        client, "LoginStaff", {"email": "ann@example.com", "password": PASSWORD}
    )

    # then
    assert login["data"]["loginStaff"]["__typename"] == "AuthenticationError"
    assert login["data"]["loginStaff"]["code"] == "INVALID_CREDENTIALS"


async def test_ten_failures_lock_the_login_until_the_window_passes(client, db, settings, clock):
    # given
    store = await create_store(db, clock)
    await create_staff(db, settings, clock, email="till@example.com", store_ids=[str(store.id)])
    wrong = {"email": "till@example.com", "password": "wrong-Password-1"}
    codes = []
    for _ in range(10):
        answer = await run_operation(client, "LoginStaff", wrong)
        codes.append(answer["data"]["loginStaff"]["code"])
    right = {"email": "till@example.com", "password": PASSWORD}

    # when
    locked = await run_operation(client, "LoginStaff", right)
    clock.advance(minutes=14)
    still_locked = await run_operation(client, "LoginStaff", right)
    clock.advance(minutes=2)
    unlocked = await run_operation(client, "LoginStaff", right)

    # then
    assert codes == ["INVALID_CREDENTIALS"] * 10
    assert locked["data"]["loginStaff"] == {
        "__typename": "RateLimitedError",
        "code": "RATE_LIMITED",
        "message": "Too many failed attempts. Try again in a few minutes.",
    }
    assert still_locked["data"]["loginStaff"]["code"] == "RATE_LIMITED"
    assert unlocked["data"]["loginStaff"]["__typename"] == "AuthSession"


async def test_failures_from_one_address_lock_other_accounts_from_it(client, db, settings, clock):
    # given: someone tries many e-mails from one address
    store = await create_store(db, clock)
    await create_staff(db, settings, clock, email="till@example.com", store_ids=[str(store.id)])
    for number in range(10):
        await run_operation(
            client,
            "LoginStaff",
            {"email": f"guess{number}@example.com", "password": "wrong-Password-1"},
        )

    # when
    login = await run_operation(
        client, "LoginStaff", {"email": "till@example.com", "password": PASSWORD}
    )

    # then
    assert login["data"]["loginStaff"]["code"] == "RATE_LIMITED"


async def test_staff_session_refreshes(client, db, settings, clock):
    # given
    store = await create_store(db, clock)
    await create_staff(db, settings, clock, email="till@example.com", store_ids=[str(store.id)])
    login = await run_operation(
        client, "LoginStaff", {"email": "till@example.com", "password": PASSWORD}
    )
    clock.advance(minutes=20)

    # when
    refreshed = await run_operation(
        client, "RefreshSession", {"refreshToken": login["data"]["loginStaff"]["refreshToken"]}
    )
    home = await run_operation(
        client, "StaffHome", token=refreshed["data"]["refreshSession"]["accessToken"]
    )

    # then
    assert refreshed["data"]["refreshSession"]["__typename"] == "AuthSession"
    assert home["data"]["staffMe"]["email"] == "till@example.com"
