"""The back office's operations that exist so far: CreateStore, CreateStaff, and `stores`."""

from __future__ import annotations

from app.staff import service as staff_service
from tests.support import (
    PASSWORD,
    create_member,
    create_staff,
    create_store,
    gql,
    login,
    run_operation,
)

STORES = "{ stores { id code name timezone } }"


async def admin_token(db, settings, clock) -> str:
    await create_staff(db, settings, clock, email="boss@example.com", role="ADMIN")
    return await login(db, settings, clock, kind="staff", email="boss@example.com")


async def staff_exists(db, email: str) -> bool:
    async with db.read() as session:
        return await staff_service.find_staff_by_email(session, email) is not None


# -- createStore ----------------------------------------------------------------------------------


async def test_create_store_normalizes_the_code_and_defaults_to_utc(client, db, settings, clock):
    # given
    token = await admin_token(db, settings, clock)

    # when
    created = await run_operation(
        client, "CreateStore", {"input": {"code": " north-1 ", "name": " North "}}, token=token
    )
    listed = await gql(client, STORES, token=token)

    # then
    store = created["data"]["createStore"]
    assert store == {"__typename": "Store", "id": store["id"], "code": "NORTH-1", "name": "North"}
    assert listed["data"]["stores"] == [
        {"id": store["id"], "code": "NORTH-1", "name": "North", "timezone": "UTC"}
    ]


async def test_create_store_keeps_the_timezone_given(client, db, settings, clock):
    # given
    token = await admin_token(db, settings, clock)

    # when
    await run_operation(
        client,
        "CreateStore",
        {"input": {"code": "BER", "name": "Berlin", "timezone": "Europe/Berlin"}},
        token=token,
    )
    listed = await gql(client, STORES, token=token)

    # then
    assert [(s["code"], s["timezone"]) for s in listed["data"]["stores"]] == [
        ("BER", "Europe/Berlin")
    ]


REFUSED_STORES = {
    "unknown timezone": ({"code": "MAIN", "name": "Main", "timezone": "Mars/Olympus"}, "timezone"),
    "timezone a path": (
        {"code": "MAIN", "name": "Main", "timezone": "../../etc/passwd"},
        "timezone",
    ),
    "empty code": ({"code": "", "name": "Main"}, "code"),
    "space in the code": ({"code": "MA IN", "name": "Main"}, "code"),
    "Cyrillic code": ({"code": "МАГ", "name": "Main"}, "code"),
    "code over 32": ({"code": "A" * 33, "name": "Main"}, "code"),
    "blank name": ({"code": "MAIN", "name": "   "}, "name"),
    "NUL in the name": ({"code": "MAIN", "name": "Main\x00st"}, "name"),
    "name over 100": ({"code": "MAIN", "name": "N" * 101}, "name"),
}


async def test_create_store_refuses_bad_input(client, db, settings, clock):
    # given
    token = await admin_token(db, settings, clock)

    # when
    answers = {}
    for name, (store_input, _) in REFUSED_STORES.items():
        created = await run_operation(client, "CreateStore", {"input": store_input}, token=token)
        result = created["data"]["createStore"]
        answers[name] = (result["__typename"], result["code"], result["field"])
    listed = await gql(client, STORES, token=token)

    # then
    assert answers == {
        name: ("InvalidInputError", "INVALID_INPUT", field)
        for name, (_, field) in REFUSED_STORES.items()
    }
    assert listed["data"]["stores"] == []


async def test_create_store_accepts_a_unicode_name(client, db, settings, clock):
    # given
    token = await admin_token(db, settings, clock)

    # when
    created = await run_operation(
        client, "CreateStore", {"input": {"code": "MSK", "name": "Москва 🛒"}}, token=token
    )

    # then
    assert created["data"]["createStore"]["name"] == "Москва 🛒"


async def test_create_store_refuses_a_duplicate_code(client, db, settings, clock):
    # given
    token = await admin_token(db, settings, clock)
    await create_store(db, clock, code="MAIN", name="Main st.")

    # when
    created = await run_operation(
        client, "CreateStore", {"input": {"code": "main", "name": "Other"}}, token=token
    )
    listed = await gql(client, STORES, token=token)

    # then
    assert created["data"]["createStore"] == {
        "__typename": "ConflictError",
        "code": "ALREADY_EXISTS",
        "message": "A store with this code exists already.",
        "field": "code",
    }
    assert [s["name"] for s in listed["data"]["stores"]] == ["Main st."]


# -- createStaff ----------------------------------------------------------------------------------


async def test_create_staff_binds_the_stores_and_can_sign_in(client, db, settings, clock):
    # given
    token = await admin_token(db, settings, clock)
    main = await create_store(db, clock, code="MAIN")
    north = await create_store(db, clock, code="NORTH", name="North")

    # when
    created = await run_operation(
        client,
        "CreateStaff",
        {
            "input": {
                "email": " Manager@Example.COM",
                "password": PASSWORD,
                "role": "MANAGER",
                "storeIds": [str(north.id), str(main.id), str(north.id)],
            }
        },
        token=token,
    )
    signed_in = await run_operation(
        client, "LoginStaff", {"email": "manager@example.com", "password": PASSWORD}
    )
    home = await run_operation(
        client, "StaffHome", token=signed_in["data"]["loginStaff"]["accessToken"]
    )

    # then
    staff = created["data"]["createStaff"]
    assert staff == {
        "__typename": "Staff",
        "id": staff["id"],
        "email": "manager@example.com",
        "role": "MANAGER",
        "stores": [{"id": str(main.id)}, {"id": str(north.id)}],
    }
    assert home["data"]["staffMe"]["id"] == staff["id"]
    assert home["data"]["staffMe"]["role"] == "MANAGER"
    assert [s["code"] for s in home["data"]["staffMe"]["stores"]] == ["MAIN", "NORTH"]


async def test_create_staff_admin_needs_no_store(client, db, settings, clock):
    # given
    token = await admin_token(db, settings, clock)

    # when
    created = await run_operation(
        client,
        "CreateStaff",
        {
            "input": {
                "email": "second@example.com",
                "password": PASSWORD,
                "role": "ADMIN",
                "storeIds": [],
            }
        },
        token=token,
    )

    # then
    assert created["data"]["createStaff"]["role"] == "ADMIN"
    assert created["data"]["createStaff"]["stores"] == []


REFUSED_STAFF = {
    "unknown store": (
        {"storeIds": ["0190f0e2-7c1a-7b3e-8a4b-123456789abc"]},
        "INVALID_INPUT",
        "storeIds",
    ),
    "malformed store id": ({"storeIds": ["not-an-id"]}, "INVALID_INPUT", "storeIds"),
    "empty store id": ({"storeIds": [""]}, "INVALID_INPUT", "storeIds"),
    "cashier without a store": ({"storeIds": []}, "INVALID_INPUT", "storeIds"),
    "short password": ({"password": "short-1A"}, "WEAK_PASSWORD", "password"),
    "one kind of character": ({"password": "onlylowercaseletters"}, "WEAK_PASSWORD", "password"),
    "spaces only": ({"password": " " * 12}, "WEAK_PASSWORD", "password"),
    "no @": ({"email": "not-an-email"}, "INVALID_INPUT", "email"),
    "two @": ({"email": "two@@example.com"}, "INVALID_INPUT", "email"),
    "NUL in the e-mail": ({"email": "new\x00@example.com"}, "INVALID_INPUT", "email"),
    "empty e-mail": ({"email": ""}, "INVALID_INPUT", "email"),
}


async def test_create_staff_refuses_bad_input(client, db, settings, clock):
    # given
    token = await admin_token(db, settings, clock)
    store = await create_store(db, clock)
    good = {
        "email": "new@example.com",
        "password": PASSWORD,
        "role": "CASHIER",
        "storeIds": [str(store.id)],
    }

    # when
    answers = {}
    for name, (change, _, _) in REFUSED_STAFF.items():
        created = await run_operation(client, "CreateStaff", {"input": good | change}, token=token)
        result = created["data"]["createStaff"]
        answers[name] = (result["__typename"], result["code"], result["field"])

    # then
    assert answers == {
        name: ("InvalidInputError", code, field) for name, (_, code, field) in REFUSED_STAFF.items()
    }
    assert not await staff_exists(db, "new@example.com")


async def test_create_staff_refuses_an_email_taken_in_another_case(client, db, settings, clock):
    # given
    token = await admin_token(db, settings, clock)
    store = await create_store(db, clock)
    await create_staff(db, settings, clock, email="till@example.com", store_ids=[str(store.id)])

    # when
    created = await run_operation(
        client,
        "CreateStaff",
        {
            "input": {
                "email": "TILL@Example.Com",
                "password": "another-Pass-99",
                "role": "MANAGER",
                "storeIds": [str(store.id)],
            }
        },
        token=token,
    )
    old_password = await run_operation(
        client, "LoginStaff", {"email": "till@example.com", "password": PASSWORD}
    )

    # then
    assert created["data"]["createStaff"] == {
        "__typename": "ConflictError",
        "code": "EMAIL_TAKEN",
        "message": "A staff account with this e-mail exists already.",
        "field": "email",
    }
    assert old_password["data"]["loginStaff"]["__typename"] == "AuthSession"


async def test_create_staff_refuses_an_unknown_role_at_the_schema(client, db, settings, clock):
    # given
    token = await admin_token(db, settings, clock)

    # when
    created = await run_operation(
        client,
        "CreateStaff",
        {
            "input": {
                "email": "new@example.com",
                "password": PASSWORD,
                "role": "OWNER",
                "storeIds": [],
            }
        },
        token=token,
        expect_errors=True,
    )

    # then
    assert created["data"] is None
    assert len(created["errors"]) == 1
    assert created["errors"][0]["extensions"]["code"] == "BAD_REQUEST"
    assert not await staff_exists(db, "new@example.com")


# -- who may -------------------------------------------------------------------------------------


async def non_admin_tokens(db, settings, clock) -> dict[str, str]:
    """A cashier's, a manager's and a member's access tokens."""
    store = await create_store(db, clock, code="HOME")
    tokens = {}
    for role in ("CASHIER", "MANAGER"):
        email = f"{role.lower()}@example.com"
        await create_staff(db, settings, clock, email=email, role=role, store_ids=[str(store.id)])
        tokens[role] = await login(db, settings, clock, kind="staff", email=email)
    member, _ = await create_member(db, settings, clock, email="member@example.com")
    tokens["MEMBER"] = member.access_token
    return tokens


def top_level(answer: dict) -> tuple:
    return (
        answer["data"],
        [(e["message"], e["path"], e["extensions"]) for e in answer["errors"]],
    )


async def test_only_admins_create_stores(client, db, settings, clock):
    # given
    tokens = await non_admin_tokens(db, settings, clock)

    # when
    answers = {}
    for role, token in tokens.items():
        created = await run_operation(
            client,
            "CreateStore",
            {"input": {"code": f"SNEAKY-{role}", "name": "Sneaky"}},
            token=token,
            expect_errors=True,
        )
        answers[role] = top_level(created)
    listed = await gql(client, STORES, token=await admin_token(db, settings, clock))

    # then
    forbidden = (
        None,
        [("Only an administrator may do this.", ["createStore"], {"code": "FORBIDDEN"})],
    )
    assert answers == dict.fromkeys(tokens, forbidden)
    assert [s["code"] for s in listed["data"]["stores"]] == ["HOME"]


async def test_only_admins_create_staff(client, db, settings, clock):
    # given
    tokens = await non_admin_tokens(db, settings, clock)

    # when
    answers = {}
    for role, token in tokens.items():
        created = await run_operation(
            client,
            "CreateStaff",
            {
                "input": {
                    "email": f"crony-{role.lower()}@example.com",
                    "password": PASSWORD,
                    "role": "ADMIN",
                    "storeIds": [],
                }
            },
            token=token,
            expect_errors=True,
        )
        answers[role] = top_level(created)

    # then
    forbidden = (
        None,
        [("Only an administrator may do this.", ["createStaff"], {"code": "FORBIDDEN"})],
    )
    assert answers == dict.fromkeys(tokens, forbidden)
    for role in tokens:
        assert not await staff_exists(db, f"crony-{role.lower()}@example.com")


async def test_admin_mutations_without_a_token_are_unauthenticated(client, db):
    # when
    store = await run_operation(
        client, "CreateStore", {"input": {"code": "X", "name": "X"}}, expect_errors=True
    )
    staff = await run_operation(
        client,
        "CreateStaff",
        {
            "input": {
                "email": "x@example.com",
                "password": PASSWORD,
                "role": "ADMIN",
                "storeIds": [],
            }
        },
        expect_errors=True,
    )

    # then
    message = "Sign in first: send `Authorization: Bearer <accessToken>`."
    unauthenticated = {"code": "UNAUTHENTICATED"}
    assert top_level(store) == (None, [(message, ["createStore"], unauthenticated)])
    assert top_level(staff) == (None, [(message, ["createStaff"], unauthenticated)])
    assert not await staff_exists(db, "x@example.com")


async def test_only_admins_list_stores(client, db, settings, clock):
    # given
    tokens = await non_admin_tokens(db, settings, clock)

    # when
    answers = {
        role: top_level(await gql(client, STORES, token=token, expect_errors=True))
        for role, token in tokens.items()
    }

    # then
    forbidden = (
        None,
        [("Only an administrator may do this.", ["stores"], {"code": "FORBIDDEN"})],
    )
    assert answers == dict.fromkeys(tokens, forbidden)


async def test_stores_are_listed_by_code(client, db, settings, clock):
    # given
    token = await admin_token(db, settings, clock)
    for code in ("ZED", "ALPHA", "MID"):
        await create_store(db, clock, code=code, name=code.title())

    # when
    listed = await gql(client, STORES, token=token)

    # then
    assert [s["code"] for s in listed["data"]["stores"]] == ["ALPHA", "MID", "ZED"]
